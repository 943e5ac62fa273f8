"""The PDF of a report: HTML and CSS laid out by WeasyPrint (documents.py decides what it shows).

- Cover (graph, as of, who asked, what it is) with the contents and their page numbers.
- The picture as vector graphics on landscape or portrait pages: documents_picture.py turns the
  worker's SVG (untrusted) into a clean copy fitted to a page, or split across pages, or a note
  when the graph is too big for paper.
- Figures with their plain-words hints, the services table, the dependencies with their evidence,
  the changes since a version. Table headers repeat on every page.
- On every page but the cover: the graph's name, "as of" and "Page n of m"; chapters are bookmarks.
  Black text on white, grey rules, nothing said by colour alone ("in a cycle" is a word).

Made in parts, for memory: WeasyPrint keeps every laid-out page until it writes the file (1.4 GB
for the 2,000-service / 10,000-dependency limit in one piece), so each chapter — and each
PART_ROWS rows of a long table — is its own small document, written and dropped before the next.
pypdf then puts the pages together, adds the bookmarks and the metadata, and lays one more
WeasyPrint document over them: the running header and footer of every page, which can only say
"of m" once m is known. The cover is made last, when the chapters' first pages are known.

Nothing is fetched: every URL WeasyPrint meets is refused (`_NoFetching`), the fonts are the
system's (fontconfig), and they are embedded (subset) in the file.
"""

from __future__ import annotations

import html
import io
import logging
from collections.abc import Callable, Iterable, Sequence
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
        return "—"
    shown = ", ".join(_e(n) for n in names[:cut])
    if len(names) > cut:
        shown += f' <span class="more">… and {len(names) - cut:,} more</span>'
    return shown


CSS = """
@page { size: A4; margin: 18mm 15mm 18mm 15mm; }
@page picture-landscape { size: A4 landscape; margin: 12mm 12mm 14mm 12mm; }
@page picture-portrait { size: A4 portrait; margin: 12mm 12mm 14mm 12mm; }
html { font-family: "DejaVu Sans", "Liberation Sans", sans-serif; font-size: 9pt; color: #000; line-height: 1.35; }
body { margin: 0; }
h1 { font-size: 22pt; margin: 0 0 4mm 0; bookmark-level: none; line-height: 1.15; overflow-wrap: anywhere; }
h2 { font-size: 14pt; margin: 0 0 3mm 0; border-bottom: 0.8pt solid #000; padding-bottom: 1mm; bookmark-level: none; }
h3 { font-size: 11pt; margin: 4mm 0 2mm 0; bookmark-level: none; }
.cover { padding-top: 30mm; }
.cover .kicker { font-size: 11pt; text-transform: uppercase; letter-spacing: 0.08em; color: #333; margin-bottom: 3mm; }
table.facts { margin: 8mm 0; }
table.facts th { width: 38mm; border-bottom: none; border-top: 0.4pt solid #999; vertical-align: top; padding: 1.2mm 0; }
table.facts td { border-top: 0.4pt solid #999; border-bottom: none; padding: 1.2mm 0; }
.description { white-space: pre-wrap; overflow-wrap: anywhere; }
nav.toc h2 { border: none; font-size: 12pt; bookmark-level: none; }
nav.toc ol { list-style: none; padding: 0; margin: 0; }
nav.toc li { padding: 1mm 0; border-bottom: 0.3pt dotted #999; display: flex; }
nav.toc li span.title { flex: 1; }
.note { border-left: 2pt solid #000; padding: 1.5mm 3mm; margin: 3mm 0; background: #f2f2f2; }
.muted, .none, .more { color: #444; }
table { width: 100%; border-collapse: collapse; margin: 2mm 0 4mm 0; table-layout: fixed; }
thead { display: table-header-group; }
th { text-align: left; font-weight: bold; border-bottom: 1pt solid #000; padding: 1.2mm 1.5mm; vertical-align: bottom; }
td { border-bottom: 0.3pt solid #999; padding: 1mm 1.5mm; vertical-align: top; overflow-wrap: anywhere; }
tr { break-inside: avoid; }
tr.z td { background: #f4f4f4; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.name { font-weight: bold; }
td.small, .small { font-size: 7.5pt; }
p.dep { margin: 0; padding: 1.2mm 0 1.2mm 4mm; text-indent: -4mm; border-bottom: 0.3pt solid #999; break-inside: avoid; }
p.dep .ev { display: block; font-size: 7.5pt; color: #222; text-indent: 0; overflow-wrap: anywhere; }
p.hand { margin: 0; padding: 0.8mm 0 0.8mm 4mm; text-indent: -4mm; border-bottom: 0.3pt solid #ccc; }
.figures td.value { font-weight: bold; white-space: nowrap; }
.figures td.hint, .figures span.hint { color: #222; }
.figures span.list, .figures span.hint { display: block; }
.figures span.hint { margin-top: 0.8mm; }
section.picture.landscape { page: picture-landscape; }
section.picture.portrait { page: picture-portrait; }
section.picture h2 { margin-bottom: 1mm; }
section.picture .note { margin: 1mm 0 2mm 0; padding: 1mm 3mm; }
section.picture + section { margin-top: 10mm; }
.picture-page { break-before: page; }
.picture-frame { text-align: center; }
.picture-frame svg { display: block; margin: 0 auto; }
.tile-caption { font-size: 8pt; color: #333; margin: 0 0 1mm 0; }
.change { break-inside: avoid; margin-bottom: 3mm; }
.change h3 { margin-bottom: 1mm; }
.change ul { margin: 0; padding-left: 5mm; }
"""


DESCRIPTION_CUT = 600  # characters of the description on the cover, which must stay one page


def _cover(body: Contents, chapters: Sequence[tuple[str, int]], pages: int) -> str:
    facts = [
        ("As of", _e(_when(body.as_of))),
        ("Asked for by", _e(body.requested_by) or "—"),
        ("Type", _e(body.graph_type) or "—"),
        ("Status", _e(body.status) + (f" — {_e(body.message[:300])}" if body.message else "")),
        ("Services", f"{len(body.services):,}"),
        ("Dependencies", f"{len(body.dependencies):,}"),
    ]
    if body.since is not None:
        facts.append(("Changes since", f"version {body.since}"))
    facts.append(("Pages", f"{pages:,}"))
    rows = "".join(f'<tr><th scope="row">{label}</th><td>{value}</td></tr>' for label, value in facts)
    text = body.description if len(body.description) <= DESCRIPTION_CUT else body.description[:DESCRIPTION_CUT] + "…"
    description = f'<p class="description">{_e(text)}</p>' if text else ""
    toc = "".join(f'<li><span class="title">{_e(title)}</span><span>{page}</span></li>' for title, page in chapters)
    return (
        f'<section class="cover"><p class="kicker">Dependency report</p><h1>{_e(body.name)}</h1>{description}'
        f'<table class="facts"><tbody>{rows}</tbody></table>'
        f'<nav class="toc"><h2>Contents</h2><ol>{toc}</ol></nav></section>'
    )


def _picture(body: Contents, picture: Picture) -> str:
    parts = [f'<section class="picture {picture.orientation if picture.pages else ""}"><h2>The picture</h2>']
    for note in picture.notes:
        parts.append(f'<p class="note">{_e(note)}</p>')
    if picture.pages:
        # The worker's kind colours turn into much the same grey on a black-and-white printer.
        parts.append(
            '<p class="tile-caption">A box’s colour is its kind (the legend); printed in black and white, '
            "the Services table names each one’s kind. Dashed arrows close a cycle.</p>"
        )
    for index, page in enumerate(picture.pages):
        caption = f'<p class="tile-caption">{_e(page.caption)}</p>' if page.caption else ""
        parts.append(
            f'<div class="{"picture-page" if index else "picture-first"}">{caption}'
            f'<div class="picture-frame">{page.svg}</div></div>'
        )
    parts.append("</section>")
    return "".join(parts)


def _figures(body: Contents) -> str:
    if not body.drawn:
        inner = '<p class="note">The analytics worker has not drawn this graph yet, so there are no figures.</p>'
    elif not body.figures:
        inner = '<p class="note">The last drawing gave no figures.</p>'
    else:
        # A number sits beside its hint; a list (entry points, kinds…) takes the row's width, its hint below.
        rows = "".join(
            f'<tr><td class="name">{_e(f.label)}</td><td class="value">{_e(f.value)}</td><td class="hint">{_e(f.hint)}</td></tr>'
            if len(f.value) <= 24
            else f'<tr><td class="name">{_e(f.label)}</td><td colspan="2"><span class="list">{_e(f.value)}</span>'
            f'<span class="hint">{_e(f.hint)}</span></td></tr>'
            for f in body.figures
        )
        inner = (
            '<table class="figures"><thead><tr><th style="width:28mm">Figure</th><th style="width:40mm">Value</th>'
            f"<th>What it means</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    return f"<section><h2>Figures</h2>{inner}</section>"


SERVICES_HEAD = (
    '<table><thead><tr><th style="width:26%">Name</th><th style="width:11%">Kind</th><th>Calls</th>'
    '<th>Called by</th><th style="width:9%">In a cycle</th></tr></thead><tbody>'
)


def _services(services: Sequence[Service], start: int, count: int) -> str:
    """Rows `start`… of the services table (the chapter's heading with the first rows)."""
    rows = "".join(
        f'<tr{_ZEBRA[i % 2]}><td class="name">{_e(s.name)}</td><td>{_e(s.kind) or "—"}</td>'
        f'<td class="small">{_names(s.calls)}</td><td class="small">{_names(s.called_by)}</td>'
        f"<td>{'yes' if s.in_cycle else 'no'}</td></tr>"
        for i, s in enumerate(services, start=start)
    )
    head = (
        '<h2>Services</h2><p class="muted">'
        f"{count:,} services, by name. “Calls”: what it depends on; “called by”: what depends on it.</p>"
        if start == 0
        else ""
    )
    return f"<section>{head}{SERVICES_HEAD}{rows}</tbody></table></section>"


_ZEBRA = ("", ' class="z"')


def _discovered(d: Dependency) -> str:
    """One dependency discovery found: its name, who found it and what was seen, then its evidence.
    A paragraph, not a table row: a third of the elements to style and lay out, at 10,000 of them."""
    facts = [_e("; ".join(d.found_by))]
    if d.confidence:
        facts.append(f"confidence {_e(d.confidence)}")
    if d.calls is not None:
        facts.append(f"{d.calls:,} calls")
    if d.p50_ms is not None or d.p99_ms is not None:
        facts.append(f"p50 {_ms(d.p50_ms)}, p99 {_ms(d.p99_ms)}")
    if d.last_seen is not None:
        facts.append(f"last seen {_e(_when(d.last_seen))}")
    shown = "; ".join(_e(line) for line in d.evidence[:EVIDENCE_CUT])
    if len(d.evidence) > EVIDENCE_CUT:
        shown += f" … and {len(d.evidence) - EVIDENCE_CUT} more"
    evidence = f'<span class="ev">Evidence: {shown}</span>' if shown else ""
    cycle = " (in a cycle)" if d.in_cycle else ""
    return f'<p class="dep"><b>{_e(d.source)} → {_e(d.target)}</b>{cycle} — {", ".join(facts)}{evidence}</p>'


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.4g} ms"


def _is_discovered(d: Dependency) -> bool:
    return bool(d.evidence) or d.found_by != ("the spec",)


def _written(source: str, targets: Sequence[Dependency]) -> str:
    """The dependencies of `source` that only the spec names, on one line."""
    names = ", ".join(_e(d.target) + (" (in a cycle)" if d.in_cycle else "") for d in targets)
    return f'<p class="hand"><b>{_e(source)}</b> → {names}</p>'


def dependency_entries(body: Contents) -> tuple[list[str], list[str]]:
    """The entries of the dependencies chapter: each one discovery found, then those only the spec
    names, one line per calling service."""
    found = [_discovered(d) for d in body.dependencies if _is_discovered(d)]
    by_source: dict[str, list[Dependency]] = {}
    for d in body.dependencies:
        if not _is_discovered(d):
            by_source.setdefault(d.source, []).append(d)
    return found, [_written(source, targets) for source, targets in by_source.items()]


def _dependencies_head(body: Contents, found: int, written: int) -> str:
    head = (
        "<h2>Dependencies</h2>"
        f'<p class="muted">{len(body.dependencies):,} dependencies (“a → b”: a calls or depends on b): '
        f"{found:,} found by discovery, with their evidence; {written:,} written in the spec only.</p>"
    )
    if body.from_spec_only:
        head += (
            '<p class="note">Only the hand-written spec was available to this report: dependencies that '
            "discovery found, and their evidence, are not listed.</p>"
        )
    if not body.dependencies:
        head += "<p>No dependencies yet.</p>"
    return head


def _change(change: Change) -> str:
    items = [f"<li>Added {_e(name)}</li>" for name in change.added_nodes[:LIST_CUT]]
    items += [f"<li>Added {_e(a)} → {_e(b)}</li>" for a, b in change.added_edges[:LIST_CUT]]
    items += [f"<li>Removed {_e(name)}</li>" for name in change.removed_nodes[:LIST_CUT]]
    items += [f"<li>Removed {_e(a)} → {_e(b)}</li>" for a, b in change.removed_edges[:LIST_CUT]]
    hidden = sum(
        max(0, len(x) - LIST_CUT)
        for x in (change.added_nodes, change.added_edges, change.removed_nodes, change.removed_edges)
    )
    if hidden:
        items.append(f'<li class="more">… and {hidden:,} more (the app\'s Changes page lists them all)</li>')
    counts = (
        f"{len(change.added_nodes)} services and {len(change.added_edges)} dependencies added, "
        f"{len(change.removed_nodes)} services and {len(change.removed_edges)} dependencies removed"
    )
    return (
        f'<div class="change"><h3>Version {change.version} — {_e(_when(change.at))}, by {_e(change.by)}</h3>'
        f'<p class="muted small">{counts}</p><ul>{"".join(items)}</ul></div>'
    )


def _changes(body: Contents) -> str:
    if not body.changes:
        inner = f"<p>Nothing changed since version {body.since}.</p>"
    else:
        inner = (
            f'<p class="muted">{len(body.changes)} versions after version {body.since}, newest first.</p>'
            + "".join(_change(c) for c in body.changes)
        )
    return f"<section><h2>Changes since version {body.since}</h2>{inner}</section>"


PART_ROWS = 400  # table rows per part: memory grows with a part's pages, not with the report's

# The page furniture, laid over every page once the number of pages is known.
STAMP_CSS = """
@page { size: A4; margin: 18mm 15mm 18mm 15mm;
  @top-left { content: GRAPH; font-size: 8pt; color: #444; width: 70%; }
  @top-right { content: "Dependency report"; font-size: 8pt; color: #444; }
  @bottom-left { content: ASOF; font-size: 8pt; color: #444; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 8pt; color: #000; } }
@page landscape { size: A4 landscape; margin: 12mm 12mm 14mm 12mm; }
@page portrait { size: A4 portrait; margin: 12mm 12mm 14mm 12mm; }
@page :first { @top-left { content: none; } @top-right { content: none; } }
html { font-family: "DejaVu Sans", "Liberation Sans", sans-serif; }
div { break-before: page; }
div:first-child { break-before: auto; }
div.landscape { page: landscape; }
div.portrait { page: portrait; }
"""


def _css_string(value: str) -> str:
    """`value` as a CSS string: every character but ASCII letters and digits as a six-digit hex escape
    (a space after one would be eaten as its end, so spaces are escaped too)."""
    return '"' + "".join(c if c.isalnum() and c.isascii() else f"\\{ord(c):06x}" for c in value) + '"'


def _document(fragment: str, title: str = "") -> str:
    return (
        f'<html lang="en"><head><meta charset="utf-8"/><title>{_e(title)}</title><style>{CSS}</style></head>'
        f"<body>{fragment}</body></html>"
    )


def _parts(body: Contents, picture: Picture) -> Iterable[tuple[str | None, str]]:
    """(chapter title or None for a continuation, HTML fragment) in the order of the pages. A picture
    that is only a note shares its page with the figures ("The picture" then names that part)."""
    if picture.pages:
        yield "The picture", _picture(body, picture)
        yield "Figures", _figures(body)
    else:
        yield "The picture", _picture(body, picture) + _figures(body)
    for start in range(0, max(len(body.services), 1), PART_ROWS):
        yield (
            ("Services" if start == 0 else None),
            _services(body.services[start : start + PART_ROWS], start, len(body.services)),
        )
    found, written = dependency_entries(body)
    entries = (["<h3>Found by discovery</h3>"] + found if found else []) + (
        ["<h3>Written in the spec only</h3>"] + written if written else []
    )
    head = _dependencies_head(body, len(found), len(written))
    for start in range(0, max(len(entries), 1), PART_ROWS):
        yield (
            ("Dependencies" if start == 0 else None),
            f"<section>{head if start == 0 else ''}{''.join(entries[start : start + PART_ROWS])}</section>",
        )
    if body.since is not None:
        yield f"Changes since version {body.since}", _changes(body)


def pdf(body: Contents, svg: str | None, progress: Callable[[float], None] | None = None) -> bytes:
    import xml.etree.ElementTree as ET

    import cssselect2
    from pypdf import PdfReader, PdfWriter
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration
    from weasyprint.urls import URLFetcher

    class _NoFetching(URLFetcher):  # type: ignore[misc]
        """Refuses every URL: a report is made of what it was handed, nothing from the network or disk."""

        def fetch(self, url: str, headers: object = None) -> object:
            raise ValueError("a report fetches nothing")

    class _Parsed(HTML):  # type: ignore[misc]
        """HTML from an element tree built here. The document is well-formed XHTML of our own making
        (every text escaped, the picture serialized by lxml), so expat reads it in C; WeasyPrint's
        HTML5 parser, in pure Python, took a third of the time of a 300-service report. The fields set
        are those `HTML.__init__` sets after parsing (WeasyPrint is pinned; the tests read the PDF)."""

        def __init__(self, text: str) -> None:
            self.base_url = None
            self.url_fetcher = _NoFetching()
            self.media_type = "print"
            self.wrapper_element = cssselect2.ElementWrapper.from_html_root(ET.fromstring(text), content_language=None)
            self.etree_element = self.wrapper_element.etree_element

    fonts = FontConfiguration()

    def written(text: str) -> PdfReader:
        return PdfReader(io.BytesIO(_Parsed(text).write_pdf(font_config=fonts)))

    picture = picture_pages(svg, len(body.services))
    fragments = list(_parts(body, picture))
    parts: list[PdfReader] = []
    starts: list[tuple[str, int]] = []  # chapter -> its first page after the cover (0-based)
    sizes: list[str] = []  # per page after the cover: the stamp's page (its size and margins)
    for index, (title, fragment) in enumerate(fragments):
        part = written(_document(fragment))
        if progress is not None:
            progress(0.9 * (index + 1) / len(fragments))
        if title is not None:
            starts.append((title, len(sizes)))
            if title == "The picture" and not picture.pages:
                starts.append(("Figures", len(sizes)))
        parts.append(part)
        sizes += [picture.orientation if title == "The picture" and picture.pages else ""] * len(part.pages)
    # The cover last, when the chapters' pages are known; it is one page unless a long name or
    # description makes it longer, and then it is laid out again with the numbers moved on.
    cover_pages = 1
    while True:
        chapters = [(title, cover_pages + 1 + start) for title, start in starts]
        cover = written(_document(_cover(body, chapters, cover_pages + len(sizes)), body.name))
        if len(cover.pages) == cover_pages:
            break
        cover_pages = len(cover.pages)
    sizes = [""] * cover_pages + sizes

    writer = PdfWriter()
    for reader in (cover, *parts):
        for part_page in reader.pages:
            writer.add_page(part_page)
    css = STAMP_CSS.replace("GRAPH", _css_string(body.name[:90])).replace(
        "ASOF", _css_string("As of " + _when(body.as_of))
    )
    stamp = written(
        f"<html><head><style>{css}</style></head><body>"
        + "".join(f'<div class="{size}"></div>' for size in sizes)
        + "</body></html>"
    )
    for target, over in zip(writer.pages, stamp.pages):
        target.merge_page(over, over=True)
        target.compress_content_streams()
    for title, first in chapters:
        writer.add_outline_item(title=title, page_number=first - 1)
    writer.add_metadata(
        {
            "/Title": f"{body.name} — dependency report",
            "/Author": body.requested_by,
            "/Subject": f"Dependency report of {body.name}, as of {_when(body.as_of)}",
            "/Creator": "Maestro Web",
        }
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
