"""Worker tokens at their edges (SPEC §3.3): only a worker token for this graph is accepted."""

from __future__ import annotations

import base64
import json
import time

import jwt as pyjwt
import pytest
from conftest import set_session_cookie
from flask_jwt_extended import create_access_token
from worker_support import encoded, post_result

from maestro_web.security.signing import KeyRing
from maestro_web.security.worker_tokens import body_digest, mint_result_token, mint_worker_token

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5" height="5"/></svg>'


@pytest.fixture
def ring(app) -> KeyRing:
    return app.config["KEY_RINGS"]["analytics"]


def worker_claims(graph_id="*", lifetime=600, **changes):
    now = int(time.time())
    claims = {
        "graph_id": graph_id,
        "iss": "maestro-analytics",
        "aud": "maestro-analytics-front",
        "iat": now,
        "exp": now + lifetime,
        "jti": "j1",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims, secret, kid, alg="HS256"):
    return pyjwt.encode(claims, secret, algorithm=alg, headers={"kid": kid})


def claim(client, token, scheme="JWT"):
    return client.post("/analytics/jobs/claim", headers={"Authorization": f"{scheme} {token}"} if token else {})


def b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_valid_token_both_schemes(client, ring):
    token = mint_worker_token(ring)
    assert claim(client, token, "JWT").status_code == 204
    assert claim(client, token, "Bearer").status_code == 204


@pytest.mark.parametrize("header", [None, "Basic abc", "Token abc", "JWT", "jwt  "])
def test_missing_or_wrong_scheme(client, header):
    response = client.post("/analytics/jobs/claim", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"


def test_tampered_token_is_refused(client, ring):
    header, payload, signature = mint_worker_token(ring).split(".")
    forged = f"{header}.{b64(worker_claims(graph_id='*', lifetime=3000))}.{signature}"
    assert claim(client, forged).status_code == 401


def test_expired_token_is_refused(client, ring):
    token = mint_worker_token(ring, lifetime=60, now=time.time() - 120)
    response = claim(client, token)
    assert response.status_code == 401 and "expired" in response.json["message"]


def test_lifetime_over_an_hour_is_refused(client, ring):
    token = sign(worker_claims(lifetime=3601), ring.current, ring.current_kid)
    response = claim(client, token)
    assert response.status_code == 401 and "one hour" in response.json["message"]
    with pytest.raises(ValueError):
        mint_worker_token(ring, lifetime=3601)


@pytest.mark.parametrize("missing", ["exp", "iat", "jti", "aud", "iss"])
def test_missing_required_claims(client, ring, missing):
    token = sign(worker_claims(**{missing: None}), ring.current, ring.current_kid)
    assert claim(client, token).status_code == 401


@pytest.mark.parametrize("alg", ["none", "None"])
def test_alg_none(client, ring, alg):
    token = f"{b64({'alg': alg, 'typ': 'JWT', 'kid': ring.current_kid})}.{b64(worker_claims())}."
    assert claim(client, token).status_code == 401


def test_hs512_with_the_right_secret_is_refused(client, ring):
    token = sign(worker_claims(), ring.current, ring.current_kid, alg="HS512")
    assert claim(client, token).status_code == 401


def test_token_for_another_graph_cannot_post_a_result(app, client, ring, make_user, make_graph):
    owner = make_user()
    graph_a = make_graph(owner, name="A")
    graph_b = make_graph(owner, name="B")
    job = claim(client, mint_worker_token(ring)).json
    assert job["graph_id"] == graph_a.public_id
    response = post_result(
        client,
        ring,
        graph_b.public_id,
        json={"graph_id": graph_a.public_id, "run_id": job["run_id"], "status": "finished", "svg": SVG},
    )
    assert response.status_code == 403
    # Without naming the graph, the run simply is not a run of graph B.
    response = post_result(
        client, ring, graph_b.public_id, json={"run_id": job["run_id"], "status": "finished", "svg": SVG}
    )
    assert response.status_code == 409


def test_star_token_cannot_post_and_graph_token_cannot_claim(client, ring, make_user, make_graph):
    graph = make_graph(make_user())
    star = mint_worker_token(ring)
    response = client.post(
        "/analytics/graphs", headers={"Authorization": f"JWT {star}"}, json={"run_id": "x", "svg": SVG}
    )
    assert response.status_code == 403
    assert claim(client, mint_worker_token(ring, graph.public_id)).status_code == 403


def test_user_session_token_is_refused(app, client, make_user):
    user = make_user()
    with app.app_context():
        from maestro_web.models import User

        token = create_access_token(identity=User.get_by_public_id(user.public_id))
    assert claim(client, token).status_code == 401


@pytest.mark.parametrize("context", ["public-analytics", "forgot", "session", "socket", "flask", "crypto-forgot"])
def test_token_signed_with_another_contexts_secret_is_refused(app, client, ring, context):
    other = app.config["KEY_RINGS"][context]
    assert claim(client, sign(worker_claims(), other.current, other.current_kid)).status_code == 401
    assert claim(client, sign(worker_claims(), other.current, ring.current_kid)).status_code == 401


def test_share_shaped_token_is_refused_even_with_equal_secrets(app, client, ring):
    """A share token has the same audience but another issuer: refused even with the worker secret."""
    now = int(time.time())
    share = {
        "name": "graphs",
        "id": "g",
        "jti": "l1",
        "iat": now,
        "exp": now + 600,
        "iss": "maestro-server",
        "aud": "maestro-analytics-front",
        "timestamp": now * 1000,
    }
    assert claim(client, sign(share, ring.current, ring.current_kid)).status_code == 401


def test_reset_shaped_token_is_refused(client, ring):
    now = int(time.time())
    reset = {
        "sub": "u",
        "fp": "x",
        "jti": "r",
        "iat": now,
        "exp": now + 600,
        "aud": "maestro-password-reset",
        "iss": "maestro-server",
    }
    assert claim(client, sign(reset, ring.current, ring.current_kid)).status_code == 401


def test_real_password_reset_tokens_are_refused(app, client):
    from maestro_web.security import reset_tokens

    rings = app.config["KEY_RINGS"]
    for mint, context in ((reset_tokens.mint_step1, "crypto-forgot"), (reset_tokens.mint_step2, "forgot")):
        token = mint(rings[context], "someone", "fingerprint")
        assert client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {token}"}).status_code == 401


def test_key_only_in_previous_is_accepted_until_dropped(app, client, ring):
    old = mint_worker_token(ring)
    app.config["KEY_RINGS"] = {**app.config["KEY_RINGS"], "analytics": KeyRing("analytics", "n" * 48, (ring.current,))}
    assert claim(client, old).status_code == 204
    app.config["KEY_RINGS"] = {**app.config["KEY_RINGS"], "analytics": KeyRing("analytics", "n" * 48)}
    assert claim(client, old).status_code == 401


def test_unknown_kid_and_huge_token(client, ring):
    assert claim(client, sign(worker_claims(), ring.current, "not-a-kid")).status_code == 401
    assert claim(client, "a" * 5000).status_code == 401
    assert claim(client, "aaaa.bbbb.cccc").status_code == 401


def test_worker_endpoints_ignore_session_cookies(app, auth, client, make_user, ring):
    user = make_user()
    auth.login(user.email)
    assert claim(client, None).status_code == 401
    # Not even a real worker token is read from a cookie: only the Authorization header counts.
    set_session_cookie(client, "access", mint_worker_token(ring))
    assert claim(client, None).status_code == 401


@pytest.mark.parametrize(
    "changes",
    [{"iss": "maestro-server"}, {"iss": "maestro-web"}, {"aud": "maestro-password-reset"}, {"aud": "maestro-web"}],
)
def test_a_wrong_issuer_or_audience_is_refused(client, ring, changes):
    """Signed with the worker key and shaped like a worker token, but claiming another context."""
    assert claim(client, sign(worker_claims(**changes), ring.current, ring.current_kid)).status_code == 401
    assert claim(client, sign(worker_claims(), ring.current, ring.current_kid)).status_code == 204  # the control


# --- a result token is bound to its run and its body --------------------------------------------


@pytest.fixture
def two_jobs(app, client, ring, make_user, make_graph):
    """Two graphs, each with its run claimed: (graph id, run id) twice."""
    owner = make_user()
    make_graph(owner, name="A")
    make_graph(owner, name="B")
    jobs = [claim(client, mint_worker_token(ring)).json for _ in range(2)]
    return [(job["graph_id"], job["run_id"]) for job in jobs]


def post_with(client, token, body: bytes, content_type="application/json"):
    return client.post(
        "/analytics/graphs", headers={"Authorization": f"JWT {token}"}, data=body, content_type=content_type
    )


def result_body(run_id, svg=SVG, **more):
    return encoded({"run_id": run_id, "status": "finished", "svg": svg, **more})[0]


def test_a_bound_token_posts_its_body_once_and_a_repeat_answers_the_stored_result(client, ring, two_jobs):
    (graph_id, run_id), _ = two_jobs
    body = result_body(run_id)
    token = mint_result_token(ring, graph_id, run_id, body)
    assert post_with(client, token, body).status_code == 201
    assert post_with(client, token, body).status_code == 200  # the same bytes again: idempotent


def test_a_captured_token_cannot_post_another_picture(client, ring, two_jobs):
    """Before, any token for the graph posted any result for an hour."""
    (graph_id, run_id), _ = two_jobs
    body = result_body(run_id)
    token = mint_result_token(ring, graph_id, run_id, body)
    forged = result_body(run_id, svg='<svg xmlns="http://www.w3.org/2000/svg"><text>pwned</text></svg>')
    refused = post_with(client, token, forged)
    assert refused.status_code == 403 and "body_sha256" in refused.json["message"]
    # The same fields written with other bytes (a form instead of JSON) are another body too.
    form = encoded(data={"run_id": run_id, "payload": SVG})[0]
    assert post_with(client, token, form, "application/x-www-form-urlencoded").status_code == 403
    assert post_with(client, token, body).status_code == 201  # the worker's own post still lands


def test_a_token_bound_to_another_run_is_refused(client, ring, two_jobs):
    (graph_a, run_a), (graph_b, run_b) = two_jobs
    body = result_body(run_a)
    # Bound to run B's id but carrying run A's body (and so A's hash): the run claim must match.
    token = mint_result_token(ring, graph_a, run_b, body)
    refused = post_with(client, token, body)
    assert refused.status_code == 403 and "another run" in refused.json["message"]


def test_a_token_without_the_run_or_body_claim_is_refused(client, ring, two_jobs):
    (graph_id, run_id), _ = two_jobs
    body = result_body(run_id)
    for bound in ({}, {"run_id": run_id}, {"body_sha256": body_digest(body)}):
        token = mint_worker_token(ring, graph_id, bound=bound)
        refused = post_with(client, token, body)
        assert refused.status_code == 403, bound
        assert "run_id claim" in refused.json["message"]


def test_an_expired_or_badly_typed_result_token_is_refused(client, ring, two_jobs):
    (graph_id, run_id), _ = two_jobs
    body = result_body(run_id)
    expired = mint_result_token(ring, graph_id, run_id, body, lifetime=60, now=time.time() - 120)
    assert post_with(client, expired, body).status_code == 401
    typed = sign(worker_claims(graph_id, run_id=7, body_sha256=body_digest(body)), ring.current, ring.current_kid)
    refused = post_with(client, typed, body)
    assert refused.status_code == 401 and "run_id" in refused.json["message"]


def test_a_bound_form_post_is_accepted(client, ring, two_jobs):
    """Maestro's form fields (SPEC §5) still work, bound the same way: the hash of the bytes sent."""
    (graph_id, run_id), _ = two_jobs
    body = encoded(data={"run_id": run_id, "payload": SVG, "total": "3"})[0]
    token = mint_result_token(ring, graph_id, run_id, body)
    posted = post_with(client, token, body, "application/x-www-form-urlencoded")
    assert posted.status_code == 201 and posted.json["total"] == 3
