"""The live server (SPEC §8): `POST /publish` for services, `/live` WebSockets for browsers.

One aiohttp application on one asyncio loop: no thread per connection, no Flask app context. An
event is serialised into one WebSocket frame and written to each subscriber's transport without
waiting; a slow or dead browser only ever fills its own write buffer (and is dropped when that
passes a bound) while the others keep receiving.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from collections import defaultdict
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.abc import AbstractAccessLogger

from maestro_web.channels import CONTROL, is_channel
from maestro_web.live_server.bus import Bus, Event, MemoryBus, RedisBus, parse_event_id, text_frame
from maestro_web.live_server.revocations import ControlError, Revocations, effective_time, parse_revoke
from maestro_web.live_server.settings import LiveSettings
from maestro_web.logs import REQUEST_ID_HEADER, accept_request_id, request_id_var
from maestro_web.metrics import CONTENT_TYPE, MetricsAccess, exposition
from maestro_web.metrics import live as live_metrics
from maestro_web.safe_json import UnsafeJSON, loads_strict
from maestro_web.security.live_tickets import TicketError, verify_ticket
from maestro_web.security.signing import bearer_token
from maestro_web.security.socket_tokens import SocketTokenError, may_publish, verify_socket_token

log = logging.getLogger("maestro_web.live_server")

# WebSocket close codes (4000-4999 are the application's own).
CLOSE_BAD_TICKET = 4401  # bad, missing or expired ticket: get a new one
CLOSE_REVOKED = 4403  # access was taken away: do not come back with this session
CLOSE_POLICY = 1008  # too many frames a second, or a binary frame
CLOSE_TOO_SLOW = 1013  # the browser did not read its events: reconnect with `since`
CLOSE_BAD_DATA = 1007  # a frame the strict JSON reader refuses (too deep, NaN, lone surrogates)
CLOSE_GOING_AWAY = 1001
MAX_EVENT_NAME = 100

# The §7 error names of the statuses this server answers; the same as maestro_web.errors.ERROR_NAMES
# (a test holds them equal) without importing the app's error module and its database layer.
ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}

SETTINGS_KEY = web.AppKey("settings", LiveSettings)
HUB_KEY: web.AppKey[Hub] = web.AppKey("hub")
GAUGES_KEY = web.AppKey("metrics_gauges", live_metrics.HubGauges)


class Subscription:
    __slots__ = ("last", "pending", "opened")

    def __init__(self, replaying: bool) -> None:
        self.last: tuple[int, int] | None = None
        self.pending: list[Event] | None = [] if replaying else None  # live events held during a replay
        # When it was made, as an event id: where a catch-up starts for a subscription that has not
        # had an event yet (ids start with Redis's clock in milliseconds).
        self.opened: tuple[int, int] = (int(time.time() * 1000), 0)


class Outbox:
    """Frames written during one turn of the event loop go out together, one write per connection.

    Under load several publishes are handled in one turn; coalescing turns N events × M subscribers
    into at most M socket writes per turn (a write is a system call: most of a fan-out's cost).
    """

    def __init__(self) -> None:
        self.dirty: list[Connection] = []

    def add(self, conn: Connection) -> None:
        if not self.dirty:
            asyncio.get_running_loop().call_soon(self.flush)
        self.dirty.append(conn)

    def flush(self) -> None:
        dirty, self.dirty = self.dirty, []
        for conn in dirty:
            conn.flush()


class Connection:
    """One browser's WebSocket: who it is, what it may read, what it reads.

    Frames go straight to the transport (aiohttp writes whole frames synchronously too, so they
    never interleave); its write buffer is this connection's bounded send queue: a browser that
    lets it grow past `max_buffer` bytes is too slow and is closed, and nobody else waits for it.
    """

    __slots__ = (
        "ws",
        "transport",
        "outbox",
        "out",
        "address",
        "user",
        "iat",
        "exp",
        "channels",
        "subs",
        "max_buffer",
        "expiry",
        "closing",
        "closer",
        "window",
        "frames",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.BaseTransport | None,
        outbox: Outbox,
        address: str,
        max_buffer: int,
    ) -> None:
        self.ws = ws
        self.transport = transport if isinstance(transport, asyncio.WriteTransport) else None
        self.outbox = outbox
        self.out: list[bytes] | None = None
        self.address = address
        self.user: str | None = None
        self.iat = 0.0
        self.exp = 0.0
        self.channels: frozenset[str] = frozenset()
        self.subs: dict[str, Subscription] = {}
        self.max_buffer = max_buffer
        self.expiry: asyncio.TimerHandle | None = None
        self.closing = False
        self.closer: asyncio.Task[None] | None = None
        self.window = 0
        self.frames = 0

    def send(self, frame: bytes) -> None:
        """Queue one whole frame for this turn's write."""
        if self.closing:
            return
        if self.out is None:
            self.out = [frame]
            self.outbox.add(self)
        else:
            self.out.append(frame)

    def flush(self) -> None:
        """Write what this turn queued; a connection that does not read what it was sent is closed."""
        out, self.out = self.out, None
        transport = self.transport
        if not out or self.closing or transport is None or transport.is_closing():
            return  # after a close frame nothing more may be sent
        if transport.get_write_buffer_size() > self.max_buffer:
            log.info("Dropping a slow live connection from %s", self.address)
            live_metrics.DROPPED_SLOW.inc()
            self.close(CLOSE_TOO_SLOW, "too slow")
            return
        transport.write(out[0] if len(out) == 1 else b"".join(out))

    def send_json(self, message: dict[str, Any]) -> None:
        self.send(text_frame(json.dumps(message, separators=(",", ":")).encode()))

    def close(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        if self.expiry:
            self.expiry.cancel()
        self.closer = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()), timeout=2)
        except Exception:  # the peer is gone or stuck: drop the socket
            pass
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


class Hub:
    """Every connection of this process, indexed by channel and by user, and what acts on them."""

    def __init__(self, settings: LiveSettings, bus: Bus) -> None:
        self.settings = settings
        self.bus = bus
        self.revocations = Revocations(settings.revocation_ttl)
        # channel -> its subscribers and their subscription, so a fan-out needs no second lookup
        self.by_channel: dict[str, dict[Connection, Subscription]] = defaultdict(dict)
        self.by_user: dict[str, set[Connection]] = defaultdict(set)
        self.connections: set[Connection] = set()
        self.per_address: dict[str, int] = defaultdict(int)
        self._tokens: dict[str, dict[str, Any]] = {}
        self.outbox = Outbox()

    def verified_token(self, token: str) -> dict[str, Any]:
        """verify_socket_token, remembering good tokens until they expire: a publisher reuses its
        token for many events, and HS256 verification is most of a publish's cost."""
        claims = self._tokens.get(token)
        if claims is None:
            claims = verify_socket_token(token, self.settings.socket_ring)
            if len(self._tokens) >= 1024:
                self._tokens.clear()
            self._tokens[token] = claims
        if claims["exp"] <= time.time():
            del self._tokens[token]
            raise SocketTokenError("token expired")
        return claims

    # --- events from the bus (every process gets each event exactly once) ----------------------

    def on_event(self, event: Event) -> None:
        if event.channel == CONTROL:
            self.apply_control(event)
            return
        subscribers = self.by_channel.get(event.channel)
        if not subscribers:
            return
        # From the event's acceptance (by this process or another, through Redis) to its hand-over here.
        live_metrics.DELIVERY_SECONDS.observe(max(0.0, time.time() - event.at))
        # Nothing below adds or removes subscribers (send only queues), so no copy is needed.
        for conn, sub in subscribers.items():
            if sub.pending is not None:
                sub.pending.append(event)
            elif sub.last is None or event.key > sub.last:
                sub.last = event.key
                conn.send(event.frame)

    def apply_control(self, event: Event) -> None:
        try:
            user, channel, claimed = parse_revoke(event.event, event.data)
        except ControlError:
            return  # checked at publish; an old or foreign message is ignored
        self.enforce(user, channel, effective_time(claimed, event.at))

    def enforce(self, user: str | None, channel: str | None, at: float) -> None:
        """Note a revocation and end what it takes away from the open connections."""
        self.revocations.add(user, channel, at)
        if user is not None and channel is None:
            for conn in tuple(self.by_user.get(user, ())):
                if conn.iat <= at:
                    conn.close(CLOSE_REVOKED, "access revoked")
            return
        assert channel is not None
        for conn in tuple(self.by_channel.get(channel, {})):
            if conn.iat <= at and (user is None or conn.user == user):
                self.unsubscribe(conn, channel)
                conn.send_json({"type": "unsubscribed", "channel": channel, "reason": "access"})

    async def on_bus_connected(self) -> None:
        """Catch up on revocations other processes stored while this one was not listening."""
        if isinstance(self.bus, RedisBus):
            # Announcements made while this process was not listening were missed: what they revoked
            # is in Redis (stored by the live server that took them, or by the app, which keeps a
            # revocation until a live server takes it), and ends the open connections it covers too.
            for user, channel, at in Revocations.parse_stored(await self.bus.recall("revoked:*")):
                self.enforce(user, channel, at)
            await self.catch_up()

    async def catch_up(self) -> None:
        """Send each open subscription the events it missed while this process was not listening.

        Events published meanwhile (through another live server, or through this one while its own
        pub/sub connection was coming back) are in the channel's history but reached no subscriber
        here; the soak (bench/soak.py) lost a few in every Redis restart. Called before the bus's
        messages are read again, so a live event that arrives meanwhile is held and then dropped by
        the usual "newer than the last one sent" check: no gap, no duplicate.
        """
        for channel, members in tuple(self.by_channel.items()):
            waiting = [(conn, sub) for conn, sub in members.items() if sub.pending is None]
            if not waiting:
                continue  # every subscriber is replaying its own `since`, which reads the history anyway
            start = max(min(sub.last or sub.opened for _, sub in waiting), (0, 0))
            try:
                missed = await self.bus.history(channel, start)
            except Exception as exc:
                log.warning("History of a channel unavailable after a reconnect (%s)", type(exc).__name__)
                return
            for conn, sub in waiting:
                if conn.subs.get(channel) is not sub:
                    continue  # unsubscribed or resubscribed while the history was read
                for event in missed:
                    if event.key > (sub.last or sub.opened):
                        sub.last = event.key
                        conn.send(event.frame)

    # --- connections --------------------------------------------------------------------------

    def register(self, conn: Connection) -> None:
        self.connections.add(conn)

    def forget(self, conn: Connection) -> None:
        conn.closing = True
        if conn.expiry:
            conn.expiry.cancel()
        for channel in tuple(conn.subs):
            self.unsubscribe(conn, channel)
        if conn.user is not None:
            self._discard(self.by_user, conn.user, conn)
        self.connections.discard(conn)

    def unsubscribe(self, conn: Connection, channel: str) -> None:
        conn.subs.pop(channel, None)
        members = self.by_channel.get(channel)
        if members is not None:
            members.pop(conn, None)
            if not members:
                del self.by_channel[channel]

    @staticmethod
    def _discard(index: dict[str, set[Connection]], key: str, conn: Connection) -> None:
        members = index.get(key)
        if members is not None:
            members.discard(conn)
            if not members:
                del index[key]

    def accept_ticket(self, conn: Connection, claims: dict[str, Any]) -> None:
        """Bind a (first or renewed) ticket to the connection and arm its expiry timer."""
        if conn.user is not None and conn.user != claims.get("sub"):
            self._discard(self.by_user, conn.user, conn)
        conn.user = claims.get("sub")
        conn.iat = float(claims["iat"])
        conn.exp = float(claims["exp"])
        conn.channels = frozenset(claims["channels"])
        if conn.user is not None:
            self.by_user[conn.user].add(conn)
        for channel in tuple(conn.subs):  # a renewed ticket may list fewer channels
            if channel not in conn.channels or self.revocations.channel_refused(conn.user, channel, conn.iat):
                self.unsubscribe(conn, channel)
                conn.send_json({"type": "unsubscribed", "channel": channel, "reason": "access"})
        if conn.expiry:
            conn.expiry.cancel()
        delay = max(0.0, conn.exp - time.time())
        conn.expiry = asyncio.get_running_loop().call_later(delay, self._expire, conn)

    def _expire(self, conn: Connection) -> None:
        if time.time() >= conn.exp:
            conn.close(CLOSE_BAD_TICKET, "ticket expired")

    async def subscribe(self, conn: Connection, channel: str, since: tuple[int, int] | None) -> None:
        if channel not in conn.channels or self.revocations.channel_refused(conn.user, channel, conn.iat):
            conn.send_json({"type": "error", "code": 403, "channel": channel, "message": "not in this ticket"})
            return
        sub = Subscription(replaying=since is not None)
        old = conn.subs.get(channel)
        if old is not None and since is None:
            sub.last = old.last
        conn.subs[channel] = sub
        self.by_channel[channel][conn] = sub
        conn.send_json({"type": "subscribed", "channel": channel})
        if since is None:
            return
        try:
            missed = await self.bus.history(channel, since)
        except Exception as exc:
            log.warning("History of a channel unavailable (%s)", type(exc).__name__)
            live_metrics.BUS_ERRORS.inc()
            missed = []
        if conn.subs.get(channel) is not sub:
            return  # unsubscribed or resubscribed meanwhile
        # A `since` from the future (a bogus or foreign id) must not silence the events to come.
        last = since if since[0] <= time.time() * 1000 + 1000 else (0, -1)
        for event in missed + (sub.pending or []):
            if event.key > last:
                last = event.key
                conn.send(event.frame)
        sub.last = last
        sub.pending = None


# --- HTTP: POST /publish ------------------------------------------------------------------------


# The publish answers, as the outcomes of maestro_live_publishes_total.
PUBLISH_OUTCOMES = {
    202: "accepted",
    401: "unauthorized",
    403: "forbidden",
    413: "too_large",
    422: "invalid",
    503: "bus_unavailable",
}


def json_error(status: int, message: str) -> web.Response:
    """The §7 error body, the same shape the app sends."""
    return web.json_response({"error": ERROR_NAMES.get(status, "error"), "message": message}, status=status)


async def publish(request: web.Request) -> web.Response:
    response = await _publish(request)
    live_metrics.published(PUBLISH_OUTCOMES.get(response.status, "invalid"))
    return response


async def _publish(request: web.Request) -> web.Response:
    # The publisher's request id (the app's request, the worker's job): this task's log lines name it.
    request_id_var.set(accept_request_id(request.headers.get(REQUEST_ID_HEADER)))
    settings = request.app[SETTINGS_KEY]
    hub = request.app[HUB_KEY]
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        return json_error(401, "A socket token is required: Authorization: JWT <token>.")
    try:
        claims = hub.verified_token(token)
    except SocketTokenError as exc:
        return json_error(401, f"Socket token refused: {exc}.")
    if request.content_length is not None and request.content_length > settings.max_publish_bytes:
        return json_error(413, f"The body is larger than {settings.max_publish_bytes} bytes.")
    raw = await _read_limited(request, settings.max_publish_bytes)
    if raw is None:
        return json_error(413, f"The body is larger than {settings.max_publish_bytes} bytes.")
    try:
        body = loads_strict(raw)
    except UnsafeJSON as exc:
        if exc.line is not None or exc.problem.startswith("not valid JSON") or "UTF-8" in exc.problem:
            return json_error(422, "The body is not JSON.")
        # Deep nesting, NaN / Infinity, NUL or lone surrogates: JSON no browser could be sent safely.
        return json_error(422, f"{exc.where or 'body'}: {exc.problem}.")
    if not isinstance(body, dict):
        return json_error(422, "The body must be an object with channel, event and data.")
    unknown = sorted(set(body) - {"channel", "event", "data"})
    if unknown:
        return json_error(422, f"{unknown[0]}: unknown field.")
    channel, event, data = body.get("channel"), body.get("event"), body.get("data", {})
    if not is_channel(channel):
        return json_error(422, "channel: must be a channel name such as graph:<id>.")
    if not isinstance(event, str) or not 0 < len(event) <= MAX_EVENT_NAME:
        return json_error(422, f"event: must be a name of 1 to {MAX_EVENT_NAME} characters.")
    if not isinstance(data, dict):
        return json_error(422, "data: must be an object.")
    if not may_publish(claims, channel):
        return json_error(403, "channel: this token may not publish there.")
    revoke: tuple[str | None, str | None, float | None] | None = None
    if channel == CONTROL:
        try:
            revoke = parse_revoke(event, data)
        except ControlError as exc:
            return json_error(422, f"{exc}.")
    try:
        if revoke is not None:
            # Stored before it is announced, so a process (re)connecting meanwhile still learns it.
            user, revoked_channel, claimed = revoke
            await hub.bus.remember(
                Revocations.storage_key(user, revoked_channel),
                repr(effective_time(claimed, time.time())),
                settings.revocation_ttl,
            )
        event_id = await hub.bus.publish(channel, event, data)
    except Exception as exc:
        log.warning("Publish failed: %s", type(exc).__name__)
        live_metrics.BUS_ERRORS.inc()
        return json_error(503, "The event bus is unavailable; try again.")
    log.info("Published %s on %s", event, channel)
    return web.json_response({"id": event_id}, status=202)


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is longer than `limit` (also without Content-Length)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(16384)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


async def healthz(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    body: dict[str, Any] = {"status": "ok", "connections": len(hub.connections)}
    if request.app[SETTINGS_KEY].redis_url:
        body["redis"] = "ok" if await hub.bus.healthy() else "down"
        if body["redis"] != "ok":
            body["status"] = "unavailable"
            return web.json_response(body, status=503)
    return web.json_response(body)


async def metrics(request: web.Request) -> web.Response:
    """This server's metrics, for the scraper only: MAESTRO_METRICS_ALLOW by the client's address (after
    the trusted proxies, like the connection cap), or the metrics token; 404 for anyone else."""
    settings = request.app[SETTINGS_KEY]
    access = MetricsAccess(settings.metrics_allow, settings.metrics_token)
    address: str | None = client_address(request, settings.trusted_proxies)
    if not settings.trusted_proxies and "X-Forwarded-For" in request.headers:
        address = None  # forwarded by a proxy nobody declared: the peer's address proves nothing (app: guards.py)
    if not access.permits(address, request.headers.get("Authorization")):
        return json_error(404, "Not Found")
    body = exposition(live_metrics.REGISTRY, request.app[GAUGES_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


# --- WebSocket: /live -----------------------------------------------------------------------------


def client_address(request: web.Request, trusted_proxies: int) -> str:
    """The browser's address: the peer, or the entry `trusted_proxies` hops back in X-Forwarded-For."""
    if trusted_proxies > 0:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        if len(hops) >= trusted_proxies:
            return hops[-trusted_proxies]
    return request.remote or "unknown"


async def live(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS_KEY]
    hub = request.app[HUB_KEY]
    origin = request.headers.get("Origin", "").rstrip("/").lower()
    if origin not in settings.origins:
        live_metrics.connection_refused("origin")
        return json_error(403, "This origin may not open live connections.")
    address = client_address(request, settings.trusted_proxies)
    if hub.per_address.get(address, 0) >= settings.max_connections_per_address:
        live_metrics.connection_refused("too_many_from_address")
        return json_error(429, "Too many live connections from this address.")
    # No permessage-deflate: a compressor per connection costs memory (10,000 idle connections) and
    # CPU on every fan-out, where one serialised frame otherwise goes to every subscriber as is.
    ws = web.WebSocketResponse(
        heartbeat=settings.ping_interval, max_msg_size=settings.max_frame_bytes, timeout=2.0, compress=False
    )
    if not ws.can_prepare(request).ok:
        return json_error(400, "Expected a WebSocket handshake.")
    hub.per_address[address] += 1
    conn = Connection(ws, request.transport, hub.outbox, address, settings.send_buffer_bytes)
    try:
        await ws.prepare(request)
        hub.register(conn)
        await _serve_connection(hub, conn)
    finally:
        hub.forget(conn)
        hub.per_address[address] -= 1
        if hub.per_address[address] <= 0:
            del hub.per_address[address]
        if conn.closer is not None:
            await conn.closer  # the close code chosen (4401, 4403, 1008...) is the one sent
        elif not ws.closed:
            try:
                await asyncio.wait_for(ws.close(), timeout=2)
            except Exception:
                pass
    return ws


def _read_frame(conn: Connection, msg: Any, settings: LiveSettings) -> dict[str, Any] | str | None:
    """The parsed frame; or a close reason (str) for the connection; or None to ignore it."""
    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
        return "closed"
    now = int(time.monotonic())
    if now != conn.window:
        conn.window, conn.frames = now, 0
    conn.frames += 1
    if conn.frames > settings.max_frames_per_second:
        conn.close(CLOSE_POLICY, "too many frames")
        return "rate"
    if msg.type != WSMsgType.TEXT:
        conn.close(CLOSE_POLICY, "text frames only")
        return "binary"
    try:
        frame = loads_strict(msg.data)
    except UnsafeJSON as exc:
        if exc.line is not None or exc.problem.startswith("not valid JSON"):
            conn.send_json({"type": "error", "code": 422, "message": "frame is not JSON"})
            return None
        # Too deep, NaN, NUL or a lone surrogate: a hostile frame. One line, no traceback, and the
        # connection ends with 1007 (RFC 6455: data inconsistent with the message's type).
        log.info("Closed a live connection from %s: a frame %s", conn.address, exc.problem)
        conn.close(CLOSE_BAD_DATA, "unacceptable JSON")
        return "bad data"
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        conn.send_json({"type": "error", "code": 422, "message": "type: a frame is an object with a type"})
        return None
    return frame


async def _hello(hub: Hub, conn: Connection, frame: dict[str, Any]) -> bool:
    ticket = frame.get("ticket")
    try:
        claims = verify_ticket(ticket if isinstance(ticket, str) else "", hub.settings.ticket_ring)
    except TicketError:
        live_metrics.connection_refused("bad_ticket")
        conn.close(CLOSE_BAD_TICKET, "bad ticket")
        return False
    if hub.revocations.user_refused(claims.get("sub"), float(claims["iat"])):
        conn.close(CLOSE_BAD_TICKET, "ticket revoked")
        return False
    if conn.user is not None and claims.get("sub") != conn.user:
        conn.close(CLOSE_BAD_TICKET, "ticket of another user")
        return False
    hub.accept_ticket(conn, claims)
    conn.send_json({"type": "welcome", "channels": list(claims["channels"]), "expires_at": claims["exp"]})
    return True


async def _serve_connection(hub: Hub, conn: Connection) -> None:
    settings = hub.settings
    ws = conn.ws
    try:
        first = await ws.receive(timeout=settings.hello_timeout)
    except TimeoutError:
        conn.close(CLOSE_BAD_TICKET, "no hello")
        return
    frame = _read_frame(conn, first, settings)
    if not isinstance(frame, dict) or frame.get("type") != "hello":
        conn.close(CLOSE_BAD_TICKET, "hello expected")
        return
    if not await _hello(hub, conn, frame):
        return
    while not conn.closing:
        msg = await ws.receive()
        frame = _read_frame(conn, msg, settings)
        if isinstance(frame, str):
            return
        if frame is None:
            continue
        kind = frame["type"]
        if kind == "subscribe":
            channel, since = frame.get("channel"), frame.get("since")
            since_key = parse_event_id(since)
            if not is_channel(channel):
                conn.send_json({"type": "error", "code": 422, "message": "channel: not a channel name"})
            elif since is not None and since_key is None:
                conn.send_json(
                    {"type": "error", "code": 422, "channel": channel, "message": "since: an event id or null"}
                )
            else:
                await hub.subscribe(conn, channel, since_key)
        elif kind == "unsubscribe":
            channel = frame.get("channel")
            if isinstance(channel, str) and channel in conn.subs:
                hub.unsubscribe(conn, channel)
                conn.send_json({"type": "unsubscribed", "channel": channel, "reason": "client"})
        elif kind == "hello":
            if not await _hello(hub, conn, frame):
                return
        elif kind == "ping":
            conn.send_json({"type": "pong"})
        else:
            conn.send_json({"type": "error", "code": 422, "message": "type: hello, subscribe, unsubscribe or ping"})


# --- the application ----------------------------------------------------------------------------


class AccessLogger(AbstractAccessLogger):
    """Method, path (never the query string), status and time; no header, no token."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %s %.3fs', request.remote, request.method, request.path, response.status, time)


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """aiohttp's own 404/405/413 answers as §7 JSON bodies."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return json_error(exc.status, exc.reason)
        raise


def make_bus(settings: LiveSettings) -> Bus:
    if settings.redis_url:
        return RedisBus(settings.redis_url, settings.redis_prefix, settings.history_size, settings.history_ttl)
    return MemoryBus(settings.history_size, settings.history_ttl)


def build_app(settings: LiveSettings) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=settings.max_publish_bytes)
    hub = Hub(settings, make_bus(settings))
    app[SETTINGS_KEY] = settings
    app[HUB_KEY] = hub
    app.router.add_post("/publish", publish)
    app.router.add_get("/live", live)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app[GAUGES_KEY] = live_metrics.HubGauges(
        lambda: len(hub.connections), lambda: sum(len(members) for members in hub.by_channel.values())
    )

    async def start(app: web.Application) -> None:
        await hub.bus.start(hub.on_event, hub.on_bus_connected)
        app[PRUNER_KEY] = asyncio.get_running_loop().create_task(_prune(hub))

    async def shutdown(app: web.Application) -> None:
        for conn in tuple(hub.connections):
            conn.close(CLOSE_GOING_AWAY, "server shutting down")

    async def cleanup(app: web.Application) -> None:
        app[PRUNER_KEY].cancel()
        await hub.bus.close()

    app.on_startup.append(start)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    return app


PRUNER_KEY: web.AppKey[asyncio.Task[None]] = web.AppKey("pruner")


async def _prune(hub: Hub) -> None:
    while True:
        await asyncio.sleep(30)
        hub.revocations.prune()


def raise_fd_limit() -> int:
    """Let one process hold as many sockets as the system allows it; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            pass
    return soft


def run(settings: LiveSettings, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM, then close every connection with 1001."""
    limit = raise_fd_limit()
    log.info(
        "Live server on http://%s:%s (WebSocket /live, POST /publish), fan-out: %s, fd limit %s",
        host,
        port,
        "Redis" if settings.redis_url else "this process only",
        limit,
    )
    web.run_app(
        build_app(settings),
        host=host,
        port=port,
        print=None,
        access_log_class=AccessLogger,
        shutdown_timeout=5,
        backlog=4096,
    )


def exec_server(settings: LiveSettings, host: str, port: int) -> None:
    """Replace this process (the Flask CLI, with the whole app loaded) by a lean live server.

    The app's modules (SQLAlchemy, blueprints, templates) take half the memory of an idle live
    server and are never used by it. The settings, secrets included, go over a pipe (never argv or
    the environment); the process id stays the same, so signals and supervisors are unaffected.
    The hand-over is the lean services' own (service_kit.exec_service).
    """
    from maestro_web.service_kit import exec_service

    exec_service(settings.MODULE, settings.to_json(), host, port)
