"""A source, a crawl, a version as JSON (SPEC §11, §13): the API's answers and the pages' data."""
from __future__ import annotations

from typing import Any

from maestro_web.models import DiscoveryCrawl, DiscoverySource, GraphVersion


def crawl_json(crawl: DiscoveryCrawl | None) -> dict[str, Any] | None:
    if crawl is None:
        return None
    return {"id": crawl.public_id, "status": crawl.status, "message": crawl.message,
            "started_at": crawl.started_at.isoformat(),
            "finished_at": crawl.finished_at.isoformat() if crawl.finished_at else None,
            "added": crawl.added, "removed": crawl.removed, "unchanged": crawl.unchanged}


def source_json(source: DiscoverySource) -> dict[str, Any]:
    """Never the input or the credentials: only the last 4 characters of the key id."""
    return {"id": source.public_id, "kind": source.kind, "label": source.label, "schedule": source.schedule,
            "settings": source.settings or {},
            "credentials": {"key_id_end": source.key_id_end} if source.key_id_end else None,
            "input_size": source.input_size, "created_at": source.created_at.isoformat(),
            "last_crawl": crawl_json(source.last_crawl())}


def version_json(version: GraphVersion) -> dict[str, Any]:
    by: dict[str, Any] = {}
    if version.user is not None:
        by["user"] = {"id": version.user.public_id, "name": version.user.name}
    if version.source_public_id is not None:
        by["source"] = {"id": version.source_public_id, "label": version.source_label}
    return {"version": version.number, "at": version.at.isoformat(), "by": by,
            "added": {"nodes": list(version.added.get("nodes", [])), "edges": list(version.added.get("edges", []))},
            "removed": {"nodes": list(version.removed.get("nodes", [])),
                        "edges": list(version.removed.get("edges", []))}}
