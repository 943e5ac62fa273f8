"""Live tickets over HTTP (SPEC §8): GET /live/ticket, POST /api/live/ticket, a share visitor's ticket."""

from __future__ import annotations

import html
import re
from datetime import datetime

import pytest
from conftest import api_headers
from share_support import link_row, make_link

from maestro_web.security.live_tickets import TicketError, verify_ticket


@pytest.fixture
def stranger(make_user):
    return make_user(email="stranger@example.com", name="Stranger")


def verified(app, body):
    return verify_ticket(body["ticket"], app.config["KEY_RINGS"]["session"])


def assert_ticket(app, response, sub, channels):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["channels"] == channels
    assert body["url"] == app.config["MAESTRO_LIVE_URL"]
    claims = verified(app, body)
    assert claims.get("sub") == sub
    assert claims["channels"] == channels
    assert claims["aud"] == "maestro-websocket-client" and claims["iss"] == "maestro-server"
    assert 0 < claims["exp"] - claims["iat"] <= 600
    assert datetime.fromisoformat(body["expires_at"]).timestamp() == claims["exp"]
    return claims


# --- GET /live/ticket (session cookie) -------------------------------------------------------------


def test_without_login_the_page_ticket_is_401_json(client, graph):
    for path in ("/live/ticket", f"/live/ticket?graph={graph.public_id}"):
        response = client.get(path)
        assert response.status_code == 401
        assert response.json["error"] == "unauthorized"


def test_owner_gets_their_user_channel_and_the_graph_channel(app, auth, client, owner, graph):
    auth.login(owner.email)
    response = client.get(f"/live/ticket?graph={graph.public_id}")
    assert_ticket(app, response, owner.public_id, [f"user:{owner.public_id}", f"graph:{graph.public_id}"])


def test_without_a_graph_the_ticket_lists_only_the_user_channel(app, auth, client, owner, graph):
    auth.login(owner.email)
    assert_ticket(app, client.get("/live/ticket"), owner.public_id, [f"user:{owner.public_id}"])


def test_a_reader_gets_the_graph_channel_too(app, auth, client, reader, graph):
    auth.login(reader.email)
    response = client.get(f"/live/ticket?graph={graph.public_id}")
    assert_ticket(app, response, reader.public_id, [f"user:{reader.public_id}", f"graph:{graph.public_id}"])


def test_no_read_role_or_unknown_graph_is_404_and_no_ticket(auth, client, stranger, graph):
    auth.login(stranger.email)
    for graph_id in (graph.public_id, "no-such-graph", "x" * 500):
        response = client.get(f"/live/ticket?graph={graph_id}")
        assert response.status_code == 404
        assert "ticket" not in response.json and response.json["error"] == "not_found"


def test_losing_read_loses_the_graph_ticket(app, auth, client, owner, reader, graph):
    auth.login(reader.email)
    assert client.get(f"/live/ticket?graph={graph.public_id}").status_code == 200
    from maestro_web.extensions import db
    from maestro_web.graphs.services import remove_role
    from maestro_web.models import Graph

    with app.app_context():
        remove_role(Graph.get_by_public_id(graph.public_id), reader.public_id)
        db.session.commit()
    assert client.get(f"/live/ticket?graph={graph.public_id}").status_code == 404


def test_after_logout_the_page_ticket_is_401(auth, client, owner, graph):
    auth.login(owner.email)
    assert client.get("/live/ticket").status_code == 200
    auth.logout()
    assert client.get("/live/ticket").status_code == 401


def test_a_ticket_is_not_a_session_token(app, auth, client, owner, graph):
    auth.login(owner.email)
    ticket = client.get("/live/ticket").json["ticket"]
    assert app.test_client().get("/api/me", headers={"Authorization": f"JWT {ticket}"}).status_code == 401
    # ...and a session token is not a ticket.
    headers = api_headers(app.test_client(), owner)
    with pytest.raises(TicketError):
        verify_ticket(headers["Authorization"].split()[1], app.config["KEY_RINGS"]["session"])


# --- POST /api/live/ticket (API token) ---------------------------------------------------------------


def test_api_ticket_needs_a_token(client, graph):
    response = client.post("/api/live/ticket", json={"graph": graph.public_id})
    assert response.status_code == 401 and response.json["error"] == "unauthorized"


def test_api_ticket_with_a_cookie_session_only_is_401(auth, client, owner, graph):
    auth.login(owner.email)
    assert client.post("/api/live/ticket", json={"graph": graph.public_id}).status_code == 401


def test_api_ticket_lists_user_and_graph_channels(app, client, owner, graph):
    headers = api_headers(client, owner)
    response = client.post("/api/live/ticket", json={"graph": graph.public_id}, headers=headers)
    assert_ticket(app, response, owner.public_id, [f"user:{owner.public_id}", f"graph:{graph.public_id}"])
    response = client.post("/api/live/ticket", headers=headers)
    assert_ticket(app, response, owner.public_id, [f"user:{owner.public_id}"])


def test_api_ticket_for_a_graph_without_read_is_404(client, stranger, graph):
    headers = api_headers(client, stranger)
    response = client.post("/api/live/ticket", json={"graph": graph.public_id}, headers=headers)
    assert response.status_code == 404 and "ticket" not in response.json


@pytest.mark.parametrize(
    "body, status",
    [
        ({"graph": 12}, 422),
        ({"graph": ""}, 422),
        ({"graph": "x" * 65}, 422),
        ({"graph": ["a"]}, 422),
    ],
)
def test_api_ticket_bad_graph_names_the_field(client, owner, graph, body, status):
    response = client.post("/api/live/ticket", json=body, headers=api_headers(client, owner))
    assert response.status_code == status
    assert "graph" in response.json["fields"]


def test_api_ticket_body_must_be_an_object(client, owner, graph):
    headers = {**api_headers(client, owner), "Content-Type": "application/json"}
    response = client.post("/api/live/ticket", data="[1, 2]", headers=headers)
    assert response.status_code in (400, 422)
    assert response.json["error"] in ("bad_request", "validation_error")


# --- a share visitor's ticket ------------------------------------------------------------------------


def page_ticket(page_html: str) -> dict[str, str]:
    values = {}
    for name in ("ticket", "url", "channels", "expires", "ticket-url", "refresh-url"):
        match = re.search(rf'data-live-{name}="([^"]*)"', page_html)
        assert match, f"no data-live-{name} on the page"
        values[name] = html.unescape(match.group(1))
    return values


def test_public_page_carries_a_ticket_for_its_link_channel_only(app, owner, graph):
    made = make_link(app, graph, owner)
    response = app.test_client().get(made.path)
    assert response.status_code == 200
    values = page_ticket(response.get_data(as_text=True))
    claims = verify_ticket(values["ticket"], app.config["KEY_RINGS"]["session"])
    assert claims["channels"] == [f"share:{made.id}"] and values["channels"] == f"share:{made.id}"
    assert "sub" not in claims
    assert claims["exp"] - claims["iat"] <= 600
    assert values["url"] == app.config["MAESTRO_LIVE_URL"]
    # The page may reach the live server, and nothing else beyond itself.
    live_origin = app.config["MAESTRO_LIVE_URL"].rsplit("/", 1)[0]
    assert f"connect-src 'self' {live_origin}" in response.headers["Content-Security-Policy"]


def test_visitor_renews_the_ticket_with_the_share_token_without_counting_a_view(app, owner, graph):
    made = make_link(app, graph, owner)
    visitor = app.test_client()
    values = page_ticket(visitor.get(made.path).get_data(as_text=True))
    views = link_row(app, made.id).view_count
    response = visitor.get(values["ticket-url"])
    assert_ticket(app, response, None, [f"share:{made.id}"])
    page = visitor.get(values["refresh-url"])
    assert page.status_code == 200 and "Checkout" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert link_row(app, made.id).view_count == views  # neither counts as a view


def test_a_paused_link_still_gets_tickets_and_a_revoked_one_none(app, auth, client, owner, graph):
    """A paused page keeps listening (so it comes back when the link is resumed); its redraw is refused."""
    made = make_link(app, graph, owner)
    ticket_url = page_ticket(app.test_client().get(made.path).get_data(as_text=True))["ticket-url"]
    refresh_url = page_ticket(app.test_client().get(made.path).get_data(as_text=True))["refresh-url"]
    auth.login(owner.email)
    base = f"/graphs/{graph.public_id}/shares/{made.id}"
    client.post(f"{base}/pause", data=auth.form_values(base))
    assert link_row(app, made.id).paused_at is not None
    assert app.test_client().get(ticket_url).status_code == 200
    refused = app.test_client().get(refresh_url)
    assert refused.status_code == 403 and "Temporarily unavailable" in refused.get_data(as_text=True)
    client.post(f"{base}/revoke", data=auth.form_values(base))
    assert app.test_client().get(ticket_url).status_code == 410
    assert "This link was revoked" in app.test_client().get(refresh_url).get_data(as_text=True)


def test_renewal_with_a_bad_token_reveals_nothing(app, owner, graph):
    make_link(app, graph, owner)
    response = app.test_client().get(f"/analytics/graphs/public/{graph.public_id}/ticket?token=not-a-token")
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "data-live-ticket" not in body and '"ticket"' not in body


def test_app_pages_allow_connections_to_the_live_server(app, auth, client, owner, graph):
    auth.login(owner.email)
    response = client.get(f"/graphs/{graph.public_id}")
    live_origin = app.config["MAESTRO_LIVE_URL"].rsplit("/", 1)[0]
    assert f"connect-src 'self' {live_origin}" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    assert 'data-live-ticket-url="/live/ticket?graph=' in page and "Live updates off" in page
    assert "<script>" not in page  # no inline script: live.js is a file
