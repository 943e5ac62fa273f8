"""Confirmations: revoke one link, revoke all links of a graph, remove someone's access.
Without JavaScript the button opens a GET confirm page saying what will happen with the real numbers;
the page's form POSTs to the action. The destructive POST itself stays the action (what the API and
scripts use; CSRF as every form): the <dialog> and the confirm page stand in front of it."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import pytest
from share_support import draw, link_row, make_link
from sqlalchemy import select

from maestro_web.extensions import db
from maestro_web.models import GraphRole, Role, ShareLink


@pytest.fixture
def ana(make_user):
    return make_user(email="ana@example.com", name="Ana")


@pytest.fixture
def graph(app, owner, ana, make_graph):
    graph = make_graph(owner, name="Checkout", spec="web -> api", grants={ana: Role.WRITE})
    draw(app, graph.public_id)
    return graph


def set_views(app, link_id: str, views: int) -> None:
    with app.app_context():
        ShareLink.get_by_public_id(link_id).view_count = views
        db.session.commit()


def pause(app, link_id: str) -> None:
    with app.app_context():
        ShareLink.get_by_public_id(link_id).pause()
        db.session.commit()


def text_of(response) -> str:
    """The page's text with tags removed and spaces collapsed, as a person reads it."""
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def the_post_form(html: str) -> tuple[str, dict[str, list[str]]]:
    """The confirm page's POST form: its action and its fields (CSRF included)."""
    form = re.search(r'<form method="post" action="([^"]+)" class="actions confirm-actions">(.*?)</form>', html, re.S)
    assert form, "the confirm page has no POST form"
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2)):
        fields.setdefault(name, []).append(value)
    return html_lib.unescape(form.group(1)), fields


def answer_yes(client, page) -> tuple[str, Any]:
    """Press the confirm page's button: its POST form sent as a browser would; (action, response)."""
    action, fields = the_post_form(page.text)
    return action, client.post(action, data={name: values[0] for name, values in fields.items()})


def test_revoke_confirm_page_says_how_many_opened_it_and_its_form_revokes(app, auth, client, owner, graph):
    made = make_link(app, graph, owner, label="Board")
    set_views(app, made.id, 5)
    auth.login(owner.email)
    page = client.get(f"/graphs/{graph.public_id}/shares/{made.id}/revoke")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    words = text_of(page)
    assert "Revoke “Board”?" in words
    assert "It was opened 5 times" in words and "it stops working immediately" in words
    assert link_row(app, made.id).revoked_at is None  # asking changes nothing
    assert the_post_form(page.text)[1]["csrf_token"]
    action, done = answer_yes(client, page)
    assert (
        action == f"/graphs/{graph.public_id}/shares/{made.id}/revoke"
        and done.status_code == 302
        and done.headers["Location"].endswith(f"/shares/{made.id}")
    )
    assert link_row(app, made.id).revoked_at is not None
    assert app.test_client().get(made.path).status_code == 410


def test_revoke_from_the_list_comes_back_to_the_list(app, auth, client, owner, graph):
    made = make_link(app, graph, owner, label="Nobody yet")
    auth.login(owner.email)
    page = client.get(f"/graphs/{graph.public_id}/shares/{made.id}/revoke?back=list")
    assert "Nobody has opened it yet" in text_of(page)
    assert the_post_form(page.text)[1]["back"] == ["list"]
    assert f'href="/graphs/{graph.public_id}/shares"' in page.text  # Cancel: back to the list
    _, done = answer_yes(client, page)
    assert done.headers["Location"].endswith(f"/graphs/{graph.public_id}/shares")


def test_the_graph_and_link_pages_carry_the_dialog_with_the_same_words(app, auth, client, owner, graph):
    made = make_link(app, graph, owner, label="Board")
    set_views(app, made.id, 2)
    auth.login(owner.email)
    for path in (f"/graphs/{graph.public_id}/shares", f"/graphs/{graph.public_id}/shares/{made.id}"):
        html = client.get(path).text
        dialog = re.search(r'<dialog id="confirm-revoke[^"]*"[^>]*>(.*?)</dialog>', html, re.S)
        assert dialog and "It was opened 2 times" in dialog.group(1) and 'formmethod="dialog"' in dialog.group(1)
        # Without script the same button is a GET form to the confirm page.
        assert re.search(
            rf'<form class="inline" method="get" action="/graphs/{graph.public_id}/shares/{made.id}/revoke" '
            r'data-confirm="confirm-revoke',
            html,
        )
        assert '<script src="/static/confirm.js" defer></script>' in html


def test_revoke_all_confirm_counts_active_and_other_links(app, auth, client, owner, ana, graph):
    links = [make_link(app, graph, owner, label=f"Team {n}") for n in range(3)]
    paused = make_link(app, graph, ana, label="Paused")
    pause(app, paused.id)
    set_views(app, links[0].id, 4)
    set_views(app, paused.id, 3)
    auth.login(owner.email)
    base = f"/graphs/{graph.public_id}/shares"
    page = client.get(f"{base}/revoke-all")
    assert page.status_code == 200
    words = text_of(page)
    assert "Revoke all links of “Checkout”?" in words
    assert (
        "3 active links of this graph stop working immediately; 1 paused or ended link can never be turned back on either."
        in words
    )
    assert "They were opened 7 times in all." in words
    assert all(link_row(app, made.id).revoked_at is None for made in [*links, paused])
    assert "3 active links of this graph stop working immediately" in text_of(client.get(base))  # the dialog too
    action, done = answer_yes(client, page)
    assert action == f"{base}/revoke-all" and done.status_code == 302
    assert all(link_row(app, made.id).revoked_at is not None for made in [*links, paused])


def test_remove_access_confirm_names_the_person_and_the_links_that_stop(app, auth, client, owner, ana, graph):
    mine = [make_link(app, graph, ana, label=f"Ana {n}") for n in range(2)]
    make_link(app, graph, owner, label="The owner's")
    auth.login(owner.email)
    access = f"/graphs/{graph.public_id}/access"
    page = client.get(f"{access}/{ana.public_id}/remove")
    assert page.status_code == 200
    words = text_of(page)
    assert "Remove Ana’s access?" in words
    assert "Ana loses access to “Checkout”; the 2 active links Ana created stop working." in words
    assert "the 2 active links Ana created stop working" in text_of(client.get(access))  # the dialog says it too
    with app.app_context():
        assert db.session.scalar(select(GraphRole).where(GraphRole.user_id == _user_id(ana))) is not None
    action, done = answer_yes(client, page)
    assert action == f"{access}/{ana.public_id}/remove" and done.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(GraphRole).where(GraphRole.user_id == _user_id(ana))) is None
    assert all(app.test_client().get(made.path).status_code != 200 for made in mine)  # her links stopped


def _user_id(user) -> int:
    from maestro_web.models import User

    return User.get_by_public_id(user.public_id).id


def test_remove_access_of_a_reader_mentions_no_links(app, auth, client, owner, make_user, make_graph):
    reader = make_user(email="bo@example.com", name="Bo")
    graph = make_graph(owner, name="Reports", grants={reader: Role.READ})
    auth.login(owner.email)
    words = text_of(client.get(f"/graphs/{graph.public_id}/access/{reader.public_id}/remove"))
    assert "Bo loses access to “Reports”. Remove access Cancel" in words


def test_confirm_pages_keep_the_roles(app, auth, client, owner, ana, make_user, graph):
    made = make_link(app, graph, owner, label="Board")
    g = f"/graphs/{graph.public_id}"
    auth.login(ana.email)  # Write: may revoke, may not remove access
    assert client.get(f"{g}/shares/{made.id}/revoke").status_code == 200
    assert client.get(f"{g}/access/{owner.public_id}/remove").status_code == 403
    auth.logout()
    stranger = make_user(email="stranger@example.com")
    auth.login(stranger.email)
    for path in (f"{g}/shares/{made.id}/revoke", f"{g}/shares/revoke-all", f"{g}/access/{ana.public_id}/remove"):
        assert client.get(path).status_code == 404
    auth.logout()
    auth.login(owner.email)
    assert client.get(f"{g}/shares/no-such-link/revoke").status_code == 404
    assert client.get(f"{g}/access/no-such-user/remove").status_code == 404


def test_a_revoked_link_is_not_asked_about_again(app, auth, client, owner, graph):
    made = make_link(app, graph, owner, label="Board")
    with app.app_context():
        ShareLink.get_by_public_id(made.id).revoke()
        db.session.commit()
    auth.login(owner.email)
    response = client.get(f"/graphs/{graph.public_id}/shares/{made.id}/revoke")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/shares/{made.id}")


def test_the_destructive_posts_still_need_csrf(app, auth, client, owner, ana, graph):
    made = make_link(app, graph, owner, label="Board")
    auth.login(owner.email)
    g = f"/graphs/{graph.public_id}"
    for path in (f"{g}/shares/{made.id}/revoke", f"{g}/shares/revoke-all", f"{g}/access/{ana.public_id}/remove"):
        assert client.post(path, data={}).status_code == 400
    assert link_row(app, made.id).revoked_at is None
    with app.app_context():
        assert db.session.scalar(select(GraphRole).where(GraphRole.user_id == _user_id(ana))) is not None
