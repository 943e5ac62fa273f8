"""A source, a crawl, a version as JSON (SPEC §11, §13): the API's answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from maestro_web.models import DiscoveryCrawl, DiscoverySource, GraphVersion
from maestro_web.serializers.graphs import OwnerOut
from maestro_web.serializers.users import person_json

SourceKindName = Literal["kubernetes", "compose", "otlp", "aws"]
ScheduleName = Literal["off", "hourly", "daily", "weekly"]


class CrawlOut(BaseModel):
    id: str
    status: Literal["running", "ok", "partial", "failed"]
    message: str
    started_at: str
    finished_at: str | None
    added: int
    removed: int
    unchanged: int


class CredentialsOut(BaseModel):
    key_id_end: str = Field(description="The last 4 characters of the access key id; nothing else is shown.")


class SourceOut(BaseModel):
    id: str
    kind: SourceKindName
    label: str
    schedule: ScheduleName
    settings: dict[str, Any]
    credentials: CredentialsOut | None
    input_size: int
    created_at: str
    last_crawl: CrawlOut | None


class SourceList(BaseModel):
    items: list[SourceOut]


class CrawlStarted(BaseModel):
    crawl: str


class OriginOut(BaseModel):
    source: str = Field(description="\"hand\" for the spec's lines, else the source's id.")
    evidence: list[str]
    confidence: str
    calls: int | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    last_seen: str | None


class DependencyNodeOut(BaseModel):
    name: str
    kind: str | None
    origins: list[str]


class DependencyEdgeOut(BaseModel):
    source: str
    target: str
    origins: list[OriginOut]


class DependenciesOut(BaseModel):
    nodes: list[DependencyNodeOut]
    edges: list[DependencyEdgeOut]


class ChangeSetOut(BaseModel):
    nodes: list[str]
    edges: list[list[str]]


class VersionByOut(BaseModel):
    user: OwnerOut | None = None
    source: dict[str, str | None] | None = Field(None, description="{id, label} of the source that crawled.")


class VersionOut(BaseModel):
    version: int
    at: str
    by: VersionByOut
    added: ChangeSetOut
    removed: ChangeSetOut


class VersionList(BaseModel):
    items: list[VersionOut]
    next: int | None = Field(description="Pass as ?before= for the older versions; null when none are left.")


def crawl_json(crawl: DiscoveryCrawl | None) -> dict[str, Any] | None:
    if crawl is None:
        return None
    return {
        "id": crawl.public_id,
        "status": crawl.status,
        "message": crawl.message,
        "started_at": crawl.started_at.isoformat(),
        "finished_at": crawl.finished_at.isoformat() if crawl.finished_at else None,
        "added": crawl.added,
        "removed": crawl.removed,
        "unchanged": crawl.unchanged,
    }


def source_json(source: DiscoverySource) -> dict[str, Any]:
    """Never the input or the credentials: only the last 4 characters of the key id."""
    return {
        "id": source.public_id,
        "kind": source.kind,
        "label": source.label,
        "schedule": source.schedule,
        "settings": source.settings or {},
        "credentials": {"key_id_end": source.key_id_end} if source.key_id_end else None,
        "input_size": source.input_size,
        "created_at": source.created_at.isoformat(),
        "last_crawl": crawl_json(source.last_crawl()),
    }


def version_json(version: GraphVersion) -> dict[str, Any]:
    by: dict[str, Any] = {}
    if version.user is not None:
        by["user"] = person_json(version.user)
    if version.source_public_id is not None:
        by["source"] = {"id": version.source_public_id, "label": version.source_label}
    return {
        "version": version.number,
        "at": version.at.isoformat(),
        "by": by,
        "added": {"nodes": list(version.added.get("nodes", [])), "edges": list(version.added.get("edges", []))},
        "removed": {"nodes": list(version.removed.get("nodes", [])), "edges": list(version.removed.get("edges", []))},
    }
