"""Live tickets at their edges (SPEC §8): signed with the user secret, read only by the live server."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token
from token_support import b64, new_ring, sign, token_claims

from maestro_web.channels import CONTROL, graph_channel, is_channel, share_channel, user_channel
from maestro_web.security.live_tickets import CONTEXT, TicketError, issue_ticket, verify_ticket
from maestro_web.security.signing import KeyRing
from maestro_web.security.socket_tokens import issue_socket_token


@pytest.fixture
def ring() -> KeyRing:
    return new_ring(CONTEXT)


def claims_of(lifetime: int = 600, **changes: object) -> dict[str, object]:
    return token_claims(
        "maestro-server", "maestro-websocket-client", lifetime, **{"sub": "u1", "channels": ["user:u1"], **changes}
    )


def test_valid_user_ticket(ring):
    before = time.time()
    token, expires_at = issue_ticket(ring, sub="u1", channels=["user:u1", "graph:g1", "user:u1"])
    claims = verify_ticket(token, ring)
    assert claims["sub"] == "u1" and claims["channels"] == ["user:u1", "graph:g1"]
    assert claims["aud"] == "maestro-websocket-client" and claims["iss"] == "maestro-server" and claims["jti"]
    assert claims["exp"] - claims["iat"] == 600
    assert expires_at.tzinfo is UTC
    assert abs(expires_at.timestamp() - (before + 600)) < 2
    assert expires_at == datetime.fromtimestamp(claims["exp"], tz=UTC)


def test_share_visitor_ticket_has_no_sub(ring):
    token, _ = issue_ticket(ring, sub=None, channels=["share:abc123"], ttl=120)
    claims = verify_ticket(token, ring)
    assert "sub" not in claims and claims["channels"] == ["share:abc123"]


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 20000])
def test_missing_or_garbage_ticket(ring, token):
    with pytest.raises(TicketError):
        verify_ticket(token, ring)


def test_tampered_ticket_is_refused(ring):
    header, _, signature = issue_ticket(ring, sub="u1", channels=["user:u1"])[0].split(".")
    forged = f"{header}.{b64(claims_of(channels=['user:u1', 'graph:secret']))}.{signature}"
    with pytest.raises(TicketError, match="invalid"):
        verify_ticket(forged, ring)


def test_expired_ticket_is_refused(ring):
    token, expires_at = issue_ticket(ring, sub="u1", channels=["user:u1"], ttl=60, now=time.time() - 61)
    assert expires_at < datetime.now(UTC)
    with pytest.raises(TicketError, match="expired"):
        verify_ticket(token, ring)


def test_lifetime_over_ten_minutes_is_refused(ring):
    with pytest.raises(TicketError, match="ten minutes"):
        verify_ticket(sign(claims_of(lifetime=601), ring), ring)
    with pytest.raises(ValueError):
        issue_ticket(ring, sub="u1", channels=["user:u1"], ttl=601)
    with pytest.raises(ValueError):
        issue_ticket(ring, sub="u1", channels=["user:u1"], ttl=0)


@pytest.mark.parametrize("missing", ["exp", "iat", "jti", "aud", "iss", "channels"])
def test_missing_required_claims(ring, missing):
    with pytest.raises(TicketError):
        verify_ticket(sign(claims_of(**{missing: None}), ring), ring)


@pytest.mark.parametrize(
    "aud", ["maestro-websocket", "maestro-web", "maestro-analytics-front", ["maestro-websocket-client", "x"]]
)
def test_wrong_audience(ring, aud):
    with pytest.raises(TicketError):
        verify_ticket(sign(claims_of(aud=aud), ring), ring)


def test_wrong_issuer(ring):
    with pytest.raises(TicketError):
        verify_ticket(sign(claims_of(iss="maestro-analytics"), ring), ring)


def test_other_contexts_secret_is_refused(ring):
    socket = new_ring("socket")
    with pytest.raises(TicketError):
        verify_ticket(issue_ticket(socket, sub="u1", channels=["user:u1"])[0], ring)


def test_socket_token_is_refused_even_with_equal_secrets(ring):
    socket = KeyRing("socket", ring.current)
    with pytest.raises(TicketError):
        verify_ticket(issue_socket_token(socket, issuer="maestro-server"), ring)
    claims = pyjwt.decode(issue_socket_token(socket, issuer="maestro-server"), options={"verify_signature": False})
    with pytest.raises(TicketError):
        verify_ticket(sign({**claims, "channels": ["user:u1"]}, ring), ring)


def test_session_access_token_is_not_a_ticket(app, make_user):
    # Same ring as tickets: only the audience (and type of claims) keeps them apart.
    user = make_user()
    with app.app_context():
        access = create_access_token(identity=user)
    with pytest.raises(TicketError):
        verify_ticket(access, app.config["KEY_RINGS"]["session"])


def test_previous_key_is_accepted_for_verification():
    old = new_ring(CONTEXT)
    rotated = KeyRing("session", secrets.token_urlsafe(48), previous=(old.current,))
    token, _ = issue_ticket(old, sub="u1", channels=["user:u1"])
    assert verify_ticket(token, rotated)["sub"] == "u1"
    with pytest.raises(TicketError):
        verify_ticket(token, KeyRing("session", rotated.current))


@pytest.mark.parametrize(
    "channels",
    [
        "user:u1",
        [],
        [1],
        ["user:u1", None],
        ["control"],
        ["Bad Name"],
        ["graph:" + "x" * 200],
        [f"graph:{i}" for i in range(101)],
    ],
)
def test_bad_channels_claim_shapes(ring, channels):
    with pytest.raises(TicketError, match="channels"):
        verify_ticket(sign(claims_of(channels=channels), ring), ring)
    if isinstance(channels, list) and all(isinstance(c, str) for c in channels):
        with pytest.raises(ValueError):
            issue_ticket(ring, sub="u1", channels=channels)


def test_hundred_channels_fit(ring):
    channels = [f"graph:{i:032x}" for i in range(99)] + ["user:" + "u" * 32]
    token, _ = issue_ticket(ring, sub="u" * 32, channels=channels)
    assert verify_ticket(token, ring)["channels"] == channels


@pytest.mark.parametrize("sub", ["", 5, ["u1"]])
def test_bad_sub_is_refused(ring, sub):
    with pytest.raises(TicketError):
        verify_ticket(sign(claims_of(sub=sub), ring), ring)


def test_channel_names_come_from_one_rule(ring):
    # maestro_web.channels names every channel; what it names is what a ticket may list (never control).
    names = [graph_channel("g1"), user_channel("u1"), share_channel("abc123")]
    assert names == ["graph:g1", "user:u1", "share:abc123"] and all(is_channel(name) for name in names)
    assert verify_ticket(issue_ticket(ring, sub="u1", channels=names)[0], ring)["channels"] == names
    with pytest.raises(ValueError, match="never control"):
        issue_ticket(ring, sub="u1", channels=[CONTROL])
