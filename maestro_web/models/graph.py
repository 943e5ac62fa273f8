"""Graphs, the roles users hold on them, and the runs the analytics worker takes (SPEC §4)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    case,
    event,
    false,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from maestro_web.extensions import Model, db
from maestro_web.metrics import app as app_metrics
from maestro_web.models.base import UTCDateTime, new_public_id, utcnow
from maestro_web.models.user import User

GRAPH_TYPES = {"bussiness": "Business", "infra": "Infrastructure"}  # Maestro's spelling
# Accepted on the way in, stored and answered in Maestro's spelling.
GRAPH_TYPE_ALIASES = {"business": "bussiness"}
GRAPH_TYPE_CHOICES_TEXT = "business (or Maestro's spelling, bussiness) or infra"


def normalize_graph_type(value: Any) -> Any:
    """Maestro's spelling for a type typed the usual way ("business"); anything else unchanged."""
    return GRAPH_TYPE_ALIASES.get(value, value) if isinstance(value, str) else value


GRAPH_STATUSES = ("process", "finished", "warning", "error")
NAME_MAX_LENGTH = 120
DESCRIPTION_MAX_LENGTH = 2000


class Role(enum.IntEnum):
    """Maestro's roles: each includes everything below it."""

    READ = 1
    WRITE = 3
    ADMIN = 7

    @property
    def label(self) -> str:
        return self.name.capitalize()

    # What a page may offer: templates ask these and never compare roles themselves.
    @property
    def can_write(self) -> bool:
        return self >= Role.WRITE

    @property
    def can_admin(self) -> bool:
        return self >= Role.ADMIN


class Graph(Model):
    __tablename__ = "graphs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    type: Mapped[str] = mapped_column(String(16), default="infra")
    description: Mapped[str] = mapped_column(Text, default="")
    # The owner's choice: visitors of its share links see the description too (off by default, 0015).
    show_description: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    spec: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="process", index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)  # quotas, fair claims (0009)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    owner: Mapped[User] = relationship()
    roles: Mapped[list[GraphRole]] = relationship(back_populates="graph", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<Graph {self.public_id}>"

    @classmethod
    def get_by_public_id(cls, public_id: str) -> Graph | None:
        """The graph with this id, unless it is deleted."""
        return db.session.scalar(select(cls).where(cls.public_id == public_id, cls.deleted_at.is_(None)))

    @property
    def type_label(self) -> str:
        return GRAPH_TYPES.get(self.type, self.type)

    def role_of(self, user: User | None) -> Role | None:
        if user is None:
            return None
        value = db.session.scalar(
            select(GraphRole.role).where(GraphRole.graph_id == self.id, GraphRole.user_id == user.id)
        )
        return Role(value) if value is not None else None

    def admin_count(self) -> int:
        return (
            db.session.scalar(
                select(func.count(GraphRole.id)).where(GraphRole.graph_id == self.id, GraphRole.role == Role.ADMIN)
            )
            or 0
        )

    def current_run(self) -> GraphRun | None:
        return db.session.scalar(
            select(GraphRun).where(GraphRun.graph_id == self.id).order_by(GraphRun.id.desc()).limit(1)
        )

    def shown_status(self) -> str:
        """The status the owner's badges show: `claimed` ("Drawing") while a worker holds the queued
        run, else the graph's own status (`process` reads "Queued" until a worker claims it)."""
        if self.status == "process":
            run = self.current_run()
            if run is not None and run.state == "claimed":
                return "claimed"
        return self.status

    def queue_run(self) -> GraphRun:
        """Supersede any unfinished run and queue a new one: status goes back to `process`."""
        self.supersede_open_runs()
        run = GraphRun(graph=self)
        db.session.add(run)
        self.status = "process"
        self.message = ""  # the status says it all; the last run's message no longer applies
        app_metrics.RUNS_QUEUED.inc()
        return run

    def soft_delete(self) -> None:
        """Into the Trash: hidden from every page and list, its links stopped (share_rules), kept
        until `flask graphs purge` removes it."""
        self.deleted_at = utcnow()
        self.supersede_open_runs()

    def restore(self) -> None:
        """Out of the Trash: its links work again unless they expired or were revoked meanwhile. A graph
        deleted while waiting for the worker (its run was superseded then) is queued again."""
        self.deleted_at = None
        if self.status == "process":
            self.queue_run()

    @classmethod
    def get_deleted_by_public_id(cls, public_id: str, deleted_after: datetime) -> Graph | None:
        """The graph with this id if it is in the Trash (deleted after `deleted_after`)."""
        return db.session.scalar(select(cls).where(cls.public_id == public_id, cls.deleted_at > deleted_after))

    def supersede_open_runs(self) -> None:
        """End this graph's queued or claimed runs as `superseded` (a new run, or the graph deleted)."""
        db.session.execute(
            update(GraphRun)
            .where(GraphRun.graph_id == self.id, GraphRun.state.in_(("queued", "claimed")))
            .values(state="superseded", finished_at=utcnow())
        )


# PostgreSQL only: a trigram index so that `?q=` (a substring) does not read every graph (migration 0005).
Index(
    "ix_graphs_name_trgm",
    func.lower(Graph.name).label("name_lower"),
    postgresql_using="gin",
    postgresql_ops={"name_lower": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")


class GraphRole(Model):
    __tablename__ = "graph_roles"
    __table_args__ = (
        UniqueConstraint("graph_id", "user_id", name="uq_graph_roles_graph_user"),
        # "The graphs I hold a role on, newest first" walks this backwards (migration 0005).
        Index("ix_graph_roles_user_graph", "user_id", "graph_id"),
        # The same with a status filter, counted and paged without reading any other graph (0007).
        Index("ix_graph_roles_user_status_graph", "user_id", "graph_status", "graph_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A copy of the graph's status for the user's filtered list (NULL once the graph is deleted),
    # kept by the flush events below: ?status= walks the index above instead of looking up every
    # graph the user holds a role on (docs/scale.md). graphs.status stays the truth and is checked too.
    graph_status: Mapped[str | None] = mapped_column(String(16))

    graph: Mapped[Graph] = relationship(back_populates="roles")
    user: Mapped[User] = relationship()

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


class GraphRun(Model):
    """One request for analysis: each spec change or re-run is one run the worker takes."""

    __tablename__ = "graph_runs"
    __table_args__ = (Index("ix_graph_runs_graph_run", "graph_id", "id"),)  # newest run per graph (0005)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"))
    # queued -> claimed -> finished | failed; superseded when a newer run replaces it
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    graph: Mapped[Graph] = relationship()


class GraphResult(Model):
    """What a worker reported for one run; the newest few per graph are kept (SPEC §5)."""

    __tablename__ = "graph_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"), index=True)
    # One result per run: a repeated POST of the same run finds this row instead of adding one.
    run_id: Mapped[int] = mapped_column(ForeignKey("graph_runs.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    # Stored already sanitised (allow-list): the worker's SVG is untrusted and never kept raw.
    # PostgreSQL compresses it with lz4, not pglz (migration 0008: a fifth of the CPU per 100 KB).
    svg: Mapped[str | None] = mapped_column(Text)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # Ingest builds a result from the graph and the run it already holds: the live event of a new
    # result reads their public ids from these, without a query (live_events._on_new).
    graph: Mapped[Graph] = relationship()
    run: Mapped[GraphRun] = relationship()

    @classmethod
    def latest_for(cls, graph: Graph, with_picture: bool = False) -> GraphResult | None:
        query = select(cls).where(cls.graph_id == graph.id)
        if with_picture:
            query = query.where(cls.svg.is_not(None))
        return db.session.scalar(query.order_by(cls.id.desc()).limit(1))

    @classmethod
    def get_for_run(cls, run: GraphRun) -> GraphResult | None:
        return db.session.scalar(select(cls).where(cls.run_id == run.id))


# --- graph_roles.graph_status follows the graph ------------------------------------------------------


def _listed_status() -> Any:
    """The status a role's list shows for its graph: the graph's, or NULL once it is deleted."""
    return case((Graph.deleted_at.is_(None), Graph.status))


@event.listens_for(GraphRole, "before_insert")
def _copy_status_to_new_role(_mapper: Mapper[GraphRole], connection: Connection, role: GraphRole) -> None:
    role.graph_status = connection.scalar(select(_listed_status()).where(Graph.id == role.graph_id))


@event.listens_for(Graph, "after_update")
def _copy_status_to_roles(_mapper: Mapper[Graph], connection: Connection, graph: Graph) -> None:
    changed = inspect(graph).attrs
    if changed.status.history.has_changes() or changed.deleted_at.history.has_changes():
        connection.execute(
            update(GraphRole)
            .where(GraphRole.graph_id == graph.id)
            .values(graph_status=select(_listed_status()).where(Graph.id == graph.id).scalar_subquery())
        )
