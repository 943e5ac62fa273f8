"""Discovery (SPEC §11) and history (SPEC §13): a graph's sources, their crawls, what each source
discovered, and the versions of a graph's dependencies.

Each source owns the nodes and edges it discovered (rows here, never lines of the hand-written
spec); the graph the worker draws is the union of the spec and every source's rows
(maestro_web/domain/dependencies.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from maestro_web.extensions import Model, db
from maestro_web.models.base import UTCDateTime, new_public_id, utcnow
from maestro_web.models.graph import Graph
from maestro_web.models.user import User

SOURCE_KINDS = ("kubernetes", "compose", "otlp", "aws")
SCHEDULES = ("off", "hourly", "daily", "weekly")
CRAWL_STATUSES = ("running", "ok", "partial", "failed")
CONFIDENCES = ("declared", "configured", "observed", "inferred")
LABEL_MAX_LENGTH = 120


class DiscoverySource(Model):
    """Where a graph's dependencies are discovered from: an uploaded input, or an AWS account."""

    __tablename__ = "discovery_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(LABEL_MAX_LENGTH))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The input as uploaded (kept so a re-crawl or a schedule reads it again); deferred: lists never load it.
    input: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    input_size: Mapped[int] = mapped_column(Integer, default=0)
    # Provider credentials sealed with the discovery service's public key (maestro_web/discovery/sealing.py);
    # the app can replace them, never open them. key_id_end: the last 4 characters of the access key id.
    sealed_credentials: Mapped[str | None] = deferred(mapped_column(Text))
    key_id_end: Mapped[str | None] = mapped_column(String(4))
    schedule: Mapped[str] = mapped_column(String(16), default="off")
    next_crawl_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    graph: Mapped[Graph] = relationship()
    created_by: Mapped[User | None] = relationship()

    @classmethod
    def of_graph(cls, graph: Graph, public_id: str) -> DiscoverySource | None:
        return db.session.scalar(select(cls).where(cls.graph_id == graph.id, cls.public_id == public_id))

    @classmethod
    def list_for(cls, graph: Graph) -> list[DiscoverySource]:
        return list(db.session.scalars(select(cls).where(cls.graph_id == graph.id).order_by(cls.id)))

    def last_crawl(self) -> DiscoveryCrawl | None:
        return db.session.scalar(
            select(DiscoveryCrawl)
            .where(DiscoveryCrawl.source_id == self.id)
            .order_by(DiscoveryCrawl.id.desc())
            .limit(1)
        )


class DiscoveryCrawl(Model):
    """One crawl of a source: `running` until the service writes its result (or it times out)."""

    __tablename__ = "discovery_crawls"
    __table_args__ = (
        Index("ix_discovery_crawls_source_crawl", "source_id", "id"),
        # At most one running crawl per source, whatever races: a second start fails on this index (409).
        Index(
            "uq_discovery_crawls_running",
            "source_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    source_id: Mapped[int] = mapped_column(ForeignKey("discovery_sources.id", ondelete="CASCADE"))
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="running")
    message: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set when a discovery service took the command: a second service that gets the same crawl refuses it.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # SHA-256 of the claim the service sent with that read: the same service may read again (its answer
    # was lost), another may not. Empty when the service sent none (claimed once, as before).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    added: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)

    source: Mapped[DiscoverySource] = relationship()
    requested_by: Mapped[User | None] = relationship()


class DiscoveredNode(Model):
    """A node one source saw: owned by that source, refreshed or removed only by its crawls."""

    __tablename__ = "discovered_nodes"
    __table_args__ = (UniqueConstraint("source_id", "name", name="uq_discovered_nodes_source_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("discovery_sources.id", ondelete="CASCADE"))
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str | None] = mapped_column(String(32))
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DiscoveredEdge(Model):
    """An edge one source saw, with why (evidence) and how sure (confidence)."""

    __tablename__ = "discovered_edges"
    __table_args__ = (
        UniqueConstraint("source_id", "source_name", "target_name", name="uq_discovered_edges_source_pair"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("discovery_sources.id", ondelete="CASCADE"))
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"), index=True)
    source_name: Mapped[str] = mapped_column(String(100))
    target_name: Mapped[str] = mapped_column(String(100))
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    confidence: Mapped[str] = mapped_column(String(16))
    calls: Mapped[int | None] = mapped_column(Integer)
    p50_ms: Mapped[float | None] = mapped_column(Float)
    p99_ms: Mapped[float | None] = mapped_column(Float)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GraphVersion(Model):
    """One change of a graph's dependencies (SPEC §13): what it added and removed, and who or which
    source made it. `number` counts from 1 per graph."""

    __tablename__ = "graph_versions"
    __table_args__ = (UniqueConstraint("graph_id", "number", name="uq_graph_versions_graph_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("discovery_sources.id", ondelete="SET NULL"))
    # The source's label and id as they were: the version keeps saying who made it after a delete.
    source_label: Mapped[str | None] = mapped_column(String(LABEL_MAX_LENGTH))
    source_public_id: Mapped[str | None] = mapped_column(String(32))
    # {"nodes": [names], "edges": [[source, target], ...]}
    added: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    removed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    user: Mapped[User | None] = relationship()
