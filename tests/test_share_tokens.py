"""Every answer of the public view to a token (SPEC §3.2, §5): valid, and each way a token is wrong."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC

import jwt as pyjwt
import pytest
from conftest import api_headers
from share_support import draw, make_link

from maestro_web.security.share_tokens import (
    ShareTokenExpired,
    ShareTokenInvalid,
    mint_share_token,
    verify_share_token,
)
from maestro_web.security.signing import key_id
from maestro_web.security.worker_tokens import mint_worker_token

PUBLIC_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
SECRET_WORDS = ("signature", "kid", "audience", "issuer", "jwt", "decode", "traceback", "Checkout")


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def split(token: str) -> tuple[dict, dict, str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


@pytest.fixture
def shared(app, owner, make_graph):
    graph = make_graph(owner, name="Checkout", spec="web -> api")
    draw(app, graph.public_id)
    link = make_link(app, graph, owner)
    return graph, link


@pytest.fixture
def other_graph(owner, make_graph):
    return make_graph(owner, name="Billing", spec="a -> b")


def ring(app, context="public-analytics"):
    return app.config["KEY_RINGS"][context]


def claims_of(link, graph, **changes):
    now = int(time.time())
    claims = {
        "name": "graphs",
        "id": graph.public_id,
        "jti": link.id,
        "iat": now - 10,
        "exp": now + 3600,
        "iss": "maestro-server",
        "aud": "maestro-analytics-front",
        "timestamp": (now - 10) * 1000,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign(app, claims, context="public-analytics", algorithm="HS256", kid=None):
    key_ring = ring(app, context)
    return pyjwt.encode(claims, key_ring.current, algorithm=algorithm, headers={"kid": kid or key_ring.current_kid})


def assert_refused(client, graph, token, status=404):
    path = f"/analytics/graphs/public/{graph.public_id}"
    response = client.get(path, query_string={"token": token} if token is not None else None)
    assert response.status_code == status, (token, response.status_code)
    for name, value in PUBLIC_HEADERS.items():
        assert response.headers[name] == value, name
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    text = response.get_data(as_text=True)
    for word in SECRET_WORDS:
        assert word.lower() not in text.lower(), word
    assert "checkout-api" not in text  # nothing of the picture
    return response


def test_a_links_token_is_the_same_string_it_always_was():
    """Deterministic (not stored): the same row and key give the same token, claims in the order they
    have always had (signing.registered_claims keeps it), so a link copied before a deploy is the one shown after."""
    from datetime import datetime, timedelta

    from maestro_web.keyring import KeyRing

    ring = KeyRing("public-analytics", "a-share-secret-of-forty-characters-long!")
    made = datetime(2026, 12, 1, 3, 4, 5, 678000, tzinfo=UTC)
    token = mint_share_token(ring, "graph-id", "link-id", made, made + timedelta(days=7))
    assert token == mint_share_token(ring, "graph-id", "link-id", made, made + timedelta(days=7))
    segment = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert list(claims) == ["name", "id", "jti", "iat", "exp", "iss", "aud", "timestamp"]
    assert claims == {
        "name": "graphs",
        "id": "graph-id",
        "jti": "link-id",
        "iat": 1796094245,
        "exp": 1796699045,
        "iss": "maestro-server",
        "aud": "maestro-analytics-front",
        "timestamp": 1796094245000,
    }


def test_valid_token_shows_the_graph_with_the_public_headers(auth, client, shared):
    graph, link = shared
    auth.login("owner@example.com")  # even the owner's own browser sees only the public page
    response = client.get(link.path)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Checkout" in text and "checkout-api" in text and "as of" in text and "this link expires" in text
    for name, value in PUBLIC_HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    # Nothing that belongs to the owner's session side shows up.
    assert "Log out" not in text and "owner@example.com" not in text


def test_the_url_has_maestros_shape_and_comes_from_configuration(app, shared):
    graph, link = shared
    assert link.url == f"{app.config['MAESTRO_ANALYTICS_URL']}/graphs/public/{graph.public_id}?token={link.token}"
    header, claims, _ = split(link.token)
    assert header == {"alg": "HS256", "typ": "JWT", "kid": ring(app).current_kid}
    assert set(claims) == {"name", "id", "jti", "iat", "exp", "iss", "aud", "timestamp"}
    assert claims["name"] == "graphs" and claims["id"] == graph.public_id and claims["jti"] == link.id
    assert claims["timestamp"] == claims["iat"] * 1000


def test_missing_and_empty_token(client, shared):
    graph, _ = shared
    assert_refused(client, graph, None)
    assert_refused(client, graph, "")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_in_any_case(app, client, shared, alg):
    graph, link = shared
    token = f"{b64({'alg': alg, 'typ': 'JWT', 'kid': ring(app).current_kid})}.{b64(claims_of(link, graph))}."
    assert_refused(client, graph, token)


def test_hs512_with_the_right_secret_is_refused(app, client, shared):
    graph, link = shared
    assert_refused(client, graph, sign(app, claims_of(link, graph), algorithm="HS512"))


def test_rs256_header(app, client, shared):
    graph, link = shared
    header = {"alg": "RS256", "typ": "JWT", "kid": ring(app).current_kid}
    assert_refused(client, graph, f"{b64(header)}.{b64(claims_of(link, graph))}.{b64(b'x' * 256)}")


def test_stripped_signature(client, shared):
    graph, link = shared
    header, payload, _ = link.token.split(".")
    assert_refused(client, graph, f"{header}.{payload}.")
    assert_refused(client, graph, f"{header}.{payload}")


def test_tampered_payload(app, client, shared):
    graph, link = shared
    header, _, signature = link.token.split(".")
    _, claims, _ = split(link.token)
    claims["exp"] += 86400
    assert_refused(client, graph, f"{header}.{b64(claims)}.{signature}")


def test_signature_of_another_token(app, client, shared, owner):
    graph, link = shared
    second = make_link(app, graph, owner, label="Second")
    header, payload, _ = link.token.split(".")
    assert_refused(client, graph, f"{header}.{payload}.{second.token.split('.')[2]}")


def test_expired_by_one_second_is_410_expired(app, client, shared):
    graph, link = shared
    now = int(time.time())
    token = sign(app, claims_of(link, graph, iat=now - 3600, exp=now - 1))
    response = assert_refused(client, graph, token, status=410)
    assert "expired" in response.get_data(as_text=True)


@pytest.mark.parametrize("changes", [{"nbf": int(time.time()) + 3600}, {"iat": int(time.time()) + 3600}])
def test_not_yet_valid(app, client, shared, changes):
    graph, link = shared
    assert_refused(client, graph, sign(app, claims_of(link, graph, **changes)))


@pytest.mark.parametrize("missing", ["exp", "jti", "aud", "iat", "iss"])
def test_missing_required_claim(app, client, shared, missing):
    graph, link = shared
    assert_refused(client, graph, sign(app, claims_of(link, graph, **{missing: None})))


@pytest.mark.parametrize(
    "changes", [{"name": "dashboards"}, {"aud": "maestro-web"}, {"iss": "maestro-analytics"}, {"jti": "no-such-link"}]
)
def test_wrong_claims(app, client, shared, changes):
    graph, link = shared
    assert_refused(client, graph, sign(app, claims_of(link, graph, **changes)))


@pytest.mark.parametrize("context", ["session", "analytics", "crypto-forgot", "forgot", "socket", "flask"])
def test_signed_with_each_other_contexts_secret(app, client, shared, context):
    graph, link = shared
    claims = claims_of(link, graph)
    assert_refused(client, graph, sign(app, claims, context=context))  # that context's kid
    assert_refused(client, graph, sign(app, claims, context=context, kid=ring(app).current_kid))  # our kid, their key


def test_a_real_user_access_token_is_refused(app, client, shared, owner):
    graph, _ = shared
    bearer = api_headers(client, owner)["Authorization"].split()[1]
    assert_refused(app.test_client(), graph, bearer)


def test_a_worker_token_for_this_graph_is_refused(app, client, shared):
    graph, _ = shared
    assert_refused(client, graph, mint_worker_token(ring(app, "analytics"), graph.public_id))


def test_a_password_reset_step_two_token_is_refused(app, client, shared, owner):
    graph, link = shared
    now = int(time.time())
    reset_like = {
        "sub": owner.public_id,
        "aud": "maestro-password-reset",
        "iss": "maestro-web",
        "iat": now,
        "exp": now + 600,
        "jti": link.id,
        "id": graph.public_id,
        "name": "graphs",
    }
    assert_refused(client, graph, sign(app, reset_like, context="forgot"))
    assert_refused(client, graph, sign(app, reset_like, context="forgot", kid=ring(app).current_kid))


def test_real_password_reset_tokens_are_refused(app, client, shared, owner):
    from maestro_web.security import reset_tokens

    graph, _ = shared
    for mint, context in ((reset_tokens.mint_step1, "crypto-forgot"), (reset_tokens.mint_step2, "forgot")):
        assert_refused(client, graph, mint(ring(app, context), owner.public_id, "fingerprint"))


def test_a_valid_token_for_graph_a_at_graph_bs_url(client, shared, other_graph):
    _, link = shared
    response = client.get(f"/analytics/graphs/public/{other_graph.public_id}", query_string={"token": link.token})
    assert response.status_code == 404
    assert "Checkout" not in response.get_data(as_text=True) and "Billing" not in response.get_data(as_text=True)


def test_unknown_kid(app, client, shared):
    graph, link = shared
    assert_refused(client, graph, sign(app, claims_of(link, graph), kid="0123456789abcdef"))
    assert_refused(client, graph, sign(app, claims_of(link, graph), kid=key_id("public-analytics", "some old key")))


@pytest.mark.parametrize(
    "token",
    [
        "x" * 5000,
        "aaaa.bbbb.cccc",
        "aaaa.bbbb",
        "é.é.é",
        "..",
        "eyJhbGciOiJIUzI1NiJ9.%%%.abc",
        "null",
    ],
)
def test_malformed_strings(client, shared, token):
    graph, _ = shared
    assert_refused(client, graph, token)


def test_a_5000_character_token_built_on_a_valid_one(client, shared):
    graph, link = shared
    assert_refused(client, graph, link.token + "A" * (5000 - len(link.token)))


def test_a_correctly_signed_token_over_the_length_cap_is_refused(app, client, shared):
    graph, link = shared
    claims = claims_of(link, graph, padding="x" * 2500)  # valid in every way but its size
    assert_refused(client, graph, sign(app, claims))
    assert len(sign(app, claims_of(link, graph))) < 2048  # the same claims without padding would pass


def test_raw_svg_answers_with_the_svg_headers(client, shared):
    graph, link = shared
    response = client.get(link.path + "&ext=svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    for name, value in PUBLIC_HEADERS.items():
        assert response.headers[name] == value
    assert "checkout-api" in response.get_data(as_text=True)
    refused = client.get(f"/analytics/graphs/public/{graph.public_id}?token=aaaa.bbbb.cccc&ext=svg")
    assert refused.status_code == 404 and refused.mimetype == "text/html"
    for name, value in PUBLIC_HEADERS.items():
        assert refused.headers[name] == value
    assert "checkout-api" not in refused.get_data(as_text=True)


# --- the module on its own, with a frozen clock ------------------------------------------------


def test_verify_directly_with_a_frozen_clock(app):
    from datetime import datetime

    key_ring = ring(app)
    issued = datetime(2026, 1, 1, tzinfo=UTC)
    expires = datetime(2026, 1, 2, tzinfo=UTC)
    token = mint_share_token(key_ring, "g1", "l1", issued, expires)
    assert verify_share_token(token, key_ring, "g1", now=expires.timestamp() - 1)["jti"] == "l1"
    with pytest.raises(ShareTokenExpired):
        verify_share_token(token, key_ring, "g1", now=expires.timestamp())
    with pytest.raises(ShareTokenInvalid):
        verify_share_token(token, key_ring, "g2", now=expires.timestamp() - 1)
    with pytest.raises(ShareTokenInvalid):  # an expired token for another graph says nothing either
        verify_share_token(token, key_ring, "g2", now=expires.timestamp() + 10)
    with pytest.raises(ShareTokenInvalid):
        verify_share_token(token, key_ring, "g1", now=issued.timestamp() - 3600)  # issued in the future
    # Same row, same key: the same token (which is why it never needs storing).
    assert mint_share_token(key_ring, "g1", "l1", issued, expires) == token
