"""The PDF of a report: HTML and CSS laid out by WeasyPrint (documents.py decides what it shows).

- Cover (graph, as of, who asked, what it is) with the contents (page numbers by `target-counter`).
- The picture on landscape pages as vector graphics: documents_picture.py turns the worker's SVG
  (untrusted) into a clean copy fitted to the page, or to several pages, or into a note when the
  graph is too big for paper.
- Figures with their plain-words hints, the services table, the dependencies with their evidence,
  the changes since a version. Tables repeat their header on every page.
- Page numbers ("Page 3 of 12") and the graph's name on every page; black text on white, grey rules,
  nothing that needs colour to be read (in a cycle is "yes", not a red cell).

Nothing is fetched: every URL WeasyPrint meets is refused (`_NoFetching`), the fonts are the
system's (fontconfig), and they are embedded (subset) in the file.
"""
from __future__ import annotations

import html
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from maestro_web.reports.documents_picture import Picture, picture_pages

if TYPE_CHECKING:
    from maestro_web.reports.documents import Change, Contents, Dependency, Service

LIST_CUT = 40  # names in one cell before "… and N more" (the XLSX and CSV keep them all)
EVIDENCE_CUT = 6  # evidence lines shown per dependency

# WeasyPrint logs every refused URL and every CSS property it skips as a warning: in a report of a
# hostile SVG that is noise, and the refusals are the point.
logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "—"


def _names(names: Sequence[str], cut: int = LIST_CUT) -> str:
    if not names:
        return '<span class="none">—</span>'
    shown = ", ".join(_e(n) for n in names[:cut])
    if len(names) > cut:
        shown += f" <span class=\"more\">… and {len(names) - cut:,} more</span>"
    return shown


CSS = """
@page {
  size: A4; margin: 18mm 15mm 18mm 15mm;
  @top-left { content: string(graph); font-size: 8pt; color: #444; }
  @top-right { content: "Dependency report"; font-size: 8pt; color: #444; }
  @bottom-left { content: string(asof); font-size: 8pt; color: #444; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 8pt; color: #000; }
}
@page :first { @top-left { content: none; } @top-right { content: none; } }
@page picture-landscape { size: A4 landscape; margin: 12mm 12mm 14mm 12mm; }
@page picture-portrait { size: A4 portrait; margin: 12mm 12mm 14mm 12mm; }
html { font-family: "DejaVu Sans", "Liberation Sans", sans-serif; font-size: 9pt; color: #000; line-height: 1.35; }
body { margin: 0; }
h1 { font-size: 22pt; margin: 0 0 4mm 0; string-set: graph content(); bookmark-level: none; line-height: 1.15; overflow-wrap: anywhere; }
h2 { font-size: 14pt; margin: 0 0 3mm 0; border-bottom: 0.8pt solid #000; padding-bottom: 1mm;
     bookmark-level: 1; }
h3 { font-size: 11pt; margin: 4mm 0 2mm 0; bookmark-level: 2; }
section.chapter { break-before: page; }
.cover { padding-top: 30mm; }
.cover .kicker { font-size: 11pt; text-transform: uppercase; letter-spacing: 0.08em; color: #333; margin-bottom: 3mm; }
.asof { string-set: asof "As of " content(); }
dl.facts { display: grid; grid-template-columns: 38mm auto; margin: 8mm 0; }
dl.facts dt { font-weight: bold; padding: 1.2mm 0; border-top: 0.4pt solid #999; }
dl.facts dd { margin: 0; padding: 1.2mm 0; border-top: 0.4pt solid #999; overflow-wrap: anywhere; }
.description { white-space: pre-wrap; overflow-wrap: anywhere; max-height: 60mm; overflow: hidden; }
nav.toc h2 { border: none; font-size: 12pt; bookmark-level: none; }
nav.toc ol { list-style: none; padding: 0; margin: 0; }
nav.toc li { padding: 1mm 0; border-bottom: 0.3pt dotted #999; }
nav.toc a { color: #000; text-decoration: none; }
nav.toc a::after { content: leader(" ") target-counter(attr(href), page); }
.note { border-left: 2pt solid #000; padding: 1.5mm 3mm; margin: 3mm 0; background: #f2f2f2; }
.muted, .none, .more { color: #444; }
table { width: 100%; border-collapse: collapse; margin: 2mm 0 4mm 0; table-layout: fixed; }
thead { display: table-header-group; }
th { text-align: left; font-weight: bold; border-bottom: 1pt solid #000; padding: 1.2mm 1.5mm; vertical-align: bottom; }
td { border-bottom: 0.3pt solid #999; padding: 1mm 1.5mm; vertical-align: top; overflow-wrap: anywhere; }
tr { break-inside: avoid; }
tbody tr:nth-child(even) td { background: #f4f4f4; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.name { font-weight: bold; }
td.small, .small { font-size: 7.5pt; }
ul.evidence { margin: 0; padding-left: 3.5mm; }
ul.evidence li { margin: 0; }
.figures td.value { font-weight: bold; white-space: nowrap; }
.figures td.value.list { white-space: normal; font-weight: normal; }
.figures td.hint { color: #222; }
section.picture.landscape { page: picture-landscape; }
section.picture.portrait { page: picture-portrait; }
section.picture h2 { margin-bottom: 1mm; }
section.picture .note { margin: 1mm 0 2mm 0; padding: 1mm 3mm; }
.picture-page { break-before: page; }
.picture-frame { text-align: center; }
.picture-frame svg { display: block; margin: 0 auto; }
.tile-caption { font-size: 8pt; color: #333; margin: 0 0 1mm 0; }
.change { break-inside: avoid; margin-bottom: 3mm; }
.change h3 { margin-bottom: 1mm; }
.change ul { margin: 0; padding-left: 5mm; }
"""


def _cover(body: Contents, chapters: Sequence[tuple[str, str]]) -> str:
    facts = [("As of", f'<span class="asof">{_e(_when(body.as_of))}</span>'),
             ("Asked for by", _e(body.requested_by) or "—"),
             ("Type", _e(body.graph_type) or "—"),
             ("Status", _e(body.status) + (f" — {_e(body.message)}" if body.message else "")),
             ("Services", f"{len(body.services):,}"),
             ("Dependencies", f"{len(body.dependencies):,}")]
    if body.since is not None:
        facts.append(("Changes since", f"version {body.since}"))
    rows = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts)
    description = f'<p class="description">{_e(body.description)}</p>' if body.description else ""
    toc = "".join(f'<li><a href="#{anchor}">{_e(title)}</a></li>' for anchor, title in chapters)
    return (f'<section class="cover"><p class="kicker">Dependency report</p><h1>{_e(body.name)}</h1>{description}'
            f'<dl class="facts">{rows}</dl>'
            f'<nav class="toc"><h2>Contents</h2><ol>{toc}</ol></nav></section>')


def _picture(body: Contents, picture: Picture) -> str:
    parts = [f'<section class="chapter picture {picture.orientation}" id="picture"><h2>The picture</h2>']
    for note in picture.notes:
        parts.append(f'<p class="note">{_e(note)}</p>')
    for index, page in enumerate(picture.pages):
        caption = f'<p class="tile-caption">{_e(page.caption)}</p>' if page.caption else ""
        parts.append(f'<div class="{"picture-page" if index else "picture-first"}">{caption}'
                     f'<div class="picture-frame">{page.svg}</div></div>')
    parts.append("</section>")
    return "".join(parts)


def _figures(body: Contents) -> str:
    if not body.drawn:
        inner = '<p class="note">The analytics worker has not drawn this graph yet, so there are no figures.</p>'
    elif not body.figures:
        inner = '<p class="note">The last drawing gave no figures.</p>'
    else:
        rows = "".join(
            f'<tr><td class="name">{_e(f.label)}</td>'
            f'<td class="value{" list" if len(f.value) > 24 else ""}">{_e(f.value)}</td>'
            f'<td class="hint">{_e(f.hint)}</td></tr>' for f in body.figures)
        inner = ('<table class="figures"><thead><tr><th style="width:28mm">Figure</th><th style="width:40mm">Value</th>'
                 f'<th>What it means</th></tr></thead><tbody>{rows}</tbody></table>')
    return f'<section class="chapter" id="figures"><h2>Figures</h2>{inner}</section>'


def _services(services: Iterable[Service], count: int) -> str:
    rows = "".join(
        f'<tr><td class="name">{_e(s.name)}</td><td>{_e(s.kind) or "<span class=none>—</span>"}</td>'
        f'<td class="small">{_names(s.calls)}</td><td class="small">{_names(s.called_by)}</td>'
        f'<td>{"yes" if s.in_cycle else "no"}</td></tr>' for s in services)
    return ('<section class="chapter" id="services"><h2>Services</h2>'
            f'<p class="muted">{count:,} services, by name. “Calls”: what it depends on; “called by”: what depends on it.</p>'
            '<table><thead><tr><th style="width:26%">Name</th><th style="width:11%">Kind</th><th>Calls</th>'
            f'<th>Called by</th><th style="width:9%">In a cycle</th></tr></thead><tbody>{rows}</tbody></table></section>')


def _dependency_row(d: Dependency) -> str:
    if d.evidence:
        shown = "".join(f"<li>{_e(line)}</li>" for line in d.evidence[:EVIDENCE_CUT])
        if len(d.evidence) > EVIDENCE_CUT:
            shown += f'<li class="more">… and {len(d.evidence) - EVIDENCE_CUT} more</li>'
        evidence = f'<ul class="evidence">{shown}</ul>'
    else:
        evidence = '<span class="none">written in the spec</span>' if d.found_by == ("the spec",) else '<span class="none">—</span>'
    observed = []
    if d.confidence:
        observed.append(_e(d.confidence))
    if d.calls is not None:
        observed.append(f"{d.calls:,} calls")
    if d.p50_ms is not None or d.p99_ms is not None:
        observed.append(f"p50 {d.p50_ms if d.p50_ms is not None else '—'} ms, p99 {d.p99_ms if d.p99_ms is not None else '—'} ms")
    if d.last_seen is not None:
        observed.append(f"last seen {_e(_when(d.last_seen))}")
    cycle = " <span class=\"small\">(in a cycle)</span>" if d.in_cycle else ""
    return (f'<tr><td class="name">{_e(d.source)} → {_e(d.target)}{cycle}</td><td class="small">{_e("; ".join(d.found_by))}</td>'
            f'<td class="small">{evidence}</td><td class="small">{"<br>".join(observed) or "—"}</td></tr>')


def _dependencies(body: Contents) -> str:
    note = ""
    if body.from_spec_only:
        note = ('<p class="note">Only the hand-written spec was available to this report: dependencies that '
                'discovery found, and their evidence, are not listed.</p>')
    discovered = sum(1 for d in body.dependencies if d.evidence)
    rows = "".join(_dependency_row(d) for d in body.dependencies)
    return ('<section class="chapter" id="dependencies"><h2>Dependencies</h2>'
            f'<p class="muted">{len(body.dependencies):,} dependencies (“source → target”: the source calls or depends on '
            f'the target); {discovered:,} with evidence from discovery.</p>{note}'
            '<table><thead><tr><th style="width:34%">Dependency</th><th style="width:16%">Found by</th><th>Evidence</th>'
            f'<th style="width:18%">Observed</th></tr></thead><tbody>{rows}</tbody></table></section>')


def _change(change: Change) -> str:
    items = [f"<li>Added {_e(name)}</li>" for name in change.added_nodes[:LIST_CUT]]
    items += [f"<li>Added {_e(a)} → {_e(b)}</li>" for a, b in change.added_edges[:LIST_CUT]]
    items += [f"<li>Removed {_e(name)}</li>" for name in change.removed_nodes[:LIST_CUT]]
    items += [f"<li>Removed {_e(a)} → {_e(b)}</li>" for a, b in change.removed_edges[:LIST_CUT]]
    hidden = sum(max(0, len(x) - LIST_CUT) for x in (change.added_nodes, change.added_edges, change.removed_nodes,
                                                       change.removed_edges))
    if hidden:
        items.append(f'<li class="more">… and {hidden:,} more (the app\'s Changes page lists them all)</li>')
    counts = (f"{len(change.added_nodes)} services and {len(change.added_edges)} dependencies added, "
              f"{len(change.removed_nodes)} services and {len(change.removed_edges)} dependencies removed")
    return (f'<div class="change"><h3>Version {change.version} — {_e(_when(change.at))}, by {_e(change.by)}</h3>'
            f'<p class="muted small">{counts}</p><ul>{"".join(items)}</ul></div>')


def _changes(body: Contents) -> str:
    if not body.changes:
        inner = f'<p>Nothing changed since version {body.since}.</p>'
    else:
        inner = (f'<p class="muted">{len(body.changes)} versions after version {body.since}, newest first.</p>'
                 + "".join(_change(c) for c in body.changes))
    return f'<section class="chapter" id="changes"><h2>Changes since version {body.since}</h2>{inner}</section>'


def html_document(body: Contents, svg: str | None) -> str:
    picture = picture_pages(svg, len(body.services))
    chapters = [("picture", "The picture"), ("figures", "Figures"), ("services", "Services"),
                ("dependencies", "Dependencies")]
    if body.since is not None:
        chapters.append(("changes", f"Changes since version {body.since}"))
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
             f"<title>{_e(body.name)} — dependency report</title>",
             f'<meta name="description" content="Dependency report of {_e(body.name)}">',
             f'<meta name="author" content="{_e(body.requested_by)}">',
             f"<style>{CSS}</style></head><body>",
             _cover(body, chapters), _picture(body, picture), _figures(body),
             _services(body.services, len(body.services)), _dependencies(body)]
    if body.since is not None:
        parts.append(_changes(body))
    parts.append("</body></html>")
    return "".join(parts)


def pdf(body: Contents, svg: str | None) -> bytes:
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    class _NoFetching(URLFetcher):  # type: ignore[misc]
        """Refuses every URL: a report is made of what it was handed, nothing from the network or disk."""

        def fetch(self, url: str, headers: object = None) -> object:
            raise ValueError("a report fetches nothing")

    document = HTML(string=html_document(body, svg), url_fetcher=_NoFetching(), base_url=None)
    result: bytes = document.write_pdf(pdf_variant=None, uncompressed_pdf=False)
    return result
