"""Reports (SPEC §12): a document of one graph made by the report service for the person who asked.

The file lives in the row (`data`, deferred: lists never load it), written once, in the same
statement that marks the report `ready`: a report is either ready with its whole file, or running or
failed with none. One store for both databases, in the backups with everything else, and nothing to
clean on disk (docs/reports.md).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    delete,
    false,
    select,
    update,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from maestro_web.extensions import Model, db
from maestro_web.models.base import UTCDateTime, new_public_id, utcnow
from maestro_web.models.graph import Graph
from maestro_web.models.user import User

REPORT_FORMATS = ("pdf", "xlsx", "csv")
REPORT_STATUSES = ("running", "ready", "failed")
MESSAGE_MAX_LENGTH = 1000
# The service has a command token's life (15 minutes) to upload; after that and a margin, a report
# still `running` belongs to a service that died.
RUNNING_AT_MOST = timedelta(seconds=900 + 60)
STOPPED_MESSAGE = "The report service stopped before the report was finished; ask for it again."


class Report(Model):
    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_graph_created", "graph_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"))
    format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="running")
    message: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int | None] = mapped_column(Integer)
    since: Mapped[int | None] = mapped_column(Integer)  # the version "changes since" starts from
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    data: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    # Made by `flask reports weekly` for the graph's subscribers: mailed to them once ready (0018).
    weekly: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    graph: Mapped[Graph] = relationship()
    requested_by: Mapped[User | None] = relationship()

    @classmethod
    def of_graph(cls, graph: Graph, public_id: str) -> Report | None:
        return db.session.scalar(select(cls).where(cls.graph_id == graph.id, cls.public_id == public_id))

    @classmethod
    def list_for(cls, graph: Graph, limit: int = 100) -> list[Report]:
        return list(
            db.session.scalars(
                select(cls).where(cls.graph_id == graph.id).order_by(cls.created_at.desc(), cls.id.desc()).limit(limit)
            )
        )

    def finish(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)
        self.status = "ready"
        self.message = ""
        self.finished_at = utcnow()

    def fail(self, message: str) -> None:
        self.data = None
        self.size = None
        self.status = "failed"
        self.message = message[:MESSAGE_MAX_LENGTH]
        self.finished_at = utcnow()

    @classmethod
    def end_stale(cls, graph: Graph | None = None) -> int:
        """End `failed` every report (of `graph`, or anywhere) still running past its command token's
        life: its service died. Committed when any was (a read that ends them must not lose it)."""
        where = [cls.status == "running", cls.created_at < utcnow() - RUNNING_AT_MOST]
        if graph is not None:
            where.append(cls.graph_id == graph.id)
        ended = db.session.execute(
            update(cls)
            .where(*where)
            .values(status="failed", message=STOPPED_MESSAGE, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        count = int(ended.rowcount or 0)  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
        if count:
            db.session.commit()
        return count

    @classmethod
    def prune(cls, before: datetime) -> int:
        """Delete the reports made before `before`; how many."""
        deleted = db.session.execute(
            delete(cls).where(cls.created_at < before).execution_options(synchronize_session=False)
        )
        return int(deleted.rowcount or 0)  # type: ignore[attr-defined]


class ReportSubscription(Model):
    """A reader of a graph who gets its PDF by e-mail in weeks when the graph changed (SPEC §12).

    Chosen by an Admin of the graph; `code` is the one-click unsubscribe link's capability (random,
    it only ever unsubscribes). Ends when the reader unsubscribes, is removed by an Admin, or is found
    without Read when a weekly report goes out.
    """

    __tablename__ = "report_subscriptions"
    __table_args__ = (UniqueConstraint("graph_id", "user_id", name="uq_report_subscriptions_graph_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True, default=lambda: secrets.token_urlsafe(32))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_version: Mapped[int | None] = mapped_column(Integer)  # the graph's newest version in the last mail

    graph: Mapped[Graph] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @classmethod
    def list_for(cls, graph: Graph) -> list[ReportSubscription]:
        return list(db.session.scalars(select(cls).where(cls.graph_id == graph.id).order_by(cls.id)))

    @classmethod
    def get_by_code(cls, code: str) -> ReportSubscription | None:
        return db.session.scalar(select(cls).where(cls.code == code)) if 0 < len(code) <= 64 else None
