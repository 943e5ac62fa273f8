from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import redis
from flask import Response, current_app, g, request
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import and_, func, or_, select

from maestro_web.extensions import db
from maestro_web.metrics import CONTENT_TYPE, exposition, multiprocess_dir, multiprocess_registry
from maestro_web.metrics import app as app_metrics
from maestro_web.models import GraphRun
from maestro_web.models.base import utcnow
from maestro_web.monitoring import monitoring_bp

log = logging.getLogger(__name__)

# A scrape answers fast or not at all: Prometheus times out after 10 s by default.
REDIS_TIMEOUT_SECONDS = 2.0


@monitoring_bp.after_app_request
def _time_request(response: Response) -> Response:
    """Every request of the app, by method, route template (never the URL) and status."""
    started = g.get("request_started")  # set first thing by request_ids
    seconds = time.perf_counter() - started if started is not None else 0.0
    rule = request.url_rule.rule if request.url_rule is not None else None
    app_metrics.observe_request(request.method, rule, response.status_code, seconds)
    return response


class QueueAndDependencies:
    """Read when scraped, so that every gunicorn worker reports the same: the runs waiting for a worker
    and the age of the oldest, the runs being drawn, and whether the database and Redis answer."""

    def __init__(self, redis_url: str | None) -> None:
        self.redis_url = redis_url

    def collect(self) -> Iterator[Any]:
        now = utcnow()
        # Waiting: queued, or claimed by a worker whose lease ran out (it will be handed out again).
        waiting = or_(GraphRun.state == "queued", and_(GraphRun.state == "claimed", GraphRun.lease_expires_at < now))
        try:
            count, oldest = db.session.execute(select(func.count(), func.min(GraphRun.queued_at)).where(waiting)).one()
            drawing = db.session.execute(
                select(func.count()).where(GraphRun.state == "claimed", GraphRun.lease_expires_at >= now)
            ).scalar_one()
            database_up = 1
        except Exception as exc:  # the scrape still answers, saying the database is down
            db.session.rollback()
            log.error("Metrics: database unavailable (%s)", type(exc).__name__)
            app_metrics.database_error("unavailable")
            count, oldest, drawing, database_up = 0, None, 0, 0
        age = max(timedelta(0), now - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily("maestro_runs_waiting", "Runs waiting for an analytics worker.", value=count)
        yield GaugeMetricFamily(
            "maestro_runs_oldest_waiting_age_seconds",
            "Age of the oldest run waiting for a worker (0 when none waits).",
            value=age,
        )
        yield GaugeMetricFamily("maestro_runs_drawing", "Runs claimed by a worker whose lease runs.", value=drawing)
        yield GaugeMetricFamily("maestro_database_up", "1 when the database answered this scrape.", value=database_up)
        if self.redis_url:
            yield GaugeMetricFamily(
                "maestro_redis_up",
                "1 when Redis answered a PING during this scrape.",
                value=1 if self._redis_answers() else 0,
            )

    def _redis_answers(self) -> bool:
        assert self.redis_url is not None
        try:
            with redis.Redis.from_url(
                self.redis_url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
            ) as client:
                client.ping()
        except redis.RedisError as exc:
            log.error(
                "Metrics: Redis unavailable (%s)", type(exc).__name__
            )  # the type only: the URL may hold a password
            app_metrics.redis_error("metrics")
            return False
        return True


@monitoring_bp.get("/metrics")
def metrics() -> Response:
    """Every gunicorn worker's counters added up (multiprocess mode), or this process's, and the gauges."""
    sampled = QueueAndDependencies(current_app.config.get("REDIS_URL"))
    counters = multiprocess_registry() if multiprocess_dir() else app_metrics.REGISTRY
    # The sampled gauges first: an error they meet is already in the counters that follow.
    response = Response(exposition(sampled, counters), mimetype=None, content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response
