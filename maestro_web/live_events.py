"""The app's side of live events (SPEC §8): what changed, published only after the database commit.

Row changes are noticed where they are flushed, so every path that makes them (pages, JSON API,
CLI) publishes without remembering to: a new GraphRun is `run.queued`, a new GraphResult is
`run.finished` / `run.failed` (and `run.finished` on the `share:` channels of the graph's active
links), a ShareLink whose pause, revocation or expiry changed is `share.changed`, a User whose
`token_version` moved (password change or reset) and a removed GraphRole are control revocations.
Events wait in the session's `info` until `after_commit` hands them to the publisher; a rollback
drops them. What a flush cannot see (a bulk UPDATE, a view counted outside the ORM, a logout) is
reported by a one-line call from the service or view: `links_revoked()`, `share_viewed()`,
`user_signed_out()`.

Publishing is fire-and-forget (maestro_web.live_publish): a live server that is down costs a log
line, never the user's request. Revocations are the exception: they are kept in the database
until a live server took them (maestro_web.live_outbox), so an outage cannot undo a logout.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from flask import Flask, current_app, has_app_context
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import ColumnElement, event, select
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction
from sqlalchemy.orm.attributes import instance_state

from maestro_web import live_outbox
from maestro_web.channels import CONTROL, graph_channel, share_channel, user_channel
from maestro_web.extensions import db
from maestro_web.keyring import KeyRing
from maestro_web.live_publish import Event, LivePublisher
from maestro_web.models import Graph, GraphResult, GraphRole, GraphRun, Role, ShareLink, User
from maestro_web.models.base import utcnow
from maestro_web.models.share_rules import STATE_REASONS, STOPPED, LinkRow, Outcome, link_state, working_links
from maestro_web.security.socket_tokens import issue_socket_token

EXTENSION = "maestro_live"
OUTBOX = "maestro_live_outbox"  # the app's live_outbox.Courier
HOOKED = "maestro_live_hooked"  # the before_request hook is registered (once, before any request)
PENDING = "maestro_live_pending"  # key in Session.info: events waiting for the commit (and their outbox row)
TOKEN_TTL = 300
TOKEN_RENEW_BEFORE = 60  # seconds: a cached socket token is replaced this long before it expires
REVOKED = Outcome.REVOKED.value


class SocketTokenCache:
    """The app's socket token (issuer maestro-server), signed again shortly before it expires."""

    def __init__(self, ring: KeyRing, ttl: int = TOKEN_TTL) -> None:
        self.ring = ring
        self.ttl = ttl
        self._token = ""
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            now = time.time()
            if now >= self._renew_at:
                self._token = issue_socket_token(self.ring, issuer="maestro-server", ttl=self.ttl, now=now)
                self._renew_at = now + self.ttl - TOKEN_RENEW_BEFORE
            return self._token


def init_app(app: Flask) -> None:
    """Give the app its publisher and outbox courier; off under tests unless MAESTRO_LIVE_PUBLISH is set."""
    if HOOKED not in app.extensions:  # the first call, from create_app, before any request
        app.extensions[HOOKED] = True
        app.before_request(_start_courier)
    if not app.config.get("MAESTRO_LIVE_PUBLISH", not app.testing):
        return
    tokens = SocketTokenCache(app.config["KEY_RINGS"]["socket"])
    live = app.extensions[EXTENSION] = LivePublisher(app.config["MAESTRO_LIVE_PUBLISH_URL"], tokens)
    app.extensions[OUTBOX] = live_outbox.Courier(app, live)


def _start_courier() -> None:
    """On a process's first request: its courier posts what a process that died left in the outbox."""
    courier: live_outbox.Courier | None = current_app.extensions.get(OUTBOX)
    if courier is not None:
        courier.ensure_started()


def publisher() -> LivePublisher | None:
    return current_app.extensions.get(EXTENSION) if has_app_context() else None


def publish_now(channel: str, event_name: str, data: dict[str, Any]) -> None:
    """Publish at once: for changes that are committed already (or were never in the database)."""
    live = publisher()
    if live is not None:
        live.publish(channel, event_name, data)


def publish_after_commit(channel: str, event_name: str, data: dict[str, Any], session: Session | None = None) -> None:
    """Publish when the current transaction commits; dropped if it rolls back. A control event
    (a revocation) is also written to the outbox in this transaction, with the time of the change:
    it is kept until a live server takes it."""
    target = session if session is not None else db.session()
    row_id = None
    if channel == CONTROL:
        data = {**data, "at": time.time()}
        row_id = live_outbox.keep(target, data)
    target.info.setdefault(PENDING, []).append((channel, event_name, data, row_id))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- hooks called by services and views ----------------------------------------------------------


def user_signed_out(user: User | None) -> None:
    """Logout: every live connection of this user ends (their other tabs fetch a new ticket)."""
    if user is not None and publisher() is not None:
        publish_after_commit(CONTROL, "revoke", {"user": user.public_id})
        db.session.commit()  # the revocation is kept in the outbox before the answer is sent


def links_revoked(condition: ColumnElement[bool]) -> None:
    """Before a bulk revocation of the links matching `condition`: announce each one after commit."""
    if publisher() is None:
        return
    session = db.session()
    rows = session.execute(
        select(ShareLink.public_id, ShareLink.graph_id, User.public_id)
        .join(User, User.id == ShareLink.creator_id)
        .where(condition, ShareLink.revoked_at.is_(None))
    ).all()
    writers: dict[int, list[str]] = {}  # one query per graph, not per link
    for link_id, graph_id, creator_id in rows:
        if graph_id not in writers:
            writers[graph_id] = _writers_of(session, graph_id)
        _owners_told(session, link_id, _audience(writers[graph_id], creator_id), REVOKED)
        _visitors_told(session, link_id, REVOKED)


def share_viewed(link_id: str) -> None:
    """A counted public view: tell the link's creator. Never waits: the event is read on the
    publisher's thread, once for all the views of this link counted meanwhile, so it carries the
    newest count (live_publish.publish_latest) and a busy link costs one query and one post per
    round of the thread, not one per view."""
    live = publisher()
    if live is None:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def produce() -> Event | None:
        with app.app_context():
            return _viewed_event(link_id)

    live.publish_latest(f"share.viewed:{link_id}", produce)


def _viewed_event(link_id: str) -> Event | None:
    row = db.session.execute(
        select(ShareLink.view_count, ShareLink.last_viewed_at, Graph.public_id, User.public_id)
        .join(Graph, Graph.id == ShareLink.graph_id)
        .join(User, User.id == ShareLink.creator_id)
        .where(ShareLink.public_id == link_id)
    ).first()
    if row is None:
        return None
    views, last_viewed_at, graph_id, creator_id = row
    return (
        user_channel(creator_id),
        "share.viewed",
        {"link": link_id, "graph": graph_id, "views": views, "last_viewed_at": _iso(last_viewed_at)},
    )


# --- noticing row changes at flush time ----------------------------------------------------------


def _writers_of(session: Session, graph_id: int) -> list[str]:
    """The public ids of the users holding Write or more on the graph: who sees its "Links of this graph"."""
    return list(
        session.connection().scalars(
            select(User.public_id)
            .join(GraphRole, GraphRole.user_id == User.id)
            .where(GraphRole.graph_id == graph_id, GraphRole.role >= int(Role.WRITE))
        )
    )


def _audience(writers: list[str], creator_id: str) -> list[str]:
    """Whose open share pages show a link: its creator's (My shared links, even without Write any more)
    and every writer's of its graph (Links of this graph, the link's page)."""
    return list(dict.fromkeys([creator_id, *writers]))


def _owners_told(session: Session, link_id: str, audience: list[str], status: str) -> None:
    """share.changed on each owner's channel with the link's state as its owners see it (share_rules.link_state)
    and its words (STATE_REASONS): the reason arrives with the event, so a stopped link reads "Stopped" and
    why at once, on every open share page, without a reload."""
    for user_id in audience:
        publish_after_commit(
            user_channel(user_id),
            "share.changed",
            {"link": link_id, "status": status, "reason": STATE_REASONS[status]},
            session,
        )


def _visitors_told(session: Session, link_id: str, status: str) -> None:
    """share.changed on the link's own channel (its open public pages), with the row's status."""
    publish_after_commit(share_channel(link_id), "share.changed", {"status": status}, session)
    if status != Outcome.VIEWABLE.value:  # paused, revoked, expired, used up: the page shows it no more
        # After the event, so an open public page reads why before its subscription ends.
        publish_after_commit(CONTROL, "revoke", {"channel": share_channel(link_id)}, session)


def _changed(obj: object, *attributes: str) -> bool:
    state = instance_state(obj)
    return any(state.attrs[name].history.has_changes() for name in attributes)


def _graph_public_id(session: Session, row: GraphRun | GraphResult | GraphRole) -> str | None:
    graph = instance_state(row).dict.get("graph")  # already loaded (e.g. Graph.queue_run): no query
    if isinstance(graph, Graph):
        return graph.public_id
    return session.connection().scalar(select(Graph.public_id).where(Graph.id == row.graph_id))


def _open_page_link_ids(
    session: Session, graph_id: int, live_only: bool = False, despite: tuple[Outcome, ...] = ()
) -> list[str]:
    """The graph's links whose open pages still listen: every rule of share_rules.working_links but
    USED_UP, which stops new views only (the pages already open are the views it allowed, and stay:
    docs/sharing.md). `live_only`: only the live ones (a snapshot link's page keeps its pinned picture,
    so a new picture is no news to it)."""
    return list(
        session.connection().scalars(working_links(graph_id, live_only=live_only, despite=(Outcome.USED_UP, *despite)))
    )


def _on_new(session: Session, obj: object) -> None:
    if isinstance(obj, GraphRole) and obj.role >= Role.WRITE:  # Write given back to a creator of links
        _creator_regained_write(session, obj)
    elif isinstance(obj, GraphRun):
        graph = _graph_public_id(session, obj)
        if graph is None:  # cannot happen after a flush (a foreign key): no channel to name
            return
        publish_after_commit(
            graph_channel(graph), "run.queued", {"run_id": obj.public_id, "queued_at": _iso(obj.queued_at)}, session
        )
    elif isinstance(obj, GraphResult):
        graph = _graph_public_id(session, obj)
        if graph is None:  # cannot happen after a flush (a foreign key): no channel to name
            return
        run = instance_state(obj).dict.get("run")  # already loaded (ingest_result): no query
        run_id = (
            run.public_id
            if isinstance(run, GraphRun)
            else session.connection().scalar(select(GraphRun.public_id).where(GraphRun.id == obj.run_id))
        )
        if obj.status == "error":
            publish_after_commit(
                graph_channel(graph), "run.failed", {"run_id": run_id, "message": obj.message}, session
            )
            return
        drawn_at = _iso(obj.created_at)
        publish_after_commit(
            graph_channel(graph),
            "run.finished",
            {"run_id": run_id, "status": obj.status, "drawn_at": drawn_at, "info": obj.info},
            session,
        )
        if obj.svg is not None:
            for link_id in _open_page_link_ids(session, obj.graph_id, live_only=True):
                publish_after_commit(share_channel(link_id), "run.finished", {"drawn_at": drawn_at}, session)


def _on_dirty(session: Session, obj: object) -> None:
    if isinstance(obj, ShareLink) and _changed(obj, "passcode_hash") and obj.passcode_hash is not None:
        # A new passcode ends every visitor's passcode cookie (SPEC §10): their open pages refresh (and
        # get the 401), and their subscriptions end. Removing one ends nothing: anyone may look then.
        publish_after_commit(share_channel(obj.public_id), "share.changed", {"status": obj.status()}, session)
        publish_after_commit(CONTROL, "revoke", {"channel": share_channel(obj.public_id)}, session)
    if isinstance(obj, ShareLink) and _changed(obj, "paused_at", "revoked_at", "expires_at"):
        creator = session.connection().scalar(select(User.public_id).where(User.id == obj.creator_id))
        if creator is not None:
            writers = _writers_of(session, obj.graph_id)
            _owners_told(
                session, obj.public_id, _audience(writers, creator), link_state(obj, creator in writers).status
            )
            _visitors_told(session, obj.public_id, obj.status())
    elif isinstance(obj, User) and _changed(obj, "token_version"):
        # A password change or reset ends every session, so every live connection too.
        publish_after_commit(CONTROL, "revoke", {"user": obj.public_id}, session)
    elif isinstance(obj, GraphRole) and _changed(obj, "role"):
        before = instance_state(obj).attrs["role"].history.deleted
        if obj.role < Role.WRITE:
            _creator_lost_write(session, obj)
        elif before and before[0] is not None and before[0] < Role.WRITE:
            _creator_regained_write(session, obj)
    elif isinstance(obj, Graph) and _changed(obj, "deleted_at") and obj.deleted_at is not None:
        publish_after_commit(CONTROL, "revoke", {"channel": graph_channel(obj.public_id)}, session)
        # The links that worked until this deletion: every rule but the one it has just broken.
        for link_id in _open_page_link_ids(session, obj.id, despite=(Outcome.GRAPH_DELETED,)):
            publish_after_commit(share_channel(link_id), "share.changed", {"status": "revoked"}, session)
            publish_after_commit(CONTROL, "revoke", {"channel": share_channel(link_id)}, session)


def _on_deleted(session: Session, obj: object) -> None:
    if isinstance(obj, GraphRole):
        # Losing every role is losing Read: that user's subscription to the graph ends.
        graph = _graph_public_id(session, obj)
        user = session.connection().scalar(select(User.public_id).where(User.id == obj.user_id))
        if graph is not None and user is not None:
            publish_after_commit(CONTROL, "revoke", {"user": user, "channel": graph_channel(graph)}, session)
        _creator_lost_write(session, obj)


@dataclass(frozen=True)
class _LinkColumns:
    """What share_rules.link_state reads of a link (its LinkRow), from one query of columns: the hooks
    run inside a flush, so they read with the session's connection and load no ShareLink."""

    public_id: str
    revoked_at: datetime | None
    paused_at: datetime | None
    expires_at: datetime
    max_views: int | None
    view_count: int
    mode: str


def _creators_links(session: Session, grant: GraphRole) -> tuple[str | None, list[_LinkColumns]]:
    """The public id of the user of `grant` and the links they made of its graph that are not revoked and
    not expired (the others' words do not change with their creator's role)."""
    rows = (
        session.connection()
        .execute(
            select(
                ShareLink.public_id,
                ShareLink.revoked_at,
                ShareLink.paused_at,
                ShareLink.expires_at,
                ShareLink.max_views,
                ShareLink.view_count,
                ShareLink.mode,
            ).where(
                ShareLink.graph_id == grant.graph_id,
                ShareLink.creator_id == grant.user_id,
                ShareLink.revoked_at.is_(None),
                ShareLink.expires_at > utcnow(),
            )
        )
        .all()
    )
    if not rows:  # the usual case (a new graph's first Admin, a reader made writer): one query
        return None, []
    creator = session.connection().scalar(select(User.public_id).where(User.id == grant.user_id))
    return creator, [_LinkColumns(*row) for row in rows]


def _creator_lost_write(session: Session, grant: GraphRole) -> None:
    """The user of `grant` no longer holds Write on its graph: the links they made of it stop (a rule of
    share_rules, not a state of the link). Their open pages are told and their subscriptions end; the
    owners' share pages get each link's new state with its reason ("Stopped", and why)."""
    creator, links = _creators_links(session, grant)
    if not links:
        return
    audience = _audience(_writers_of(session, grant.graph_id), creator) if creator is not None else []
    for link in links:
        _owners_told(session, link.public_id, audience, link_state(cast(LinkRow, link), False).status)
        publish_after_commit(share_channel(link.public_id), "share.changed", {"status": STOPPED}, session)
        publish_after_commit(CONTROL, "revoke", {"channel": share_channel(link.public_id)}, session)


def _creator_regained_write(session: Session, grant: GraphRole) -> None:
    """The user of `grant` holds Write again: their links work again (stopped, not revoked), and the owners'
    share pages say so (Active, or Paused, as the link's row says). A visitor's page that turned into the
    refusal stays it until it is opened again (docs/live-pages.md)."""
    creator, links = _creators_links(session, grant)
    if not links or creator is None:
        return
    audience = _audience(_writers_of(session, grant.graph_id), creator)
    for link in links:
        _owners_told(session, link.public_id, audience, link_state(cast(LinkRow, link), True).status)


@event.listens_for(FlaskSession, "after_flush")
def _collect(session: Session, _flush: UOWTransaction) -> None:
    # new / dirty / deleted still describe what this flush wrote (SQLAlchemy's after_flush contract).
    if not has_app_context() or publisher() is None:
        return
    for obj in session.new:
        _on_new(session, obj)
    for obj in session.dirty:
        _on_dirty(session, obj)
    for obj in session.deleted:
        _on_deleted(session, obj)


@event.listens_for(FlaskSession, "after_commit")
def _publish(session: Session) -> None:
    pending: list[tuple[str, str, dict[str, Any], int | None]] = session.info.pop(PENDING, [])
    courier: live_outbox.Courier | None = current_app.extensions.get(OUTBOX) if has_app_context() else None
    for channel, event_name, data, row_id in pending:
        if row_id is not None and courier is not None:
            courier.send(row_id, data)
        else:
            publish_now(channel, event_name, data)


@event.listens_for(FlaskSession, "after_soft_rollback")
def _drop(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:  # the whole transaction is gone, and what it would have announced
        session.info.pop(PENDING, None)
