"""The share form through the real routes: every problem at once, each under its own
field; an origin typed while embedding is off is asked about, never dropped; passcode and mode; "Extend by"."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from share_support import draw, make_link
from sqlalchemy import func, select

from maestro_web.extensions import db
from maestro_web.models import Role, ShareLink
from maestro_web.models.base import utcnow


@pytest.fixture
def graph(app, owner, make_graph):
    graph = make_graph(owner, name="Checkout", spec="web -> api")
    draw(app, graph.public_id)
    return graph


@pytest.fixture
def page(auth, owner, graph):
    auth.login(owner.email)
    return f"/graphs/{graph.public_id}/shares"


def post(auth, client, page, **data):
    return client.post(page, data={**auth.form_values(page), **data})


def errors_of(html: str, field: str) -> list[str]:
    """The error texts shown under one field (the field macro's `<field>-error` ids)."""
    return [m.group(1) for m in re.finditer(rf'<p class="error" id="{field}-error(?:-\d+)?">([^<]*)</p>', html)]


def link_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(ShareLink.id)))


def in_days(days: int) -> str:
    return (utcnow() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def test_every_problem_shows_at_once_under_its_own_field(app, auth, client, make_graph, owner):
    auth.login(owner.email)
    bare = make_graph(owner, name="No picture yet")  # a snapshot needs a picture: refused under "mode"
    page = f"/graphs/{bare.public_id}/shares"
    far = in_days(400)
    response = post(
        auth,
        client,
        page,
        label="  ",
        expires="custom",
        custom_expiry=far,
        max_views="0",
        mode="snapshot",
        passcode="short",
        embeddable="y",
        allowed_origins="ftp://files.example.com",
    )
    assert response.status_code == 422
    html = response.text
    assert errors_of(html, "label") == []  # an empty label is fine: the link gets "Shared link, <date>"
    # The 90-day cap sits under the custom date it is about, not under Label.
    assert len(errors_of(html, "custom_expiry")) == 1 and "at most 90 days" in errors_of(html, "custom_expiry")[0]
    assert "whole number from 1" in errors_of(html, "max_views")[0]
    assert errors_of(html, "passcode") == ["A passcode has 8 to 128 characters."]
    assert "no picture yet" in errors_of(html, "mode")[0]
    assert "is not an origin like https://" in errors_of(html, "allowed_origins")[0]
    assert errors_of(html, "expires") == []
    assert f'value="{far}"' in html and "ftp://files.example.com</textarea>" in html  # the input comes back
    assert 'value="short"' not in html  # a passcode is never written back into a page, and the hint says so
    assert "For safety it is not sent back with the form: type it again." in html
    assert link_count(app) == 0


def test_a_preset_beyond_the_cap_is_shown_under_the_preset(app, auth, client, page):
    app.config["MAESTRO_SHARE_MAX_TTL"] = 86400  # a 1-day cap: the 7-day preset is too long
    response = post(auth, client, page, label="Board", expires="7d")
    assert response.status_code == 422
    assert "at most 1 day" in errors_of(response.text, "expires")[0]
    assert errors_of(response.text, "label") == [] and errors_of(response.text, "custom_expiry") == []


def test_custom_without_a_date_is_asked_under_the_date(app, auth, client, page):
    response = post(auth, client, page, label="", expires="custom", custom_expiry="", max_views="0")
    assert response.status_code == 422
    assert errors_of(response.text, "custom_expiry") == ["Pick a date and time, or choose a preset."]
    assert errors_of(response.text, "max_views")  # and the other problems, in the same answer
    assert errors_of(response.text, "label") == []  # an empty label is not one: it gets the default
    assert 'class="share-options" open' in response.text  # the options with an error are shown open


def test_sites_typed_while_embedding_is_off_are_asked_about_not_dropped(app, auth, client, page):
    response = post(auth, client, page, label="Wiki", expires="1d", allowed_origins="https://wiki.example.com")
    assert response.status_code == 422
    assert errors_of(response.text, "allowed_origins") == [
        "You listed sites but embedding is off: turn embedding on, or clear the sites."
    ]
    assert "https://wiki.example.com</textarea>" in response.text and 'value="Wiki"' in response.text
    assert link_count(app) == 0
    # Turning embedding on keeps them; clearing them instead makes a plain link.
    response = post(
        auth, client, page, label="Wiki", expires="1d", embeddable="y", allowed_origins="https://wiki.example.com"
    )
    assert response.status_code == 302
    response = post(auth, client, page, label="Plain", expires="1d", allowed_origins="  \n ")
    assert response.status_code == 302
    with app.app_context():
        rows = {row.label: row.origins for row in db.session.scalars(select(ShareLink))}
    assert rows == {"Wiki": ["https://wiki.example.com"], "Plain": []}


def test_embedding_on_without_sites_asks_for_them(auth, client, page):
    response = post(auth, client, page, label="Wiki", expires="1d", embeddable="y")
    assert response.status_code == 422
    assert errors_of(response.text, "allowed_origins") == ["List the origins (sites) allowed to embed this link."]


def test_passcode_and_snapshot_are_created_from_the_form(app, auth, client, page, graph):
    response = post(auth, client, page, label="Auditors", expires="1d", mode="snapshot", passcode="correct horse 42")
    assert response.status_code == 302
    live = post(auth, client, page, label="Team", expires="1d")
    assert live.status_code == 302
    with app.app_context():
        snap = db.session.scalar(select(ShareLink).where(ShareLink.label == "Auditors"))
        team = db.session.scalar(select(ShareLink).where(ShareLink.label == "Team"))
        assert snap.mode == "snapshot" and snap.pinned_result_id is not None
        assert (
            snap.has_passcode and snap.passcode_matches("correct horse 42") and not snap.passcode_matches("wrong one!")
        )
        assert team.mode == "live" and team.pinned_result_id is None and not team.has_passcode


def test_an_unknown_mode_is_refused_under_mode(app, auth, client, page):
    response = post(auth, client, page, label="X", expires="1d", mode="frozen")
    assert response.status_code == 422
    assert errors_of(response.text, "mode") and link_count(app) == 0


def test_the_form_offers_the_new_inputs_and_works_without_script(client, page):
    html = client.get(page).text
    assert 'type="password"' in html and 'name="passcode"' in html and 'autocomplete="new-password"' in html
    live = re.search(r'<input[^>]*value="live"[^>]*>', html).group(0)
    snapshot = re.search(r'<input[^>]*value="snapshot"[^>]*>', html).group(0)
    assert 'type="radio"' in live and "checked" in live and "checked" not in snapshot  # live by default
    assert "Snapshot: the picture as it is now" in html and "Live: always the newest picture" in html
    # The optional parts are marked for share-form.js, but shown by the server: without script they work.
    assert 'data-shown-by="expires" data-shown-value="custom"' in html
    assert 'data-shown-by="embeddable" data-shown-value="checked"' in html
    part = re.search(r'<div class="row-item" data-shown-by="expires"[^>]*>', html).group(0)
    assert "hidden" not in part
    assert '<script src="/static/share-form.js" defer></script>' in html


def test_the_extend_form_says_extend_by(app, auth, client, owner, graph):
    made = make_link(app, graph, owner, label="Board")
    auth.login(owner.email)
    page = f"/graphs/{graph.public_id}/shares/{made.id}"
    html = client.get(page).text
    assert '<label for="expires">Extend by</label>' in html and "Until a date…" in html and "New expiry (UTC)" in html
    response = client.post(
        f"{page}/extend", data={**auth.form_values(page), "expires": "custom", "custom_expiry": in_days(400)}
    )
    assert response.status_code == 422
    assert "at most 90 days" in errors_of(response.text, "custom_expiry")[0]
    response = client.post(f"{page}/extend", data={**auth.form_values(page), "expires": "7d"})
    assert response.status_code == 302


def test_a_writer_uses_the_same_form_and_a_reader_cannot(app, auth, client, make_user, make_graph, owner):
    writer = make_user(email="writer@example.com")
    reader = make_user(email="reader@example.com")
    graph = make_graph(owner, name="Shared", grants={writer: Role.WRITE, reader: Role.READ})
    page = f"/graphs/{graph.public_id}/shares"
    auth.login(reader.email)
    assert client.get(page).status_code == 403
    auth.logout()
    auth.login(writer.email)
    assert post(auth, client, page, label="From the writer", expires="1h").status_code == 302
