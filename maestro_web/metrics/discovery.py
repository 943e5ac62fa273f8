"""The discovery service's metrics: crawls started, finished (ok or partial), failed, and how long each took."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from maestro_web.metrics import process_registry, start_at_zero

REGISTRY = process_registry()

FINISHED_STATUSES = ("ok", "partial")
CRAWL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

CRAWLS_STARTED = Counter("maestro_discovery_crawls_started", "Crawl commands accepted (202).", registry=REGISTRY)
CRAWLS_FINISHED = Counter(
    "maestro_discovery_crawls_finished", "Crawls that ended with a result, by status.", ["status"], registry=REGISTRY
)
CRAWLS_FAILED = Counter("maestro_discovery_crawls_failed", "Crawls that ended failed.", registry=REGISTRY)
CRAWL_SECONDS = Histogram(
    "maestro_discovery_crawl_duration_seconds",
    "Time a crawl took, by how it ended.",
    ["status"],
    buckets=CRAWL_BUCKETS,
    registry=REGISTRY,
)


start_at_zero(CRAWLS_FINISHED, FINISHED_STATUSES)
start_at_zero(CRAWL_SECONDS, (*FINISHED_STATUSES, "failed"))


def crawl_ended(status: str, seconds: float) -> None:
    """`status` as run_crawl returns it: ok, partial, failed, or taken (another process runs it: not counted)."""
    if status == "taken":
        return
    if status in FINISHED_STATUSES:
        CRAWLS_FINISHED.labels(status).inc()
    else:
        status = "failed"
        CRAWLS_FAILED.inc()
    CRAWL_SECONDS.labels(status).observe(seconds)


class ActiveCrawls:
    """Crawls running or waiting in this process, counted when scraped."""

    def __init__(self, count: Callable[[], int]) -> None:
        self.count = count

    def collect(self) -> Iterator[Any]:
        yield GaugeMetricFamily(
            "maestro_discovery_crawls_active", "Crawls running or waiting in this process.", value=self.count()
        )
