"""Foreign signers (SPEC §3): tokens without `kid`, from Node's `jsonwebtoken` and from PyJWT.

Maestro's own worker and Node services sign with `jsonwebtoken`, which sends no `kid`. Such a token
is checked against the context's current key, then its previous keys; an unknown `kid`, a list
`aud` or a `typ` other than JWT stays refused, in every context.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
import uuid
from datetime import UTC

import jwt as pyjwt
import pytest
from node_support import npm_package
from share_support import make_link

from maestro_web.security import reset_tokens, share_tokens, worker_tokens
from maestro_web.security.signing import KeyRing, decode_pinned, key_id

JSONWEBTOKEN = "jsonwebtoken@9.0.2"

SIGN_JS = """
const jwt = require('jsonwebtoken');
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const { payload, secret, kid } = JSON.parse(input);
  const options = { algorithm: 'HS256' };
  if (kid) options.keyid = kid;
  process.stdout.write(jwt.sign(payload, secret, options));
});
"""


@pytest.fixture(scope="session")
def node_sign():
    """A function signing a payload with Node's jsonwebtoken (installed by npm on first use)."""
    folder = npm_package(JSONWEBTOKEN)
    node = shutil.which("node") or "node"
    script = folder / "sign.js"
    script.write_text(SIGN_JS)

    def sign(payload: dict, secret: str, kid: str | None = None) -> str:
        result = subprocess.run(
            [node, str(script)],
            input=json.dumps({"payload": payload, "secret": secret, "kid": kid}),
            capture_output=True,
            text=True,
            timeout=30,
            cwd=folder,
            check=True,
        )
        return result.stdout.strip()

    return sign


def worker_payload(graph_id: str = "*") -> dict:
    now = int(time.time())
    return {
        "graph_id": graph_id,
        "iss": "maestro-analytics",
        "aud": "maestro-analytics-front",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }


def header_of(token: str) -> dict:
    return pyjwt.get_unverified_header(token)


# --- the real foreign implementation ------------------------------------------------------------


def test_node_worker_without_kid_claims_and_posts_a_result(app, client, make_user, make_graph, node_sign):
    ring = app.config["KEY_RINGS"]["analytics"]
    graph = make_graph(make_user(), name="Shop", spec="web -> api")
    claim_token = node_sign(worker_payload(), ring.current)
    assert "kid" not in header_of(claim_token)
    claimed = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {claim_token}"})
    assert claimed.status_code == 200 and claimed.json["graph_id"] == graph.public_id

    svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect x="1" y="1" width="5" height="5"/></svg>'
    body = json.dumps(
        {
            "run_id": claimed.json["run_id"],
            "status": "finished",
            "msg": "ok",
            "svg": svg,
            "total": 2,
            "info": {"nodes": 2},
        }
    ).encode()
    # A result token is bound to its run and to the body's SHA-256 (two more claims, any signer can add them).
    post_token = node_sign(
        {
            **worker_payload(graph.public_id),
            "run_id": claimed.json["run_id"],
            "body_sha256": hashlib.sha256(body).hexdigest(),
        },
        ring.current,
    )
    posted = client.post(
        "/analytics/graphs", headers={"Authorization": f"JWT {post_token}"}, data=body, content_type="application/json"
    )
    assert posted.status_code == 201 and posted.json["status"] == "finished"


def test_node_worker_with_our_kid_and_with_a_previous_key(app, client, make_user, make_graph, node_sign):
    current = app.config["KEY_RINGS"]["analytics"]
    old = "old-analytics-" + "k" * 40
    app.config["KEY_RINGS"]["analytics"] = KeyRing("analytics", current=current.current, previous=(old,))
    make_graph(make_user())
    with_kid = node_sign(worker_payload(), current.current, kid=current.current_kid)
    assert client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {with_kid}"}).status_code == 200
    # No kid, signed with the previous key: tried after the current one, accepted.
    previous = node_sign(worker_payload(), old)
    assert client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {previous}"}).status_code == 204


def test_node_worker_refused_with_unknown_kid_or_foreign_key(app, client, node_sign):
    ring = app.config["KEY_RINGS"]["analytics"]
    unknown_kid = node_sign(worker_payload(), ring.current, kid="not-a-key-of-ours")
    foreign_key = node_sign(worker_payload(), "someone-else-" + "x" * 40)
    session_key = node_sign(worker_payload(), app.config["KEY_RINGS"]["session"].current)
    for token in (unknown_kid, foreign_key, session_key):
        response = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {token}"})
        assert response.status_code == 401, token


# --- every context, kid-less tokens signed by PyJWT -----------------------------------------------


def test_share_token_without_kid_opens_the_public_page(app, client, make_user, make_graph):
    owner = make_user()
    graph = make_graph(owner)
    link = make_link(app, graph, owner)
    ring = app.config["KEY_RINGS"]["public-analytics"]
    claims = pyjwt.decode(link.token, options={"verify_signature": False})
    foreign = pyjwt.encode(claims, ring.current, algorithm="HS256")  # no kid header
    assert "kid" not in header_of(foreign)
    assert client.get(f"/analytics/graphs/public/{graph.public_id}?token={foreign}").status_code == 200
    unknown = pyjwt.encode(claims, ring.current, algorithm="HS256", headers={"kid": "0" * 16})
    assert client.get(f"/analytics/graphs/public/{graph.public_id}?token={unknown}").status_code == 404


def test_session_token_without_kid_signed_by_a_previous_key(app, client, make_user):
    user = make_user()
    old = "old-session-" + "s" * 40
    current = app.config["KEY_RINGS"]["session"]
    app.config["KEY_RINGS"]["session"] = KeyRing("session", current=current.current, previous=(old,))
    now = int(time.time())
    claims = {
        "sub": user.public_id,
        "jti": uuid.uuid4().hex,
        "type": "access",
        "fresh": False,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "aud": "maestro-web",
        "iss": "maestro-server",
        "ver": user.token_version,
    }
    for secret in (current.current, old):
        token = pyjwt.encode(claims | {"jti": uuid.uuid4().hex}, secret, algorithm="HS256")
        response = client.get("/api/graphs", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, secret[:10]
    refused = {
        "unknown kid": pyjwt.encode(
            claims, current.current, algorithm="HS256", headers={"kid": key_id("session", "x")}
        ),
        "list aud": pyjwt.encode(claims | {"aud": ["maestro-web", "other"]}, current.current, algorithm="HS256"),
        "typ not JWT": pyjwt.encode(claims, current.current, algorithm="HS256", headers={"typ": "at+jwt"}),
        "foreign key": pyjwt.encode(claims, "f" * 48, algorithm="HS256"),
    }
    for name, token in refused.items():
        assert client.get("/api/graphs", headers={"Authorization": f"Bearer {token}"}).status_code == 401, name


@pytest.mark.parametrize("context", ["analytics", "public-analytics", "forgot"])
def test_decode_pinned_rules_for_every_context(app, context):
    ring = app.config["KEY_RINGS"][context]
    audience, issuer = {
        "analytics": (worker_tokens.AUDIENCE, worker_tokens.ISSUER),
        "public-analytics": (share_tokens.AUDIENCE, share_tokens.ISSUER),
        "forgot": (reset_tokens.AUDIENCE, reset_tokens.ISSUER),
    }[context]
    now = int(time.time())
    claims = {"aud": audience, "iss": issuer, "iat": now, "exp": now + 60, "jti": "j"}

    def decode(token: str) -> dict:
        return decode_pinned(token, ring, audience=audience, issuer=issuer, require=["exp", "iat"])

    assert decode(pyjwt.encode(claims, ring.current, algorithm="HS256"))["jti"] == "j"
    assert decode(pyjwt.encode(claims, ring.current, algorithm="HS256", headers={"typ": "JWT"}))["jti"] == "j"
    for token in (
        pyjwt.encode(claims, ring.current, algorithm="HS256", headers={"kid": "unknown"}),
        pyjwt.encode(claims | {"aud": [audience]}, ring.current, algorithm="HS256"),
        pyjwt.encode(claims, ring.current, algorithm="HS256", headers={"typ": "JWE"}),
        pyjwt.encode(claims, ring.current, algorithm="HS384"),
        pyjwt.encode(claims, "w" * 48, algorithm="HS256"),
    ):
        with pytest.raises(pyjwt.PyJWTError):
            decode(token)


def test_a_non_ascii_kid_is_an_unknown_key_not_a_500(app, client, make_user, make_graph):
    """The header's kid is read before any signature is checked: hostile text must not reach
    hmac.compare_digest, which raises on non-ASCII text (keyring.KeyRing.secret_for)."""
    owner = make_user()
    graph = make_graph(owner)
    link = make_link(app, graph, owner)
    kid = {"kid": "cl\u00e9-\u2603"}
    share_claims = pyjwt.decode(link.token, options={"verify_signature": False})
    share = pyjwt.encode(
        share_claims, app.config["KEY_RINGS"]["public-analytics"].current, algorithm="HS256", headers=kid
    )
    assert client.get(f"/analytics/graphs/public/{graph.public_id}?token={share}").status_code == 404
    now = int(time.time())
    session_claims = {
        "sub": owner.public_id,
        "jti": uuid.uuid4().hex,
        "type": "access",
        "fresh": False,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "aud": "maestro-web",
        "iss": "maestro-server",
        "ver": owner.token_version,
    }
    session = pyjwt.encode(session_claims, app.config["KEY_RINGS"]["session"].current, algorithm="HS256", headers=kid)
    assert client.get("/api/graphs", headers={"Authorization": f"Bearer {session}"}).status_code == 401
    worker = pyjwt.encode(
        worker_payload(), app.config["KEY_RINGS"]["analytics"].current, algorithm="HS256", headers=kid
    )
    assert client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {worker}"}).status_code == 401


def test_our_signer_makes_pyjwts_very_token_and_refuses_what_pyjwt_refuses():
    """signing.encode_pinned signs without PyJWT's per-call work (the public view signs a live ticket per
    view): its token is PyJWT's, byte for byte, time claims given as datetimes included, and a key
    PyJWT would not take as an HMAC secret is refused all the same."""
    from datetime import datetime

    from maestro_web.security.signing import encode_pinned

    ring = KeyRing("session", "s" * 48, previous=("p" * 48,))
    at = datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC)
    for payload in (
        {
            "iss": "maestro-server",
            "aud": "maestro-websocket-client",
            "iat": 1,
            "exp": 601,
            "jti": uuid.uuid4().hex,
            "channels": ["share:abc"],
        },
        {"sub": "é ☃ \u2028", "iat": at, "exp": at, "nbf": at, "n": 1.5, "none": None, "list": [1, {"b": 2}]},
        {},
    ):
        assert encode_pinned(payload, ring) == pyjwt.encode(
            payload, ring.current, algorithm="HS256", headers={"kid": ring.current_kid}
        )
    with pytest.raises(TypeError):
        encode_pinned({"iss": 1}, ring)
    pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"
    for key in ("", pem):
        with pytest.raises(pyjwt.InvalidKeyError):
            encode_pinned({"sub": "u"}, KeyRing("session", key))
