"""Invitations: a role on a graph offered to an e-mail address, redeemed through a mailed link (SPEC §4)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from maestro_web.extensions import Model, db
from maestro_web.models.base import UTCDateTime, new_public_id, utcnow
from maestro_web.models.graph import Graph, Role
from maestro_web.models.user import User

# The states a page or the API may show, from the row's own timestamps (never stored twice).
INVITATION_STATES = ("pending", "accepted", "withdrawn", "expired")


class Invitation(Model):
    __tablename__ = "invitations"
    __table_args__ = (
        # "The pending invitations of this graph" and "is this address already invited here".
        Index("ix_invitations_graph_email", "graph_id", "email"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))  # normalized, as User.email
    role: Mapped[int] = mapped_column(Integer)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the link's token
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    graph: Mapped[Graph] = relationship()
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])

    def __repr__(self) -> str:
        return f"<Invitation {self.public_id}>"

    @classmethod
    def get_by_digest(cls, token_digest: str) -> Invitation | None:
        return db.session.scalar(select(cls).where(cls.token_digest == token_digest))

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    def state(self, now: datetime | None = None) -> str:
        """One of INVITATION_STATES; a used or withdrawn invitation stays so after its expiry."""
        if self.accepted_at is not None:
            return "accepted"
        if self.withdrawn_at is not None:
            return "withdrawn"
        if self.expires_at <= (now or utcnow()):
            return "expired"
        return "pending"
