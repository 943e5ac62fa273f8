"""Picking the key of a session token without `kid` reads its `jti` unverified: that read grants nothing.

flask-jwt-extended hands the key loader a token already split; keys.py finds the raw token among the
request's (header, cookies) by its `jti` to pick the key. That lookup reads the payload segment and
returns one string, never the claims; no PyJWT "decode without verifying" is left to copy.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import jwt as pyjwt
import pytest

from maestro_web.security.signing import unverified_jti_for_lookup

ROOT = Path(__file__).resolve().parent.parent


def segment(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("token", "jti"),
    [
        (pyjwt.encode({"jti": "abc", "sub": "u"}, "k" * 40, algorithm="HS256"), "abc"),
        ("x." + segment({"jti": "é-ü"}) + ".y", "é-ü"),  # the signature is not looked at: it is only a lookup
        ("x." + segment({"jti": 7}) + ".y", None),
        ("x." + segment({"sub": "u"}) + ".y", None),
        ("x." + segment(["jti"]) + ".y", None),
        ("x." + segment(b"\xff\xfe") + ".y", None),
        ("x." + segment(b"[" * 100_000) + ".y", None),
        ("x.!!!.y", None),
        ("x.é.y", None),
        ("only.two", None),
        ("a.b.c.d", None),
        ("", None),
    ],
)
def test_the_lookup_returns_the_jti_string_or_none(token: str, jti: str | None) -> None:
    assert unverified_jti_for_lookup(token) == jti


def test_no_decode_without_verification_is_left_in_the_app() -> None:
    """A `verify_signature: False` decode returns claims that look verified; one copied elsewhere by
    mistake would trust them. The package has none: the one unverified read returns a lookup key."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "maestro_web").rglob("*.py")
        if "verify_signature" in path.read_text()
    ]
    assert offenders == []


def claims_for(user, jti: str) -> dict:
    now = int(time.time())
    return {
        "sub": user.public_id,
        "jti": jti,
        "type": "access",
        "fresh": False,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "aud": "maestro-web",
        "iss": "maestro-server",
        "ver": user.token_version,
    }


def test_a_look_alike_with_a_real_tokens_jti_is_refused(app, client, make_user) -> None:
    """Same `jti` as a valid token, another user, signed with a key the ring never held: 401, whether
    alone or sent next to the valid token it copies (the key is picked for one, checked on the other)."""
    ada, eve = make_user(email="ada@example.com"), make_user(email="eve@example.com")
    secret = app.config["KEY_RINGS"]["session"].current
    jti = uuid.uuid4().hex
    real = pyjwt.encode(claims_for(eve, jti), secret, algorithm="HS256")
    assert client.get("/api/me", headers={"Authorization": f"Bearer {real}"}).get_json()["email"] == "eve@example.com"
    forged = pyjwt.encode(claims_for(ada, jti), "f" * 48, algorithm="HS256")
    assert client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401

    # A browser page reads the cookie first: the look-alike there, the real token in the header.
    client.set_cookie(
        app.config["JWT_ACCESS_COOKIE_NAME"],
        forged,
        domain="localhost",
        path=app.config.get("JWT_ACCESS_COOKIE_PATH", "/"),
    )
    page = client.get("/account", headers={"Authorization": f"Bearer {real}"})
    # The page goes by the cookie: the look-alike is refused there, the browser sent to log in.
    assert page.status_code == 302 and page.headers["Location"] == "/auth/login?next=/account"
    assert b"ada@example.com" not in page.data
