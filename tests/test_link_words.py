"""What a visitor is told when a link does not open (the long link,
the short link, the embed, the owner's preview) and what the owner is told after an action come from
share_rules (VISITOR_WORDS, STATE_REASONS); and a link made without a label is named the same way by
the form, the Share button and both API routes ("Shared link, 6 Dec", the day it was made)."""

from __future__ import annotations

import re
from typing import get_args

from conftest import api_headers
from markupsafe import escape
from share_support import BREAKS, make_link, short_code

from maestro_web.extensions import db
from maestro_web.models import Role, ShareLink
from maestro_web.models.share_rules import (
    LISTED_STATUSES,
    OWNER_STATUSES,
    ROW_STATUSES,
    STATE_REASONS,
    VISITOR_WORDS,
    Outcome,
    RowStatusWord,
)
from maestro_web.public.routes import REFUSALS
from maestro_web.serializers.links import ShareLinkOut
from maestro_web.shares.queries import DEFAULT_STATUSES, LINK_STATUSES, parse_statuses
from maestro_web.shares.routes import STATUS_CHOICES
from maestro_web.web.words import STATUS_WORDS, day_text, status_key, status_word

# How a link broken in each way is reached by a visitor: the rule's own refusal on every path.
PATHS = ("long", "embed", "short", "preview")


def _says(html: str, outcome: Outcome) -> bool:
    title, message = VISITOR_WORDS[outcome]
    return f"<title>{escape(title)}" in html and str(escape(message)) in html


def test_every_refusal_of_a_link_reads_its_words_from_share_rules_on_every_path(
    app, auth, client, owner, writer, make_graph, graph
):
    made = {}
    for outcome in BREAKS:
        on = make_graph(owner, name="Gone", spec="a -> b") if outcome is Outcome.GRAPH_DELETED else graph
        made[outcome] = (on, make_link(app, on, writer if outcome is Outcome.CREATOR_LOST_WRITE else owner))
    with app.app_context():
        for outcome, (_, link) in made.items():
            if outcome is Outcome.GRAPH_DELETED:
                continue  # last: a deleted graph's pages are gone for its owner's preview too
            BREAKS[outcome][0](ShareLink.get_by_public_id(link.id))
            db.session.commit()
    auth.login(owner.email)
    visitor = app.test_client()
    for outcome, (on, link) in made.items():
        if outcome is Outcome.GRAPH_DELETED:
            continue
        status = BREAKS[outcome][1]
        answers = {
            "long": visitor.get(link.path),
            "embed": visitor.get(link.path.replace("?token=", "/embed?token=")),
            "short": visitor.get(f"/analytics/s/{short_code(app, link.id)}"),
            "preview": client.get(f"/analytics/graphs/{on.public_id}/shares/{link.id}/preview"),
        }
        for path in PATHS:
            answer = answers[path]
            assert answer.status_code == status, (outcome, path, answer.status_code)
            assert _says(answer.text, outcome), (outcome, path, answer.text[:600])
    # The graph deleted last (its owner can no longer preview it): the visitor's three paths.
    deleted_on, deleted = made[Outcome.GRAPH_DELETED]
    with app.app_context():
        BREAKS[Outcome.GRAPH_DELETED][0](ShareLink.get_by_public_id(deleted.id))
        db.session.commit()
    for answer in (visitor.get(deleted.path), visitor.get(f"/analytics/s/{short_code(app, deleted.id)}")):
        assert answer.status_code == 404 and _says(answer.text, Outcome.GRAPH_DELETED)


def test_the_owners_words_quote_what_visitors_see():
    """Where the owner is told what visitors see, it is the visitor's refusal title, not other words
    (the bulk revoke once promised “no longer available” where visitors read “This link was revoked”)."""
    assert STATE_REASONS["paused"] == "Visitors see “Temporarily unavailable” until you resume it."
    assert STATE_REASONS["revoked"] == "It never works again; visitors see “This link was revoked”."
    assert VISITOR_WORDS[Outcome.PAUSED][0] == "Temporarily unavailable"
    assert VISITOR_WORDS[Outcome.REVOKED][0] == "This link was revoked"


def _flash(client) -> str:
    with client.session_transaction() as session:
        messages = session.get("_flashes", [])
    return " ".join(str(text) for _, text in messages)


def test_the_confirmations_say_the_links_state_in_its_own_words(app, auth, client, owner, graph):
    auth.login(owner.email)
    made = make_link(app, graph, owner)
    page = f"/graphs/{graph.public_id}/shares/{made.id}"
    for action, state in (("pause", "paused"), ("resume", "active"), ("revoke", "revoked")):
        response = client.post(f"{page}/{action}", data=auth.form_values(page), follow_redirects=True)
        assert response.status_code == 200
        assert str(escape(STATE_REASONS[state])) in response.text, (action, response.text[:2000])
    # Resuming a link that expired meanwhile tells the truth, not "Visitors can open it."
    expired = make_link(app, graph, owner, label="Old one")
    with app.app_context():
        link = ShareLink.get_by_public_id(expired.id)
        link.pause()
        BREAKS[Outcome.EXPIRED][0](link)
        db.session.commit()
    page = f"/graphs/{graph.public_id}/shares/{expired.id}"
    html = client.post(f"{page}/resume", data=auth.form_values(page), follow_redirects=True).text
    assert "Link resumed. " + str(escape(STATE_REASONS["expired"])) in html
    assert STATE_REASONS["active"] not in html
    # Created (the form and the Share button): what visitors get now.
    shares = f"/graphs/{graph.public_id}/shares"
    html = client.post(
        shares, data={**auth.form_values(shares), "label": "", "expires": "7d", "mode": "live"}, follow_redirects=True
    ).text
    assert "Link created. Visitors can open it." in html
    html = client.post(f"{shares}/quick", data=auth.form_values(shares), follow_redirects=True).text
    assert "Link created. Visitors can open it. It is live and expires in 7 days" in html
    # The bulk confirmations of My shared links name the refusal visitors get.
    for action, outcome in (("pause", Outcome.PAUSED), ("revoke", Outcome.REVOKED)):
        html = client.post("/shares/bulk", data={**auth.form_values("/shares"), "action": action, "link": made.id}).text
        assert f"sees “{VISITOR_WORDS[outcome][0]}”" in html or f"see “{VISITOR_WORDS[outcome][0]}”" in html


DEFAULT = re.compile(r"^Shared link, (\d{1,2} [A-Z][a-z]{2})$")


def _default_of(app, link_id: str) -> tuple[str, str]:
    """The link's label and the day it was made, as the default label writes it."""
    with app.app_context():
        link = ShareLink.get_by_public_id(link_id)
        return link.label, day_text(link.created_at).rsplit(" ", 1)[0]


def test_a_link_without_a_label_is_named_alike_by_the_api_and_the_form(app, auth, client, owner, graph):
    headers = api_headers(client, owner)
    made = []
    response = client.post(f"/api/graphs/{graph.public_id}/shares", headers=headers, json={})
    assert response.status_code == 201
    assert DEFAULT.match(response.json["label"]), response.json["label"]
    made.append(response.json["id"])
    response = client.post(f"/api/graphs/{graph.public_id}/public", headers=headers)  # Maestro's route, no body
    assert response.status_code == 201
    made.append(response.json["link_id"])
    response = client.post(f"/api/graphs/{graph.public_id}/shares", headers=headers, json={"label": None})
    assert response.status_code == 201
    made.append(response.json["id"])
    # A label given is kept; an empty one is refused by the API as before (the form treats empty as none).
    response = client.post(f"/api/graphs/{graph.public_id}/shares", headers=headers, json={"label": "  Board  "})
    assert response.status_code == 201 and response.json["label"] == "Board"
    assert client.post(f"/api/graphs/{graph.public_id}/shares", headers=headers, json={"label": ""}).status_code == 422

    auth.login(owner.email)
    shares = f"/graphs/{graph.public_id}/shares"
    for data in ({"label": "   ", "expires": "7d", "mode": "live"}, None):
        url = shares if data is not None else f"{shares}/quick"
        response = client.post(url, data={**auth.form_values(shares), **(data or {})})
        assert response.status_code == 302
        made.append(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert len(made) == 5
    for link_id in made:
        label, day = _default_of(app, link_id)
        assert label == f"Shared link, {day}", (link_id, label)


def test_the_openapi_document_says_the_default_label(client):
    schema = client.get("/api/openapi.json").json["components"]["schemas"]["ShareCreate"]["properties"]["label"]
    assert "Shared link, 6 Dec" in str(schema)


def test_a_link_that_cannot_be_embedded_says_how_to_get_one_that_can(app, auth, client, owner, graph):
    """The Share button's link is not embeddable (embedding needs the sites): its page says where to make one."""
    auth.login(owner.email)
    made = make_link(app, graph, owner)
    html = client.get(f"/graphs/{graph.public_id}/shares/{made.id}").text
    assert "not allowed" in html and "“Allow embedding in other sites” under Options" in html
    assert f'href="/graphs/{graph.public_id}/shares"' in html


def test_taking_write_from_a_creator_says_their_links_stopped(app, auth, client, owner, writer, reader, graph):
    """A role changed below Write, or removed, stops the person's links: the Admin is told, in the links' words."""
    make_link(app, graph, writer, label="One")
    make_link(app, graph, writer, label="Two")
    auth.login(owner.email)
    access = f"/graphs/{graph.public_id}/access"
    html = client.post(
        f"{access}/{writer.public_id}/role",
        data={**auth.form_values(access), "role": int(Role.READ)},
        follow_redirects=True,
    ).text
    said = "The 2 active links they made of this graph are now Stopped: visitors get “This link no longer works”"
    assert said in html
    # The reader had no links: nothing more is said; a removal says the same as a demotion.
    html = client.post(
        f"{access}/{reader.public_id}/role",
        data={**auth.form_values(access), "role": int(Role.WRITE)},
        follow_redirects=True,
    ).text
    assert "now has the Write role." in html and "Stopped" not in html.split("now has the Write role.")[1][:80]
    make_link(app, graph, reader, label="Three")
    html = client.post(f"{access}/{reader.public_id}/remove", data=auth.form_values(access), follow_redirects=True).text
    assert "Access removed. The 1 active link they made of this graph is now Stopped" in html


def test_one_state_type_carries_every_word_of_a_state():
    """share_rules.Outcome is the one home of a link's states: the lists, the filter, the words people read,
    the visitor's refusal and "ended" all read from its members (no second spelling such as `used_up`)."""
    assert set(LISTED_STATUSES) == set(ROW_STATUSES)
    assert set(get_args(RowStatusWord)) == {status.value for status in ROW_STATUSES}  # the API's schema
    assert ShareLinkOut.model_fields["status"].annotation is RowStatusWord
    assert LINK_STATUSES == tuple(status.value for status in LISTED_STATUSES)
    assert DEFAULT_STATUSES == ("active", "paused") and parse_statuses("used_up , revoked") == ("used up", "revoked")
    assert [key for key, _ in STATUS_CHOICES[1:-1]] == [status.key for status in LISTED_STATUSES]
    for status in OWNER_STATUSES:
        assert STATUS_WORDS[status.value] == status_word(status.value) == status.word
        assert status_key(status.value) == status.key == status.value.replace(" ", "_")
    assert [status for status in Outcome if status.ended] == [Outcome.REVOKED, Outcome.EXPIRED, Outcome.USED_UP]
    for outcome in Outcome:
        if outcome.refusal is None:
            assert outcome.visitor_sees == "invalid"
        else:
            assert outcome.visitor_sees == outcome.value and REFUSALS[outcome.value][1:] == outcome.refusal
