"""Invitations (SPEC §4): a role offered to an address without an account, and the mail of a grant.

An Admin who grants a role to an address that has no account invites it instead: a row in
`invitations` (models/invitation.py) and an e-mail with a single-use link (security/
invitation_tokens.py) that works for 7 days. The link is bound to the address: it grants the role
only to the account with that address, created at the link (auth/invitation.py) or logged in
through it. Someone given a role on an existing account gets a note saying so.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app, render_template, url_for
from sqlalchemy import select, update

from maestro_web.extensions import db
from maestro_web.mail import send_mail
from maestro_web.models import Graph, GraphRole, Invitation, Role, User
from maestro_web.models.base import utcnow
from maestro_web.models.user import normalize_email
from maestro_web.refusals import NoSuch
from maestro_web.security import invitation_tokens

LIFETIME_DAYS = invitation_tokens.LIFETIME // 86400
# Subjects name no person and no graph: the mail log prints subjects (maestro_web/mail.py).
INVITATION_SUBJECT = "You are invited to a graph on Maestro Web"
ACCESS_SUBJECT = "You were given access to a graph on Maestro Web"


class NoSuchInvitation(NoSuch):
    """No pending invitation with that id on that graph."""


class InvitationRefused(Exception):
    """A link that cannot grant anything; `state` says why (pages word it, auth/invitations.py)."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state  # "accepted", "withdrawn", "expired", "deleted_graph", "other_address"


def invite(graph: Graph, email: str, role: Role, by: User) -> tuple[Invitation, str]:
    """A new pending invitation of `email` (normalized, already checked) to `role` on `graph`, and the
    token of its link. A pending invitation of the same address to the same graph is withdrawn: the
    newest mail is the one that works, with the newest role."""
    now = utcnow()
    email = normalize_email(email)
    db.session.execute(
        update(Invitation)
        .where(
            Invitation.graph_id == graph.id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.withdrawn_at.is_(None),
        )
        .values(withdrawn_at=now)
    )
    token, digest = invitation_tokens.new_token()
    invitation = Invitation(
        graph=graph,
        email=email,
        role=int(role),
        token_digest=digest,
        invited_by_id=by.id,
        created_at=now,
        expires_at=now + timedelta(seconds=invitation_tokens.LIFETIME),
    )
    db.session.add(invitation)
    db.session.flush()
    return invitation, token


def pending_invitations(graph: Graph) -> list[Invitation]:
    """The invitations of `graph` whose link still works, newest first."""
    return list(
        db.session.scalars(
            select(Invitation)
            .where(
                Invitation.graph_id == graph.id,
                Invitation.accepted_at.is_(None),
                Invitation.withdrawn_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.id.desc())
        )
    )


def withdraw(graph: Graph, invitation_public_id: str) -> Invitation:
    """Withdraw a pending invitation of `graph`: its link stops at once. NoSuchInvitation when there is none."""
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.graph_id == graph.id, Invitation.public_id == invitation_public_id)
    )
    if invitation is None or invitation.state() != "pending":
        raise NoSuchInvitation("There is no pending invitation with this id on this graph.")
    invitation.withdrawn_at = utcnow()
    return invitation


def invitation_of_link(token: object) -> Invitation | None:
    """The invitation a link's token finds, in whatever state; None for a token that finds none."""
    digest = invitation_tokens.digest_of_link(token)
    return Invitation.get_by_digest(digest) if digest else None


def check_usable(invitation: Invitation) -> None:
    """InvitationRefused unless the link may still grant its role."""
    state = invitation.state()
    if state != "pending":
        raise InvitationRefused(state)
    if invitation.graph.deleted_at is not None:
        raise InvitationRefused("deleted_graph")


def accept(invitation: Invitation, user: User) -> GraphRole:
    """Grant the invitation's role to `user`, who must hold the invited address; once only.

    The link is marked used by a conditional UPDATE, so two requests with the same link (a double
    click, a replay) cannot both grant. An existing role is never lowered: an invitation to Read
    sent before the person was made Admin leaves them Admin."""
    check_usable(invitation)
    if normalize_email(user.email) != invitation.email:
        raise InvitationRefused("other_address")
    now = utcnow()
    used = db.session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.accepted_at.is_(None),
            Invitation.withdrawn_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(accepted_at=now, accepted_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 0) != 1:
        raise InvitationRefused("accepted")
    graph = invitation.graph
    grant = db.session.scalar(select(GraphRole).where(GraphRole.graph_id == graph.id, GraphRole.user_id == user.id))
    if grant is None:
        grant = GraphRole(graph=graph, user=user, role=invitation.role)
        db.session.add(grant)
    else:
        grant.role = max(grant.role, invitation.role)
    db.session.flush()
    return grant


def _link(endpoint: str, **values: Any) -> str:
    return f"{current_app.config['MAESTRO_BASE_URL']}{url_for(endpoint, **values)}"


def send_invitation(invitation: Invitation, token: str, by: User) -> None:
    """Mail the invitation's link to the invited address."""
    values = {
        "by": by.name,
        "graph": invitation.graph.name,
        "role": invitation.role_enum.label,
        "link": f"{_link('auth.invitation')}?token={token}",
        "days": LIFETIME_DAYS,
    }
    subject = INVITATION_SUBJECT
    send_mail(
        invitation.email,
        subject,
        render_template("mail/invitation.txt", **values),
        render_template("mail/invitation.html", **values),
    )


def send_access_granted(grant: GraphRole, by: User) -> None:
    """Tell a registered user they were given a role (or another one) on a graph."""
    graph = grant.graph
    values = {
        "name": grant.user.name,
        "by": by.name,
        "graph": graph.name,
        "role": grant.role_enum.label,
        "link": _link("graphs.detail", graph_id=graph.public_id),
    }
    subject = ACCESS_SUBJECT
    send_mail(
        grant.user.email,
        subject,
        render_template("mail/access_granted.txt", **values),
        render_template("mail/access_granted.html", **values),
    )
