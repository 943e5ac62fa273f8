"""Prometheus metrics of every process (docs/operations.md, "Metrics"): who may read `/metrics`, and how
a process writes its answer.

Every process imports this package: the app under gunicorn, the live server, the analytics worker and
the discovery service. It needs prometheus_client and the standard library only (no Flask, no database,
no app config), so the import contracts of the worker, the live server and discovery hold. The metrics
themselves are defined one module per process (`app`, `live`, `worker`, `discovery`), each in that
process's own registry, so no process exposes another's families.

Labels are bounded: route templates, never URLs; reasons and outcomes from fixed lists. A token, an
e-mail address, a graph name or id never becomes a label value.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

log = logging.getLogger(__name__)

# No `<name>_created` series beside each counter and histogram: multiprocess mode has none, and one
# shape for every process keeps the dashboard's queries simple.
disable_created_metrics()

# The classic text format (0.0.4), which every Prometheus reads; generate_latest writes it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# gunicorn's workers write their values into files of this directory (prometheus_client's multiprocess
# mode); whoever answers a scrape adds them up. gunicorn.conf.py sets it for gunicorn alone.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_ALLOW = ("127.0.0.0/8", "::1/128")
NOBODY = "none"  # MAESTRO_METRICS_ALLOW=none: no address is enough, only the token

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow(text: str | None) -> tuple[str, ...]:
    """MAESTRO_METRICS_ALLOW: comma-separated addresses or networks (CIDR); empty means loopback,
    `none` no address at all. Raises ValueError naming the entry it cannot read."""
    if text is None or not text.strip():
        return DEFAULT_ALLOW
    if text.strip().lower() == NOBODY:
        return ()
    networks = []
    for part in (item.strip() for item in text.split(",")):
        if not part:
            continue
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ValueError(f"{part!r} is not an address or a network (such as 10.0.0.0/8)") from None
    return tuple(networks)


@lru_cache(maxsize=32)
def _networks(allow: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in allow)


def _address(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _bearer(authorization: str | None) -> str | None:
    """The credential of `Authorization: Bearer <token>`; None for no header or another scheme."""
    if not authorization:
        return None
    scheme, _, credential = authorization.strip().partition(" ")
    return credential.strip() if scheme.lower() == "bearer" and credential.strip() else None


@dataclass(frozen=True)
class MetricsAccess:
    """Who may read /metrics: a client from an allowed network, or anyone presenting the metrics token.

    A request that presents a bearer token must present the right one, wherever it comes from: a
    scraper configured with a wrong token sees its target down instead of passing on its address.
    """

    allow: tuple[str, ...] = DEFAULT_ALLOW
    token: str | None = None

    def permits(self, address: str | None, authorization: str | None) -> bool:
        presented = _bearer(authorization)
        if presented is not None:
            # Constant time: the comparison must not tell a guesser how much of the token was right.
            return self.token is not None and hmac.compare_digest(presented.encode(), self.token.encode())
        client = _address(address)
        return client is not None and any(client in network for network in _networks(self.allow))


# --- answering a scrape --------------------------------------------------------------------------


def start_at_zero(metric: Any, *values: Iterable[str]) -> None:
    """Create every child of a metric whose label values come from fixed lists, at 0: a series that
    exists before its first event makes `increase()` and the alerts see that first event."""
    from itertools import product

    for labels in product(*values):
        metric.labels(*labels)


def process_registry() -> CollectorRegistry:
    """A registry with the usual process_* / python_* families (CPU, memory, open files, GC)."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def exposition(*registries: Any) -> bytes:
    """The text format of every family of these registries (or collectors with `collect()`), in order."""
    parts = []
    for registry in registries:
        if not isinstance(registry, CollectorRegistry):
            single = CollectorRegistry(auto_describe=False)
            single.register(registry)
            registry = single
        parts.append(generate_latest(registry))
    return b"".join(parts)


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode, when this process runs in it (under gunicorn).

    prometheus_client chooses where values live when it is first imported; a variable set later
    (gunicorn.conf.py read by a test, say) changes nothing, and neither may it change the answer here.
    """
    from prometheus_client import values

    if values.ValueClass is values.MutexValue:
        return None
    return os.environ.get(MULTIPROC_ENV) or None


def multiprocess_registry() -> CollectorRegistry:
    """A fresh registry holding the sum of every gunicorn worker's values, read from their files."""
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def prepare_multiprocess_dir(path: str) -> None:
    """Create the directory, and empty it of a previous run's files (prometheus_client's rule: the
    values of processes of an earlier gunicorn would otherwise be added to this one's)."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)


def mark_process_dead(pid: int) -> None:
    """gunicorn's child_exit: a dead worker's live gauges leave the sum (its counters stay counted)."""
    path = multiprocess_dir()
    if path:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, path)


# --- a /metrics port of its own (the analytics worker) ---------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds: no line each
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def metrics_wsgi_app(render: Callable[[], bytes], access: MetricsAccess) -> Callable[..., Iterable[bytes]]:
    """A WSGI app answering GET /metrics with `render()` to those `access` permits, 404 to everyone else."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        allowed = access.permits(environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION"))
        if (
            environ.get("PATH_INFO") != "/metrics"
            or environ.get("REQUEST_METHOD") not in ("GET", "HEAD")
            or not allowed
        ):
            body = b"Not found\n"
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            yield body
            return
        body = render()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        yield body

    return application


def serve_metrics(render: Callable[[], bytes], access: MetricsAccess, host: str, port: int) -> WSGIServer:
    """Answer GET http://host:port/metrics from a daemon thread; returns the server (`shutdown()` stops it)."""
    server = make_server(
        host, port, metrics_wsgi_app(render, access), server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("Metrics on http://%s:%s/metrics", host, server.server_port)
    return server
