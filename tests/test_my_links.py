"""My shared links and GET /api/shares (SPEC §10 "The user's links"): search by label
and graph name, status filter defaulting to active + paused, sort by expiry / last view, pages, and
bad parameters answered 400 naming the parameter."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import api_headers
from share_support import make_link
from sqlalchemy import update

from maestro_web.extensions import db
from maestro_web.models import Role, ShareLink
from maestro_web.models.base import utcnow


@pytest.fixture
def links(app, client, auth, make_user, make_graph):
    """me's links in every state on two graphs, plus links that must never show: another user's link
    on my graph, and my link on a deleted graph."""
    me = make_user(email="me@example.com", name="Me")
    other = make_user(email="other@example.com", name="Other")
    payments = make_graph(me, name="Payments platform", grants={other: Role.WRITE})
    search = make_graph(me, name="Search cluster")
    gone = make_graph(me, name="Deleted graph")
    made = {
        "active": make_link(app, payments, me, label="For the board", lifetime=timedelta(days=20)),
        "soon": make_link(app, search, me, label="Sales team", lifetime=timedelta(hours=5, minutes=30)),
        "paused": make_link(app, payments, me, label="Paused partner link", lifetime=timedelta(days=3)),
        "expired": make_link(app, search, me, label="Old expired link", lifetime=timedelta(days=1)),
        "revoked": make_link(app, payments, me, label="Revoked one", lifetime=timedelta(days=2)),
        "used": make_link(app, search, me, label="Used up once", lifetime=timedelta(days=4), max_views=1),
        "theirs": make_link(app, payments, other, label="Their board link", lifetime=timedelta(days=5)),
        "deleted": make_link(app, gone, me, label="On a deleted graph", lifetime=timedelta(days=6)),
    }
    now = utcnow()
    with app.app_context():

        def set_(key, **values):
            db.session.execute(update(ShareLink).where(ShareLink.public_id == made[key].id).values(**values))

        set_("paused", paused_at=now)
        set_("expired", expires_at=now - timedelta(hours=1))
        set_("revoked", revoked_at=now)
        set_("used", view_count=1, last_viewed_at=now - timedelta(hours=3))
        set_("active", view_count=4, last_viewed_at=now - timedelta(minutes=5))
        set_("soon", view_count=2, last_viewed_at=now - timedelta(days=2))
        from maestro_web.models import Graph

        db.session.execute(update(Graph).where(Graph.public_id == gone.public_id).values(deleted_at=now))
        db.session.commit()
    auth.login("me@example.com")
    return {"made": made, "headers": api_headers(client, me)}


def labels(client, links, query: str = "") -> list[str]:
    response = client.get("/api/shares" + query, headers=links["headers"])
    assert response.status_code == 200, response.text
    return [item["label"] for item in response.json["items"]]


def test_default_is_my_active_and_paused_links_newest_first(client, links):
    body = client.get("/api/shares", headers=links["headers"]).json
    assert [i["label"] for i in body["items"]] == ["Paused partner link", "Sales team", "For the board"]
    assert {i["status"] for i in body["items"]} == {"active", "paused"}
    assert (body["total"], body["page"], body["per_page"], body["total_exact"]) == (3, 1, 20, True)
    assert body["items"][0]["graph_id"] and body["items"][0]["url"]


def test_status_filter(client, links):
    assert labels(client, links, "?status=expired") == ["Old expired link"]
    assert labels(client, links, "?status=revoked") == ["Revoked one"]
    assert labels(client, links, "?status=used_up") == ["Used up once"]
    assert labels(client, links, "?status=paused") == ["Paused partner link"]
    assert labels(client, links, "?status=active,revoked") == ["Revoked one", "Sales team", "For the board"]
    everything = labels(client, links, "?status=all")
    assert len(everything) == 6 and "Their board link" not in everything and "On a deleted graph" not in everything


def test_search_by_label_and_by_graph_name(client, links):
    assert labels(client, links, "?q=BOARD") == ["For the board"]  # label, any case; never another's link
    assert labels(client, links, "?q=search%20cluster&status=all") == ["Used up once", "Old expired link", "Sales team"]
    assert labels(client, links, "?q=100%25") == []  # % is a character, not a wildcard
    assert labels(client, links, "?q=_") == []


def test_sort_by_expiry_and_by_last_view(client, links):
    assert labels(client, links, "?sort=expires") == ["Sales team", "Paused partner link", "For the board"]
    assert labels(client, links, "?sort=last_view&status=all")[:3] == ["For the board", "Used up once", "Sales team"]


def test_pages(client, links):
    first = client.get("/api/shares?status=all&per_page=4", headers=links["headers"]).json
    second = client.get("/api/shares?status=all&per_page=4&page=2", headers=links["headers"]).json
    assert (first["total"], len(first["items"]), len(second["items"])) == (6, 4, 2)
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}
    assert client.get("/api/shares?page=9", headers=links["headers"]).json["items"] == []


@pytest.mark.parametrize(
    "query, field",
    [
        ("?status=gone", "status"),
        ("?status=,", "status"),
        ("?sort=views", "sort"),
        ("?page=0", "page"),
        ("?page=x", "page"),
        ("?page=99999999999999999999", "page"),
        ("?per_page=101", "per_page"),
        ("?per_page=-1", "per_page"),
        ("?q=" + "x" * 201, "q"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(client, links, query, field):
    response = client.get("/api/shares" + query, headers=links["headers"])
    assert response.status_code == 400
    assert field in response.json["fields"]
    page = client.get("/shares" + query)
    assert page.status_code == 400
    assert field in page.get_data(as_text=True)


def test_api_needs_a_token(client, links):
    assert client.get("/api/shares").status_code == 401


def test_page_filters_and_pages(client, links):
    html = client.get("/shares").get_data(as_text=True)
    assert "For the board" in html and "Paused partner link" in html and "Old expired link" not in html
    assert "Their board link" not in html and "On a deleted graph" not in html
    assert "3 links" in html and re.search(
        r'class="badge badge-soon">expires <time [^>]+>in 5 hours</time>', html
    )  # about to end
    html = client.get("/shares?status=all&q=payments").get_data(as_text=True)
    assert "Revoked one" in html and "Sales team" not in html
    assert 'value="all" selected' in html
    html = client.get("/shares?status=all&per_page=2").get_data(as_text=True)
    assert "Page 1 of 3" in html and 'rel="next"' in html and "status=all" in html
    html = client.get("/shares?status=expired&q=nothing-like-this").get_data(as_text=True)
    assert "No link matches these filters." in html


def post_bulk(auth, client, action: str, ids: list[str], confirmed: bool, **extra: str):
    values = auth.form_values("/shares")
    data = {**values, "action": action, "link": ids, **extra}
    if confirmed:
        data["confirmed"] = "1"
    return client.post("/shares/bulk", data=data)


def status_of(app, link_id: str) -> str:
    with app.app_context():
        return ShareLink.get_by_public_id(link_id).status()


def test_bulk_pause_asks_first_then_pauses_only_my_links(app, auth, client, links):
    made = links["made"]
    ids = [made["active"].id, made["soon"].id, made["theirs"].id]
    page = post_bulk(auth, client, "pause", ids, confirmed=False)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert (
        "Pause 2 links?" in html
        and "see “Temporarily unavailable” until you resume" in html
        and "Their board link" not in html
    )
    assert status_of(app, made["active"].id) == "active"  # nothing changed before the confirmation
    done = post_bulk(auth, client, "pause", ids, confirmed=True)
    assert done.status_code == 302
    assert [status_of(app, made[k].id) for k in ("active", "soon", "theirs")] == ["paused", "paused", "active"]
    post_bulk(auth, client, "resume", ids, confirmed=True)
    assert [status_of(app, made[k].id) for k in ("active", "soon")] == ["active", "active"]


def test_bulk_extend_adds_the_chosen_time_and_never_revives_a_revoked_link(app, auth, client, links):
    made = links["made"]
    with app.app_context():
        before = ShareLink.get_by_public_id(made["soon"].id).expires_at
    page = post_bulk(auth, client, "extend", [made["soon"].id, made["revoked"].id], confirmed=False, by="1d")
    assert "1 day longer" in page.get_data(as_text=True)
    response = post_bulk(auth, client, "extend", [made["soon"].id, made["revoked"].id], confirmed=True, by="1d")
    assert response.status_code == 302
    with app.app_context():
        after = ShareLink.get_by_public_id(made["soon"].id).expires_at
    assert abs((after - before) - timedelta(days=1)) < timedelta(seconds=5)
    assert status_of(app, made["revoked"].id) == "revoked"
    assert "Extended 1 link. 1 left as they were" in client.get("/shares").get_data(as_text=True)


def test_bulk_revoke_says_how_often_they_were_opened(app, auth, client, links):
    made = links["made"]
    ids = [made["active"].id, made["soon"].id]
    html = post_bulk(auth, client, "revoke", ids, confirmed=False).get_data(as_text=True)
    assert "Revoke 2 links?" in html and "opened 6 times" in html and "stop working immediately" in html
    post_bulk(auth, client, "revoke", ids, confirmed=True)
    assert [status_of(app, i) for i in ids] == ["revoked", "revoked"]


@pytest.mark.parametrize("extra, field", [({"action": "delete"}, "action"), ({"action": "extend", "by": "9y"}, "by")])
def test_bulk_bad_input_is_400_naming_the_field(auth, client, links, extra, field):
    values = auth.form_values("/shares")
    response = client.post("/shares/bulk", data={**values, "link": [links["made"]["active"].id], **extra})
    assert response.status_code == 400 and field in response.get_data(as_text=True)


def test_bulk_needs_csrf_and_a_selection(auth, client, links):
    assert (
        client.post("/shares/bulk", data={"action": "pause", "link": [links["made"]["active"].id]}).status_code == 400
    )  # no CSRF value
    response = post_bulk(auth, client, "pause", [], confirmed=True)
    assert response.status_code == 302
    assert "Select the links first." in client.get("/shares").get_data(as_text=True)


@pytest.mark.browser
def test_select_all_then_bulk_pause_in_the_browser(app, browser, live_server, make_user, make_graph):
    from playwright.sync_api import expect

    base = live_server.url
    me = make_user(email="me@example.com", name="Me")
    graph = make_graph(me, name="Checkout")
    for label in ("One", "Two", "Three"):
        make_link(app, graph, me, label=label)
    page = browser.new_context().new_page()
    page.goto(f"{base}/auth/login")
    page.fill("#email", "me@example.com")
    page.fill("#password", "correct horse battery")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/graphs/")
    page.goto(f"{base}/shares")
    boxes = page.locator("input[type=checkbox][name=link]")
    expect(boxes).to_have_count(3)
    select_all = page.get_by_label("Select all links on this page")  # the table's header; a phone has its own
    phone_select_all = page.get_by_label("Select all", exact=True)
    select_all.check()
    for i in range(3):
        expect(boxes.nth(i)).to_be_checked()
    expect(phone_select_all).to_be_checked()
    boxes.nth(0).uncheck()
    for either in (select_all, phone_select_all):
        expect(either).not_to_be_checked()
        expect(either).to_have_js_property("indeterminate", True)
    page.click("main button[value=pause]")
    expect(page.locator("h1")).to_have_text("Pause 2 links?")
    page.click("main button:has-text('Pause 2 links')")
    expect(page.locator("main")).to_contain_text("Paused 2 links.")
    page.select_option("select[name=status]", "paused")
    page.click("main form.filters button[type=submit]")
    expect(page.locator("tr[data-link]")).to_have_count(2)
    expect(page.locator("main")).to_contain_text("2 links")
