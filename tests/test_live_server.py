"""The live server (SPEC §8) as a real process: publish, subscribe, replay, Redis fan-out, every edge.

Every test talks to `flask live serve` processes on loopback ports over real HTTP and WebSockets;
the Redis tests use real Redis with a key prefix of their own.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import time
from collections.abc import Iterator

import jwt as pyjwt
import pytest
import requests
from live_support import (
    REDIS_URL,
    LiveClient,
    LiveProcess,
    clear_redis_prefix,
    free_port,
    publish,
    redis_prefix,
    require_redis_or_skip,
    start_live_server,
)
from websockets.exceptions import ConnectionClosed, InvalidStatus

from maestro_web.config import ConfigError, load_settings
from maestro_web.live_publish import LivePublisher
from maestro_web.live_server.settings import LiveSettings
from maestro_web.security.live_tickets import issue_ticket
from maestro_web.security.signing import KeyRing
from maestro_web.security.socket_tokens import issue_socket_token
from maestro_web.security.worker_tokens import mint_worker_token

SESSION = KeyRing("session", secrets.token_urlsafe(48))
SOCKET = KeyRing("socket", secrets.token_urlsafe(48))
ORIGIN = "http://127.0.0.1:5000"
EMBED_ORIGIN = "https://embed.example"
SECRETS_USED: list[str] = []  # every ticket and token handed to a server: none may reach a log line
PROCESSES: list[LiveProcess] = []


def ticket(
    sub: str | None = "u1",
    channels: list[str] | None = None,
    ttl: int = 600,
    now: float | None = None,
    ring: KeyRing = SESSION,
) -> str:
    token, _ = issue_ticket(ring, sub=sub, channels=channels or ["user:u1", "graph:g1"], ttl=ttl, now=now)
    SECRETS_USED.append(token)
    return token


def token(
    issuer: str = "maestro-server",
    channels: list[str] | None = None,
    ttl: int = 300,
    now: float | None = None,
    ring: KeyRing = SOCKET,
) -> str:
    value = issue_socket_token(ring, issuer=issuer, channels=channels, ttl=ttl, now=now)
    SECRETS_USED.append(value)
    return value


def start(**options: object) -> LiveProcess:
    live = start_live_server(session_secret=SESSION.current, socket_secret=SOCKET.current, base_url=ORIGIN, **options)  # type: ignore[arg-type]
    PROCESSES.append(live)
    return live


@pytest.fixture(scope="module")
def live() -> Iterator[LiveProcess]:
    """One live process alone (no Redis), shared by the tests that do not restart it."""
    server = start(origins=[EMBED_ORIGIN])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[LiveProcess, LiveProcess]]:
    """Two live processes joined through Redis under a prefix of their own."""
    require_redis_or_skip()
    prefix = redis_prefix()
    first = start(redis_url=REDIS_URL, redis_prefix=prefix)
    second = start(redis_url=REDIS_URL, redis_prefix=prefix)
    yield first, second
    first.stop()
    second.stop()
    clear_redis_prefix(prefix)


def client(
    server: LiveProcess, sub: str | None = "u1", channels: list[str] | None = None, **options: object
) -> LiveClient:
    conn = LiveClient(server.ws_url, origin=ORIGIN, **options)
    welcome = conn.hello(ticket(sub, channels))
    assert welcome["type"] == "welcome", welcome
    return conn


def post(server: LiveProcess, channel: str, event: str = "run.progress", data: dict | None = None) -> str:
    response = publish(server, token(), {"channel": channel, "event": event, "data": data or {}})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def key(event_id: str) -> tuple[int, int]:
    ms, seq = event_id.split("-")
    return int(ms), int(seq)


# --- publish → deliver ------------------------------------------------------------------------------


def test_published_event_reaches_subscriber(live):
    with client(live) as conn:
        assert conn.subscribe("graph:g1") == {"type": "subscribed", "channel": "graph:g1"}
        first = post(live, "graph:g1", "run.queued", {"run_id": 7, "queued_at": "2026-01-01T00:00:00Z"})
        second = post(live, "graph:g1", "run.progress", {"phase": "layout", "percent": 50})
        events = conn.events(2)
    assert events[0] == {
        "type": "event",
        "channel": "graph:g1",
        "id": first,
        "event": "run.queued",
        "data": {"run_id": 7, "queued_at": "2026-01-01T00:00:00Z"},
    }
    assert events[1]["id"] == second and events[1]["data"] == {"phase": "layout", "percent": 50}
    assert key(second) > key(first)


def test_events_of_other_channels_are_not_delivered(live):
    with client(live, channels=["user:u1", "graph:g1", "graph:g2"]) as conn:
        conn.subscribe("graph:g1")
        post(live, "graph:g2", "run.queued")
        mine = post(live, "graph:g1", "run.claimed")
        assert conn.recv()["id"] == mine


def test_subscribe_outside_ticket_is_refused(live):
    with client(live, channels=["user:u1"]) as conn:
        assert conn.subscribe("graph:g9") == {
            "type": "error",
            "code": 403,
            "channel": "graph:g9",
            "message": "not in this ticket",
        }
        post(live, "graph:g9", "run.queued")
        assert conn.subscribe("user:u1")["type"] == "subscribed"
        mine = post(live, "user:u1", "share.viewed", {"views": 1})
        assert conn.recv() == {
            "type": "event",
            "channel": "user:u1",
            "id": mine,
            "event": "share.viewed",
            "data": {"views": 1},
        }


def test_ids_increase_per_channel_under_a_burst(live):
    with client(live) as conn:
        conn.subscribe("graph:g1")
        ids = [post(live, "graph:g1", "run.progress", {"percent": i}) for i in range(30)]
        received = conn.events(30)
    assert [e["id"] for e in received] == ids
    assert [e["data"]["percent"] for e in received] == list(range(30))
    assert all(key(a) < key(b) for a, b in zip(ids, ids[1:]))


def replay_loses_nothing(publisher: LiveProcess, reader: LiveProcess) -> None:
    with client(reader) as conn:
        conn.subscribe("graph:g1")
        seen = post(publisher, "graph:g1", "run.queued", {"n": 0})
        assert conn.recv()["id"] == seen
    missed = [post(publisher, "graph:g1", "run.progress", {"n": n}) for n in range(1, 4)]
    with client(reader) as conn:
        assert conn.subscribe("graph:g1", since=seen)["type"] == "subscribed"
        replayed = conn.events(3)
        assert [e["id"] for e in replayed] == missed
        assert [e["data"]["n"] for e in replayed] == [1, 2, 3]
        after = post(publisher, "graph:g1", "run.finished", {"n": 4})
        assert conn.recv()["id"] == after


def test_since_replay_after_reconnect_loses_nothing(live):
    replay_loses_nothing(live, live)


def test_since_from_the_future_does_not_silence_new_events(live):
    with client(live) as conn:
        assert conn.subscribe("graph:g1", since="99999999999999-0")["type"] == "subscribed"
        mine = post(live, "graph:g1")
        assert conn.recv()["id"] == mine


def test_since_replay_survives_a_restart_of_the_only_process():
    # Ids carry a timestamp, so a `since` from before a restart is still "before" the new events.
    first = start()
    with client(first) as conn:
        conn.subscribe("graph:g1")
        old = post(first, "graph:g1")
        assert conn.recv()["id"] == old
    first.stop()
    second = start()
    try:
        new = post(second, "graph:g1", "run.finished")
        assert key(new) > key(old)
        with client(second) as conn:
            conn.subscribe("graph:g1", since=old)
            assert conn.recv()["id"] == new
    finally:
        second.stop()


# --- Redis fan-out --------------------------------------------------------------------------------


def test_event_published_on_one_process_reaches_the_other_exactly_once(pair):
    first, second = pair
    with client(second) as far, client(first) as near:
        far.subscribe("graph:g1")
        near.subscribe("graph:g1")
        ids = [post(first, "graph:g1", "run.progress", {"n": n}) for n in range(5)]
        for conn in (far, near):
            assert [e["id"] for e in conn.events(5)] == ids
            with pytest.raises(TimeoutError):
                conn.recv(timeout=1.0)  # nothing twice


def test_since_replay_across_processes(pair):
    first, second = pair
    replay_loses_nothing(first, second)


def test_ids_stay_ordered_when_two_processes_publish(pair):
    first, second = pair
    with client(first) as conn:
        conn.subscribe("graph:g1")
        ids = [post(server, "graph:g1", "run.progress", {"n": n}) for n in range(10) for server in (first, second)]
        received = [e["id"] for e in conn.events(20)]
    assert received == ids
    assert all(key(a) < key(b) for a, b in zip(received, received[1:]))


def test_redis_down_means_503_for_publishers_and_the_server_lives():
    closed = free_port()  # nothing listens there
    server = start(redis_url=f"redis://127.0.0.1:{closed}/0", redis_prefix=redis_prefix(), healthy=False, timeout=60)
    try:
        health = requests.get(f"{server.http_url}/healthz", timeout=5)
        assert health.status_code == 503 and health.json()["redis"] == "down"
        response = publish(server, token(), {"channel": "graph:g1", "event": "run.queued", "data": {}})
        assert response.status_code == 503 and response.json()["error"] == "unavailable"
        with client(server) as conn:  # browsers still connect; their pages say what they can
            assert conn.subscribe("graph:g1")["type"] == "subscribed"
        assert "Redis fan-out interrupted" in server.logs()
        assert f"redis://127.0.0.1:{closed}" not in server.logs()  # a Redis URL may hold a password
    finally:
        server.stop()


# --- publish: tokens and bodies ----------------------------------------------------------------------


def forged(claims_change: dict, ring: KeyRing = SOCKET) -> str:
    now = int(time.time())
    claims = {
        "iss": "maestro-server",
        "aud": "maestro-websocket",
        "iat": now,
        "exp": now + 300,
        "jti": "x",
        **claims_change,
    }
    value = pyjwt.encode(claims, ring.current, algorithm="HS256", headers={"kid": ring.current_kid})
    SECRETS_USED.append(value)
    return value


def test_publish_with_either_scheme(live):
    body = {"channel": "graph:g1", "event": "run.queued", "data": {}}
    assert publish(live, token(), body, scheme="JWT").status_code == 202
    assert publish(live, token(), body, scheme="Bearer").status_code == 202


def bad_publish_tokens() -> dict[str, str | None]:
    valid = token()
    header, payload, signature = valid.split(".")
    other_payload = forged({"channels": ["graph:", "control"]}).split(".")[1]
    analytics = KeyRing("analytics", secrets.token_urlsafe(48))
    return {
        "missing": None,
        "empty": "",
        "garbage": "not-a-token",
        "tampered": f"{header}.{other_payload}.{signature}",
        "expired": token(ttl=60, now=time.time() - 120),
        "wrong aud": forged({"aud": "maestro-websocket-client"}),
        "unknown issuer": forged({"iss": "maestro-worker"}),
        "too long lived": forged({"exp": int(time.time()) + 3601}),
        "other context's secret": token(ring=KeyRing("socket", secrets.token_urlsafe(48))),
        "live ticket": ticket(),
        "session-secret signed": forged({}, ring=SESSION),
        "worker token": mint_worker_token(analytics),
    }


@pytest.mark.parametrize("case", list(bad_publish_tokens()))
def test_publish_refuses_bad_tokens(live, case):
    value = bad_publish_tokens()[case]
    if value:
        SECRETS_USED.append(value)
    with client(live) as conn:
        conn.subscribe("graph:g1")
        response = publish(live, value, {"channel": "graph:g1", "event": "run.queued", "data": {}})
        assert response.status_code == 401, case
        assert response.json()["error"] == "unauthorized"
        with pytest.raises(TimeoutError):
            conn.recv(timeout=0.3)


def test_publish_with_wrong_scheme_is_refused(live):
    response = publish(live, token(), {"channel": "graph:g1", "event": "x", "data": {}}, scheme="Basic")
    assert response.status_code == 401


def test_channel_outside_token_scope_is_forbidden(live):
    worker = token(issuer="maestro-analytics", channels=["graph:"])
    assert publish(live, worker, {"channel": "graph:g1", "event": "run.claimed", "data": {}}).status_code == 202
    response = publish(live, worker, {"channel": "user:u1", "event": "share.viewed", "data": {}})
    assert response.status_code == 403 and response.json()["error"] == "forbidden"


def test_only_the_server_may_publish_control(live):
    body = {"channel": "control", "event": "revoke", "data": {"channel": "share:nobody"}}
    for issuer in ("maestro-analytics", "maestro-discovery", "maestro-reports"):
        assert publish(live, token(issuer=issuer), body).status_code == 403
    assert publish(live, token(), body).status_code == 202


@pytest.mark.parametrize(
    "body, field",
    [
        ({"event": "x", "data": {}}, "channel"),
        ({"channel": "Graph One", "event": "x", "data": {}}, "channel"),
        ({"channel": 5, "event": "x", "data": {}}, "channel"),
        ({"channel": "graph:" + "x" * 300, "event": "x", "data": {}}, "channel"),
        ({"channel": "graph:g1", "data": {}}, "event"),
        ({"channel": "graph:g1", "event": "", "data": {}}, "event"),
        ({"channel": "graph:g1", "event": "x" * 101, "data": {}}, "event"),
        ({"channel": "graph:g1", "event": "x", "data": [1]}, "data"),
        ({"channel": "graph:g1", "event": "x", "data": "s"}, "data"),
        ({"channel": "graph:g1", "event": "x", "data": {}, "extra": 1}, "extra"),
        ({"channel": "control", "event": "delete", "data": {"user": "u1"}}, "event"),
        ({"channel": "control", "event": "revoke", "data": {}}, "data"),
        ({"channel": "control", "event": "revoke", "data": {"user": 5}}, "data.user"),
        ({"channel": "control", "event": "revoke", "data": {"channel": "control"}}, "data.channel"),
        ({"channel": "control", "event": "revoke", "data": {"user": "u1", "graph": "g"}}, "data"),
        ({"channel": "control", "event": "revoke", "data": {"user": "u1", "at": "yesterday"}}, "data.at"),
        ({"channel": "control", "event": "revoke", "data": {"user": "u1", "at": -1}}, "data.at"),
        ([1, 2], "body"),
        ("just a string", "body"),
    ],
)
def test_malformed_publish_bodies_are_422(live, body, field):
    response = publish(live, token(), body)
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert response.json()["error"] == "validation_error"
    assert field in message if field != "body" else "body" in message


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"null", b'{"channel": "graph:g1"'])
def test_unparseable_publish_bodies_are_422(live, raw):
    assert publish(live, token(), None, raw=raw).status_code == 422


def test_oversized_publish_body_is_413(live):
    big = {"channel": "graph:g1", "event": "x", "data": {"blob": "x" * (64 * 1024)}}
    response = publish(live, token(), big)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    # Without Content-Length (chunked), the limit holds as well.
    chunks = (b"x" * 8192 for _ in range(10))
    response = requests.post(
        live.publish_url,
        data=chunks,
        timeout=5,
        headers={"Authorization": f"JWT {token()}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    # Just under the limit is fine.
    fits = {"channel": "graph:g1", "event": "x", "data": {"blob": "x" * (64 * 1024 - 100)}}
    assert publish(live, token(), fits).status_code == 202


def test_other_routes_and_methods_answer_json(live):
    wrong_method = requests.get(live.publish_url, timeout=5)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"
    missing = requests.get(f"{live.http_url}/nothing", timeout=5)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    plain = requests.get(live.ws_url.replace("ws://", "http://"), headers={"Origin": ORIGIN}, timeout=5)
    assert plain.status_code == 400


# --- WebSocket: handshake and tickets -----------------------------------------------------------------


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:5001", "null", None])
def test_foreign_origin_is_refused_at_handshake(live, origin):
    with pytest.raises(InvalidStatus) as refused:
        LiveClient(live.ws_url, origin=origin)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403


def test_configured_extra_origin_is_accepted(live):
    with LiveClient(live.ws_url, origin=EMBED_ORIGIN) as conn:
        assert conn.hello(ticket())["type"] == "welcome"


def test_welcome_lists_ticket_channels(live):
    with LiveClient(live.ws_url, origin=ORIGIN) as conn:
        welcome = conn.hello(ticket(channels=["user:u1", "graph:g1", "graph:g2"]))
    assert welcome["type"] == "welcome" and welcome["channels"] == ["user:u1", "graph:g1", "graph:g2"]
    assert welcome["expires_at"] > time.time() + 500


def test_share_visitor_ticket_reads_its_link_only(live):
    with LiveClient(live.ws_url, origin=ORIGIN) as conn:
        assert conn.hello(ticket(sub=None, channels=["share:link1"]))["channels"] == ["share:link1"]
        assert conn.subscribe("share:link1")["type"] == "subscribed"
        assert conn.subscribe("graph:g1")["code"] == 403
        mine = post(live, "share:link1", "run.finished", {"drawn_at": "now"})
        assert conn.recv()["id"] == mine


def foreign_ticket_claims(**change: object) -> str:
    now = int(time.time())
    claims = {
        "iss": "maestro-server",
        "aud": "maestro-websocket-client",
        "iat": now,
        "exp": now + 600,
        "jti": "j",
        "sub": "u1",
        "channels": ["user:u1"],
        **change,
    }
    value = pyjwt.encode(claims, SESSION.current, algorithm="HS256", headers={"kid": SESSION.current_kid})
    SECRETS_USED.append(value)
    return value


def bad_tickets() -> dict[str, object]:
    header, _, signature = ticket().split(".")
    payload = foreign_ticket_claims(channels=["user:u1", "graph:secret"]).split(".")[1]
    return {
        "missing": None,
        "not a string": 12,
        "garbage": "abc.def.ghi",
        "tampered": f"{header}.{payload}.{signature}",
        "expired": ticket(ttl=60, now=time.time() - 61),
        "wrong aud": foreign_ticket_claims(aud="maestro-websocket"),
        "session token aud": foreign_ticket_claims(aud="maestro-web"),
        "too long lived": foreign_ticket_claims(exp=int(time.time()) + 601),
        "other context's secret": ticket(ring=KeyRing("session", secrets.token_urlsafe(48))),
        "socket token": token(),
        "socket-secret signed": ticket(ring=SOCKET),
    }


@pytest.mark.parametrize("case", list(bad_tickets()))
def test_bad_ticket_closes_4401(live, case):
    with LiveClient(live.ws_url, origin=ORIGIN) as conn:
        conn.send({"type": "hello", "ticket": bad_tickets()[case]})
        assert conn.close_code() == 4401, case


def test_first_frame_must_be_hello(live):
    with LiveClient(live.ws_url, origin=ORIGIN) as conn:
        conn.send({"type": "subscribe", "channel": "graph:g1", "since": None})
        assert conn.close_code() == 4401


def test_no_hello_within_five_seconds_closes_4401(live):
    with LiveClient(live.ws_url, origin=ORIGIN) as conn:
        started = time.monotonic()
        assert conn.close_code(timeout=8) == 4401
        assert 4.5 <= time.monotonic() - started <= 8


def test_unrenewed_ticket_expires_4401_and_renewal_keeps_the_connection(live):
    with LiveClient(live.ws_url, origin=ORIGIN) as stale, LiveClient(live.ws_url, origin=ORIGIN) as renewed:
        short = ticket(ttl=3)  # the same ticket, so both would expire at the same moment
        assert stale.hello(short)["type"] == "welcome"
        assert renewed.hello(short)["type"] == "welcome"
        renewed.subscribe("graph:g1")
        again = renewed.hello(ticket(ttl=600))
        assert again["type"] == "welcome" and again["expires_at"] > time.time() + 500
        assert stale.close_code(timeout=5) == 4401
        mine = post(live, "graph:g1")
        assert renewed.recv()["id"] == mine  # still subscribed after the first ticket's expiry


def test_renewal_with_fewer_channels_ends_the_dropped_subscription(live):
    with client(live, channels=["user:u1", "graph:g1"]) as conn:
        conn.subscribe("graph:g1")
        conn.send({"type": "hello", "ticket": ticket(channels=["user:u1"])})
        assert conn.recv() == {"type": "unsubscribed", "channel": "graph:g1", "reason": "access"}
        assert conn.recv()["type"] == "welcome"


def test_renewal_with_another_users_ticket_closes_4401(live):
    with client(live, sub="u1") as conn:
        conn.send({"type": "hello", "ticket": ticket(sub="u2", channels=["user:u2"])})
        assert conn.close_code() == 4401


# --- WebSocket: bad frames and limits ------------------------------------------------------------------


def test_malformed_frames_get_errors_and_the_connection_lives(live):
    with client(live) as conn:
        conn.ws.send("{not json")
        assert conn.recv() == {"type": "error", "code": 422, "message": "frame is not JSON"}
        conn.send({"no": "type"})
        assert conn.recv()["code"] == 422
        conn.ws.send("[1, 2]")
        assert conn.recv()["code"] == 422
        conn.send({"type": "dance"})
        assert conn.recv()["code"] == 422
        conn.send({"type": "subscribe", "channel": "Not A Channel"})
        assert "channel" in conn.recv()["message"]
        conn.send({"type": "subscribe", "channel": "graph:g1", "since": "yesterday"})
        assert "since" in conn.recv()["message"]
        conn.send({"type": "ping"})
        assert conn.recv() == {"type": "pong"}
        assert conn.subscribe("graph:g1")["type"] == "subscribed"
        mine = post(live, "graph:g1")
        assert conn.recv()["id"] == mine


def _new_log_lines(server: LiveProcess, before: str, timeout: float = 10.0) -> list[str]:
    """The lines `server` logged after `before`, waiting until its connection's access line is written."""
    deadline = time.monotonic() + timeout
    while True:
        lines = server.logs()[len(before) :].splitlines()
        if any("GET /live" in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


@pytest.mark.parametrize(
    "frame",
    [
        "[" * 4000,
        '{"type": "hello", "ticket": ' + "[" * 1900 + "]" * 1900 + "}",
        '{"type": "hello", "ticket": NaN}',
        '{"type": "hello", "ticket": "\\ud800"}',
    ],
)
def test_a_hostile_first_frame_closes_1007_with_one_log_line(live, frame):
    before = live.logs()
    with LiveClient(live.ws_url, origin=ORIGIN) as conn:
        conn.ws.send(frame)
        assert conn.close_code() == 1007
    lines = _new_log_lines(live, before)
    assert "Traceback" not in "\n".join(lines) and "RecursionError" not in "\n".join(lines)
    assert len([line for line in lines if "aiohttp.access" not in line]) == 1, lines
    assert requests.get(f"{live.http_url}/healthz", timeout=5).json()["status"] == "ok"


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "ping", "n": NaN}',
        '{"type": "subscribe", "channel": "graph:\\udc00"}',
        '{"type": "ping", "deep": ' + "[" * 40 + "]" * 40 + "}",
    ],
)
def test_a_hostile_frame_after_hello_closes_1007(live, frame):
    with client(live) as conn:
        conn.ws.send(frame)
        assert conn.close_code() == 1007


@pytest.mark.parametrize(
    "data, field",
    [
        ({"deep": json.loads("[" * 40 + "]" * 40)}, "data.deep"),
        ("NaN", "data.x"),
        ("surrogate", "data.x"),
    ],
)
def test_publish_bodies_no_browser_should_get_are_422_and_not_relayed(live, data, field):
    if data == "NaN":
        raw = b'{"channel": "graph:g1", "event": "x", "data": {"x": NaN}}'
    elif data == "surrogate":
        raw = b'{"channel": "graph:g1", "event": "x", "data": {"x": "\\ud800"}}'
    else:
        raw = json.dumps({"channel": "graph:g1", "event": "x", "data": data}).encode()
    with client(live) as conn:
        assert conn.subscribe("graph:g1")["type"] == "subscribed"
        response = publish(live, token(), None, raw=raw)
        assert response.status_code == 422, response.text
        assert response.json()["message"].startswith(field), response.json()
        mine = post(live, "graph:g1", data={"x": 1})
        assert conn.recv()["id"] == mine  # the refused event never reached the subscriber


def test_oversized_frame_closes_1009(live):
    with client(live) as conn:
        conn.send({"type": "ping", "pad": "x" * 5000})
        assert conn.close_code() == 1009
    assert requests.get(f"{live.http_url}/healthz", timeout=5).json()["status"] == "ok"


def test_oversized_hello_closes_too(live):
    with LiveClient(live.ws_url, origin=ORIGIN) as conn:
        conn.send({"type": "hello", "ticket": "x" * 5000})
        assert conn.close_code() in (1009, 4401)


def test_binary_frame_closes_1008(live):
    with client(live) as conn:
        conn.ws.send(b"\x00\x01")
        assert conn.close_code() == 1008


def test_more_than_twenty_frames_a_second_closes_1008(live):
    with client(live) as conn:
        for _ in range(25):
            try:
                conn.send({"type": "ping"})
            except ConnectionClosed:
                break  # the server may close before the client has sent all 25: the point of the test
        assert conn.close_code() == 1008


def raw_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (RFC 6455 §5.2), payload under 126 bytes or under 64 KiB."""
    mask = secrets.token_bytes(4)
    size = len(payload)
    header = (
        bytes([0x80 | opcode, 0x80 | size])
        if size < 126
        else bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    )
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_the_ping_interval_is_20_seconds_unless_set(tmp_path):
    # SPEC §8's 20 s by default; the test below runs a server that pings every second instead.
    def interval(**environ: str) -> float:
        return LiveSettings.from_config(load_settings({"MAESTRO_ENV": "testing", **environ}, tmp_path)).ping_interval

    assert interval() == 20
    assert interval(MAESTRO_LIVE_PING_INTERVAL="1") == 1
    with pytest.raises(ConfigError, match="MAESTRO_LIVE_PING_INTERVAL"):
        interval(MAESTRO_LIVE_PING_INTERVAL="0")


def test_server_pings_every_interval_and_drops_a_peer_that_never_answers():
    # A raw socket, because WebSocket libraries answer pings by themselves. The server pings every
    # second here (MAESTRO_LIVE_PING_INTERVAL=1; 20 s in production): about 1.5 s in all.
    server = start(extra={"MAESTRO_LIVE_PING_INTERVAL": "1"})
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    try:
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        sock.sendall(
            (
                f"GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {ORIGIN}\r\n\r\n"
            ).encode()
        )
        sock.sendall(raw_frame(json.dumps({"type": "hello", "ticket": ticket()}).encode()))
        received = b""
        started = time.monotonic()
        ping_at = closed_at = None
        while closed_at is None:
            chunk = sock.recv(65536)
            if not chunk:
                closed_at = time.monotonic()
                break
            received += chunk
            if ping_at is None and b"\x89" in received.split(b"\r\n\r\n", 1)[-1]:
                ping_at = time.monotonic()
            if b"\x88" in received.split(b"\r\n\r\n", 1)[-1]:  # the server's close frame
                closed_at = time.monotonic()
        assert b" 101 " in received.split(b"\r\n", 1)[0]
        assert b'"type":"welcome"' in received
        # The first ping one interval after the upgrade (slack for a busy machine), the drop half an
        # interval later: never before the peer had its half interval to answer.
        assert ping_at is not None and 0.9 <= ping_at - started <= 4
        assert 0.45 <= closed_at - ping_at <= 4
    finally:
        sock.close()
        server.stop()


def test_connections_per_address_are_capped():
    server = start(extra={"MAESTRO_LIVE_MAX_CONNECTIONS_PER_ADDRESS": "3"})
    try:
        held = [client(server) for _ in range(3)]
        with pytest.raises(InvalidStatus) as refused:
            LiveClient(server.ws_url, origin=ORIGIN)
        assert refused.value.response.status_code == 429
        held.pop().close()
        deadline = time.monotonic() + 10
        while True:  # the server notices the close a moment later
            try:
                held.append(client(server))
                break
            except InvalidStatus:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        for conn in held:
            conn.close()
    finally:
        server.stop()


def test_slow_subscriber_never_delays_the_others(live):
    blob = secrets.token_hex(15000)  # 30 kB that no compression could shrink
    # A small receive buffer, and max_queue=1: the slow client's library stops reading its socket
    # after one message, so the server's queue for it fills up.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", live.port))
    slow = client(live, max_queue=1, sock=sock)
    fast = client(live)
    try:
        slow.subscribe("graph:g1")
        fast.subscribe("graph:g1")
        started = time.monotonic()
        for n in range(800):
            sent = post(live, "graph:g1", "run.progress", {"blob": blob, "n": n})
            assert fast.recv(timeout=2)["id"] == sent  # each arrives at once, however stuck the other is
        assert time.monotonic() - started < 30
        deadline = time.monotonic() + 10
        while "Dropping a slow live connection" not in live.logs():
            assert time.monotonic() < deadline, "the slow connection was never dropped"
            time.sleep(0.1)
    finally:
        slow.ws.close_socket()
        fast.close()


# --- access changes ------------------------------------------------------------------------------------


def revoke(server: LiveProcess, **data: str) -> None:
    response = publish(server, token(), {"channel": "control", "event": "revoke", "data": data})
    assert response.status_code == 202, response.text


def test_user_revocation_closes_every_connection_on_every_process(pair):
    first, second = pair
    user = f"u{secrets.token_hex(4)}"
    old_ticket = ticket(sub=user, channels=[f"user:{user}"])
    conns = [LiveClient(server.ws_url, origin=ORIGIN) for server in (first, second)]
    bystander = client(second, sub="other", channels=["user:other"])
    try:
        for conn in conns:
            assert conn.hello(old_ticket)["type"] == "welcome"
        started = time.monotonic()
        revoke(first, user=user)
        for conn in conns:
            assert conn.close_code(timeout=5) == 4403
        assert time.monotonic() - started < 5
        # The old ticket is refused from now on, on both processes; a ticket issued later works.
        for server in (first, second):
            with LiveClient(server.ws_url, origin=ORIGIN) as again:
                again.send({"type": "hello", "ticket": old_ticket})
                assert again.close_code() == 4401
        time.sleep(1.1)  # iat has whole seconds
        with LiveClient(second.ws_url, origin=ORIGIN) as fresh:
            assert fresh.hello(ticket(sub=user, channels=[f"user:{user}"]))["type"] == "welcome"
        bystander.send({"type": "ping"})
        assert bystander.recv() == {"type": "pong"}
    finally:
        for conn in (*conns, bystander):
            conn.close()


def test_lost_read_ends_that_subscription_on_every_process(pair):
    first, second = pair
    user = f"u{secrets.token_hex(4)}"
    channels = [f"user:{user}", "graph:lost", "graph:kept"]
    conns = [client(server, sub=user, channels=channels) for server in (first, second)]
    other = client(second, sub="someone", channels=["user:someone", "graph:lost"])
    try:
        for conn in conns:
            conn.subscribe("graph:lost")
            conn.subscribe("graph:kept")
        other.subscribe("graph:lost")
        revoke(second, user=user, channel="graph:lost")
        for conn in conns:
            assert conn.recv(timeout=5) == {"type": "unsubscribed", "channel": "graph:lost", "reason": "access"}
            assert conn.subscribe("graph:lost")["code"] == 403
        kept = post(first, "graph:kept")
        lost = post(first, "graph:lost")
        for conn in conns:
            assert conn.recv()["id"] == kept
        assert other.recv()["id"] == lost  # someone else's Read is untouched
    finally:
        for conn in (*conns, other):
            conn.close()


def test_share_revocation_ends_the_channel_for_everyone(pair):
    first, second = pair
    link = f"share:l{secrets.token_hex(4)}"
    old = ticket(sub=None, channels=[link])
    visitors = [LiveClient(server.ws_url, origin=ORIGIN) for server in (first, second)]
    try:
        for visitor in visitors:
            visitor.hello(old)
            visitor.subscribe(link)
        revoke(first, channel=link)
        for visitor in visitors:
            assert visitor.recv(timeout=5) == {"type": "unsubscribed", "channel": link, "reason": "access"}
        # A process that starts later learns the revocation from Redis.
        later = start(redis_url=REDIS_URL, redis_prefix=first_prefix(first))
        try:
            with LiveClient(later.ws_url, origin=ORIGIN) as visitor:
                visitor.hello(old)
                assert visitor.subscribe(link)["code"] == 403
        finally:
            later.stop()
    finally:
        for visitor in visitors:
            visitor.close()


def first_prefix(server: LiveProcess) -> str:
    return server.environment["MAESTRO_LIVE_REDIS_PREFIX"]


def test_revocation_in_one_process_mode(live):
    with client(live, sub="solo", channels=["user:solo"]) as conn:
        revoke(live, user="solo")
        assert conn.close_code(timeout=5) == 4403


# --- the publisher client ----------------------------------------------------------------------------


def test_live_publisher_delivers_in_the_background(live):
    publisher = LivePublisher(live.publish_url, lambda: token(issuer="maestro-analytics", channels=["graph:"]))
    with client(live) as conn:
        conn.subscribe("graph:g1")
        publisher.publish("graph:g1", "run.claimed", {"run_id": 3})
        assert publisher.flush(5)
        event = conn.recv()
        assert event["event"] == "run.claimed" and event["data"] == {"run_id": 3}
    assert publisher.publish_sync("graph:g1", "run.progress", {"percent": 10}) is True
    assert publisher.publish_sync("user:u1", "share.viewed", {}) is False  # outside its scope


def test_live_publisher_never_raises_nor_blocks_when_the_server_is_down(caplog):
    port = free_port()  # nothing listens there
    secret_token = token()
    publisher = LivePublisher(f"http://127.0.0.1:{port}/publish", lambda: secret_token, timeout=0.5, queue_size=5)
    started = time.monotonic()
    for n in range(50):
        publisher.publish("graph:g1", "run.progress", {"n": n})
    assert time.monotonic() - started < 0.5
    assert publisher.publish_sync("graph:g1", "run.progress", {}) is False
    assert publisher.flush(10)
    assert "dropped" in caplog.text or "failed" in caplog.text
    assert secret_token not in caplog.text


# --- the server's own pieces ------------------------------------------------------------------------


def test_error_names_match_the_apps():
    from maestro_web.errors import ERROR_NAMES as APP_NAMES
    from maestro_web.live_server.server import ERROR_NAMES

    assert ERROR_NAMES == {status: APP_NAMES[status] for status in ERROR_NAMES}


def test_settings_survive_the_hand_over_to_the_lean_process():
    from maestro_web.live_server.settings import LiveSettings

    settings = LiveSettings(
        socket_ring=KeyRing("socket", "a" * 40, ("b" * 40,)),
        ticket_ring=SESSION,
        origins=frozenset({ORIGIN, EMBED_ORIGIN}),
        redis_url="redis://:pw@host/3",
        max_connections_per_address=7,
        trusted_proxies=1,
        log_level="WARNING",
    )
    again = LiveSettings.from_json(settings.to_json())
    assert again == settings
    assert again.socket_ring.secret_for(KeyRing("socket", "b" * 40).current_kid) == "b" * 40
    assert "pw" not in repr(settings) and "a" * 40 not in repr(settings)


# --- logs ----------------------------------------------------------------------------------------------


def test_zz_no_ticket_or_token_in_any_log_line(live):
    # Last in the file, so pytest runs it last: it reads the logs of every process started above.
    assert SECRETS_USED and PROCESSES
    for server in PROCESSES:
        logs = server.logs()
        assert "POST /publish" in logs or "GET /live" in logs or "Live server on" in logs
        for value in SECRETS_USED:
            if value:
                assert value not in logs
                parts = value.split(".")
                if len(parts) == 3 and len(parts[2]) > 20:
                    assert parts[2] not in logs
        assert "eyJ" not in logs
