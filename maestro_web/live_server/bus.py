"""Where events go between publish and delivery: one process alone, or many through Redis.

Both buses give every event an id "<milliseconds>-<sequence>" (a Redis stream id) that grows per
channel, also across restarts, keep a short history per channel for `since` replays, and hand every
event to `on_event` of every live process exactly once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from maestro_web.live_server.revocations import REMEMBER_LATEST_SCRIPT

log = logging.getLogger(__name__)

_EVENT_ID = re.compile(r"(\d{1,15})-(\d{1,15})")
EventId = tuple[int, int]


def parse_event_id(value: object) -> EventId | None:
    """The comparable form of an event id string, or None when it is not one."""
    if not isinstance(value, str):
        return None
    match = _EVENT_ID.fullmatch(value)
    return (int(match.group(1)), int(match.group(2))) if match else None


def text_frame(payload: bytes) -> bytes:
    """One unmasked WebSocket text frame (RFC 6455 §5.2), as a server sends it.

    Server frames carry no mask, so the same bytes serve every subscriber of an event: built once,
    written to each connection's transport as is (what `websockets.broadcast` does too).
    """
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


@dataclass(frozen=True)
class Event:
    channel: str
    id: str
    key: EventId
    event: str
    data: dict[str, Any]
    frame: bytes  # the whole WebSocket frame, built once for every subscriber

    @classmethod
    def make(cls, channel: str, event_id: str, event: str, data: dict[str, Any]) -> Event:
        key = parse_event_id(event_id)
        assert key is not None, event_id
        text = json.dumps(
            {"type": "event", "channel": channel, "id": event_id, "event": event, "data": data}, separators=(",", ":")
        )
        return cls(channel, event_id, key, event, data, text_frame(text.encode()))

    @property
    def at(self) -> float:
        """When the event was accepted, in seconds since the epoch (from its id)."""
        return self.key[0] / 1000


OnEvent = Callable[[Event], None]


class Bus(Protocol):
    async def start(self, on_event: OnEvent, on_connected: Callable[[], Awaitable[None]]) -> None: ...
    async def close(self) -> None: ...
    async def publish(self, channel: str, event: str, data: dict[str, Any]) -> str: ...
    async def history(self, channel: str, since: EventId) -> list[Event]: ...
    async def healthy(self) -> bool: ...
    async def remember(self, key: str, value: str, ttl: int) -> None: ...


class MemoryBus:
    """One live process alone: history in a capped deque per channel."""

    def __init__(self, history_size: int, history_ttl: int) -> None:
        self.history_size = history_size
        self.history_ttl = history_ttl
        self._history: dict[str, deque[Event]] = {}
        self._last_write: dict[str, float] = {}
        self._last_id: dict[str, EventId] = {}
        self._on_event: OnEvent | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, on_event: OnEvent, on_connected: Callable[[], Awaitable[None]]) -> None:
        self._on_event = on_event
        self._sweeper = asyncio.create_task(self._sweep())
        await on_connected()

    async def close(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()

    def _next_id(self, channel: str) -> str:
        now_ms = int(time.time() * 1000)
        last_ms, last_seq = self._last_id.get(channel, (0, -1))
        key = (now_ms, 0) if now_ms > last_ms else (last_ms, last_seq + 1)
        self._last_id[channel] = key
        return f"{key[0]}-{key[1]}"

    async def publish(self, channel: str, event: str, data: dict[str, Any]) -> str:
        item = Event.make(channel, self._next_id(channel), event, data)
        history = self._history.get(channel)
        if history is None:
            history = self._history[channel] = deque(maxlen=self.history_size)
        history.append(item)
        self._last_write[channel] = time.monotonic()
        assert self._on_event is not None
        self._on_event(item)
        return item.id

    async def history(self, channel: str, since: EventId) -> list[Event]:
        return [item for item in self._history.get(channel, ()) if item.key > since]

    async def healthy(self) -> bool:
        return True

    async def remember(self, key: str, value: str, ttl: int) -> None:
        return None  # one process: its memory is all there is

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(60)
            cutoff = time.monotonic() - self.history_ttl
            for channel in [c for c, at in self._last_write.items() if at < cutoff]:
                self._history.pop(channel, None)
                self._last_write.pop(channel, None)
                # Its next id starts from the clock, an hour past the last one: still increasing.
                self._last_id.pop(channel, None)


# XADD, EXPIRE and PUBLISH in one step: every process sees the events of a channel in id order.
_PUBLISH_SCRIPT = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'p', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', KEYS[2], id .. ' ' .. ARGV[2])
return id
"""


class RedisBus:
    """Many live processes: a capped stream per channel for history, one pub/sub channel for fan-out."""

    def __init__(self, url: str, prefix: str, history_size: int, history_ttl: int) -> None:
        import redis.asyncio as aioredis

        self.prefix = prefix
        self.history_size = history_size
        self.history_ttl = history_ttl
        self.events_channel = f"{prefix}events"
        self.redis = aioredis.Redis.from_url(url, decode_responses=True, health_check_interval=15)
        self._script = self.redis.register_script(_PUBLISH_SCRIPT)
        self._remember = self.redis.register_script(REMEMBER_LATEST_SCRIPT)
        self._listener: asyncio.Task[None] | None = None
        self._on_event: OnEvent | None = None
        self._on_connected: Callable[[], Awaitable[None]] | None = None
        self._subscribed = asyncio.Event()
        self._first_try_done = asyncio.Event()  # subscribed, or refused

    def stream_key(self, channel: str) -> str:
        return f"{self.prefix}stream:{channel}"

    async def start(self, on_event: OnEvent, on_connected: Callable[[], Awaitable[None]]) -> None:
        self._on_event = on_event
        self._on_connected = on_connected
        self._listener = asyncio.create_task(self._listen())
        try:
            # Serve only once this process hears the bus, so nothing published after start is missed; or
            # once Redis refused the first try: events are published through Redis, so none can be.
            await asyncio.wait_for(self._first_try_done.wait(), timeout=10)
        except TimeoutError:
            pass
        if not self._subscribed.is_set():
            log.warning("Redis is not answering yet; the live server keeps trying")

    async def close(self) -> None:
        if self._listener:
            self._listener.cancel()
        await self.redis.aclose()

    async def publish(self, channel: str, event: str, data: dict[str, Any]) -> str:
        payload = json.dumps({"channel": channel, "event": event, "data": data}, separators=(",", ":"))
        result = await self._script(
            keys=[self.stream_key(channel), self.events_channel], args=[self.history_size, payload, self.history_ttl]
        )
        return str(result)

    async def history(self, channel: str, since: EventId) -> list[Event]:
        entries = await self.redis.xrange(
            self.stream_key(channel), min=f"({since[0]}-{since[1]}", max="+", count=self.history_size
        )
        events = []
        for event_id, fields in entries or []:
            item = self._decode(str(event_id), str((fields or {}).get("p", "")))
            if item is not None:
                events.append(item)
        return events

    async def healthy(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except Exception:
            return False

    async def remember(self, key: str, value: str, ttl: int) -> None:
        """Keep the time `value` under `key` for `ttl` seconds, unless a later one is kept already."""
        await self._remember(keys=[f"{self.prefix}{key}"], args=[value, ttl])

    async def recall(self, pattern: str) -> dict[str, str]:
        """Every remembered key under `pattern` (without the prefix) and its value."""
        found: dict[str, str] = {}
        async for key in self.redis.scan_iter(match=f"{self.prefix}{pattern}", count=500):
            value = await self.redis.get(key)
            if value is not None:
                found[str(key)[len(self.prefix) :]] = str(value)
        return found

    @staticmethod
    def _decode(event_id: str, payload: str) -> Event | None:
        try:
            body = json.loads(payload)
            return Event.make(body["channel"], event_id, body["event"], body["data"])
        except (ValueError, KeyError, TypeError, AssertionError):
            log.warning("Skipped an unreadable event %s from Redis", event_id)
            return None

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.events_channel)
                assert self._on_connected is not None and self._on_event is not None
                await self._on_connected()
                self._subscribed.set()
                self._first_try_done.set()
                delay = 0.5
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    event_id, _, payload = str(message["data"]).partition(" ")
                    item = self._decode(event_id, payload)
                    if item is not None:
                        self._on_event(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis gone: keep serving, retry with backoff
                log.warning("Redis fan-out interrupted (%s); retrying in %.1f s", type(exc).__name__, delay)
                self._first_try_done.set()
            finally:
                try:
                    await pubsub.aclose()
                except Exception:
                    pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)
