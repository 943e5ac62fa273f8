"""Live server benchmark: idle connections, fan-out latency, publish throughput.

    .venv/bin/python -m bench.live                  # everything (about 3 minutes)
    .venv/bin/python -m bench.live --only idle      # or latency, latency-redis, throughput

Starts real `flask live serve` processes on 127.0.0.1 (memory bus, or two processes joined through
the local Redis under a throw-away key prefix), connects lightweight asyncio WebSocket clients
(a few dozen lines below: handshake, masked client frames, pong replies; no library, so that
10,000 of them fit in the benchmark process), and prints Markdown tables for docs/benchmarks.md.
Run by hand, never by `make test`. The clients share the 2 cores with the server: the latencies
include the clients' own time to read 1,000 copies of each event.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import secrets
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import ROOT, format_table, free_port, machine_cpu_times, machine_description, percentile

# The receiver subprocess must sign tickets with the same secret: it inherits them through these.
SESSION_SECRET = os.environ.setdefault("BENCH_LIVE_SESSION_SECRET", secrets.token_urlsafe(48))
SOCKET_SECRET = os.environ.setdefault("BENCH_LIVE_SOCKET_SECRET", secrets.token_urlsafe(48))
ORIGIN = "http://127.0.0.1:5000"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- server processes ------------------------------------------------------------------------------


class Server:
    def __init__(self, redis_prefix: str | None = None) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAESTRO_", "REDIS_URL", "FLASK_"))}
        env.update(
            {
                "MAESTRO_ENV": "testing",
                "MAESTRO_SECRETJWT": SESSION_SECRET,
                "MAESTRO_SECRETJWT_SOCKET": SOCKET_SECRET,
                "MAESTRO_BASE_URL": ORIGIN,
                "MAESTRO_LIVE_MAX_CONNECTIONS_PER_ADDRESS": "20000",
                "LOG_LEVEL": "WARNING",  # no access log line per publish: it would be most of the work
            }
        )
        if redis_prefix:
            env.update({"REDIS_URL": REDIS_URL, "MAESTRO_LIVE_REDIS_PREFIX": redis_prefix})
        self.log = tempfile.NamedTemporaryFile(prefix="bench-live-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "live", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    async def wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                status = await reader.readline()
                writer.close()
                if b" 200 " in status:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        raise RuntimeError("live server did not start:\n" + Path(self.log.name).read_text())

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        Path(self.log.name).unlink(missing_ok=True)


def ticket(sub: str, channels: list[str]) -> str:
    from maestro_web.security.live_tickets import issue_ticket
    from maestro_web.security.signing import KeyRing

    return issue_ticket(KeyRing("session", SESSION_SECRET), sub=sub, channels=channels)[0]


def socket_token() -> str:
    from maestro_web.security.signing import KeyRing
    from maestro_web.security.socket_tokens import issue_socket_token

    return issue_socket_token(KeyRing("socket", SOCKET_SECRET), issuer="maestro-server", ttl=3600)


# --- a minimal WebSocket client --------------------------------------------------------------------


EVENT_MARKER = b'{"type":"event"'


class Client(asyncio.Protocol):
    """Handshake, masked text frames out, frames in (pings answered); counts or times events."""

    def __init__(self, keep_times: bool) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.open = asyncio.get_running_loop().create_future()
        self.handshaken = False
        self.events = 0
        self.keep_times = keep_times
        self.arrivals: list[tuple[int, float]] = []
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed_code: int | None = None
        self.counting = False  # after subscribing: count events at C speed instead of parsing frames
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def handshake(self, port: int) -> None:
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        assert self.transport is not None
        self.transport.write(
            (
                f"GET /live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: {ORIGIN}\r\n\r\n"
            ).encode()
        )

    def send(self, message: dict[str, Any], opcode: int = 0x1) -> None:
        self._frame(json.dumps(message).encode(), opcode)

    def _frame(self, payload: bytes, opcode: int) -> None:
        mask = secrets.token_bytes(4)
        size = len(payload)
        header = (
            struct.pack("!BB", 0x80 | opcode, 0x80 | size)
            if size < 126
            else struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        )
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None
        self.transport.write(header + mask + masked)

    def data_received(self, data: bytes) -> None:
        if self.counting:
            # `"type":"event"` cannot occur inside an event's JSON data (quotes are escaped there),
            # and keeping the last bytes of the previous read catches a marker split across reads.
            chunk = self.tail + data
            self.events += chunk.count(EVENT_MARKER)
            self.tail = chunk[-(len(EVENT_MARKER) - 1) :]
            return
        now = time.perf_counter()
        self.buffer += data
        if not self.handshaken:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.open.set_exception(RuntimeError(bytes(self.buffer[:60]).decode(errors="replace")))
                return
            del self.buffer[: end + 4]
            self.handshaken = True
            self.open.set_result(True)
        buf = self.buffer
        pos = 0
        while len(buf) - pos >= 2:
            opcode, size = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            head = 2
            if size == 126:
                if len(buf) - pos < 4:
                    break
                size, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif size == 127:
                if len(buf) - pos < 10:
                    break
                size, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if len(buf) - pos < head + size:
                break
            payload = bytes(buf[pos + head : pos + head + size])
            pos += head + size
            if opcode == 0x9:
                self._frame(payload, 0xA)
            elif opcode == 0x8:
                self.closed_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            elif opcode == 0x1:
                if payload.startswith(b'{"type":"event"'):
                    self.events += 1
                    if self.keep_times:  # the event number, without a JSON parse per copy
                        start = payload.rindex(b'"n":') + 4
                        self.arrivals.append((int(payload[start : payload.index(b"}", start)]), now))
                else:
                    self.replies.put_nowait(json.loads(payload))
        del buf[:pos]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(port: int, sub: str, channels: list[str], subscribe: str, keep_times: bool = False) -> Client:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: Client(keep_times), "127.0.0.1", port)
    client.handshake(port)
    await asyncio.wait_for(client.open, 10)
    client.send({"type": "hello", "ticket": ticket(sub, channels)})
    welcome = await asyncio.wait_for(client.replies.get(), 10)
    assert welcome["type"] == "welcome", welcome
    client.send({"type": "subscribe", "channel": subscribe, "since": None})
    subscribed = await asyncio.wait_for(client.replies.get(), 10)
    assert subscribed["type"] == "subscribed", subscribed
    return client


async def connect_many(
    ports: list[int], count: int, channel: str | None, keep_times: bool = False, batch: int = 250
) -> list[Client]:
    clients: list[Client] = []
    for start in range(0, count, batch):
        jobs = []
        for i in range(start, min(count, start + batch)):
            user = f"bench{i}"
            channels = [f"user:{user}"] + ([channel] if channel else [])
            jobs.append(connect(ports[i % len(ports)], user, channels, channel or f"user:{user}", keep_times))
        clients.extend(await asyncio.gather(*jobs))
    return clients


# --- publishing -------------------------------------------------------------------------------------


class Publisher:
    """Keep-alive HTTP/1.1 POST /publish over raw asyncio streams (cheaper than any client library)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.token = socket_token()

    async def open(self) -> Publisher:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    def _request(self, channel: str, data: dict[str, Any]) -> bytes:
        body = json.dumps({"channel": channel, "event": "bench", "data": data}).encode()
        return (
            b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: JWT "
            + self.token.encode()
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    async def post(self, channel: str, data: dict[str, Any]) -> int:
        self.writer.write(self._request(channel, data))
        return await self._status()

    async def post_many(self, channel: str, datas: list[dict[str, Any]]) -> list[int]:
        """HTTP/1.1 pipelining: every request written at once, then every answer read in order."""
        self.writer.write(b"".join(self._request(channel, data) for data in datas))
        return [await self._status() for _ in datas]

    async def _status(self) -> int:
        status = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await self.reader.readexactly(length)
        return int(status.split()[1])


# --- scenarios --------------------------------------------------------------------------------------


async def idle(connections: int, seconds: float) -> list[str]:
    server = Server()
    try:
        await server.wait()
        await asyncio.sleep(1)
        rss_before = server.rss_mb()
        started = time.monotonic()
        clients = await connect_many([server.port], connections, None)
        opened = time.monotonic() - started
        await asyncio.sleep(5)
        rss_after = server.rss_mb()
        cpu_before = server.cpu_seconds()
        await asyncio.sleep(seconds)
        cpu = (server.cpu_seconds() - cpu_before) / seconds
        alive = sum(1 for c in clients if c.closed_code is None and c.transport and not c.transport.is_closing())
        for c in clients:
            c.close()
        return [
            str(connections),
            f"{opened:.1f}",
            f"{rss_before:.0f}",
            f"{rss_after:.0f}",
            f"{(rss_after - rss_before) * 1024 / connections:.1f}",
            f"{cpu * 100:.1f}%",
            str(alive),
        ]
    finally:
        server.stop()


async def latency(subscribers: int, events: int, rate: float, redis: bool) -> list[str]:
    prefix = f"maestro-bench:{secrets.token_hex(6)}:" if redis else None
    servers = [Server(prefix)] + ([Server(prefix)] if redis else [])
    try:
        for server in servers:
            await server.wait()
        channel = "graph:bench"
        clients = await connect_many([s.port for s in servers], subscribers, channel, keep_times=True)
        publisher = await Publisher(servers[0].port).open()
        sent: dict[int, float] = {}
        for n in range(events):
            sent[n] = time.perf_counter()
            status = await publisher.post(channel, {"n": n})
            assert status == 202, status
            await asyncio.sleep(1 / rate)
        deadline = time.monotonic() + 30
        while sum(c.events for c in clients) < subscribers * events and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        latencies = [(at - sent[n]) * 1000 for c in clients for n, at in c.arrivals]
        delivered = sum(c.events for c in clients)
        for c in clients:
            c.close()
        return [
            "Redis, 2 processes" if redis else "memory, 1 process",
            str(subscribers),
            str(events),
            f"{delivered}/{subscribers * events}",
            f"{percentile(latencies, 50):.1f}",
            f"{percentile(latencies, 99):.1f}",
            f"{max(latencies):.1f}",
        ]
    finally:
        for server in servers:
            server.stop()
        if prefix:
            import redis as redis_lib

            client = redis_lib.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)


async def receiver_main(port: int, count: int, channel: str) -> None:
    """Subprocess role: hold `count` subscribers, report when each has `expected` events."""
    clients = await connect_many([port], count, channel)
    for client in clients:  # the run lasts less than the 20 s until the server's first ping
        client.counting = True
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    expected = int(await reader.readline())
    started = time.monotonic()
    while min(c.events for c in clients) < expected and time.monotonic() - started < 60:
        await asyncio.sleep(0.05)
    print(
        json.dumps(
            {
                "min": min(c.events for c in clients),
                "total": sum(c.events for c in clients),
                "drain_seconds": time.monotonic() - started,
            }
        ),
        flush=True,
    )


async def throughput(subscribers: int, seconds: float, concurrency: int, pipeline: int) -> list[str]:
    server = Server()
    try:
        await server.wait()
        receiver = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.live",
            "--receiver",
            str(server.port),
            str(subscribers),
            "graph:bench",
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert receiver.stdout is not None and receiver.stdin is not None
        assert (await receiver.stdout.readline()).strip() == b"ready"
        publishers = [await Publisher(server.port).open() for _ in range(concurrency)]
        accepted = 0
        cpu_before = server.cpu_seconds()
        deadline = time.monotonic() + seconds
        started = time.monotonic()

        async def loop(publisher: Publisher) -> None:
            nonlocal accepted
            n = 0
            while time.monotonic() < deadline:
                statuses = await publisher.post_many("graph:bench", [{"n": n + i} for i in range(pipeline)])
                accepted += statuses.count(202)
                n += pipeline

        await asyncio.gather(*(loop(p) for p in publishers))
        elapsed = time.monotonic() - started
        server_cpu_total = server.cpu_seconds() - cpu_before
        server_cpu = server_cpu_total / elapsed
        receiver.stdin.write(f"{accepted}\n".encode())
        await receiver.stdin.drain()
        result = json.loads(await receiver.stdout.readline())
        await receiver.wait()
        return [
            str(subscribers),
            f"{concurrency} × {pipeline}",
            f"{elapsed:.1f}",
            str(accepted),
            f"{accepted / elapsed:.0f}",
            f"{server_cpu * 100:.0f}%",
            f"{server_cpu_total / max(accepted, 1) * 1e6:.0f}",
            f"{result['min']}/{accepted}",
            f"{result['drain_seconds']:.1f}",
        ]
    finally:
        server.stop()


async def busy(scenario: Any) -> list[str]:
    """Run one scenario; add how busy the whole machine was meanwhile (other users included)."""
    before = machine_cpu_times()
    row: list[str] = await scenario
    after = machine_cpu_times()
    share = (after[0] - before[0]) / max(1, after[1] - before[1]) if before and after else float("nan")
    return row + [f"{share * 100:.0f}%"]


async def main(only: str | None) -> None:
    raise_fd_limit()
    machine = machine_description()
    print(f"Machine: {machine}\n")
    if only in (None, "idle"):
        rows = [await busy(idle(10_000, 40))]
        print(
            format_table(
                [
                    "connections",
                    "open s",
                    "RSS before MB",
                    "RSS after MB",
                    "KiB / connection",
                    "CPU idle (40 s, 2 ping rounds)",
                    "still open",
                    "machine busy",
                ],
                rows,
            )
            + "\n"
        )
    rows = []
    if only in (None, "latency"):
        rows.append(await busy(latency(1000, 200, 20, redis=False)))
    if only in (None, "latency-redis"):
        rows.append(await busy(latency(1000, 200, 20, redis=True)))
    if rows:
        print(
            format_table(
                ["bus", "subscribers", "events", "delivered", "p50 ms", "p99 ms", "max ms", "machine busy"], rows
            )
            + "\n"
        )
    if only in (None, "throughput"):
        rows = [await busy(throughput(100, 10, 32, 1)), await busy(throughput(100, 10, 16, 16))]
        print(
            format_table(
                [
                    "subscribers",
                    "connections × pipelined",
                    "seconds",
                    "accepted",
                    "publishes/s",
                    "server CPU",
                    "server CPU µs / publish",
                    "every subscriber got",
                    "drain s",
                    "machine busy",
                ],
                rows,
            )
            + "\n"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["idle", "latency", "latency-redis", "throughput"])
    parser.add_argument("--receiver", nargs=3, metavar=("PORT", "COUNT", "CHANNEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        raise_fd_limit()
        asyncio.run(receiver_main(int(args.receiver[0]), int(args.receiver[1]), args.receiver[2]))
    else:
        asyncio.run(main(args.only))
