"""Public share links (SPEC §3.2): one row per link, the token's `jti` is the row's public id.

The token itself is never stored. It can be minted again from the row (same claims, current key),
which is how the owner's pages show a link's URL, QR code and iframe snippet after creation.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from maestro_web.extensions import Model, db
from maestro_web.models.base import as_utc, new_public_id, utcnow
from maestro_web.models.graph import Graph, Role
from maestro_web.models.user import User

LABEL_MAX_LENGTH = 80


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The link's own expiry; the owner may extend it, never past token_expires_at (the token's exp).
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    token_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    last_viewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    max_views: Mapped[int | None] = mapped_column(Integer)
    # Space-separated origins that may embed the link in an iframe; none means it may not be embedded.
    allowed_origins: Mapped[str] = mapped_column(Text, default="")

    graph: Mapped[Graph] = relationship()
    creator: Mapped[User] = relationship()

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
    def expires_at_utc(self) -> datetime:
        return as_utc(self.expires_at)

    @property
    def origins(self) -> list[str]:
        return self.allowed_origins.split()

    @property
    def embeddable(self) -> bool:
        return bool(self.origins)

    def status(self, now: datetime | None = None) -> str:
        """active, paused, expired, revoked or used up; the most final state wins. The public view
        applies the same rules in SQL (analytics_front/public_routes.py, _COUNT_VIEW_SQL)."""
        now = now or utcnow()
        if self.revoked_at is not None:
            return "revoked"
        if as_utc(self.expires_at) <= now:
            return "expired"
        if self.max_views is not None and self.view_count >= self.max_views:
            return "used up"
        if self.paused_at is not None:
            return "paused"
        return "active"

    def creator_may_share(self) -> bool:
        """A link stops when its creator no longer holds Write on the graph (SPEC §3.2)."""
        role = self.graph.role_of(self.creator)
        return role is not None and role >= Role.WRITE
