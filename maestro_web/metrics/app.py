"""The app's metrics (gunicorn's workers, or `flask run`): requests, share links, the worker queue, and
the errors of the database and Redis. Under gunicorn every worker writes its values into the
multiprocess directory and the one answering a scrape adds them up; the queue's gauges are read from
the database at scrape time (maestro_web/monitoring), so every worker reports the same numbers.

Every label value comes from a fixed list or a route template: `bounded()` folds anything else into
"other", so no URL, token, address, e-mail or graph name can grow a family.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from maestro_web.metrics import start_at_zero

REGISTRY = CollectorRegistry(auto_describe=True)

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
UNMATCHED = "(unmatched)"  # a request no URL rule matched (a 404 for a path that does not exist)

# The refusal names of the public view (public/routes.REFUSALS), as label values.
SHARE_REFUSALS = (
    "invalid",
    "creator_lost_write",
    "graph_deleted",
    "expired",
    "revoked",
    "used_up",
    "paused",
    "snapshot_gone",
    "no_picture",
    "too_many",
    "locked",
)
SHARE_FORMATS = ("page", "embed", "svg", "png", "download")
DATABASE_ERRORS = ("unavailable", "invalid_value", "statement")
REDIS_ERRORS = ("rate_limits", "healthz", "live_outbox", "metrics")
RUN_OUTCOMES = ("finished", "warning")

# Seconds. The public view answers in a few milliseconds, an ingest of a large picture in seconds.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUEST_DURATION = Histogram(
    "maestro_http_request_duration_seconds",
    "Time to answer a request, by method, route template and status.",
    ["method", "route", "status"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
SHARE_VIEWS = Counter(
    "maestro_share_views",
    "Share-link views counted (each view of a link counts once), by what was shown.",
    ["format"],
    registry=REGISTRY,
)
SHARE_REFUSALS_TOTAL = Counter(
    "maestro_share_refusals",
    "Share-link requests refused, by the reason the visitor was told.",
    ["reason"],
    registry=REGISTRY,
)
RUNS_QUEUED = Counter("maestro_runs_queued", "Runs queued for the analytics worker.", registry=REGISTRY)
RUNS_CLAIMED = Counter("maestro_runs_claimed", "Runs claimed by an analytics worker.", registry=REGISTRY)
RUNS_FINISHED = Counter(
    "maestro_runs_finished", "Runs whose result was stored, by the graph's new status.", ["status"], registry=REGISTRY
)
RUNS_FAILED = Counter("maestro_runs_failed", "Runs a worker reported as failed (status error).", registry=REGISTRY)
RATE_LIMIT_REFUSALS = Counter(
    "maestro_rate_limit_refusals",
    "Requests refused with 429 (a rate limit, a budget or a quota), by route template.",
    ["route"],
    registry=REGISTRY,
)
DATABASE_ERRORS_TOTAL = Counter(
    "maestro_database_errors",
    "Database errors: unavailable (503), a value it refused (422), another statement error (500).",
    ["kind"],
    registry=REGISTRY,
)
REDIS_ERRORS_TOTAL = Counter(
    "maestro_redis_errors", "Redis errors, by the part of the app that met them.", ["source"], registry=REGISTRY
)


start_at_zero(SHARE_VIEWS, SHARE_FORMATS)
start_at_zero(SHARE_REFUSALS_TOTAL, SHARE_REFUSALS)
start_at_zero(RUNS_FINISHED, RUN_OUTCOMES)
start_at_zero(DATABASE_ERRORS_TOTAL, DATABASE_ERRORS)
start_at_zero(REDIS_ERRORS_TOTAL, REDIS_ERRORS)


def bounded(value: str, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else "other"


# The child of each family and label values met so far. `labels()` checks and converts its values and
# takes the family's lock on every call, a tenth of the cost of timing a request and counting a view.
# Bounded as the label values are: every value is bounded() or a route template first.
_CHILDREN: dict[tuple[Any, tuple[str, ...]], Any] = {}


def _child(family: Any, *values: str) -> Any:
    child = _CHILDREN.get((family, values))
    if child is None:
        child = _CHILDREN[(family, values)] = family.labels(*values)
    return child


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    route = route or UNMATCHED
    _child(REQUEST_DURATION, bounded(method, METHODS), route, str(status)).observe(seconds)
    if status == 429:
        _child(RATE_LIMIT_REFUSALS, route).inc()


def share_refused(reason: str) -> None:
    """`reason`: a key of the public view's REFUSALS ("used up" becomes used_up)."""
    _child(SHARE_REFUSALS_TOTAL, bounded(reason.replace(" ", "_"), SHARE_REFUSALS)).inc()


def share_viewed(what: str) -> None:
    _child(SHARE_VIEWS, bounded(what, SHARE_FORMATS)).inc()


def run_finished(status: str) -> None:
    """A worker's result was stored for the run: `error` counts as failed, anything else as finished."""
    if status == "error":
        RUNS_FAILED.inc()
    else:
        RUNS_FINISHED.labels(bounded(status, RUN_OUTCOMES)).inc()


def database_error(kind: str) -> None:
    DATABASE_ERRORS_TOTAL.labels(bounded(kind, DATABASE_ERRORS)).inc()


def redis_error(source: str) -> None:
    REDIS_ERRORS_TOTAL.labels(bounded(source, REDIS_ERRORS)).inc()
