"""Share links: managing them (pages, API, CLI) and their lifecycle as a visitor sees it (SPEC §3.2, §5)."""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from conftest import api_headers
from share_support import REFUSED_STATES, link_in_state, link_row, make_link, visit
from sqlalchemy import select

from maestro_web.extensions import db
from maestro_web.models import Role, ShareLink
from maestro_web.models.base import utcnow
from maestro_web.security.signing import KeyRing


def post_page(auth, client, page, action, **data):
    values = auth.form_values(page)
    return client.post(action, data={**values, **data})


# --- pages ----------------------------------------------------------------------------------------


def test_writer_creates_a_link_on_the_page_and_sees_url_qr_and_snippet(app, auth, client, writer, graph):
    auth.login(writer.email)
    page = f"/graphs/{graph.public_id}/shares"
    response = post_page(
        auth,
        client,
        page,
        page,
        label="Board",
        expires="1d",
        embeddable="y",
        allowed_origins="https://intranet.example.com",
    )
    assert response.status_code == 302
    link_page = client.get(response.headers["Location"])
    assert link_page.headers["Cache-Control"] == "no-store" and link_page.headers["Referrer-Policy"] == "no-referrer"
    html = link_page.get_data(as_text=True)
    url = re.search(r'id="share-url" type="text" readonly value="([^"]+)"', html).group(1)
    assert url.startswith(f"{app.config['MAESTRO_ANALYTICS_URL']}/graphs/public/{graph.public_id}?token=")
    assert "&lt;iframe src=&#34;" in html or "&lt;iframe src=&quot;" in html
    assert "/embed?token=" in html
    qr = client.get(re.search(r'<img src="([^"]+qr\.svg)"', html).group(1))
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml" and b"<svg" in qr.data
    assert qr.headers["Content-Security-Policy"].startswith("sandbox")
    # The visitor sees the graph; the embed variant may be framed by the listed origin only.
    path = url.split("127.0.0.1:5000", 1)[1] if "127.0.0.1:5000" in url else url[url.index("/analytics") :]
    assert app.test_client().get(path).status_code == 200
    embed = app.test_client().get(path.replace("?token=", "/embed?token="))
    assert embed.status_code == 200
    assert "frame-ancestors https://intranet.example.com" in embed.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in embed.headers
    assert 'class="topbar"' not in embed.get_data(as_text=True)


def test_the_form_keeps_input_and_names_the_field(auth, client, writer, graph):
    auth.login(writer.email)
    page = f"/graphs/{graph.public_id}/shares"
    response = post_page(
        auth,
        client,
        page,
        page,
        label="",
        expires="custom",
        max_views="0",
        embeddable="y",
        allowed_origins="javascript:alert(1)",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Give the link a label" not in html  # left empty, the label is "Shared link, <date>"
    assert "Pick a date and time" in html and "whole number from 1" in html
    response = post_page(
        auth, client, page, page, label="Keep me", expires="1d", embeddable="y", allowed_origins="javascript:alert(1)"
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "is not an origin like https://" in html and 'value="Keep me"' in html
    with client.application.app_context():
        assert db.session.scalar(select(ShareLink.id)) is None


def test_custom_expiry_beyond_the_cap_is_refused_with_a_message(app, auth, client, writer, graph):
    auth.login(writer.email)
    page = f"/graphs/{graph.public_id}/shares"
    far = (utcnow() + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M")
    response = post_page(auth, client, page, page, label="Too long", expires="custom", custom_expiry=far)
    assert response.status_code == 422
    assert "A link can live at most 90 days" in response.get_data(as_text=True)


def test_read_user_cannot_manage_links_and_a_stranger_gets_404(app, auth, client, reader, make_user, graph):
    auth.login(reader.email)
    assert client.get(f"/graphs/{graph.public_id}/shares").status_code == 403
    stranger = make_user(email="stranger@example.com")
    auth.logout()
    auth.login(stranger.email)
    assert client.get(f"/graphs/{graph.public_id}/shares").status_code == 404


def test_list_shows_status_views_and_actions(app, auth, client, owner, graph):
    made = make_link(app, graph, owner, label="Investors", max_views=5)
    for _ in range(2):
        assert visit(app, made).status_code == 200
    auth.login(owner.email)
    html = client.get(f"/graphs/{graph.public_id}/shares").get_data(as_text=True)
    row = re.search(rf'<tr data-link="{made.id}">(.*?)</tr>', html, re.S).group(1)
    assert "Investors" in row and "active" in row and "2 / 5" in row and "Owner" in row
    assert ">Pause<" in row and ">Revoke<" in row


def test_pause_resume_revoke_through_the_pages(app, auth, client, owner, graph):
    made = make_link(app, graph, owner)
    auth.login(owner.email)
    page = f"/graphs/{graph.public_id}/shares/{made.id}"
    assert post_page(auth, client, page, page + "/pause").status_code == 302
    paused = visit(app, made)
    assert paused.status_code == 403 and "Temporarily unavailable" in paused.get_data(as_text=True)
    assert post_page(auth, client, page, page + "/resume").status_code == 302
    assert visit(app, made).status_code == 200
    assert post_page(auth, client, page, page + "/revoke").status_code == 302
    revoked = visit(app, made)
    assert revoked.status_code == 410 and "This link was revoked" in revoked.get_data(as_text=True)
    # A revoked link cannot be resumed: the owner is told so, and the link stays dead.
    refused = post_page(auth, client, page, page + "/resume")
    assert refused.status_code == 302 and refused.headers["Location"].endswith(page)
    assert "A revoked link cannot be resumed" in client.get(page).get_data(as_text=True)
    assert visit(app, made).status_code == 410


def test_extend_within_the_cap_and_beyond_it(app, auth, client, owner, graph):
    made = make_link(app, graph, owner, lifetime=timedelta(hours=1))
    auth.login(owner.email)
    page = f"/graphs/{graph.public_id}/shares/{made.id}"
    before = link_row(app, made.id).expires_at
    assert post_page(auth, client, page, page + "/extend", expires="30d").status_code == 302
    assert link_row(app, made.id).expires_at - before == timedelta(days=30)
    far = (utcnow() + timedelta(days=200)).strftime("%Y-%m-%dT%H:%M")
    refused = post_page(auth, client, page, page + "/extend", expires="custom", custom_expiry=far)
    assert refused.status_code == 422 and "A link can live at most 90 days" in refused.get_data(as_text=True)
    assert link_row(app, made.id).expires_at - before == timedelta(days=30)  # unchanged
    assert visit(app, made).status_code == 200


def test_an_expired_link_shows_the_expired_page(app, owner, graph):
    made = make_link(app, graph, owner)
    with app.app_context():
        link = ShareLink.get_by_public_id(made.id)
        link.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    response = visit(app, made)
    assert response.status_code == 410 and "This link has expired" in response.get_data(as_text=True)


def test_max_views_then_used_up(app, owner, graph):
    made = make_link(app, graph, owner, max_views=2)
    assert [visit(app, made).status_code for _ in range(3)] == [200, 200, 410]
    assert "used up" in visit(app, made).get_data(as_text=True)
    assert link_row(app, made.id).view_count == 2


def test_resharing_after_revoke_gives_a_new_jti_and_the_old_token_stays_dead(app, auth, client, owner, graph):
    old = make_link(app, graph, owner, label="Board")
    auth.login(owner.email)
    page = f"/graphs/{graph.public_id}/shares/{old.id}"
    post_page(auth, client, page, page + "/revoke")
    new = make_link(app, graph, owner, label="Board")
    assert new.id != old.id and new.token != old.token
    assert visit(app, new).status_code == 200
    assert visit(app, old).status_code == 410


def test_creator_losing_write_stops_their_links(app, auth, client, owner, writer, graph):
    made = make_link(app, graph, writer)
    assert visit(app, made).status_code == 200
    auth.login(owner.email)
    page = f"/graphs/{graph.public_id}/access"
    post_page(auth, client, page, page, email=writer.email, role=str(int(Role.READ)))
    assert visit(app, made).status_code == 404
    post_page(auth, client, page, page, email=writer.email, role=str(int(Role.WRITE)))
    assert visit(app, made).status_code == 200  # the link was stopped, not revoked


def test_graph_deleted_is_404(app, auth, client, owner, graph):
    made = make_link(app, graph, owner)
    auth.login(owner.email)
    page = f"/graphs/{graph.public_id}/delete"
    assert post_page(auth, client, page, page, confirm_name=graph.name).status_code == 302
    assert visit(app, made).status_code == 404


def test_revoke_all_links_of_a_graph(app, auth, client, owner, writer, graph):
    links = [make_link(app, graph, owner, label="A"), make_link(app, graph, writer, label="B")]
    auth.login(owner.email)
    page = f"/graphs/{graph.public_id}/shares"
    response = post_page(auth, client, page, page + "/revoke-all")
    assert response.status_code == 302
    assert "Revoked 2 links" in client.get(page).get_data(as_text=True)
    assert [visit(app, made).status_code for made in links] == [410, 410]


def test_my_shared_links_lists_across_graphs_and_revokes_several(app, auth, client, owner, make_graph, graph):
    other = make_graph(owner, name="Billing")
    first, second, keep = (
        make_link(app, graph, owner, label="One"),
        make_link(app, other, owner, label="Two"),
        make_link(app, graph, owner, label="Keep"),
    )
    auth.login(owner.email)
    html = client.get("/shares").get_data(as_text=True)
    assert "Checkout" in html and "Billing" in html and html.count("data-link=") == 3
    values = auth.form_values("/shares")
    response = client.post(
        "/shares/bulk", data={**values, "action": "revoke", "confirmed": "1", "link": [first.id, second.id]}
    )
    assert response.status_code == 302
    assert [visit(app, made).status_code for made in (first, second, keep)] == [410, 410, 200]


def test_the_old_revoke_without_confirmation_is_gone(app, auth, client, owner, graph):
    """`POST /shares/revoke` revoked the selected links at once; the page asks first now (/shares/bulk)."""
    made = make_link(app, graph, owner)
    auth.login(owner.email)
    response = client.post("/shares/revoke", data={**auth.form_values("/shares"), "link": [made.id]})
    assert response.status_code == 404
    assert visit(app, made).status_code == 200


def test_bulk_revoke_cannot_touch_someone_elses_links(app, auth, client, owner, writer, graph):
    theirs = make_link(app, graph, writer)
    auth.login(owner.email)
    mine = make_link(app, graph, owner)
    values = auth.form_values("/shares")
    response = client.post(
        "/shares/bulk",
        data={**values, "action": "revoke", "confirmed": "1", "link": [theirs.id, mine.id]},
        follow_redirects=True,
    )
    assert response.status_code == 200 and "Revoked 1 link." in response.text  # only the owner's own
    assert visit(app, theirs).status_code == 200
    assert visit(app, mine).status_code == 410


def test_actions_need_both_csrf_values(app, auth, client, owner, graph):
    made = make_link(app, graph, owner)
    auth.login(owner.email)
    page = f"/graphs/{graph.public_id}/shares/{made.id}"
    values = auth.form_values(page)
    answers = {}
    for missing in ("csrf_token", "jwt_csrf"):
        data = {k: v for k, v in values.items() if k != missing}
        answers[missing] = client.post(page + "/revoke", data=data).status_code
    assert answers == {"csrf_token": 400, "jwt_csrf": 400}  # each layer refuses on its own
    assert visit(app, made).status_code == 200


# --- the JSON API ---------------------------------------------------------------------------------


def test_maestros_public_endpoint(app, client, owner, graph):
    headers = api_headers(client, owner)
    response = client.post(f"/api/graphs/{graph.public_id}/public", headers=headers)
    assert response.status_code == 201
    body = response.json
    assert set(body) == {"id", "link_id", "token", "timestamp", "url", "expires_at"}
    assert body["id"] == graph.public_id  # Maestro's shape: the graph's id
    link_ids = [
        item["id"] for item in client.get(f"/api/graphs/{graph.public_id}/shares", headers=headers).json["items"]
    ]
    assert link_ids == [body["link_id"]]
    assert body["url"].endswith(f"/graphs/public/{graph.public_id}?token={body['token']}")
    assert app.test_client().get(f"/analytics/graphs/public/{graph.public_id}?token={body['token']}").status_code == 200


def test_api_create_list_patch_delete(app, client, writer, graph):
    headers = api_headers(client, writer)
    base = f"/api/graphs/{graph.public_id}/shares"
    created = client.post(
        base,
        headers=headers,
        json={
            "label": "Wiki",
            "expires_in": 3600,
            "max_views": 3,
            "embeddable": True,
            "allowed_origins": ["https://wiki.example.com/"],
        },
    )
    assert created.status_code == 201
    link = created.json
    assert link["status"] == "active" and link["allowed_origins"] == ["https://wiki.example.com"] and link["token"]
    assert [item["id"] for item in client.get(base, headers=headers).json["items"]] == [link["id"]]
    paused = client.patch(f"{base}/{link['id']}", headers=headers, json={"paused": True})
    assert paused.status_code == 200 and paused.json["status"] == "paused"
    assert app.test_client().get(link["url"][link["url"].index("/analytics") :]).status_code == 403
    extended = client.patch(f"{base}/{link['id']}", headers=headers, json={"paused": False, "expires_in": 86400})
    assert extended.status_code == 200 and extended.json["status"] == "active"
    too_far = client.patch(f"{base}/{link['id']}", headers=headers, json={"expires_in": 200 * 86400})
    assert too_far.status_code == 422 and "expires_at" in too_far.json["fields"]
    revoked = client.delete(f"{base}/{link['id']}", headers=headers)
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked" and "url" not in revoked.json
    assert client.patch(f"{base}/{link['id']}", headers=headers, json={"paused": False}).status_code == 409
    assert client.patch(f"{base}/{link['id']}", headers=headers, json={"revoked": False}).status_code == 422


@pytest.mark.parametrize(
    "body, field",
    [
        ({"label": 5}, "label"),
        ({"label": ""}, "label"),
        ({"expires_in": -5}, "expires_in"),
        ({"expires_in": "soon"}, "expires_in"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"max_views": 0}, "max_views"),
        ({"embeddable": True}, "allowed_origins"),
        ({"embeddable": True, "allowed_origins": ["http://evil.example"]}, "allowed_origins"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_api_bad_input_names_the_field_and_stores_nothing(app, client, owner, graph, body, field):
    headers = api_headers(client, owner)
    response = client.post(f"/api/graphs/{graph.public_id}/shares", headers=headers, json={"label": "x", **body})
    assert response.status_code == 422 and field in response.json["fields"]
    with app.app_context():
        assert db.session.scalar(select(ShareLink.id)) is None


def test_api_roles(app, client, reader, make_user, graph):
    assert client.get(f"/api/graphs/{graph.public_id}/shares", headers=api_headers(client, reader)).status_code == 403
    stranger = make_user(email="stranger@example.com")
    assert (
        client.post(f"/api/graphs/{graph.public_id}/public", headers=api_headers(client, stranger)).status_code == 404
    )
    assert client.post(f"/api/graphs/{graph.public_id}/public").status_code == 401


def test_a_stranger_gets_404_on_every_link_route_of_the_api_and_pages(app, auth, client, owner, make_user, graph):
    made = make_link(app, graph, owner)
    stranger = make_user(email="stranger@example.com")
    headers = api_headers(client, stranger)
    base = f"/api/graphs/{graph.public_id}/shares"
    assert client.get(base, headers=headers).status_code == 404
    assert client.post(base, json={"label": "x"}, headers=headers).status_code == 404
    assert client.patch(f"{base}/{made.id}", json={"paused": True}, headers=headers).status_code == 404
    assert client.delete(f"{base}/{made.id}", headers=headers).status_code == 404
    assert client.delete(base, headers=headers).status_code == 404
    auth.login(stranger.email)
    assert client.get(f"/graphs/{graph.public_id}/shares/{made.id}").status_code == 404
    assert client.get(f"/graphs/{graph.public_id}/shares/{made.id}/qr.svg").status_code == 404
    assert visit(app, made).status_code == 200  # nothing the stranger tried touched the link


@pytest.mark.parametrize("state, status", REFUSED_STATES)
def test_refusal_pages_reveal_nothing_of_the_graph(app, owner, graph, state, status):
    made = link_in_state(app, graph, owner, state)
    if state == "used up":
        assert visit(app, made).status_code == 200
    for suffix in ("", "&ext=svg"):
        response = visit(app, made, suffix)
        assert response.status_code == status
        text = response.get_data(as_text=True)
        assert "Checkout" not in text and "<svg" not in text and "checkout-api" not in text
        assert response.headers["Cache-Control"] == "no-store" and response.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_the_embed_of_a_link_without_origins_may_not_be_framed(app, owner, graph):
    made = make_link(app, graph, owner)
    response = app.test_client().get(made.path.replace("?token=", "/embed?token="))
    assert response.status_code == 200
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_qr_code_is_inert(app, auth, client, owner, graph):
    made = make_link(app, graph, owner)
    auth.login(owner.email)
    qr = client.get(f"/graphs/{graph.public_id}/shares/{made.id}/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"
    assert b"<script" not in qr.data and b"onload" not in qr.data
    assert qr.headers["Content-Security-Policy"].startswith("sandbox; default-src 'none'")
    assert qr.headers["Cache-Control"] == "no-store"


def test_a_revocation_made_by_another_app_process_acts_on_the_next_view(app, owner, graph):
    """Two app instances on one database stand for two gunicorn workers: nothing is cached per process."""
    from maestro_web import create_app

    made = make_link(app, graph, owner)
    assert visit(app, made).status_code == 200
    other = create_app(dict(app.config), environ={})
    with other.app_context():
        link = ShareLink.get_by_public_id(made.id)
        link.revoked_at = utcnow()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    assert visit(app, made).status_code == 410


# --- concurrency, abuse guards, logs, keys, CLI -----------------------------------------------------


def test_fifty_parallel_first_views_of_a_ten_view_link(app, live_server, owner, graph):
    made = make_link(app, graph, owner, max_views=10)
    url = live_server.url + made.path

    def view(_):
        return requests.get(url, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(view, range(50)))
    assert statuses.count(200) == 10 and statuses.count(410) == 40, statuses
    assert link_row(app, made.id).view_count == 10


def test_views_are_counted_exactly_under_concurrency(app, live_server, owner, graph):
    made = make_link(app, graph, owner)
    url = live_server.url + made.path
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda _: requests.get(url, timeout=60).status_code, range(40)))
    assert statuses == [200] * 40
    assert link_row(app, made.id).view_count == 40


@pytest.mark.app_settings(RATELIMIT_ENABLED=True, MAESTRO_SHARE_FAILURE_RATE_LIMIT="3 per minute")
def test_failed_token_attempts_are_rate_limited_per_ip(app, owner, graph):
    made = make_link(app, graph, owner)
    client = app.test_client()
    # Good views do not use up the budget.
    for _ in range(5):
        assert client.get(made.path).status_code == 200
    bad = f"/analytics/graphs/public/{graph.public_id}?token=aaaa.bbbb.cccc"
    assert [client.get(bad).status_code for _ in range(3)] == [404, 404, 404]
    limited = client.get(bad)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert limited.headers["Cache-Control"] == "no-store" and limited.headers["Referrer-Policy"] == "no-referrer"
    assert "Too many attempts" in limited.text
    # Only guesses are refused: a link this address genuinely holds still opens, and is counted.
    assert client.get(made.path).status_code == 200
    assert link_row(app, made.id).view_count == 6
    # Another address has its own budget.
    other = client.get(bad, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 404


def test_tokens_never_reach_the_logs(app, live_server, owner, graph, caplog):
    made = make_link(app, graph, owner)
    with caplog.at_level(logging.INFO):
        assert requests.get(live_server.url + made.path, timeout=30).status_code == 200
        assert requests.get(live_server.url + made.path + "x", timeout=30).status_code == 404
    lines = [record.getMessage() for record in caplog.records]
    assert any("/analytics/graphs/public/" in line for line in lines)  # the request was logged ...
    assert not any(made.token.split(".")[1] in line for line in lines)  # ... without its token
    with open("gunicorn.conf.py") as conf:
        log_format = re.search(r"access_log_format = (.+)", conf.read()).group(1)
    assert "%(U)s" in log_format and "%(r)s" not in log_format and "%(q)s" not in log_format


def test_rotating_the_share_key_keeps_old_links_until_the_previous_key_is_dropped(app, owner, graph, runner):
    made = make_link(app, graph, owner)
    result = runner.invoke(args=["keys", "rotate", "public-analytics"])
    assert result.exit_code == 0
    new_secret = result.output.strip().splitlines()[0]
    assert "MAESTRO_SECRETJWT_PUBLIC_ANALYTICS_PREVIOUS" in result.output
    old = app.config["KEY_RINGS"]["public-analytics"]
    app.config["KEY_RINGS"]["public-analytics"] = KeyRing("public-analytics", new_secret, (old.current,))
    assert visit(app, made).status_code == 200  # the old link still works ...
    fresh = make_link(app, graph, owner)
    assert fresh.token.split(".")[0] != made.token.split(".")[0]  # ... new ones carry the new kid
    app.config["KEY_RINGS"]["public-analytics"] = KeyRing("public-analytics", new_secret)
    assert visit(app, made).status_code == 404  # the global kill switch
    assert visit(app, fresh).status_code == 200


def test_prune_deletes_only_long_ended_links(app, owner, graph, runner):
    ended = make_link(app, graph, owner, label="Old")
    revoked = make_link(app, graph, owner, label="Revoked")
    alive = make_link(app, graph, owner, label="Alive")
    with app.app_context():
        ShareLink.get_by_public_id(ended.id).expires_at = utcnow() - timedelta(days=40)
        ShareLink.get_by_public_id(revoked.id).revoked_at = utcnow() - timedelta(days=31)
        db.session.commit()
    result = runner.invoke(args=["shares", "prune", "--older-than", "30"])
    assert result.exit_code == 0 and "Deleted 2 share link(s)" in result.output
    with app.app_context():
        assert list(db.session.scalars(select(ShareLink.label))) == ["Alive"]
    assert visit(app, alive).status_code == 200 and visit(app, ended).status_code == 404
