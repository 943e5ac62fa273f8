"""Socket tokens at their edges (SPEC §3, §8): only a socket token of a known publisher is accepted."""

from __future__ import annotations

import secrets
import time

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token
from token_support import b64, new_ring, sign, token_claims

from maestro_web.security.live_tickets import issue_ticket
from maestro_web.security.signing import KeyRing
from maestro_web.security.socket_tokens import (
    CONTEXT,
    ISSUERS,
    SocketTokenError,
    issue_socket_token,
    may_publish,
    verify_socket_token,
)
from maestro_web.security.worker_tokens import mint_worker_token


@pytest.fixture
def ring() -> KeyRing:
    return new_ring(CONTEXT)


def claims_of(lifetime: int = 300, **changes: object) -> dict[str, object]:
    return token_claims("maestro-analytics", "maestro-websocket", lifetime, **changes)


@pytest.mark.parametrize("issuer", ISSUERS)
def test_valid_token_of_every_publisher(ring, issuer):
    claims = verify_socket_token(issue_socket_token(ring, issuer=issuer), ring)
    assert claims["iss"] == issuer and claims["aud"] == "maestro-websocket"
    assert claims["exp"] - claims["iat"] == 300 and claims["jti"]
    assert "channels" not in claims


def test_channels_claim_round_trips(ring):
    claims = verify_socket_token(issue_socket_token(ring, issuer="maestro-analytics", channels=["graph:"]), ring)
    assert claims["channels"] == ["graph:"]


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 5000])
def test_missing_or_garbage_token(ring, token):
    with pytest.raises(SocketTokenError):
        verify_socket_token(token, ring)


def test_tampered_token_is_refused(ring):
    header, _, signature = issue_socket_token(ring, issuer="maestro-analytics", channels=["graph:"]).split(".")
    forged = f"{header}.{b64(claims_of(iss='maestro-server'))}.{signature}"
    with pytest.raises(SocketTokenError, match="invalid"):
        verify_socket_token(forged, ring)


def test_expired_token_is_refused(ring):
    token = issue_socket_token(ring, issuer="maestro-server", ttl=60, now=time.time() - 120)
    with pytest.raises(SocketTokenError, match="expired"):
        verify_socket_token(token, ring)


def test_lifetime_over_an_hour_is_refused(ring):
    with pytest.raises(SocketTokenError, match="one hour"):
        verify_socket_token(sign(claims_of(lifetime=3601), ring), ring)
    assert verify_socket_token(sign(claims_of(lifetime=3600), ring), ring)["iss"] == "maestro-analytics"
    with pytest.raises(ValueError):
        issue_socket_token(ring, issuer="maestro-server", ttl=3601)


@pytest.mark.parametrize("missing", ["exp", "iat", "jti", "aud", "iss"])
def test_missing_required_claims(ring, missing):
    with pytest.raises(SocketTokenError):
        verify_socket_token(sign(claims_of(**{missing: None}), ring), ring)


@pytest.mark.parametrize(
    "aud", ["maestro-websocket-client", "maestro-analytics-front", "maestro-web", ["maestro-websocket", "other"]]
)
def test_wrong_audience(ring, aud):
    with pytest.raises(SocketTokenError):
        verify_socket_token(sign(claims_of(aud=aud), ring), ring)


@pytest.mark.parametrize("iss", ["maestro-worker", "someone", ""])
def test_unknown_publisher(ring, iss):
    with pytest.raises(SocketTokenError):
        verify_socket_token(sign(claims_of(iss=iss), ring), ring)
    with pytest.raises(ValueError):
        issue_socket_token(ring, issuer=iss)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_algorithms_are_refused(ring, alg):
    with pytest.raises(SocketTokenError):
        verify_socket_token(sign(claims_of(), ring, alg=alg), ring)


def test_unsigned_token_is_refused(ring):
    token = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': ring.current_kid})}.{b64(claims_of())}."
    with pytest.raises(SocketTokenError):
        verify_socket_token(token, ring)


def test_other_contexts_secret_is_refused(ring):
    other = new_ring("analytics")
    with pytest.raises(SocketTokenError):
        verify_socket_token(issue_socket_token(other, issuer="maestro-analytics"), ring)


def test_worker_token_is_refused_even_with_equal_secrets():
    analytics = new_ring("analytics")
    socket = KeyRing("socket", analytics.current)  # misconfigured: same secret, different context
    with pytest.raises(SocketTokenError):
        verify_socket_token(mint_worker_token(analytics), socket)
    # Even re-signed with the socket ring's own kid, its audience gives it away.
    claims = pyjwt.decode(mint_worker_token(analytics), options={"verify_signature": False})
    with pytest.raises(SocketTokenError):
        verify_socket_token(sign(claims, socket), socket)


def test_live_ticket_and_session_token_are_refused(app, make_user):
    user = make_user()
    socket = app.config["KEY_RINGS"]["socket"]
    session = app.config["KEY_RINGS"]["session"]
    ticket, _ = issue_ticket(session, sub=user.public_id, channels=[f"user:{user.public_id}"])
    with app.app_context():
        access = create_access_token(identity=user)
    for token in (ticket, access):
        with pytest.raises(SocketTokenError):
            verify_socket_token(token, socket)
        # Same secret by mistake: still refused by audience.
        with pytest.raises(SocketTokenError):
            verify_socket_token(token, KeyRing("session", session.current))


def test_previous_key_is_accepted_for_verification():
    old = new_ring(CONTEXT)
    rotated = KeyRing("socket", secrets.token_urlsafe(48), previous=(old.current,))
    token = issue_socket_token(old, issuer="maestro-reports")
    assert verify_socket_token(token, rotated)["iss"] == "maestro-reports"
    # New tokens are signed with the new key; dropping the old one kills the old tokens.
    assert verify_socket_token(issue_socket_token(rotated, issuer="maestro-reports"), rotated)
    with pytest.raises(SocketTokenError):
        verify_socket_token(token, KeyRing("socket", rotated.current))


@pytest.mark.parametrize(
    "channels", ["graph:", [], [""], [1], ["graph:", None], ["x" * 201], [f"c{i}:" for i in range(101)], {"graph:": 1}]
)
def test_bad_channels_claim_shapes(ring, channels):
    with pytest.raises(SocketTokenError, match="channels"):
        verify_socket_token(sign(claims_of(channels=channels), ring), ring)


def test_bad_channels_are_refused_at_issue(ring):
    with pytest.raises(ValueError):
        issue_socket_token(ring, issuer="maestro-server", channels=[])
    with pytest.raises(ValueError):
        issue_socket_token(ring, issuer="maestro-server", channels=[f"c{i}:" for i in range(101)])


def test_may_publish_scopes():
    worker = {"iss": "maestro-analytics", "channels": ["graph:"]}
    assert may_publish(worker, "graph:abc")
    assert not may_publish(worker, "user:abc")
    assert not may_publish(worker, "control")
    unscoped_service = {"iss": "maestro-reports"}
    assert may_publish(unscoped_service, "user:abc")
    assert not may_publish(unscoped_service, "control")
    server = {"iss": "maestro-server"}
    assert may_publish(server, "control") and may_publish(server, "share:x")
    assert not may_publish({"iss": "maestro-server", "channels": ["graph:"]}, "control")


def test_foreign_signer_without_kid_is_accepted_with_current_or_previous_key():
    # A Node service using jsonwebtoken sends no kid (SPEC §3): checked against the ring's keys.
    old = new_ring(CONTEXT)
    ring = KeyRing("socket", secrets.token_urlsafe(48), previous=(old.current,))
    for secret in (ring.current, old.current):
        token = pyjwt.encode(claims_of(iss="maestro-discovery"), secret, algorithm="HS256")
        assert "kid" not in pyjwt.get_unverified_header(token)
        assert verify_socket_token(token, ring)["iss"] == "maestro-discovery"
    stranger = pyjwt.encode(claims_of(), secrets.token_urlsafe(48), algorithm="HS256")
    with pytest.raises(SocketTokenError):
        verify_socket_token(stranger, ring)


def test_unknown_kid_is_refused(ring):
    token = pyjwt.encode(claims_of(), ring.current, algorithm="HS256", headers={"kid": "0123456789abcdef"})
    with pytest.raises(SocketTokenError):
        verify_socket_token(token, ring)
