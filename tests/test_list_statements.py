"""Every list runs the same number of SQL statements whatever its length: no query per item.

Each list is read once with 3 items and once with 30 (20 on the graph page, its page size); the
statements are counted with a `before_cursor_execute` listener on the real engine.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import api_headers
from share_support import make_link
from sqlalchemy import event

from maestro_web.extensions import db
from maestro_web.models import Role


def count_statements(app, client, path: str, headers: dict[str, str] | None = None) -> int:
    client.get(path, headers=headers)  # first use of the route: anything cached once is out of the count
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        response = client.get(path, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return len(seen)


@pytest.fixture
def world(app, client, auth, make_user, make_graph):
    """ "me" with graphs of their own and graphs shared by others (other owners), and links on them by
    several creators; `grow(n)` adds graphs and links until each list has `n` items."""
    me = make_user(email="me@example.com", name="Me")
    others = [make_user(email=f"other{i}@example.com", name=f"Other {i}") for i in range(3)]
    home = make_graph(me, name="Home graph", grants={other: Role.WRITE for other in others})
    state = {"graphs": 1, "links": 0}

    def grow(n: int) -> None:
        while state["graphs"] < n:
            owner = others[state["graphs"] % 3] if state["graphs"] % 2 else me
            graph = make_graph(
                owner, name=f"Graph {state['graphs']}", grants={me: Role.WRITE} if owner is not me else None
            )
            make_link(app, graph, me, label=f"mine {state['graphs']}")
            state["graphs"] += 1
        while state["links"] < n:
            make_link(
                app, home, others[state["links"] % 3] if state["links"] % 2 else me, label=f"home {state['links']}"
            )
            state["links"] += 1

    auth.login("me@example.com")
    return {"me": me, "home": home, "grow": grow, "headers": api_headers(client, me)}


LISTS = (
    ("graph list page", "/graphs/", False),
    ("graph list page, status filter", "/graphs/?status=process", False),
    ("graph list page, search", "/graphs/?q=graph", False),
    ("API graph list", "/api/graphs?per_page=50", True),
    ("API graph list, search", "/api/graphs?per_page=50&q=graph", True),
    ("My shared links page", "/shares?status=all", False),
    ("API my links", "/api/shares?status=all&per_page=50", True),
    ("API my links, search and sort", "/api/shares?q=e&sort=last_view&per_page=50", True),
    ("shares of a graph page", "/graphs/{home}/shares", False),
    ("API shares of a graph", "/api/graphs/{home}/shares", True),
)


def test_every_list_runs_as_many_statements_for_30_items_as_for_3(app, client, world):
    def counts() -> dict[str, int]:
        return {
            name: count_statements(
                app, client, path.format(home=world["home"].public_id), world["headers"] if api else None
            )
            for name, path, api in LISTS
        }

    world["grow"](3)
    small = counts()
    world["grow"](30)
    large = counts()
    assert large == small
    # and the counts are small: the user's session, a bounded count and one query for the page
    assert max(small.values()) <= 8, small


def test_the_lists_really_grew(app, client, world):
    """The statement test above compares lists of different lengths, not two empty ones."""
    world["grow"](30)
    headers = world["headers"]
    assert len(client.get("/api/graphs?per_page=50", headers=headers).json["items"]) == 30
    assert (
        len(client.get("/api/shares?status=all&per_page=50", headers=headers).json["items"]) == 29 + 15
    )  # a link on each other graph, and every other one on the home graph
    assert len(client.get(f"/api/graphs/{world['home'].public_id}/shares", headers=headers).json["items"]) == 30
    assert client.get("/graphs/").text.count("<tr>") - 1 == 20  # one page of the graph list
