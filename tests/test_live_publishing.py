"""The app publishes live events after the commit, never for a rolled-back change (SPEC §8).

The tests share one real live server process (tests/live_support.py), whose keys every app of the
module uses, and listen the way a browser does: a WebSocket with a ticket, subscribed to the
channels it names (of the test's own graphs and users, so no test hears another's events).
"""

from __future__ import annotations

import pytest
import requests
from conftest import api_headers
from live_support import LiveClient, LiveProcess, free_port
from share_support import SVG, draw, link_row, make_link
from worker_support import post_result

from maestro_web import live_events
from maestro_web.extensions import db
from maestro_web.graphs.services import GraphChanges, update_graph
from maestro_web.models import Graph, Role
from maestro_web.models.share_rules import STATE_REASONS
from maestro_web.security.live_tickets import issue_ticket

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def graph(app, owner, reader, make_graph):
    """Not drawn yet (conftest's graph is): the tests announce its runs and results themselves."""
    return make_graph(owner, name="Checkout", spec="web -> api", grants={reader: Role.READ})


def listen(app, live: LiveProcess, channels: list[str], sub: str | None = None) -> LiveClient:
    """A client subscribed to `channels`. What the app committed before (e.g. the graph fixture's
    first run.queued, sent by the publisher's thread) is delivered first, so the client never hears it."""
    publisher = app.extensions.get(live_events.EXTENSION)
    if publisher is not None:
        assert publisher.flush(5)
    ticket, _ = issue_ticket(app.config["KEY_RINGS"]["session"], sub=sub, channels=channels)
    client = LiveClient(live.ws_url)
    assert client.hello(ticket)["type"] == "welcome"
    for channel in channels:
        assert client.subscribe(channel) == {"type": "subscribed", "channel": channel}
    return client


def next_event(client: LiveClient, timeout: float = 10.0) -> dict:
    frame = client.recv(timeout)
    assert frame["type"] == "event", frame
    return frame


def current_run_id(app, graph_id: str) -> str:
    with app.app_context():
        return Graph.get_by_public_id(graph_id).current_run().public_id


# --- after commit, never on rollback ---------------------------------------------------------------


def test_a_changed_spec_is_announced_only_once_committed(app, live, graph):
    with listen(app, live, [f"graph:{graph.public_id}"]) as client, app.app_context():
        stored = Graph.get_by_public_id(graph.public_id)
        assert update_graph(stored, GraphChanges(name="Checkout", type="infra", description="", spec="web -> db"))
        db.session.flush()  # the new run exists in this transaction...
        with pytest.raises(TimeoutError):
            client.recv(timeout=1.0)  # ...and nobody has heard of it
        db.session.commit()
        frame = next_event(client)
        assert frame["event"] == "run.queued"
        assert frame["data"]["run_id"] == Graph.get_by_public_id(graph.public_id).current_run().public_id
        assert frame["data"]["queued_at"]


def test_a_rolled_back_change_is_never_announced(app, live, graph):
    with listen(app, live, [f"graph:{graph.public_id}"]) as client, app.app_context():
        stored = Graph.get_by_public_id(graph.public_id)
        rolled_back = stored.queue_run()
        db.session.flush()
        rolled_back_id = rolled_back.public_id
        db.session.rollback()
        # A committed run afterwards: the first event heard must be this one, not the rolled-back one.
        Graph.get_by_public_id(graph.public_id).queue_run()
        db.session.commit()
        kept_id = Graph.get_by_public_id(graph.public_id).current_run().public_id
        frame = next_event(client)
        assert frame["data"]["run_id"] == kept_id != rolled_back_id


def test_rerun_through_the_page_and_the_api_publishes_run_queued(app, auth, client, live, owner, graph):
    with listen(app, live, [f"graph:{graph.public_id}"]) as listener:
        auth.login(owner.email)
        page = f"/graphs/{graph.public_id}"
        assert client.post(f"{page}/rerun", data=auth.form_values(page)).status_code == 302
        assert next_event(listener)["data"]["run_id"] == current_run_id(app, graph.public_id)
        response = client.post(f"/api/graphs/{graph.public_id}/rerun", headers=api_headers(app.test_client(), owner))
        assert response.status_code == 202, response.get_data(as_text=True)
        assert next_event(listener)["data"]["run_id"] == current_run_id(app, graph.public_id)


def test_a_result_is_announced_to_readers_and_to_active_links_only(app, auth, client, live, owner, graph):
    active = make_link(app, graph, owner, label="active")
    paused = make_link(app, graph, owner, label="paused")
    used_up = make_link(app, graph, owner, label="used up", max_views=1)
    # Paused unannounced: announcing it would (rightly) refuse this second's tickets on its channel.
    publisher = app.extensions.pop(live_events.EXTENSION)
    with app.app_context():
        from maestro_web.models import ShareLink

        ShareLink.get_by_public_id(paused.id).pause()
        ShareLink.get_by_public_id(used_up.id).view_count = 1  # its one view is spent: no new views
        db.session.commit()
    app.extensions[live_events.EXTENSION] = publisher
    auth.login(owner.email)
    base = f"/graphs/{graph.public_id}/shares/{paused.id}"
    channels = [f"graph:{graph.public_id}", f"share:{active.id}", f"share:{paused.id}", f"share:{used_up.id}"]
    with listen(app, live, channels) as listener:
        run_id = current_run_id(app, graph.public_id)
        draw(app, graph.public_id)
        # The used-up link is told: it stops new views only, its open pages are the views it allowed.
        heard = [next_event(listener), next_event(listener), next_event(listener)]
        with pytest.raises(TimeoutError):  # the paused link is not
            listener.recv(timeout=1.0)
        by_channel = {frame["channel"]: frame for frame in heard}
        assert by_channel[f"share:{used_up.id}"]["event"] == "run.finished"
        finished = by_channel[f"graph:{graph.public_id}"]
        assert finished["event"] == "run.finished"
        assert finished["data"]["run_id"] == run_id and finished["data"]["status"] == "finished"
        assert finished["data"]["info"]["nodes"] == 2 and finished["data"]["drawn_at"]
        assert by_channel[f"share:{active.id}"]["event"] == "run.finished"
        assert by_channel[f"share:{active.id}"]["data"] == {"drawn_at": finished["data"]["drawn_at"]}
        # The paused link's channel heard nothing of it: its next event is the resume.
        client.post(f"{base}/resume", data=auth.form_values(base))
        frame = next_event(listener)
        assert frame["channel"] == f"share:{paused.id}" and frame["event"] == "share.changed"
        assert frame["data"] == {"status": "active"}


def test_a_failed_analysis_is_run_failed_with_its_message(app, live, graph):
    from maestro_web.security.worker_tokens import mint_worker_token

    ring = app.config["KEY_RINGS"]["analytics"]
    with listen(app, live, [f"graph:{graph.public_id}"]) as listener:
        worker = app.test_client()
        job = worker.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {mint_worker_token(ring)}"}).json
        response = post_result(
            worker, ring, graph.public_id, json={"run_id": job["run_id"], "status": "error", "msg": "cannot parse"}
        )
        assert response.status_code == 201
        frame = next_event(listener)
        assert frame["event"] == "run.failed" and frame["data"] == {"run_id": job["run_id"], "message": "cannot parse"}


def test_a_refused_ingest_publishes_nothing(app, live, graph):
    ring = app.config["KEY_RINGS"]["analytics"]
    with listen(app, live, [f"graph:{graph.public_id}"]) as listener:
        worker = app.test_client()
        response = post_result(
            worker, ring, graph.public_id, json={"run_id": "not-a-run", "status": "finished", "svg": SVG}
        )
        assert response.status_code == 409
        draw(app, graph.public_id)  # the next, accepted result is the first thing heard
        assert next_event(listener)["data"]["run_id"] == current_run_id(app, graph.public_id)


# --- shares -----------------------------------------------------------------------------------------


def test_a_counted_view_tells_the_creator(app, live, live_server, owner, graph):
    draw(app, graph.public_id)
    made = make_link(app, graph, owner)
    with listen(app, live, [f"user:{owner.public_id}"], sub=owner.public_id) as listener:
        assert requests.get(live_server.url + made.path, timeout=10).status_code == 200
        frame = next_event(listener)
        assert frame["event"] == "share.viewed"
        assert frame["data"]["link"] == made.id and frame["data"]["graph"] == graph.public_id
        assert frame["data"]["views"] == 1 and frame["data"]["last_viewed_at"]
        requests.get(live_server.url + made.path, timeout=10)
        assert next_event(listener)["data"]["views"] == 2 == link_row(app, made.id).view_count


def test_pausing_a_link_tells_owner_and_visitors_then_ends_the_visitors_subscription(
    app, auth, client, live, owner, graph
):
    made = make_link(app, graph, owner)
    with (
        listen(app, live, [f"user:{owner.public_id}"], sub=owner.public_id) as mine,
        listen(app, live, [f"share:{made.id}"]) as visitor,
    ):
        auth.login(owner.email)
        base = f"/graphs/{graph.public_id}/shares/{made.id}"
        assert client.post(f"{base}/pause", data=auth.form_values(base)).status_code == 302
        frame = next_event(mine)
        assert frame["event"] == "share.changed" and frame["data"] == {
            "link": made.id,
            "status": "paused",
            "reason": STATE_REASONS["paused"],
        }  # the badge's words come along
        frame = next_event(visitor)
        assert frame["event"] == "share.changed" and frame["data"] == {"status": "paused"}
        assert visitor.recv(10) == {"type": "unsubscribed", "channel": f"share:{made.id}", "reason": "access"}


def test_a_creator_losing_write_tells_every_owner_stopped_and_why_and_ends_the_visitors_pages(
    app, auth, client, live, owner, make_user, make_graph
):
    """The owners' open tables show "Stopped" with its reason from the event itself, without a
    reload; the visitors' pages hear it and their subscription ends; Write given back says Active again."""
    writer = make_user(email="writer@example.com", name="Writer")
    graph = make_graph(owner, name="Checkout", spec="web -> api", grants={writer: Role.WRITE})
    made = make_link(app, graph, writer)
    stopped = {"link": made.id, "status": "stopped", "reason": "Its creator no longer has Write on this graph."}
    page = f"/graphs/{graph.public_id}/access"
    auth.login(owner.email)
    with (
        listen(app, live, [f"user:{owner.public_id}"], sub=owner.public_id) as admin,
        listen(app, live, [f"user:{writer.public_id}"], sub=writer.public_id) as creator,
        listen(app, live, [f"share:{made.id}"]) as visitor,
    ):
        response = client.post(
            f"{page}/{writer.public_id}/role", data={**auth.form_values(page), "role": int(Role.READ)}
        )
        assert response.status_code == 302
        for listener in (admin, creator):  # Links of this graph (every writer's) and My shared links (the creator's)
            frame = next_event(listener)
            assert (frame["event"], frame["data"]) == ("share.changed", stopped)
        assert next_event(visitor)["data"] == {"status": "stopped"}
        assert visitor.recv(10) == {"type": "unsubscribed", "channel": f"share:{made.id}", "reason": "access"}

        response = client.post(
            f"{page}/{writer.public_id}/role", data={**auth.form_values(page), "role": int(Role.WRITE)}
        )
        assert response.status_code == 302
        back = {"link": made.id, "status": "active", "reason": STATE_REASONS["active"]}
        for listener in (admin, creator):
            assert next_event(listener)["data"] == back


def test_a_new_passcode_refreshes_the_visitors_pages_and_ends_their_subscription(app, auth, client, live, owner, graph):
    made = make_link(app, graph, owner)
    with listen(app, live, [f"share:{made.id}"]) as visitor:
        auth.login(owner.email)
        base = f"/graphs/{graph.public_id}/shares/{made.id}"
        response = client.post(f"{base}/passcode", data={**auth.form_values(base), "passcode": "open sesame 42"})
        assert response.status_code == 302
        frame = next_event(visitor)
        assert frame["event"] == "share.changed" and frame["data"] == {"status": "active"}
        assert visitor.recv(10) == {"type": "unsubscribed", "channel": f"share:{made.id}", "reason": "access"}


def test_revoke_all_announces_every_link(app, auth, client, live, owner, graph):
    links = [make_link(app, graph, owner, label=f"l{i}") for i in range(2)]
    with listen(app, live, [f"share:{link.id}" for link in links]) as visitor:
        auth.login(owner.email)
        page = f"/graphs/{graph.public_id}/shares"
        assert client.post(f"{page}/revoke-all", data=auth.form_values(page)).status_code == 302
        heard = [visitor.recv(10) for _ in range(4)]
        for link in links:
            channel = f"share:{link.id}"
            assert {"type": "event", "channel": channel, "event": "share.changed", "data": {"status": "revoked"}} in [
                {k: f.get(k) for k in ("type", "channel", "event", "data")} for f in heard
            ]
            assert {"type": "unsubscribed", "channel": channel, "reason": "access"} in heard


# --- access changes end subscriptions ----------------------------------------------------------------


def test_logout_ends_the_users_live_connections(app, auth, client, live, owner, graph):
    with listen(app, live, [f"user:{owner.public_id}"], sub=owner.public_id) as listener:
        auth.login(owner.email)
        auth.logout()
        assert listener.close_code(timeout=10) == 4403


def test_logging_out_another_session_from_the_account_page_ends_the_users_live_connections(
    app, auth, client, live, owner, graph
):
    import re

    from conftest import AuthActions

    other = app.test_client()
    assert AuthActions(other).login(owner.email).status_code == 302
    auth.login(owner.email)
    sessions = re.findall(r'data-session="([^"]+)"', client.get("/account").text)
    assert len(sessions) == 2
    with listen(app, live, [f"user:{owner.public_id}"], sub=owner.public_id) as listener:
        response = client.post(f"/account/sessions/{sessions[1]}/logout", data=auth.form_values("/account"))
        assert response.status_code == 302
        assert listener.close_code(timeout=10) == 4403
    assert other.get("/account").status_code == 302


def test_a_password_change_ends_the_users_live_connections(app, auth, client, live, owner, graph):
    from conftest import PASSWORD

    with listen(app, live, [f"user:{owner.public_id}"], sub=owner.public_id) as listener:
        auth.login(owner.email)
        values = auth.form_values("/account")
        response = client.post(
            "/account/password",
            data={
                **values,
                "current_password": PASSWORD,
                "new_password": "another good password",
                "confirm": "another good password",
            },
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        assert listener.close_code(timeout=10) == 4403


def test_removing_a_role_ends_that_users_graph_subscription(app, auth, client, live, owner, reader, graph):
    with listen(app, live, [f"graph:{graph.public_id}", f"user:{reader.public_id}"], sub=reader.public_id) as listener:
        auth.login(owner.email)
        page = f"/graphs/{graph.public_id}/access"
        response = client.post(f"{page}/{reader.public_id}/remove", data=auth.form_values(page))
        assert response.status_code == 302
        assert listener.recv(10) == {"type": "unsubscribed", "channel": f"graph:{graph.public_id}", "reason": "access"}
        # Still connected, still on its own channel; the graph's events no longer reach it.
        assert listener.subscribe(f"graph:{graph.public_id}")["code"] == 403


# --- a live server that is down costs nothing ----------------------------------------------------------


def test_without_a_live_server_every_request_still_succeeds(app, auth, client, owner, graph, caplog):
    app.config.update(MAESTRO_LIVE_PUBLISH=True, MAESTRO_LIVE_PUBLISH_URL=f"http://127.0.0.1:{free_port()}/publish")
    live_events.init_app(app)
    auth.login(owner.email)
    page = f"/graphs/{graph.public_id}"
    assert client.post(f"{page}/rerun", data=auth.form_values(page)).status_code == 302
    draw(app, graph.public_id)
    with app.app_context():
        assert Graph.get_by_public_id(graph.public_id).status == "finished"
    made = make_link(app, graph, owner)
    assert app.test_client().get(made.path).status_code == 200
    assert link_row(app, made.id).view_count == 1
    assert app.extensions[live_events.EXTENSION].flush(10)  # every event was tried, and dropped
    dropped = [r.getMessage() for r in caplog.records if r.name == "maestro_web.live_publish"]
    assert dropped and all("failed" in line for line in dropped)
    assert "eyJ" not in caplog.text  # neither the socket token nor any other token in a log line


def test_deleting_a_graph_ends_its_graph_and_link_subscriptions(app, auth, client, live, owner, graph):
    made = make_link(app, graph, owner)
    with listen(app, live, [f"graph:{graph.public_id}", f"share:{made.id}"]) as listener:
        auth.login(owner.email)
        page = f"/graphs/{graph.public_id}/delete"
        assert client.post(page, data={**auth.form_values(page), "confirm_name": graph.name}).status_code == 302
        heard = [listener.recv(10) for _ in range(3)]
        assert {"type": "unsubscribed", "channel": f"graph:{graph.public_id}", "reason": "access"} in heard
        assert {"type": "unsubscribed", "channel": f"share:{made.id}", "reason": "access"} in heard
        changed = [f for f in heard if f["type"] == "event"]
        assert [(f["channel"], f["event"], f["data"]) for f in changed] == [
            (f"share:{made.id}", "share.changed", {"status": "revoked"})
        ]


def test_a_password_reset_ends_the_users_live_connections(app, live, owner, graph):
    from test_password_reset import open_link, step1_for, submit_new_password

    with listen(app, live, [f"user:{owner.public_id}"], sub=owner.public_id) as listener:
        browser = app.test_client()
        page = open_link(browser, token=step1_for(app, owner))
        assert submit_new_password(browser, page.get_data(as_text=True)).status_code == 302
        assert listener.close_code(timeout=10) == 4403
