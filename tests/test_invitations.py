"""Invitations (SPEC §4): granting a role to an address without an account mails a single-use link.

Over HTTP with a real SMTP server on loopback (tests/mail_support.py): the link is read from the
message the app sent, as the invited person would. Every dead end (withdrawn, expired, used, another
address, tampered) answers a page that says which, and grants nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from conftest import PASSWORD, AuthActions, api_headers, form_csrf
from mail_support import SmtpServer, link_path, register
from sqlalchemy import select

from maestro_web.domain.invitations import ACCESS_SUBJECT, INVITATION_SUBJECT
from maestro_web.extensions import db
from maestro_web.models import Graph, Invitation, Role, User
from maestro_web.models.base import utcnow
from maestro_web.security.invitation_tokens import digest


@pytest.fixture
def smtp(app) -> Iterator[SmtpServer]:
    """The app sends its mail to a real SMTP server on a free loopback port for the whole test."""
    with SmtpServer() as server:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
        yield server


def mails_to(server: SmtpServer, address: str, subject: str | None = None):
    return [
        message
        for message in server.inbox.settle()
        if message["To"] == address and (subject is None or message["Subject"] == subject)
    ]


def invitation_link(message) -> str:
    """The invitation link of a message, from its plain-text part (and checked against the HTML one)."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    match = re.search(r"(https?://\S+/auth/invitation\?token=[A-Za-z0-9_\-]+)", text)
    assert match, text
    assert f'href="{match.group(1)}"' in html
    return link_path(match.group(1))


def invite(client, headers, graph_id: str, email: str, role: str = "write"):
    return client.put(f"/api/graphs/{graph_id}/roles", headers=headers, json={"email": email, "role": role})


def role_of(app, graph_id: str, email: str) -> Role | None:
    with app.app_context():
        user = User.get_by_email(email)
        return Graph.get_by_public_id(graph_id).role_of(user) if user else None


def create_account(client, link: str, name: str = "Nia", password: str = PASSWORD):
    page = client.get(link)
    assert page.status_code == 200, page.text
    return client.post(
        link, data={"name": name, "password": password, "confirm": password, "csrf_token": form_csrf(page.text)}
    )


def test_an_address_without_an_account_is_invited_and_the_link_makes_the_account_with_the_role(
    app, client, smtp, owner, make_graph
):
    graph = make_graph(owner, name="Checkout")
    headers = api_headers(client, owner)
    answer = invite(client, headers, graph.public_id, " Nia@Example.com ", "write")
    assert answer.status_code == 202, answer.text
    assert answer.json["invited"] is True
    assert answer.json["invitation"]["email"] == "nia@example.com" and answer.json["invitation"]["role"] == "write"
    listed = client.get(f"/api/graphs/{graph.public_id}/invitations", headers=headers).json["items"]
    assert [item["email"] for item in listed] == ["nia@example.com"]

    [message] = mails_to(smtp, "nia@example.com", INVITATION_SUBJECT)
    link = invitation_link(message)
    token = link.split("token=", 1)[1]
    with app.app_context():  # stored hashed: the table alone cannot open the link
        row = db.session.scalar(select(Invitation))
        assert row.token_digest == digest(token) and token not in (row.token_digest, row.public_id)
        assert timedelta(days=6, hours=23) < row.expires_at - utcnow() <= timedelta(days=7)

    visitor = app.test_client()
    page = visitor.get(link)
    assert page.status_code == 200 and 'value="nia@example.com" readonly' in page.text
    assert "Join “Checkout”" in page.text and "Owner invited you" in page.text
    done = create_account(visitor, link)
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/graphs/{graph.public_id}")
    assert role_of(app, graph.public_id, "nia@example.com") == Role.WRITE
    mine = visitor.get("/graphs/")
    assert "Checkout" in mine.text  # logged in, the graph in the new user's list
    assert client.get(f"/api/graphs/{graph.public_id}/invitations", headers=headers).json["items"] == []

    # Single use: the link now only says so, and makes nothing.
    again = app.test_client().get(link)
    assert again.status_code == 410 and "already used" in again.text
    with app.app_context():
        assert db.session.scalar(select(db.func.count(User.id))) == 2


def test_an_existing_account_logs_in_through_the_link_and_gets_the_role(app, client, smtp, owner, make_graph):
    graph = make_graph(owner, name="Billing")
    headers = api_headers(client, owner)
    assert invite(client, headers, graph.public_id, "late@example.com", "read").status_code == 202
    link = invitation_link(mails_to(smtp, "late@example.com", INVITATION_SUBJECT)[0])
    # The address registers the ordinary way meanwhile: that alone grants nothing.
    person = app.test_client()
    assert register(app, person, "late@example.com", PASSWORD, name="Late").status_code == 302
    assert role_of(app, graph.public_id, "late@example.com") is None
    AuthActions(person).logout()

    to_login = person.get(link)
    assert to_login.status_code == 302 and "/auth/login?next=" in to_login.headers["Location"]
    back = AuthActions(person).login("late@example.com", next_url=link.replace("?", "%3F").replace("=", "%3D"))
    location = back.headers["Location"]
    assert back.status_code == 302 and (link_path(location) if "://" in location else location) == link
    page = person.get(link)
    assert page.status_code == 200 and "Accept the invitation" in page.text
    assert role_of(app, graph.public_id, "late@example.com") is None  # opening the page grants nothing
    values = AuthActions(person).form_values(link)
    done = person.post(link, data=values)
    assert done.status_code == 302 and role_of(app, graph.public_id, "late@example.com") == Role.READ
    assert person.post(link, data=values).status_code == 410


def test_a_link_opened_by_another_account_grants_nothing(app, client, smtp, owner, make_user, make_graph):
    graph = make_graph(owner, name="Ledger")
    headers = api_headers(client, owner)
    assert invite(client, headers, graph.public_id, "meant@example.com", "admin").status_code == 202
    link = invitation_link(mails_to(smtp, "meant@example.com", INVITATION_SUBJECT)[0])
    other = make_user(email="other@example.com", name="Other")
    browser = app.test_client()
    AuthActions(browser).login(other.email)
    page = browser.get(link)
    assert page.status_code == 403 and "another address" in page.text
    values = AuthActions(browser).form_values("/account")
    assert browser.post(link, data=values).status_code == 403
    assert role_of(app, graph.public_id, other.email) is None
    # The link still works for the address it was sent to.
    assert create_account(app.test_client(), link).status_code == 302
    assert role_of(app, graph.public_id, "meant@example.com") == Role.ADMIN


def test_withdrawn_expired_and_tampered_links_say_so_and_grant_nothing(app, client, auth, smtp, owner, make_graph):
    graph = make_graph(owner, name="Ops")
    headers = api_headers(client, owner)
    for address in ("gone@example.com", "old@example.com", "odd@example.com"):
        assert invite(client, headers, graph.public_id, address).status_code == 202
    links = {
        address: invitation_link(mails_to(smtp, address, INVITATION_SUBJECT)[0])
        for address in ("gone@example.com", "old@example.com", "odd@example.com")
    }
    items = client.get(f"/api/graphs/{graph.public_id}/invitations", headers=headers).json["items"]
    by_email = {item["email"]: item["id"] for item in items}

    # Withdrawn on the Access page.
    auth.login(owner.email)
    access = f"/graphs/{graph.public_id}/access"
    page = client.get(access)
    assert "gone@example.com" in page.text and "Withdraw" in page.text
    withdrawn = client.post(
        f"/graphs/{graph.public_id}/invitations/{by_email['gone@example.com']}/withdraw", data=auth.form_values(access)
    )
    assert withdrawn.status_code == 302
    assert "gone@example.com" not in client.get(access).text.split("Pending invitations")[1].split("Give someone")[0]
    answer = app.test_client().get(links["gone@example.com"])
    assert answer.status_code == 410 and "withdrawn" in answer.text
    assert create_account(app.test_client(), links["odd@example.com"]).status_code == 302  # others unaffected
    # Withdrawing twice, or over the API, a non-pending one: 404, nothing changes.
    assert (
        client.delete(
            f"/api/graphs/{graph.public_id}/invitations/{by_email['gone@example.com']}", headers=headers
        ).status_code
        == 404
    )

    # Expired after 7 days.
    with app.app_context():
        row = db.session.scalar(select(Invitation).where(Invitation.email == "old@example.com"))
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    visitor = app.test_client()
    answer = visitor.get(links["old@example.com"])
    assert answer.status_code == 410 and "expired" in answer.text and "7 days" in answer.text
    page = visitor.get("/auth/register")  # a POST with a valid form is refused too
    assert (
        visitor.post(
            links["old@example.com"],
            data={"name": "Old", "password": PASSWORD, "confirm": PASSWORD, "csrf_token": form_csrf(page.text)},
        ).status_code
        == 410
    )
    # Tampered, truncated, garbage: not valid.
    good = links["odd@example.com"]
    flipped = good[:-1] + ("A" if good[-1] != "A" else "B")
    for bad in (
        flipped,
        good[:-5],
        "/auth/invitation?token=",
        "/auth/invitation?token=" + "x" * 500,
        "/auth/invitation?token=%C3%A9t%C3%A9",
        "/auth/invitation",
    ):
        answer = app.test_client().get(bad)
        assert answer.status_code == 400 and "not valid" in answer.text, bad
    with app.app_context():
        assert {user.email for user in db.session.scalars(select(User))} == {"owner@example.com", "odd@example.com"}
        assert Graph.get_by_public_id(graph.public_id).role_of(User.get_by_email("odd@example.com")) == Role.WRITE


def test_a_registered_user_given_access_gets_an_email_saying_so(app, client, smtp, owner, make_user, make_graph):
    friend = make_user(email="friend@example.com", name="Friend")
    graph = make_graph(owner, name="Search")
    headers = api_headers(client, owner)
    answer = invite(client, headers, graph.public_id, "friend@example.com", "read")
    assert answer.status_code == 200 and answer.json["role"] == "read"
    [message] = mails_to(smtp, "friend@example.com", ACCESS_SUBJECT)
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Owner gave you the Read role on the graph “Search”" in text and f"/graphs/{graph.public_id}" in text
    # The same role again is no news: no second mail. Another role is.
    assert invite(client, headers, graph.public_id, "friend@example.com", "read").status_code == 200
    assert invite(client, headers, graph.public_id, "friend@example.com", "write").status_code == 200
    assert len(mails_to(smtp, "friend@example.com", ACCESS_SUBJECT)) == 2
    assert role_of(app, graph.public_id, friend.email) == Role.WRITE


def test_inviting_again_replaces_the_pending_invitation(app, client, smtp, owner, make_graph):
    graph = make_graph(owner)
    headers = api_headers(client, owner)
    assert invite(client, headers, graph.public_id, "twice@example.com", "read").status_code == 202
    assert invite(client, headers, graph.public_id, "twice@example.com", "admin").status_code == 202
    # The mail threads may deliver the two in either order: tell them by the role they name.
    by_role = {
        (
            "Admin" if "the Admin role" in message.get_body(preferencelist=("plain",)).get_content() else "Read"
        ): invitation_link(message)
        for message in mails_to(smtp, "twice@example.com", INVITATION_SUBJECT)
    }
    first, second = by_role["Read"], by_role["Admin"]
    items = client.get(f"/api/graphs/{graph.public_id}/invitations", headers=headers).json["items"]
    assert [(item["email"], item["role"]) for item in items] == [("twice@example.com", "admin")]
    assert app.test_client().get(first).status_code == 410
    assert create_account(app.test_client(), second).status_code == 302
    assert role_of(app, graph.public_id, "twice@example.com") == Role.ADMIN


def test_invitations_are_for_admins_and_bad_addresses_are_refused(app, client, smtp, owner, make_user, make_graph):
    writer = make_user(email="writer@example.com")
    graph = make_graph(owner, grants={writer: Role.WRITE})
    writer_headers = api_headers(client, writer)
    assert invite(client, writer_headers, graph.public_id, "x@example.com").status_code == 403
    assert client.get(f"/api/graphs/{graph.public_id}/invitations", headers=writer_headers).status_code == 403
    headers = api_headers(client, owner)
    for bad in ("no-at-sign", "a@", "a b@example.com", "x" * 250 + "@example.com"):
        answer = invite(client, headers, graph.public_id, bad)
        assert answer.status_code == 422 and "email" in answer.json["fields"], bad
    assert client.get(f"/api/graphs/{graph.public_id}/invitations", headers=headers).json["items"] == []
    assert mails_to(smtp, "x@example.com") == []


def test_the_role_select_changes_a_role_and_the_last_admin_cannot_be_removed(
    app, client, auth, smtp, owner, make_user, make_graph
):
    reader = make_user(email="reader@example.com", name="Rae")
    graph = make_graph(owner, grants={reader: Role.READ})
    auth.login(owner.email)
    access = f"/graphs/{graph.public_id}/access"
    page = client.get(access).text
    owner_row = page.split(f'data-user="{owner.public_id}"')[1].split("</tr>")[0]
    assert "disabled" in owner_row and "The only Admin: make someone else Admin first." in owner_row
    assert 'class="danger" disabled' in owner_row
    changed = client.post(f"{access}/{reader.public_id}/role", data={**auth.form_values(access), "role": "3"})
    assert changed.status_code == 302 and role_of(app, graph.public_id, reader.email) == Role.WRITE
    assert len(mails_to(smtp, reader.email, ACCESS_SUBJECT)) == 1
    refused = client.post(f"{access}/{owner.public_id}/role", data={**auth.form_values(access), "role": "1"})
    assert refused.status_code == 409 and "last Admin" in refused.text
    bad = client.post(f"{access}/{reader.public_id}/role", data={**auth.form_values(access), "role": "5"})
    assert bad.status_code == 422 and role_of(app, graph.public_id, reader.email) == Role.WRITE
    # With a second Admin, neither row is "the only Admin" any more.
    client.post(f"{access}/{reader.public_id}/role", data={**auth.form_values(access), "role": "7"})
    assert "The only Admin" not in client.get(access).text


def test_the_link_of_a_deleted_graph_grants_nothing(app, client, smtp, owner, make_graph):
    graph = make_graph(owner, name="Doomed")
    headers = api_headers(client, owner)
    assert invite(client, headers, graph.public_id, "late2@example.com").status_code == 202
    link = invitation_link(mails_to(smtp, "late2@example.com", INVITATION_SUBJECT)[0])
    assert client.delete(f"/api/graphs/{graph.public_id}", headers=headers).status_code == 204
    answer = app.test_client().get(link)
    assert answer.status_code == 410 and "no longer exists" in answer.text
    with app.app_context():
        assert User.get_by_email("late2@example.com") is None


def test_the_link_never_reaches_a_log_line_even_inside_the_login_redirect(
    app, client, caplog, smtp, owner, make_user, make_graph
):
    from maestro_web.logs import redact

    graph = make_graph(owner)
    make_user(email="known@example.com")
    headers = api_headers(client, owner)
    assert invite(client, headers, graph.public_id, "known@example.com").status_code == 200
    # An address with an account was granted at once; invite one without, then register it meanwhile.
    assert invite(client, headers, graph.public_id, "later@example.com").status_code == 202
    link = invitation_link(mails_to(smtp, "later@example.com", INVITATION_SUBJECT)[0])
    token = link.split("token=", 1)[1]
    make_user(email="later@example.com")
    location = app.test_client().get(link).headers["Location"]
    assert token in location.replace("%3D", "=").replace("%3F", "?").replace("%2F", "/")
    assert token not in redact(f"GET {location} 302") and token not in redact(location)
    assert token not in caplog.text
