"""Public share links (SPEC §3.2): one row per link, the token's `jti` is the row's public id.

The token itself is never stored. It can be minted again from the row (same claims, current key),
which is how the owner's pages show a link's URL, QR code and iframe snippet after creation.

What a row can do to itself lives here: `pause()`, `resume()`, `revoke()`, `extend(until, ...)`,
and, for many rows at once, `revoke_matching(...)` and `prune(...)` (one UPDATE / batched DELETEs).
Whether a link may be viewed is decided in models/share_rules.py, the one home of those rules;
`status()` is its answer for the row alone. Changes are flushed by the caller's session, where
live_events notices them; the callers commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, ForeignKey, Index, Integer, String, Text, delete, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from maestro_web.extensions import Model, db
from maestro_web.limits import PASSCODE_MAX_LENGTH, PASSCODE_MIN_LENGTH
from maestro_web.models.base import UTCDateTime, new_public_id, utcnow
from maestro_web.models.graph import Graph, GraphResult
from maestro_web.models.share_rules import LIVE, SNAPSHOT, LinkState, creator_holds_write, link_state, row_status
from maestro_web.models.user import User, hash_secret, verify_secret
from maestro_web.refusals import Kind, Refused

LABEL_MAX_LENGTH = 80
PRUNE_BATCH = 1000  # rows deleted per statement: short locks, bounded IN lists


class ShareRefused(Refused):
    """A change the share rules do not allow; `field` names the input at fault (for forms and JSON
    fields). Kind INVALID for bad input, CONFLICT for a state that forbids it (a revoked link)."""


def check_passcode(passcode: str) -> str:
    """`passcode` if it has 8-128 characters (the one home of that rule: the model, the API and the form)."""
    if not PASSCODE_MIN_LENGTH <= len(passcode) <= PASSCODE_MAX_LENGTH:
        raise ShareRefused(f"A passcode has {PASSCODE_MIN_LENGTH} to {PASSCODE_MAX_LENGTH} characters.", "passcode")
    return passcode


def expiry_within_cap(expires_at: datetime, created_at: datetime, cap: timedelta, now: datetime) -> datetime:
    """`expires_at` if it is in the future and within `cap` counted from the link's creation."""
    if expires_at <= now:
        raise ShareRefused("The expiry must be in the future.", "expires_at")
    limit = created_at + cap
    if expires_at > limit:
        raise ShareRefused(
            f"A link can live at most {_days(cap)} from its creation, so until {limit.strftime('%Y-%m-%d %H:%M')} UTC.",
            "expires_at",
        )
    return expires_at


def _days(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{seconds // 3600} hours" if seconds >= 7200 else f"{seconds} seconds"


class ShareLink(Model):
    __tablename__ = "share_links"
    # A user's links and a graph's links, newest first, straight from an index (migration 0005).
    __table_args__ = (
        Index("ix_share_links_creator_created", "creator_id", "created_at"),
        Index("ix_share_links_graph_created", "graph_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)  # the token's jti
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"))
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(LABEL_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The link's own expiry, checked at every view; the owner may extend it up to max_expires_at.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # How far the link can be extended ("can be extended until" on the page, `max_expires_at` in the
    # API): the token's own `exp`, fixed at creation. The column kept its first name, token_expires_at.
    max_expires_at: Mapped[datetime] = mapped_column("token_expires_at", UTCDateTime())
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    last_viewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    max_views: Mapped[int | None] = mapped_column(Integer)
    # Space-separated origins that may embed the link in an iframe; none means it may not be embedded.
    allowed_origins: Mapped[str] = mapped_column(Text, default="")
    # The argon2id hash of the link's optional passcode (SPEC §10); a new hash (new salt) on every
    # change is what ends the passcode cookies browsers hold for this link.
    passcode_hash: Mapped[str | None] = mapped_column(String(255))
    # "live" shows the graph's newest picture; "snapshot" the result pinned at creation, which history
    # pruning keeps while a link points at it (NULL again only if the result went with its graph).
    mode: Mapped[str] = mapped_column(String(16), default=LIVE, server_default=LIVE)
    pinned_result_id: Mapped[int | None] = mapped_column(
        ForeignKey("graph_results.id", ondelete="SET NULL"), index=True
    )
    # A snapshot link: the graph's version number (graph_versions.number) when it was made (SPEC §13
    # "a snapshot link keeps the version it was made from"); NULL for live links and older snapshots.
    snapshot_version: Mapped[int | None] = mapped_column(Integer)

    graph: Mapped[Graph] = relationship()
    creator: Mapped[User] = relationship()
    pinned_result: Mapped[GraphResult | None] = relationship()

    def __repr__(self) -> str:
        return f"<ShareLink {self.public_id}>"

    @classmethod
    def get_by_public_id(cls, public_id: str) -> ShareLink | None:
        return db.session.scalar(select(cls).where(cls.public_id == public_id))

    @classmethod
    def get_on_graph(cls, graph: Graph, public_id: str) -> ShareLink | None:
        """The link with this id if it belongs to `graph` (a link id in another graph's URL is unknown)."""
        return db.session.scalar(select(cls).where(cls.public_id == public_id, cls.graph_id == graph.id))

    @property
    def origins(self) -> list[str]:
        return self.allowed_origins.split()

    @property
    def embeddable(self) -> bool:
        return bool(self.origins)

    @property
    def has_passcode(self) -> bool:
        return self.passcode_hash is not None

    @property
    def is_snapshot(self) -> bool:
        return self.mode == SNAPSHOT

    def set_passcode(self, passcode: str | None) -> None:
        """Hash and keep `passcode` (8-128 characters), or remove it with None. Every call makes a new
        hash, so the cookies that opened the link before stop working, also for the same passcode."""
        if passcode is None:
            self.passcode_hash = None
            return
        self.passcode_hash = hash_secret(check_passcode(passcode))

    def passcode_matches(self, passcode: str) -> bool:
        """Whether `passcode` is this link's passcode (argon2id, constant work); False without one."""
        return self.passcode_hash is not None and verify_secret(self.passcode_hash, passcode)

    def status(self, now: datetime | None = None) -> str:
        """active, paused, expired, revoked or used up; the most final state wins (share_rules.row_status)."""
        return row_status(self, now).value

    def state(self, now: datetime | None = None, writers: set[int] | None = None) -> LinkState:
        """What the owner's pages show of this link (share_rules.link_state): badge, reason, the time that
        matters. `writers` (ids holding Write, shares.queries.creators_with_write) saves a query per row."""
        creator_writes = self.creator_id in writers if writers is not None else creator_holds_write(self)
        return link_state(self, creator_writes, now)

    # --- what a row does to itself ----------------------------------------------------------------

    def pause(self) -> None:
        """Visitors get "temporarily unavailable" until resume(); pausing twice keeps the first time."""
        if self.revoked_at is not None:
            raise ShareRefused("This link was revoked.", kind=Kind.CONFLICT)
        self.paused_at = self.paused_at or utcnow()

    def resume(self) -> None:
        if self.revoked_at is not None:
            raise ShareRefused("A revoked link cannot be resumed; create a new one.", kind=Kind.CONFLICT)
        self.paused_at = None

    def revoke(self) -> None:
        """For good: the row stays (views, history), the token never works again; idempotent."""
        self.revoked_at = self.revoked_at or utcnow()

    def extend(self, until: datetime, cap: timedelta, now: datetime | None = None) -> None:
        """Move the expiry to `until`: in the future, within `cap` of the creation and never past
        max_expires_at (the token's exp: a cap raised after creation does not reach old tokens)."""
        if self.revoked_at is not None:
            raise ShareRefused("A revoked link cannot be extended; create a new one.", "expires_at", Kind.CONFLICT)
        until = expiry_within_cap(until, self.created_at, cap, now or utcnow())
        if until > self.max_expires_at:
            raise ShareRefused("This link's token cannot live that long; create a new link.", "expires_at")
        self.expires_at = until

    def extend_by(self, delta: timedelta, cap: timedelta, now: datetime | None = None) -> None:
        """Extend by `delta` from the expiry (from `now` if the link has ended), stopping at `cap` from
        the creation; refused like extend(), and when the link is already at its longest."""
        now = now or utcnow()
        until = min(max(now, self.expires_at) + delta, self.created_at + cap)
        if until <= self.expires_at:
            raise ShareRefused("This link is already at its longest; create a new one.", "expires_at", Kind.CONFLICT)
        self.extend(until, cap, now)

    @classmethod
    def revoke_matching(cls, condition: ColumnElement[bool]) -> int:
        """Revoke every unrevoked link matching `condition` in one UPDATE; how many were revoked.

        A bulk UPDATE passes no ORM hook: the caller announces the links first (live_events.links_revoked).
        """
        result = db.session.execute(
            update(cls)
            .where(condition, cls.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)  # an UPDATE gives a CursorResult

    @classmethod
    def prune(cls, ended_before: datetime, batch: int = PRUNE_BATCH) -> int:
        """Delete the links that expired or were revoked before `ended_before`, `batch` rows a
        statement; how many were deleted."""
        ended = or_(cls.expires_at < ended_before, cls.revoked_at < ended_before)
        deleted = 0
        while True:
            ids = list(db.session.scalars(select(cls.id).where(ended).order_by(cls.id).limit(batch)))
            if not ids:
                return deleted
            result: Any = db.session.execute(
                delete(cls).where(cls.id.in_(ids)).execution_options(synchronize_session=False)
            )
            deleted += int(result.rowcount or 0)
            if len(ids) < batch:
                return deleted
