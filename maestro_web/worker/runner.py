"""The reference analytics worker loop: claim, analyse, draw, post (SPEC §6)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from maestro_web.channels import graph_channel
from maestro_web.logs import new_request_id, request_id_var
from maestro_web.metrics import worker as worker_metrics
from maestro_web.worker.analysis import analyse
from maestro_web.worker.client import FrontClient, FrontUnavailable
from maestro_web.worker.render import render

log = logging.getLogger(__name__)


class EventSink(Protocol):
    """Where the worker announces progress: maestro_web.live_publish.LivePublisher, or None for silence."""

    def publish(self, channel: str, event: str, data: dict[str, Any]) -> None: ...

    def flush(self, timeout: float = 5.0) -> bool: ...


def _announce(events: EventSink | None, graph_id: str, event: str, data: dict[str, Any]) -> None:
    if events is not None:
        events.publish(graph_channel(graph_id), event, data)  # queued; never raises, never waits


@dataclass
class WorkerStats:
    done: int = 0
    failed: int = 0
    stale: int = 0


def build_result(job: dict[str, Any], events: EventSink | None = None) -> dict[str, Any]:
    """The result to post for a job: a failure becomes status `error` with a message, never success."""
    try:
        _announce(events, job["graph_id"], "run.progress", {"phase": "analysing", "percent": 10})
        analysis = analyse(job["spec"])
        _announce(events, job["graph_id"], "run.progress", {"phase": "drawing", "percent": 40})
        picture = render(job["spec"], title=job.get("name"))
    except Exception as exc:  # any analysis failure is reported to the app, not swallowed
        log.exception("Analysis of graph %s failed", job.get("graph_id"))
        return {
            "run_id": job["run_id"],
            "status": "error",
            "msg": f"Analysis failed: {type(exc).__name__}: {exc}"[:500],
            "info": {},
        }
    status, message = analysis.status, analysis.message
    if picture.warning:  # the simpler layout stood in for dot: say so, never pass it off as the real picture
        status, message = "warning", f"{message}. {picture.warning}"
    return {
        "run_id": job["run_id"],
        "status": status,
        "msg": message,
        "svg": picture.svg,
        "info": analysis.info,
        "total": analysis.info.get("nodes"),
    }


def process_one(client: FrontClient, stats: WorkerStats, events: EventSink | None = None) -> bool:
    """Claim and finish one job; False when no job was waiting. One request id covers the claim, the
    worker's log lines and live events, and the posted result: one action across three processes."""
    token = request_id_var.set(new_request_id())
    try:
        return _process_one(client, stats, events)
    finally:
        request_id_var.reset(token)


def _process_one(client: FrontClient, stats: WorkerStats, events: EventSink | None) -> bool:
    job = client.claim()
    if job is None:
        return False
    started = time.monotonic()
    outcome = "failed"
    try:
        outcome = _work_on(client, stats, events, job)
    finally:
        worker_metrics.run_done(outcome, time.monotonic() - started)
    return True


def _work_on(client: FrontClient, stats: WorkerStats, events: EventSink | None, job: dict[str, Any]) -> str:
    """Draw the claimed job and post its result: "done", "failed" (reported as error, or refused) or "stale"."""
    _announce(events, job["graph_id"], "run.claimed", {"run_id": job["run_id"]})
    result = build_result(job, events)
    _announce(events, job["graph_id"], "run.progress", {"phase": "saving", "percent": 90})
    if events is not None:
        # Our progress reaches the live server before the app announces the result (bounded wait).
        events.flush(timeout=1.0)
    response = client.post_result(job["graph_id"], result)
    if response.status_code in (200, 201):
        stats.done += 1
        log.info("Graph %s run %s: %s", job["graph_id"], job["run_id"], result["status"])
        if result["status"] == "error":
            stats.failed += 1
            return "failed"
        return "done"
    if response.status_code in (404, 409):
        # The graph was deleted or changed while we worked: a newer run will be (or was) drawn.
        stats.stale += 1
        log.info("Graph %s run %s dropped: %s", job["graph_id"], job["run_id"], response.json().get("message"))
        return "stale"
    stats.failed += 1
    log.error(
        "Graph %s run %s refused (%s): %s", job["graph_id"], job["run_id"], response.status_code, response.text[:300]
    )
    return "failed"


def run_worker(
    client: FrontClient,
    *,
    once: bool = False,
    until_idle: bool = False,
    poll_interval: float = 2.0,
    stop: threading.Event | None = None,
    events: EventSink | None = None,
) -> WorkerStats:
    """Loop over jobs until stopped (or after one job with `once`, or when idle with `until_idle`)."""
    stop = stop or threading.Event()
    stats = WorkerStats()
    while not stop.is_set():
        try:
            worked = process_one(client, stats, events)
        except FrontUnavailable as exc:
            log.error("Analytics front unavailable: %s", exc)
            worker_metrics.FRONT_UNAVAILABLE.inc()
            if once or until_idle:
                raise
            stop.wait(poll_interval)
            continue
        if once or (until_idle and not worked):
            break
        if not worked:
            stop.wait(poll_interval)
    return stats
