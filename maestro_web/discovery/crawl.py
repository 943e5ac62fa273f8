"""One crawl, start to end (SPEC §11): read the input through the app, infer, write the result back.

The inference runs in a child process of its own (multiprocessing, from a fork server): a crawl that passes
MAESTRO_DISCOVERY_TIMEOUT is killed, not merely abandoned, and a huge input's memory goes with the
child. Progress reaches the live server as `discovery.*` events on `graph:<id>`; a failure of any
step ends the crawl `failed` with a message for a person (never a credential or the token).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue as queue_module
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from maestro_web.channels import graph_channel
from maestro_web.discovery.client import AppClient, AppRefused, EndedMeanwhile
from maestro_web.discovery.sealing import SealingError, open_sealed
from maestro_web.discovery.settings import DiscoverySettings

log = logging.getLogger(__name__)

MAX_NODES_SENT = 20_000  # the app's request limits (api/schemas.py); the merge keeps §4's own limits
MAX_EDGES_SENT = 100_000
MAX_EVIDENCE = 20
MAX_EVIDENCE_CHARS = 1000
MAX_PROBLEMS_NAMED = 5
# Children come from a fork server that has imported the inference once: a crawl's child starts in
# milliseconds (a fresh "spawn" interpreter took about a second), and is still a clean single-threaded
# process, never a fork of the service with its threads.
_SPAWN = multiprocessing.get_context("forkserver")
_SPAWN.set_forkserver_preload(
    [
        "maestro_web.discovery.crawl",
        "maestro_web.discovery.inference",
        "maestro_web.discovery.kinds.compose",
        "maestro_web.discovery.kinds.kubernetes",
    ]
)


class EventSink(Protocol):
    """maestro_web.live_publish.LivePublisher, or None for silence."""

    def publish(self, channel: str, event: str, data: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Command:
    graph: str
    source: str
    crawl: str
    token: str
    request_id: str | None = None  # the app's request that started the crawl (X-Request-ID)

    def __repr__(self) -> str:  # the token never reaches a log line
        return f"Command(graph={self.graph!r}, source={self.source!r}, crawl={self.crawl!r})"


class CrawlFailed(Exception):
    """The crawl cannot go on; the message is for the person who asked."""


def warm_up() -> None:
    """Start the fork server now, so that the first crawl does not wait for it."""
    from multiprocessing import forkserver

    forkserver.ensure_running()


def _infer_in_child(
    kind: str, path: str | None, settings: dict[str, Any], credentials: dict[str, str] | None, out: Any
) -> None:
    """The child process: run the inference, report progress and the outcome on `out`."""
    from maestro_web.discovery.inference import InputRefused, infer

    def progress(phase: str, percent: int) -> None:
        out.put(("progress", str(phase)[:100], max(0, min(100, int(percent)))))

    try:
        if path is None:
            result = infer(kind, None, settings, credentials, progress)
        else:
            with open(path, "rb") as data:
                result = infer(kind, data, settings, credentials, progress)
        out.put(("result", result))
    except InputRefused as exc:
        out.put(("refused", _scrub(str(exc), credentials)))
    except MemoryError:
        out.put(("refused", "the input needs more memory than a crawl may use"))
    except Exception as exc:  # any other failure is reported, never swallowed
        out.put(("refused", _scrub(f"{type(exc).__name__}: {exc}", credentials)[:500]))


def _scrub(message: str, credentials: Mapping[str, str] | None) -> str:
    for value in (credentials or {}).values():
        if value and len(value) >= 4:
            message = message.replace(value, "[redacted]")
    return message


def run_inference(
    kind: str,
    path: str | None,
    settings: dict[str, Any],
    credentials: dict[str, str] | None,
    timeout: float,
    on_progress: Any,
) -> Any:
    """The Inference of the input in `path` (None for aws), computed in a child process killed after
    `timeout` seconds. Raises CrawlFailed with the reason."""
    out = _SPAWN.Queue()
    child = _SPAWN.Process(target=_infer_in_child, args=(kind, path, settings, credentials, out), daemon=True)
    child.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CrawlFailed(
                    f"The crawl did not finish within {int(timeout)} seconds (MAESTRO_DISCOVERY_TIMEOUT)."
                )
            try:
                message = out.get(timeout=min(remaining, 1.0))
            except queue_module.Empty:
                if not child.is_alive() and out.empty():
                    raise CrawlFailed(f"The inference stopped unexpectedly (exit code {child.exitcode}).") from None
                continue
            if message[0] == "progress":
                on_progress(message[1], message[2])
            elif message[0] == "result":
                return message[1]
            else:
                raise CrawlFailed(message[1])
    finally:
        if child.is_alive():
            child.kill()
        child.join(timeout=5)
        out.close()


def result_payload(inference: Any) -> dict[str, Any]:
    """The PUT body (SPEC §11 "The result") of an Inference: `partial` when it skipped anything."""
    problems = list(inference.problems)
    nodes, edges = inference.nodes, inference.edges
    if len(nodes) > MAX_NODES_SENT:
        problems.append(f"{len(nodes) - MAX_NODES_SENT:,} more nodes were found and not sent")
        nodes = nodes[:MAX_NODES_SENT]
    if len(edges) > MAX_EDGES_SENT:
        problems.append(f"{len(edges) - MAX_EDGES_SENT:,} more edges were found and not sent")
        edges = edges[:MAX_EDGES_SENT]

    def evidence(items: Any) -> list[str]:
        return [str(item)[:MAX_EVIDENCE_CHARS] for item in list(items)[:MAX_EVIDENCE]]

    payload_edges = []
    for edge in edges:
        item: dict[str, Any] = {
            "source": edge.source,
            "target": edge.target,
            "evidence": evidence(edge.evidence) or ["inferred"],
            "confidence": edge.confidence,
        }
        for extra in ("calls", "p50_ms", "p99_ms"):
            if getattr(edge, extra, None) is not None:
                item[extra] = getattr(edge, extra)
        payload_edges.append(item)
    message = ""
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS_NAMED])
        more = f"; and {len(problems) - MAX_PROBLEMS_NAMED} more" if len(problems) > MAX_PROBLEMS_NAMED else ""
        message = f"Skipped: {shown}{more}."[:4900]
    return {
        "status": "partial" if problems else "ok",
        "message": message,
        "nodes": [{"name": node.name, "kind": node.kind, "evidence": evidence(node.evidence)} for node in nodes],
        "edges": payload_edges,
    }


def run_crawl(
    settings: DiscoverySettings, command: Command, events: EventSink | None = None, client: AppClient | None = None
) -> str:
    """Carry out one crawl; the status it ended with ("ok", "partial", "failed", or "taken" when
    another discovery process had claimed it)."""
    channel = graph_channel(command.graph)
    ids = {"source": command.source, "crawl": command.crawl}

    def announce(event: str, data: dict[str, Any]) -> None:
        if events is not None:
            events.publish(channel, event, {**ids, **data})

    client = client or AppClient(settings.app_url, command.token)
    announce("discovery.started", {})
    announce("discovery.progress", {"phase": "reading the input", "percent": 5, "nodes": None, "edges": None})
    try:
        given = client.read_input(command.graph, command.source, command.crawl)
    except AppRefused as exc:
        if exc.status == 409:
            log.info("Crawl %s was taken by another discovery process", command.crawl)
            return "taken"
        announce("discovery.failed", {"message": f"The app refused to hand over the input: {exc}"})
        log.warning("Crawl %s: the app refused the input (%s)", command.crawl, exc.status)
        return "failed"
    except Exception as exc:
        announce("discovery.failed", {"message": f"The app could not be reached ({type(exc).__name__})."})
        log.warning("Crawl %s: the app could not be reached: %s", command.crawl, type(exc).__name__)
        return "failed"

    path = None
    try:
        credentials = None
        if given.sealed_credentials:
            try:
                credentials = open_sealed(given.sealed_credentials, list(settings.private_keys))
            except SealingError as exc:
                raise CrawlFailed(f"The credentials cannot be opened: {exc}.") from None
        endpoint = given.settings.get("endpoint_url")
        if given.kind == "aws" and endpoint and str(endpoint).rstrip("/") not in settings.aws_endpoints:
            # checked when it was saved; the allow-list may have changed since
            raise CrawlFailed(f"The endpoint {str(endpoint)[:200]} is not in MAESTRO_DISCOVERY_AWS_ENDPOINTS.")
        if given.kind != "aws":
            handle, path = tempfile.mkstemp(prefix="maestro-crawl-")
            with os.fdopen(handle, "wb") as copy:
                while chunk := given.data.read(256 * 1024):
                    copy.write(chunk)
        given.data.close()
        inference_settings = {**settings.extra, **given.settings, "aws_endpoints": list(settings.aws_endpoints)}

        def on_progress(phase: str, percent: int) -> None:
            announce(
                "discovery.progress", {"phase": phase, "percent": 10 + percent * 8 // 10, "nodes": None, "edges": None}
            )

        inference = run_inference(given.kind, path, inference_settings, credentials, settings.timeout, on_progress)
        payload = result_payload(inference)
        announce(
            "discovery.progress",
            {"phase": "saving", "percent": 95, "nodes": len(payload["nodes"]), "edges": len(payload["edges"])},
        )
    except CrawlFailed as exc:
        payload = {"status": "failed", "message": str(exc)[:4900], "nodes": [], "edges": []}
    finally:
        if path is not None:
            os.unlink(path)

    try:
        crawl = client.put_result(command.graph, command.source, command.crawl, payload)
    except EndedMeanwhile:
        # The page's open connection hears the end; it shows the server's word (live.js refreshes).
        announce("discovery.failed", {"message": "The result's answer was lost; the app's own word follows."})
        log.info("Crawl %s: the result was sent again and the crawl had ended: the app kept the first", command.crawl)
        return str(payload["status"])  # what the app took (it may have made an ok partial: its page says)
    except AppRefused as exc:
        announce("discovery.failed", {"message": f"The app refused the result: {exc}"})
        log.warning("Crawl %s: the app refused the result (%s)", command.crawl, exc.status)
        return "failed"
    except Exception as exc:
        announce("discovery.failed", {"message": f"The app could not be reached ({type(exc).__name__})."})
        return "failed"
    if crawl["status"] == "failed":
        announce("discovery.failed", {"message": crawl["message"]})
    else:
        announce(
            "discovery.finished",
            {
                "status": crawl["status"],
                "added": crawl["added"],
                "removed": crawl["removed"],
                "unchanged": crawl["unchanged"],
            },
        )
    log.info(
        "Crawl %s of source %s on graph %s: %s (+%d -%d =%d)",
        command.crawl,
        command.source,
        command.graph,
        crawl["status"],
        crawl["added"],
        crawl["removed"],
        crawl["unchanged"],
    )
    return str(crawl["status"])
