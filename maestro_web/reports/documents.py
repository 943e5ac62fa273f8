"""A graph as a document a person can hand on: PDF, XLSX or CSV (SPEC §12).

Pure: bytes in memory from data the caller read through the app's API. No Flask, no database, no
app config (.importlinter), no file written, nothing fetched: a failure leaves nothing behind.

Where each input comes from (the report service reads them with its report token, as the user who
asked; every call needs Read on the graph):

- `graph`: the body of `GET /api/graphs/<id>` (name, type, status, message, `info`, `spec`, owner…),
  **plus** the key `"dependencies"` holding the body of `GET /api/graphs/<id>/dependencies`
  (`{"nodes": [{name, kind, origins}], "edges": [{source, target, origins: [{source, evidence,
  confidence, last_seen, calls?, p50_ms?, p99_ms?}]}]}`): the hand-written spec united with what
  discovery found, with the evidence per dependency. `GET /api/graphs/<id>` alone has only the
  hand-written `spec`; without `"dependencies"` the documents fall back to parsing that spec (no
  discovered services, no evidence) and say so in the PDF.
- `analytics`: the figures of the latest finished run: the `info` member of `GET /api/graphs/<id>`
  (the worker's figures, SPEC §6: nodes, edges, density, max_depth, cycles, components, entry_points,
  kinds, depth_histogram, cycle_examples…), None when the graph was never drawn. Their plain-words
  hints are not in the API: they come from `maestro_web/domain/figures.py`, the wording the graph
  page prints (templates/analytics/_figures.html).
- `svg`: the picture as the app serves it to its owner: `GET /api/graphs/<id>/picture` for the
  report service's token (the same sanitized SVG as the owner's `GET /analytics/graphs/<id>/svg`;
  404 when there is none -> None). It is still treated as untrusted here (documents_picture.py).
- `versions`: the `items` of `GET /api/graphs/<id>/versions` (newest first, 100 a page; follow
  `?before=<next>` until the items reach `since`), only needed when `since` is set.
- Source labels: `/dependencies` names a discovery source by its public id; the label is taken from
  the versions (`by.source.label`) when one of them names it. (`GET /api/graphs/<id>/sources` has the
  labels too, but needs Write.)

Formats: `render("pdf" | "xlsx" | "csv", data) -> bytes`, at most MAX_BYTES, else ReportError; the
words of every ReportError are for the person who asked. How services and dependencies fit into one
CSV, and what the PDF shows for a picture too big for paper: docs/reports.md, "Documents".
"""

from __future__ import annotations

import csv
import io
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from maestro_web.domain.figures import DEPTHS_HINT, ENTRY_POINTS_HINT, FIGURES, KINDS_HINT

MAX_BYTES = 20 * 1024 * 1024  # SPEC §12: the upload limit of a report file
_PDF_LOCK = threading.Lock()

MEDIA_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
SUFFIXES: dict[str, str] = {"pdf": ".pdf", "xlsx": ".xlsx", "csv": ".csv"}

HAND = "hand"
LIST_CUT = 40  # names listed in one table cell before "… and N more" (the XLSX and CSV keep them all)


@dataclass(frozen=True)
class ReportInput:
    graph: Mapping[str, Any]  # GET /api/graphs/<id> body (+ "dependencies", see above)
    analytics: Mapping[str, Any] | None  # the latest finished run's figures (`info`), None if never drawn
    svg: str | None  # the graph's picture SVG as the app serves it to its owner
    versions: Sequence[Mapping[str, Any]]  # GET /api/graphs/<id>/versions items (newest first)
    since: int | None  # the version "changes since" starts from, None = no changes section
    requested_by: str  # who asked (name or e-mail as the API shows it)
    as_of: datetime  # aware UTC


class ReportError(Exception):
    """The document cannot be made; the message is for people."""


# --- what every format shows ---------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    name: str
    kind: str
    calls: tuple[str, ...]
    called_by: tuple[str, ...]
    in_cycle: bool
    found_by: tuple[str, ...]


@dataclass(frozen=True)
class Dependency:
    source: str
    target: str
    found_by: tuple[str, ...]  # "the spec" and/or discovery sources' labels
    evidence: tuple[str, ...]  # plain words from discovery; empty for a hand-written line
    confidence: str
    last_seen: datetime | None
    calls: int | None
    p50_ms: float | None
    p99_ms: float | None
    in_cycle: bool


@dataclass(frozen=True)
class Change:
    version: int
    at: datetime | None
    by: str
    added_nodes: tuple[str, ...]
    added_edges: tuple[tuple[str, str], ...]
    removed_nodes: tuple[str, ...]
    removed_edges: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    hint: str


@dataclass
class Contents:
    name: str
    graph_type: str
    status: str
    message: str
    description: str
    as_of: datetime
    requested_by: str
    services: list[Service]
    dependencies: list[Dependency]
    figures: list[Figure]
    drawn: bool
    from_spec_only: bool
    since: int | None
    changes: list[Change] = field(default_factory=list)


def contents(data: ReportInput) -> Contents:
    """The tables and figures every format shows, from the API's JSON (anything unexpected is skipped)."""
    graph = data.graph
    labels = _source_labels(data.versions)
    dependencies = graph.get("dependencies")
    from_spec_only = not isinstance(dependencies, Mapping)
    if from_spec_only:
        nodes, edges = _from_spec(str(graph.get("spec") or ""))
    else:
        assert isinstance(dependencies, Mapping)
        nodes, edges = _from_dependencies(dependencies, labels)

    calls: dict[str, list[str]] = {name: [] for name in nodes}
    called_by: dict[str, list[str]] = {name: [] for name in nodes}
    for source, target in edges:
        for name in (source, target):
            if name not in nodes:
                nodes[name] = {"kind": "", "found_by": []}
                calls[name], called_by[name] = [], []
        calls[source].append(target)
        called_by[target].append(source)
    cyclic = _in_cycles(calls)
    services = [
        Service(
            name,
            entry["kind"],
            tuple(sorted(calls[name], key=str.casefold)),
            tuple(sorted(called_by[name], key=str.casefold)),
            name in cyclic,
            tuple(entry["found_by"]),
        )
        for name, entry in nodes.items()
    ]
    services.sort(key=lambda s: s.name.casefold())
    rows = [
        Dependency(
            source,
            target,
            in_cycle=source in cyclic and target in cyclic and _same_cycle(source, target, cyclic),
            **details,
        )
        for (source, target), details in edges.items()
    ]
    rows.sort(key=lambda d: (d.source.casefold(), d.target.casefold()))
    result = Contents(
        name=_text(graph.get("name")) or "Graph",
        graph_type=_type_word(graph.get("type")),
        status=_status_word(graph.get("status")),
        message=_text(graph.get("message")),
        description=_text(graph.get("description")),
        as_of=data.as_of.astimezone(UTC),
        requested_by=_text(data.requested_by),
        services=services,
        dependencies=rows,
        figures=_figures(data.analytics),
        drawn=data.analytics is not None,
        from_spec_only=from_spec_only,
        since=data.since,
    )
    if data.since is not None:
        result.changes = _changes(data.versions, data.since)
    return result


def _text(value: Any) -> str:
    """A string for a document: C0 controls (other than tab and newline) removed, as XML and
    spreadsheets refuse them."""
    if value is None:
        return ""
    return _CONTROL.sub("", str(value))


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")

_TYPES = {"bussiness": "Business", "business": "Business", "infra": "Infrastructure"}
_STATUS = {"process": "Queued", "finished": "Ready", "warning": "Ready with warnings", "error": "Failed"}


def _type_word(value: Any) -> str:
    return _TYPES.get(str(value), _text(value))


def _status_word(value: Any) -> str:
    return _STATUS.get(str(value), "Unknown")


def _source_labels(versions: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in versions:
        by = item.get("by") if isinstance(item, Mapping) else None
        source = by.get("source") if isinstance(by, Mapping) else None
        if isinstance(source, Mapping) and source.get("id") and source.get("label"):
            labels.setdefault(str(source["id"]), _text(source["label"]))
    return labels


def _origin_word(origin: Any, labels: Mapping[str, str]) -> str:
    if origin == HAND:
        return "the spec"
    key = _text(origin)
    return f"source “{labels[key]}”" if key in labels else f"source {key}"


def _from_dependencies(
    body: Mapping[str, Any], labels: Mapping[str, str]
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    nodes: dict[str, dict[str, Any]] = {}
    for item in body.get("nodes") or []:
        if not isinstance(item, Mapping) or not item.get("name"):
            continue
        origins = item.get("origins")
        if not isinstance(origins, list):
            origins = []
        nodes[_text(item["name"])] = {
            "kind": _text(item.get("kind")),
            "found_by": list(dict.fromkeys(_origin_word(o, labels) for o in origins)),
        }
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    for item in body.get("edges") or []:
        if not isinstance(item, Mapping) or not item.get("source") or not item.get("target"):
            continue
        found_by: list[str] = []
        evidence: list[str] = []
        confidence: list[str] = []
        last_seen: datetime | None = None
        observed: dict[str, Any] = {"calls": None, "p50_ms": None, "p99_ms": None}
        for origin in item.get("origins") or []:
            if not isinstance(origin, Mapping):
                continue
            found_by.append(_origin_word(origin.get("source"), labels))
            evidence.extend(_text(e) for e in origin.get("evidence") or [] if e)
            if origin.get("confidence") and origin.get("source") != HAND:
                confidence.append(_text(origin["confidence"]))
            seen = _when(origin.get("last_seen"))
            if seen is not None and (last_seen is None or seen > last_seen):
                last_seen = seen
            for key in observed:
                value = origin.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    observed[key] = value if observed[key] is None else max(observed[key], value)
        edges[(_text(item["source"]), _text(item["target"]))] = {
            "found_by": tuple(dict.fromkeys(found_by)),
            "evidence": tuple(dict.fromkeys(evidence)),
            "confidence": ", ".join(dict.fromkeys(confidence)),
            "last_seen": last_seen,
            "calls": int(observed["calls"]) if observed["calls"] is not None else None,
            "p50_ms": float(observed["p50_ms"]) if observed["p50_ms"] is not None else None,
            "p99_ms": float(observed["p99_ms"]) if observed["p99_ms"] is not None else None,
        }
    return nodes, edges


def _from_spec(spec: str) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    from maestro_web.domain.spec import SpecError, parse_spec  # pure; only for a graph without /dependencies

    try:
        parsed = parse_spec(spec)
    except SpecError:
        return {}, {}
    nodes = {
        name: {"kind": _text(attributes.get("kind")), "found_by": ["the spec"]}
        for name, attributes in parsed.nodes.items()
    }
    edges = {
        pair: {
            "found_by": ("the spec",),
            "evidence": (),
            "confidence": "",
            "last_seen": None,
            "calls": None,
            "p50_ms": None,
            "p99_ms": None,
        }
        for pair in parsed.edges
    }
    return nodes, edges


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _in_cycles(calls: Mapping[str, list[str]]) -> dict[str, int]:
    """Each node that sits on a cycle -> the id of its strongly connected component (Tarjan's
    algorithm without recursion: 2,000 nodes in a chain must not hit Python's recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    component: dict[str, int] = {}
    counter = 0
    for root in calls:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = calls[node]
            if position < len(targets):
                work.append((node, position + 1))
                target = targets[position]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1 or node in calls[node]:
                    for member in members:
                        component[member] = index[node]
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return component


def _same_cycle(source: str, target: str, cyclic: Mapping[str, int]) -> bool:
    return cyclic[source] == cyclic[target]


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if math.isfinite(value) else "—"
    return _text(value)


def _figures(info: Mapping[str, Any] | None) -> list[Figure]:
    if not info:
        return []
    figures = [
        Figure(label, _number(info[key]), hint)
        for key, label, hint in FIGURES
        if isinstance(info.get(key), (int, float)) and not isinstance(info.get(key), bool)
    ]
    if info.get("cycles_capped") and figures:
        figures = [Figure(f.label, f"more than {f.value}", f.hint) if f.label == "Cycles" else f for f in figures]
    entry_points = info.get("entry_points")
    if isinstance(entry_points, list) and entry_points:
        figures.append(Figure("Entry points", ", ".join(_text(n) for n in entry_points[:50]), ENTRY_POINTS_HINT))
    kinds = info.get("kinds")
    if isinstance(kinds, Mapping) and kinds:
        figures.append(
            Figure(
                "Kinds",
                ", ".join(f"{_text(k)}: {v}" for k, v in list(kinds.items())[:50] if isinstance(v, int)),
                KINDS_HINT,
            )
        )
    depths = info.get("depth_histogram")
    if isinstance(depths, Mapping) and depths:
        figures.append(
            Figure(
                "Nodes per depth",
                ", ".join(f"{_text(k)}: {v}" for k, v in list(depths.items())[:50] if isinstance(v, int)),
                DEPTHS_HINT,
            )
        )
    return figures


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple((_text(p[0]), _text(p[1])) for p in value or [] if isinstance(p, (list, tuple)) and len(p) == 2)


def _names(value: Any) -> tuple[str, ...]:
    return tuple(_text(n) for n in value or [] if isinstance(n, (str, int)))


def _changes(versions: Sequence[Mapping[str, Any]], since: int) -> list[Change]:
    changes = []
    for item in versions:
        if not isinstance(item, Mapping) or not isinstance(item.get("version"), int) or item["version"] <= since:
            continue
        by = item.get("by") if isinstance(item.get("by"), Mapping) else {}
        assert isinstance(by, Mapping)
        user, source = by.get("user"), by.get("source")
        if isinstance(user, Mapping) and user.get("name"):
            who = _text(user["name"])
        elif isinstance(source, Mapping):
            who = f"a crawl of “{_text(source.get('label') or source.get('id'))}”"
        else:
            who = "someone"
        added = item.get("added") if isinstance(item.get("added"), Mapping) else {}
        removed = item.get("removed") if isinstance(item.get("removed"), Mapping) else {}
        assert isinstance(added, Mapping) and isinstance(removed, Mapping)
        changes.append(
            Change(
                item["version"],
                _when(item.get("at")),
                who,
                _names(added.get("nodes")),
                _pairs(added.get("edges")),
                _names(removed.get("nodes")),
                _pairs(removed.get("edges")),
            )
        )
    changes.sort(key=lambda c: -c.version)
    return changes


# --- the formats -------------------------------------------------------------------------------------


def render(fmt: str, data: ReportInput, progress: Callable[[float], None] | None = None) -> bytes:
    """The document in `fmt` ("pdf", "xlsx", "csv"), at most MAX_BYTES; ReportError says why not.

    `progress`, if given, is called with the share done so far (0 to 1) as a PDF's parts are laid
    out (a few times for a small graph, about 40 times at the limit): the service's
    `report.progress` events. XLSX and CSV take a second or two at most and report nothing."""
    if fmt not in MEDIA_TYPES:
        raise ReportError(f"Reports come as PDF, XLSX or CSV, not “{_text(fmt)[:20]}”.")
    if data.as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    body = contents(data)
    if fmt == "csv":
        result = _csv(body)
    elif fmt == "xlsx":
        result = _xlsx(body)
    else:
        from maestro_web.reports import documents_pdf  # WeasyPrint loads Pango: only when a PDF is asked for

        # One PDF at a time per process: laying out is Python under the GIL, so two threads take as
        # long together as one after the other, and one at a time keeps a process within its memory
        # (about 200 MB at §4's limit) and Pango's shared font map out of concurrent use.
        with _PDF_LOCK:
            result = documents_pdf.pdf(body, data.svg, progress)
    if len(result) > MAX_BYTES:
        raise ReportError(
            f"The {fmt.upper()} would be {len(result) / 1024 / 1024:.1f} MiB, over the "
            f"{MAX_BYTES / 1024 / 1024:g} MiB a report may be. Try the CSV, or a report without the changes."
        )
    return result


# Spreadsheet tools run a cell that starts with one of these as a formula (CSV injection): a name
# like "=HYPERLINK(...)" in a CSV gets a leading apostrophe, which those tools show as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

XLSX_CELL_CHARS = 32_767

CSV_COLUMNS = (
    "Source",
    "Source kind",
    "Target",
    "Target kind",
    "Found by",
    "Evidence",
    "Confidence",
    "Last seen (UTC)",
    "Calls observed",
    "p50 ms",
    "p99 ms",
    "In a cycle",
)


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv(body: Contents) -> bytes:
    """One table: a row per dependency (with the kind of both ends), then a row for each service
    that has no dependency at all (its target empty), so every service appears and every row has
    the same columns."""
    kinds = {s.name: s.kind for s in body.services}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for d in body.dependencies:
        writer.writerow(
            [
                _cell(d.source),
                _cell(kinds.get(d.source, "")),
                _cell(d.target),
                _cell(kinds.get(d.target, "")),
                _cell("; ".join(d.found_by)),
                _cell("; ".join(d.evidence)),
                _cell(d.confidence),
                d.last_seen.strftime("%Y-%m-%d %H:%M:%S") if d.last_seen else "",
                "" if d.calls is None else d.calls,
                "" if d.p50_ms is None else d.p50_ms,
                "" if d.p99_ms is None else d.p99_ms,
                "yes" if d.in_cycle else "no",
            ]
        )
    for s in body.services:
        if not s.calls and not s.called_by:
            writer.writerow(
                [
                    _cell(s.name),
                    _cell(s.kind),
                    "",
                    "",
                    _cell("; ".join(s.found_by)),
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "yes" if s.in_cycle else "no",
                ]
            )
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _xlsx(body: Contents) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    bold = Font(bold=True)

    def sheet(title: str, headers: Sequence[str], widths: Sequence[int], rows: Any, count: int) -> None:
        from openpyxl.cell import WriteOnlyCell

        ws = book.create_sheet(title)
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{count + 1}"
        for index, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(index)].width = width
        header_cells = []
        for text in headers:
            cell = WriteOnlyCell(ws, value=text)
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            header_cells.append(cell)
        ws.append(header_cells)
        for row in rows:
            cells = []
            for value in row:
                cell = WriteOnlyCell(ws, value=value)
                if isinstance(value, str):
                    if len(value) > XLSX_CELL_CHARS:  # Excel's limit: it "repairs" a longer cell away
                        cell.value = value[: XLSX_CELL_CHARS - 1] + "…"
                    cell.data_type = "s"  # never a formula, whatever the name starts with
                elif isinstance(value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm:ss"
                cells.append(cell)
            ws.append(cells)

    def naive(moment: datetime | None) -> datetime | None:
        return moment.astimezone(UTC).replace(tzinfo=None) if moment is not None else None

    longest = max((len(s.name) for s in body.services), default=10)
    name_width = min(max(12, longest + 2), 48)
    sheet(
        "Services",
        ("Name", "Kind", "Calls (count)", "Called by (count)", "In a cycle", "Calls", "Called by", "Found by"),
        (name_width, 12, 12, 14, 10, 48, 48, 24),
        (
            (
                s.name,
                s.kind or None,
                len(s.calls),
                len(s.called_by),
                s.in_cycle,
                ", ".join(s.calls) or None,
                ", ".join(s.called_by) or None,
                "; ".join(s.found_by) or None,
            )
            for s in body.services
        ),
        len(body.services),
    )
    sheet(
        "Dependencies",
        (
            "Source",
            "Target",
            "Found by",
            "Evidence",
            "Confidence",
            "Last seen (UTC)",
            "Calls observed",
            "p50 ms",
            "p99 ms",
            "In a cycle",
        ),
        (name_width, name_width, 24, 60, 12, 20, 14, 10, 10, 10),
        (
            (
                d.source,
                d.target,
                "; ".join(d.found_by) or None,
                "; ".join(d.evidence) or None,
                d.confidence or None,
                naive(d.last_seen),
                d.calls,
                d.p50_ms,
                d.p99_ms,
                d.in_cycle,
            )
            for d in body.dependencies
        ),
        len(body.dependencies),
    )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
