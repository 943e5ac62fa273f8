"""The report service's metrics: reports started, ready and failed by format, how long each took, and
how many run or wait in this process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from maestro_web.metrics import process_registry, start_at_zero

REGISTRY = process_registry()

FORMATS = ("pdf", "xlsx", "csv")
STATUSES = ("ready", "failed")
REPORT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

REPORTS_STARTED = Counter(
    "maestro_reports_started", "Report commands accepted (202), by format.", ["format"], registry=REGISTRY
)
REPORTS_READY = Counter("maestro_reports_ready", "Reports made and uploaded, by format.", ["format"], registry=REGISTRY)
REPORTS_FAILED = Counter(
    "maestro_reports_failed", "Reports that ended failed, by format.", ["format"], registry=REGISTRY
)
REPORT_SECONDS = Histogram(
    "maestro_report_duration_seconds",
    "Time a report took, by format and how it ended.",
    ["format", "status"],
    buckets=REPORT_BUCKETS,
    registry=REGISTRY,
)

start_at_zero(REPORTS_STARTED, FORMATS)
start_at_zero(REPORTS_READY, FORMATS)
start_at_zero(REPORTS_FAILED, FORMATS)
start_at_zero(REPORT_SECONDS, FORMATS, STATUSES)


def _format(value: str) -> str:
    return value if value in FORMATS else "other"


def report_started(fmt: str) -> None:
    REPORTS_STARTED.labels(_format(fmt)).inc()


def report_ended(fmt: str, status: str, seconds: float) -> None:
    """`status` as run_report returns it: ready, or anything else (failed)."""
    fmt = _format(fmt)
    status = "ready" if status == "ready" else "failed"
    (REPORTS_READY if status == "ready" else REPORTS_FAILED).labels(fmt).inc()
    REPORT_SECONDS.labels(fmt, status).observe(seconds)


class ActiveReports:
    """Reports being made or waiting in this process, counted when scraped."""

    def __init__(self, count: Callable[[], int]) -> None:
        self.count = count

    def collect(self) -> Iterator[Any]:
        yield GaugeMetricFamily(
            "maestro_reports_active", "Reports being made or waiting in this process.", value=self.count()
        )
