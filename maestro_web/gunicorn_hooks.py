"""What gunicorn.conf.py plugs into gunicorn: an access log without whole client addresses, no
`Server` header, the check of where gunicorn listens while proxies are trusted, and the directory of
the workers' Prometheus metrics.

Loaded by gunicorn's master only (never by the app, the worker or the live server); no Flask.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable
from typing import Any

from gunicorn.glogging import Logger
from gunicorn.http import wsgi

# A client's address is personal data: the access log keeps its network, not the host.
IPV4_PREFIX = 24
IPV6_PREFIX = 48
ADDRESS_MODES = ("truncated", "full")


def truncate_address(value: str) -> str:
    """An IPv4 address cut to its /24 (203.0.113.0), IPv6 to its /48 (2001:db8:7::); "-" for anything
    that is not an address (a unix socket gives an empty one), so nothing else slips into the log."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return "-"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def _truncate_list(value: str) -> str:
    return ", ".join(truncate_address(part) for part in value.split(","))


class TruncatingLogger(Logger):
    """gunicorn's logger with every client address of an access line cut to its network.

    `%(h)s` (after ProxyFix, the client's own address), and the `{x-forwarded-for}i`,
    `{x-real-ip}i` and `{remote_addr}e` atoms should an operator's format name them.
    """

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        atoms["h"] = truncate_address(str(atoms.get("h", "")))
        for key in ("{x-forwarded-for}i", "{x-real-ip}i", "{remote_addr}e"):
            if key in atoms:
                atoms[key] = _truncate_list(str(atoms[key]))
        return atoms


def logger_class(mode: str) -> type[Logger]:
    """The logger for GUNICORN_ACCESS_LOG_ADDRESSES: "truncated" (default) or "full"."""
    if mode not in ADDRESS_MODES:
        raise ValueError(f"GUNICORN_ACCESS_LOG_ADDRESSES must be one of {', '.join(ADDRESS_MODES)}, got {mode!r}")
    return TruncatingLogger if mode == "truncated" else Logger


def drop_server_header() -> None:
    """Answer without `Server: gunicorn`: gunicorn writes it unconditionally and has no setting for it.

    The response's default header lines are gunicorn's own (status line, Server, Date, Connection,
    Transfer-Encoding); only the Server line is left out. The app's headers are untouched.
    """
    if getattr(wsgi.Response.default_headers, "maestro_no_server", False):
        return
    original = wsgi.Response.default_headers

    def default_headers(self: wsgi.Response) -> list[str]:
        return [line for line in original(self) if not line.lower().startswith("server:")]

    default_headers.maestro_no_server = True  # type: ignore[attr-defined]
    wsgi.Response.default_headers = default_headers  # type: ignore[method-assign]


class _HeldBytes:
    """Stands in for the client socket while gunicorn writes a response's head: keeps the bytes."""

    def __init__(self) -> None:
        self.data = b""

    def sendall(self, data: bytes) -> None:
        self.data += data


def send_head_with_body() -> None:
    """Write a response's head and its (first) body bytes in ONE send, not two.

    gunicorn sends the status line and headers, then the body, in two writes. A worker killed with -9
    between them (bench/soak.py saw it) leaves nginx with a head and no body: nginx has passed the
    head to the client already, so it can neither send the request to the other instance nor finish
    the answer, and the visitor gets a cut answer for a view that was counted. With one write, the
    kernel has the whole answer or none of it: none, and nginx sends the request again (with the
    same request id: receipts.py answers or counts it once). A response without body bytes (or a
    file sent with sendfile) has its head written on its own, as before.
    """
    if getattr(wsgi.Response.send_headers, "maestro_held", False):
        return
    send_headers, emit_body = wsgi.Response.send_headers, wsgi.Response._emit_body
    close, sendfile = wsgi.Response.close, wsgi.Response.sendfile

    def hold_headers(self: wsgi.Response) -> None:
        if self.headers_sent:
            return
        client, held = self.sock, _HeldBytes()
        self.sock = held
        try:
            send_headers(self)
        finally:
            self.sock = client
        self.maestro_head = held.data

    def flush_head(self: wsgi.Response) -> None:
        head = self.__dict__.pop("maestro_head", None)
        if head:
            self.sock.sendall(head)

    def emit_with_head(self: wsgi.Response, data: bytes) -> None:
        head = self.__dict__.pop("maestro_head", None)
        if head and not self.chunked:
            self.sock.sendall(head + data)
            return
        if head:
            self.sock.sendall(head)
        emit_body(self, data)

    def close_after_head(self: wsgi.Response) -> None:
        hold_headers(self)
        flush_head(self)
        close(self)

    def sendfile_after_head(self: wsgi.Response, respiter: Any) -> bool:
        if not self.headers_sent and (self.cfg.is_ssl or not self.can_sendfile()):
            return False  # gunicorn will write() the file's chunks: the head goes with the first
        hold_headers(self)
        flush_head(self)
        return bool(sendfile(self, respiter))

    hold_headers.maestro_held = True  # type: ignore[attr-defined]
    wsgi.Response.send_headers = hold_headers  # type: ignore[method-assign]
    wsgi.Response._emit_body = emit_with_head  # type: ignore[method-assign]
    wsgi.Response.close = close_after_head  # type: ignore[method-assign]
    wsgi.Response.sendfile = sendfile_after_head  # type: ignore[method-assign]


def exposed_listeners(listeners: Iterable[Any]) -> list[str]:
    """The listening sockets reachable from other machines: TCP on an address that is not loopback.

    A unix socket and 127.0.0.0/8 or ::1 are reachable only from this host (nginx's side).
    """
    exposed = []
    for listener in listeners:
        if listener.sock.family == socket.AF_UNIX:
            continue
        host = listener.sock.getsockname()[0]
        address = ipaddress.ip_address(host)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_loopback:
            exposed.append(str(listener))
    return exposed


def exposure_warning(listeners: Iterable[Any], trusted_proxies: int) -> str | None:
    """The start-up warning when gunicorn listens beyond loopback while X-Forwarded-For is trusted."""
    exposed = exposed_listeners(listeners)
    if not trusted_proxies or not exposed:
        return None
    return (
        f"gunicorn listens on {', '.join(exposed)} while MAESTRO_TRUSTED_PROXIES={trusted_proxies}: anyone who "
        "reaches it directly sets their own X-Forwarded-For and escapes every per-address limit. Bind it to "
        "127.0.0.1 or a unix socket (GUNICORN_BIND) behind nginx (deploy/), or firewall it to the proxy only."
    )


# --- Prometheus metrics of several workers (docs/operations.md, "Metrics") -------------------------

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's name (maestro_web.metrics.MULTIPROC_ENV)


def metrics_directory() -> tuple[str, bool]:
    """The directory where every worker writes its metric values, set in the environment before
    prometheus_client is first imported (it chooses its storage then), emptied of an earlier run's
    files; (path, made here). An operator's PROMETHEUS_MULTIPROC_DIR is used as it is; else a fresh
    private directory is made, and removed again when gunicorn exits (`remove_metrics_directory`)."""
    path = os.environ.get(MULTIPROC_ENV, "").strip()
    made = not path
    if made:
        path = tempfile.mkdtemp(prefix="maestro-metrics-")
        os.environ[MULTIPROC_ENV] = path
    os.makedirs(path, mode=0o700, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):  # the values of an earlier gunicorn would be added to this one's
            os.unlink(os.path.join(path, name))
    return path, made


def remove_metrics_directory(path: str, made: bool) -> None:
    if made:
        shutil.rmtree(path, ignore_errors=True)


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit: a dead worker's live gauges leave the sums; its counters stay counted."""
    from maestro_web.metrics import mark_process_dead

    mark_process_dead(pid)
