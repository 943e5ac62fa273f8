"""The analytics worker's metrics (an HTTP client process; served on its own port when configured):
runs done, failed and dropped as stale, and how long each took from claim to posted result."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from maestro_web.metrics import process_registry, start_at_zero

REGISTRY = process_registry()

OUTCOMES = ("done", "failed", "stale")
RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

RUNS = Counter(
    "maestro_worker_runs",
    "Runs this worker took, by outcome: done (result stored), failed "
    "(reported as error, or refused), stale (the graph changed or went meanwhile).",
    ["outcome"],
    registry=REGISTRY,
)
RUN_SECONDS = Histogram(
    "maestro_worker_run_duration_seconds",
    "Time from claim to posted result, by outcome.",
    ["outcome"],
    buckets=RUN_BUCKETS,
    registry=REGISTRY,
)
FRONT_UNAVAILABLE = Counter(
    "maestro_worker_front_unavailable", "Times the app could not be reached (after retries).", registry=REGISTRY
)


start_at_zero(RUNS, OUTCOMES)
start_at_zero(RUN_SECONDS, OUTCOMES)


def run_done(outcome: str, seconds: float) -> None:
    outcome = outcome if outcome in OUTCOMES else "failed"
    RUNS.labels(outcome).inc()
    RUN_SECONDS.labels(outcome).observe(seconds)
