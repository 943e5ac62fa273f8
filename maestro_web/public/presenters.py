"""What a graph page shows, named field by field (Redash's public_dashboard() habit): the allow-list of
what a visitor sees, which the owner's picture page (graphs/analytics_routes.py) reuses."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from markupsafe import Markup

from maestro_web.domain.figures import FIGURES as FIGURE_ROWS
from maestro_web.domain.figures import HINTS
from maestro_web.models import GraphResult, ShareLink
from maestro_web.models.graph import GRAPH_TYPES
from maestro_web.models.share_rules import picture_svg
from maestro_web.public.page import Shown

STATUS_TEXT = {
    "process": "Waiting for the analytics worker.",
    "finished": "Analysed.",
    "warning": "Analysed, with warnings.",
    "error": "The analysis failed.",
}

# Figures shown on a page, in this order, with their labels and hints (domain/figures.py, shared with
# the report documents); nothing else of `info` is shown.
FIGURES = tuple((key, label) for key, label, _ in FIGURE_ROWS)


def link_page(link: ShareLink) -> dict[str, Any] | None:
    """The fields a visitor of `link` sees, counted or not (the owner's preview); None for a snapshot
    whose result is gone."""
    shown = link_shown(link)
    return shown_fields(shown, picture_svg(shown.picture_id)) if shown is not None else None


def link_shown(link: ShareLink) -> Shown | None:
    """What a visitor of `link` sees now, read from its rows without counting (the page's own redraw,
    the owner's preview): a snapshot link's pinned result (status, message, figures, picture), else
    the graph as it is now; the same as the counting statement returns for a view. None for a
    snapshot whose result is gone (the rules refuse it first, share_rules.Outcome.SNAPSHOT_GONE; None
    covers a deletion since): never a newer picture in its place."""
    graph = link.graph
    # The description only when the owner chose to show it to visitors (Graph.show_description).
    description = graph.description if graph.show_description else None
    if not link.is_snapshot:
        picture = GraphResult.latest_for(graph, with_picture=True)
        return Shown(
            graph.name,
            graph.type,
            description,
            graph.status,
            graph.message,
            _json(graph.info),
            picture.id if picture else None,
            picture.created_at if picture else None,
            False,
            None,
        )
    pinned = link.pinned_result
    if pinned is None:
        return None
    return Shown(
        graph.name,
        graph.type,
        description,
        pinned.status,
        pinned.message,
        _json(pinned.info),
        pinned.id if pinned.svg is not None else None,
        pinned.created_at,
        True,
        link.snapshot_version,
    )


def _json(info: dict[str, Any] | None) -> str | None:
    return json.dumps(info) if info is not None else None


def shown_fields(shown: Shown, svg: str | None) -> dict[str, Any]:
    """The fields of a page that shows `shown`, with its picture's SVG (read by the caller)."""
    info = json.loads(shown.info_json) if shown.info_json is not None else None
    return page_fields(
        shown.name,
        shown.type,
        shown.status,
        shown.message,
        info,
        svg,
        shown.drawn_at,
        snapshot=shown.snapshot,
        description=shown.description,
        version=shown.version,
    )


def page_fields(
    name: str,
    type_: str,
    status: str,
    message: str,
    info: dict[str, Any] | None,
    svg: str | None,
    as_of: datetime | None,
    snapshot: bool = False,
    description: str | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """`as_of` is when the picture was drawn; `snapshot` says that the page is a snapshot link's
    pinned result ("Snapshot as of …"), not the graph as it is now; `description` is shown to visitors
    only when the owner chose so (None otherwise); `version` the graph's version the snapshot link
    was made from (SPEC §13), if known."""
    info = info or {}
    return {
        "name": name,
        "type": GRAPH_TYPES.get(type_, type_),
        "status": status,
        "status_text": STATUS_TEXT.get(status, status),
        "message": message,
        "figures": [(label, info[key]) for key, label in FIGURES if isinstance(info.get(key), (int, float))],
        "hints": HINTS,
        "kinds": _counts(info.get("kinds")),
        "depths": _counts(info.get("depth_histogram")),
        "entry_points": [str(name) for name in info.get("entry_points", [])[:50]]
        if isinstance(info.get("entry_points"), list)
        else [],
        # Sanitised by an allow-list when the worker posted it (see ingest/routes.py / ingest/svg.py).
        "svg": Markup(svg) if svg is not None else None,
        "as_of": as_of,
        "snapshot": snapshot,
        "description": description or None,
        "version": version,
    }


def _counts(value: object) -> list[tuple[str, int]]:
    if not isinstance(value, dict):
        return []
    return [(str(k), v) for k, v in value.items() if isinstance(v, int)][:50]
