"""Graph lists by keyset cursor with a bounded total: every graph exactly once, newest
first, the last page from the other end, "100+" past the cap, and bad cursors answered 400."""

from __future__ import annotations

import re

import pytest
from conftest import api_headers

from maestro_web.extensions import db
from maestro_web.graphs.services import COUNT_CAP
from maestro_web.models import Graph, GraphRole, Role, User


def add_graphs(app, owner, count: int, prefix: str = "G", status: str = "finished") -> None:
    """`count` graphs owned by `owner`, in one transaction (the factory's one-by-one runs are slow)."""
    with app.app_context():
        user = db.session.get(User, owner.id)
        for i in range(count):
            graph = Graph(
                owner=user, name=f"{prefix}{i:03d}", type="infra", description="", spec="", info={}, status=status
            )
            graph.roles.append(GraphRole(user=user, role=int(Role.ADMIN)))
            db.session.add(graph)
            db.session.flush()
        db.session.commit()


@pytest.fixture
def me(app, client, make_user):
    return make_user(email="me@example.com", name="Me")


def walk(client, headers, query: str = "") -> list[list[str]]:
    pages, url = [], "/api/graphs?per_page=7" + query
    while url:
        body = client.get(url, headers=headers).json
        pages.append([item["name"] for item in body["items"]])
        url = f"/api/graphs?per_page=7&cursor={body['next']}{query}" if body["next"] else None
        assert len(pages) < 20
    return pages


def test_cursors_walk_every_graph_once_newest_first_and_back(app, client, me):
    add_graphs(app, me, 23)
    headers = api_headers(client, me)
    pages = walk(client, headers)
    names = [name for page in pages for name in page]
    assert names == [f"G{i:03d}" for i in range(22, -1, -1)]
    assert [len(page) for page in pages] == [7, 7, 7, 2]
    second = client.get("/api/graphs?per_page=7", headers=headers).json["next"]
    body = client.get(f"/api/graphs?per_page=7&cursor={second}", headers=headers).json
    assert body["page"] == 2 and body["prev"]
    back = client.get(f"/api/graphs?per_page=7&cursor={body['prev']}", headers=headers).json
    assert [g["name"] for g in back["items"]] == pages[0] and back["page"] == 1 and back["prev"] is None
    last = client.get(f"/api/graphs?per_page=7&cursor={body['last']}", headers=headers).json
    assert [g["name"] for g in last["items"]] == [f"G{i:03d}" for i in range(6, -1, -1)]
    assert last["next"] is None and last["page"] == 4 and last["total"] == 23 and last["total_exact"] is True


def test_cursor_keeps_the_filters(app, client, me):
    add_graphs(app, me, 10, prefix="Fin", status="finished")
    add_graphs(app, me, 10, prefix="Err", status="error")
    headers = api_headers(client, me)
    names = [n for page in walk(client, headers, "&status=error") for n in page]
    assert names == [f"Err{i:03d}" for i in range(9, -1, -1)]
    names = [n for page in walk(client, headers, "&q=fin00") for n in page]
    assert names == [f"Fin{i:03d}" for i in range(9, -1, -1)]


def test_total_stops_at_the_cap(app, client, auth, me):
    add_graphs(app, me, COUNT_CAP + 5)
    body = client.get("/api/graphs", headers=api_headers(client, me)).json
    assert (body["total"], body["total_exact"]) == (COUNT_CAP, False)
    auth.login("me@example.com")
    html = client.get("/graphs/").text
    assert f"{COUNT_CAP}+ graphs" in html and 'rel="last"' in html
    oldest = re.search(r'rel="last" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    last = client.get(oldest).text
    assert "G000" in last and "G104" not in last and 'rel="next"' not in last


@pytest.mark.parametrize(
    "query", ["?cursor=nonsense", "?cursor=" + "A" * 80, "?cursor=eC4xLjE", "?page=2&cursor=bC4wLjE"]
)
def test_bad_cursor_is_400_naming_it(client, auth, me, query):
    response = client.get("/api/graphs" + query, headers=api_headers(client, me))
    assert response.status_code == 400 and "cursor" in response.json["fields"]
    if "page=" not in query:
        auth.login("me@example.com")
        page = client.get("/graphs/" + query)
        assert page.status_code == 400 and "cursor" in page.text
