"""The report documents (SPEC §12): PDF, XLSX and CSV made from the API's JSON.

The module is pure (no app, no database), so these tests hand it the JSON the API gives for a
graph drawn by the real worker (its real SVG), and read the files back with real readers: pypdf
for the PDF's text and fonts, openpyxl for the cells, csv for the rows. One PDF per module.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from live_support import free_port
from openpyxl import load_workbook
from pypdf import PdfReader

from maestro_web.domain.figures import FIGURES
from maestro_web.domain.spec import parse_spec
from maestro_web.reports import documents
from maestro_web.reports.documents import MEDIA_TYPES, SUFFIXES, ReportError, ReportInput, render
from maestro_web.reports.documents_picture import MAX_DRAWN_NODES, picture_pages
from maestro_web.worker.analysis import analyse
from maestro_web.worker.render import render as draw

SPEC = """\
browser [kind=frontend] -> web [kind=frontend]
web -> api [kind=service]
api -> auth [kind=service]
api -> orders [kind=service]
orders -> payments [kind=service]
payments -> orders
orders -> db [kind=database]
=cmd|' /C calc'!A0 -> api
lonely [kind=external]
"""
# Discovery found api -> db too (not in the spec), with evidence; and saw orders -> db.
DISCOVERED = [
    (
        "api",
        "db",
        ["Deployment api (namespace shop): env DATABASE_URL names db:5432", "Service db"],
        {"calls": 1520, "p50_ms": 3.2, "p99_ms": 48.0},
    ),
    ("orders", "db", ["Trace: orders called db 88 times"], {"calls": 88}),
]
AS_OF = datetime(2026, 12, 6, 21, 30, tzinfo=UTC)
SOURCE_ID = "src_k8s_1"


def api_json(spec: str = SPEC) -> dict[str, Any]:
    """What GET /api/graphs/<id> (+ its /dependencies) answers for the graph of `spec`."""
    parsed = parse_spec(spec)
    worker_spec = {
        "nodes": [{"name": n, **a} for n, a in parsed.nodes.items()],
        "edges": [{"source": a, "target": b} for a, b in parsed.edges],
    }
    analysis = analyse(worker_spec)
    nodes = [{"name": n, "kind": a.get("kind"), "origins": ["hand"]} for n, a in parsed.nodes.items()]
    edges = [
        {
            "source": a,
            "target": b,
            "origins": [{"source": "hand", "evidence": [], "confidence": "declared", "last_seen": None}],
        }
        for a, b in parsed.edges
    ]
    for source, target, evidence, observed in DISCOVERED:
        origin = {
            "source": SOURCE_ID,
            "evidence": evidence,
            "confidence": "high",
            "last_seen": "2026-12-05T10:00:00+00:00",
            **observed,
        }
        for edge in edges:
            if (edge["source"], edge["target"]) == (source, target):
                edge["origins"].append(origin)
                break
        else:
            edges.append({"source": source, "target": target, "origins": [origin]})
    return {
        "id": "g_1",
        "name": "Web shop <b>&</b> friends",
        "type": "infra",
        "description": "Our shop.",
        "spec": spec,
        "status": analysis.status,
        "message": analysis.message,
        "info": analysis.info,
        "dependencies": {"nodes": nodes, "edges": edges},
    }


VERSIONS = [
    {
        "version": 3,
        "at": "2026-12-04T09:00:00+00:00",
        "by": {"source": {"id": SOURCE_ID, "label": "prod cluster"}},
        "added": {"nodes": [], "edges": [["api", "db"]]},
        "removed": {"nodes": [], "edges": []},
    },
    {
        "version": 2,
        "at": "2026-12-03T09:00:00+00:00",
        "by": {"user": {"id": "u_1", "name": "Ann Example"}},
        "added": {"nodes": ["payments"], "edges": [["orders", "payments"]]},
        "removed": {"nodes": ["legacy-billing"], "edges": [["orders", "legacy-billing"]]},
    },
    {
        "version": 1,
        "at": "2026-12-01T09:00:00+00:00",
        "by": {"user": {"id": "u_1", "name": "Ann Example"}},
        "added": {"nodes": ["web"], "edges": [["browser", "web"]]},
        "removed": {"nodes": [], "edges": []},
    },
]


def report_input(
    graph: dict[str, Any] | None = None, *, svg: str | None = "draw", since: int | None = 1, analytics: Any = "graph"
) -> ReportInput:
    graph = graph if graph is not None else api_json()
    if svg == "draw":
        parsed = parse_spec(graph["spec"])
        svg = draw(
            {
                "nodes": [{"name": n, **a} for n, a in parsed.nodes.items()],
                "edges": [{"source": a, "target": b} for a, b in parsed.edges],
            },
            title=graph["name"],
        ).svg
    return ReportInput(
        graph=graph,
        analytics=graph["info"] if analytics == "graph" else analytics,
        svg=svg,
        versions=VERSIONS,
        since=since,
        requested_by="Ann Example",
        as_of=AS_OF,
    )


SERVICES = ["browser", "web", "api", "auth", "orders", "payments", "db", "=cmd|' /C calc'!A0", "lonely"]


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text)


PROGRESS: list[float] = []


@pytest.fixture(scope="module")
def pdf() -> Iterator[tuple[bytes, PdfReader, list[str]]]:
    """The PDF, its reader and each page's text. Long tables are laid out PART_ROWS rows at a time
    (memory); five at a time here, so that this small graph is made the way a 2,000-service one is."""
    from maestro_web.reports import documents_pdf

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(documents_pdf, "PART_ROWS", 5)
        body = render("pdf", report_input(), progress=PROGRESS.append)
    reader = PdfReader(io.BytesIO(body))
    yield body, reader, [page.extract_text() for page in reader.pages]


def test_formats_have_their_media_types_and_suffixes():
    assert MEDIA_TYPES["pdf"] == "application/pdf"
    assert MEDIA_TYPES["xlsx"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert MEDIA_TYPES["csv"].startswith("text/csv")
    assert SUFFIXES == {"pdf": ".pdf", "xlsx": ".xlsx", "csv": ".csv"}
    with pytest.raises(ReportError, match="PDF, XLSX or CSV"):
        render("docx", report_input(svg=None))


def test_pdf_names_every_service_and_the_cover(pdf):
    body, reader, pages = pdf
    assert body.startswith(b"%PDF-")
    text = _words(" ".join(pages))
    for name in SERVICES:
        assert name in text, name
    # The cover: the graph's name (markup in it is text), as of, who asked.
    assert "Web shop <b>&</b> friends" in _words(pages[0])
    assert "2026-12-06 21:30 UTC" in pages[0]
    assert "Ann Example" in pages[0]
    assert reader.metadata is not None and reader.metadata.title.startswith("Web shop <b>&</b> friends")


def test_pdf_explains_the_figures_in_the_pages_words(pdf):
    text = _words(" ".join(pdf[2]))
    for _, label, hint in FIGURES:
        assert _words(hint) in text, label
    assert "Nodes nothing depends on: where requests come in." in text
    assert "Press one" not in text  # the page's chips, not paper's


def test_pdf_has_page_numbers_a_contents_and_bookmarks(pdf):
    _, reader, pages = pdf
    count = len(pages)
    assert count >= 5
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {count}" in page
    cover = _words(pages[0])
    for chapter in ("The picture", "Figures", "Services", "Dependencies", "Changes since version 1"):
        assert re.search(re.escape(chapter) + r" ?\d+", cover), chapter
    # The running header names the graph exactly (a CSS string of escapes: no space lost, no markup).
    assert "Web shop <b>&</b> friends" in pages[2] and "Web shop <b>&</b> friends" not in pages[0].splitlines()[0]
    assert [item.title for item in reader.outline if not isinstance(item, list)][:4] == [
        "The picture",
        "Figures",
        "Services",
        "Dependencies",
    ]


def test_pdf_fonts_are_embedded_and_the_picture_is_vector(pdf):
    _, reader, pages = pdf
    fonts = 0
    for page in reader.pages:
        resources = page["/Resources"]
        for font in (resources.get("/Font") or {}).values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            descriptor = (descendants[0].get_object() if descendants else font).get("/FontDescriptor")
            assert descriptor is not None, font
            descriptor = descriptor.get_object()
            assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")), font.get("/BaseFont")
            fonts += 1
        # No bitmap anywhere: the picture is drawn with paths and text.
        for xobject in (resources.get("/XObject") or {}).values():
            assert xobject.get_object().get("/Subtype") != "/Image"
    assert fonts > 0
    picture_page = pages[1]
    assert picture_page.startswith("The picture") or "The picture" in picture_page.splitlines()[:3]
    # The picture's labels are text on its page (selectable), not pixels.
    assert "payments" in picture_page and "auth" in picture_page


def test_pdf_lists_services_dependencies_evidence_and_changes(pdf):
    text = _words(" ".join(pdf[2]))
    services = text[text.index("Services 9 services") :]
    assert re.search(r"orders .*?service .*?db, payments .*?api, payments .*?yes", services)
    assert re.search(r"lonely external — — no", services)
    dependencies = text[text.index("Dependencies 9 dependencies") :]
    assert "api → db" in dependencies
    assert "Deployment api (namespace shop): env DATABASE_URL names db:5432" in dependencies
    assert "source “prod cluster”" in dependencies  # the source's label, from the versions
    assert "1,520 calls" in dependencies and "written in the spec" in dependencies
    changes = text[text.index("Changes since version 1 2 versions") :]
    assert "Version 3" in changes and "a crawl of “prod cluster”" in changes
    assert "Removed legacy-billing" in changes and "Added orders → payments" in changes
    assert "Version 1 —" not in changes  # since 1: what came after it


def test_long_tables_are_made_in_parts_with_one_numbering(pdf):
    """Made five rows at a time, the pages still count through, and the contents and bookmarks point
    at the pages where each chapter starts."""
    _, reader, pages = pdf
    # One progress call per part (picture, figures, 2 × services, 2 × dependencies, changes), rising.
    assert len(PROGRESS) == 7 and PROGRESS == sorted(PROGRESS) and 0 < PROGRESS[0] and PROGRESS[-1] <= 1
    services = [i for i, page in enumerate(pages) if "Name Kind Calls" in _words(page)]
    assert len(services) == 2  # nine services, five a part, the table's header on each
    starts = {item.title: reader.get_destination_page_number(item) for item in reader.outline}
    assert starts["Services"] == services[0] and pages[services[0]].lstrip().startswith("Services")
    assert re.search(rf"Services ?{services[0] + 1}\b", _words(pages[0]))
    assert _words(pages[starts["Dependencies"]]).lstrip().startswith("Dependencies")
    assert _words(pages[starts["Figures"]]).lstrip().startswith("Figures")


def test_xlsx_two_sheets_typed_cells_frozen_headers():
    book = load_workbook(io.BytesIO(render("xlsx", report_input())))
    assert book.sheetnames == ["Services", "Dependencies"]
    services, dependencies = book["Services"], book["Dependencies"]
    assert services.freeze_panes == "A2" and dependencies.freeze_panes == "A2"
    assert services.auto_filter.ref == "A1:H10" and dependencies.auto_filter.ref == "A1:J10"
    assert [c.value for c in services[1]][:5] == ["Name", "Kind", "Calls (count)", "Called by (count)", "In a cycle"]
    assert services["A1"].font.b
    rows = {row[0]: row for row in services.iter_rows(min_row=2, values_only=True)}
    assert set(rows) == set(SERVICES)
    assert rows["orders"][:5] == ("orders", "service", 2, 2, True)
    assert rows["lonely"][:5] == ("lonely", "external", 0, 0, False)
    # A name that looks like a formula stays a string cell.
    formula_name = next(r for r in services.iter_rows(min_row=2) if r[0].value == "=cmd|' /C calc'!A0")
    assert formula_name[0].data_type == "s"
    assert services.column_dimensions["A"].width >= 12
    deps = {(r[0], r[1]): r for r in dependencies.iter_rows(min_row=2, values_only=True)}
    assert len(deps) == 9
    api_db = deps[("api", "db")]
    assert api_db[2] == "source “prod cluster”" and "DATABASE_URL" in api_db[3]
    assert api_db[5] == datetime(2026, 12, 5, 10, 0) and api_db[6] == 1520 and api_db[7] == 3.2
    assert deps[("orders", "payments")][9] is True and deps[("web", "api")][9] is False


def test_csv_bom_one_table_every_service_and_no_formulas():
    body = render("csv", report_input())
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == list(documents.CSV_COLUMNS)
    assert len(rows) == 1 + 9 + 1  # every dependency, then the one service without any
    assert ["lonely", "external", "", ""] == rows[-1][:4]
    named = {cell for row in rows[1:] for cell in (row[0], row[2]) if cell}
    assert named == (set(SERVICES) - {"=cmd|' /C calc'!A0"}) | {"'=cmd|' /C calc'!A0"}
    api_db = next(r for r in rows if r[0] == "api" and r[2] == "db")
    assert api_db[3] == "database" and api_db[8] == "1520" and api_db[11] == "no"


def test_without_dependencies_the_spec_is_used_and_said(tmp_path, monkeypatch):
    """…with a cover of two pages, and nothing written anywhere: not in the working directory, not in
    the temporary one."""
    import tempfile

    (tmp_path / "tmp").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    graph = api_json()
    del graph["dependencies"]
    graph["description"] = "a line\n" * 100  # a cover longer than a page: the contents still point right
    body = render("pdf", report_input(graph, svg=None, since=None, analytics=None))
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(body)).pages]
    text = _words(" ".join(pages))
    services = next(i for i, page in enumerate(pages) if page.lstrip().startswith("Services"))
    assert services >= 3 and re.search(rf"Services ?{services + 1}\b", text)
    assert all(f"Page {n} of {len(pages)}" in page for n, page in enumerate(pages, start=1))
    assert "Only the hand-written spec was available" in text
    assert "has not drawn this graph yet" in text and "no picture yet" in text
    assert "api → db" not in text and "orders → db" in text
    assert "Changes since" not in text
    assert [p.name for p in tmp_path.rglob("*")] == ["tmp"]


class _Counting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        _Counting.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/svg+xml")
        self.end_headers()
        self.wfile.write(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')

    def log_message(self, *args: Any) -> None:
        pass


def test_hostile_svg_fetches_nothing_and_stays_bounded():
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Counting)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        hostile = f"""<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY secret SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="1e9" height="1e9"
     viewBox="0 0 400 200" onload="alert(1)">
  <style>@import url({base}/style.css); rect {{ fill: url({base}/fill.svg#x) }}</style>
  <image href="{base}/image.svg" xlink:href="{base}/image2.svg" width="100" height="100"/>
  <use xlink:href="{base}/use.svg#x"/>
  <foreignObject width="100" height="100"><iframe xmlns="http://www.w3.org/1999/xhtml" src="{base}/frame"/></foreignObject>
  <rect x="10" y="10" width="100" height="40" fill="url({base}/paint.svg#p)" stroke-width="1e12"/>
  <rect x="10" y="60" width="100" height="40" style="fill: url({base}/styled.svg)"/>
  <text x="20" y="35">&c; &secret; box-label</text>
  <script>fetch("{base}/script")</script>
</svg>"""
        started = time.perf_counter()
        body = render("pdf", report_input(api_json("one-service"), svg=hostile, since=None))
        assert time.perf_counter() - started < 30
        text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
        assert "box-label" in text  # the harmless part is drawn
        assert "root:" not in text and "aaaaaaaaaa" not in text  # no entity expanded, no file read
    finally:
        server.shutdown()
        server.server_close()
    assert _Counting.hits == []


def test_a_picture_too_big_for_paper_is_summarised_with_a_note():
    boxes = "".join(
        f'<g class="node" data-node="n{i}"><rect x="{i * 10}" y="0" width="8" height="8"/></g>'
        for i in range(MAX_DRAWN_NODES + 1)
    )
    picture = picture_pages(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 5000 10">{boxes}</svg>', 401)
    assert picture.pages == [] and "not printed here" in picture.notes[0]
    # Wide but within bounds: split into parts, each a window on the same drawing, each page only its part.
    boxes = "".join(
        f'<g class="node" data-node="n{i}"><rect x="{i * 100}" y="0" width="80" height="30"/>'
        f'<text x="{i * 100 + 5}" y="20">n{i}</text></g>'
        for i in range(60)
    )
    picture = picture_pages(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 6000 30">{boxes}</svg>', 60)
    assert 1 < len(picture.pages) <= 12 and "split into" in picture.notes[0]
    first, last = picture.pages[0].svg, picture.pages[-1].svg
    assert ">n0<" in first and ">n59<" not in first and ">n59<" in last and ">n0<" not in last


def test_too_big_a_document_is_refused_with_words(monkeypatch):
    monkeypatch.setattr(documents, "MAX_BYTES", 100)
    with pytest.raises(ReportError, match=r"The CSV would be .* MiB, over the .* MiB a report may be"):
        render("csv", report_input(svg=None))


def test_the_graph_page_prints_the_same_hints(app, client, auth, make_user, make_graph):
    """One wording (domain/figures.py) for the page and the documents: the page shows each hint."""
    from html import unescape

    from maestro_web.extensions import db
    from maestro_web.models import Graph

    owner = make_user("hints@example.com")
    graph = make_graph(owner)
    with app.app_context():
        row = db.session.get(Graph, graph.id)
        row.info = dict(api_json()["info"])
        db.session.commit()
    auth.login("hints@example.com")
    page = unescape(client.get(f"/analytics/graphs/{graph.public_id}").get_data(as_text=True))
    for _, label, hint in FIGURES:
        assert hint in page, label
    assert "Nodes nothing depends on: where requests come in. Press one to find it in the picture." in page


@pytest.mark.parametrize(
    "svg, words",
    [
        (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1e9 1e9"><rect width="10" height="10"/></svg>',
            "no usable size",
        ),
        (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">' + "<g>" * 3000 + "</g>" * 3000 + "</svg>",
            "not a readable SVG",
        ),
        (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">' + "<rect/>" * 1001 + "</svg>",
            "too many parts",
        ),
        ("<html><body>not a picture</body></html>", "not an SVG"),
        ("<svg", "not a readable SVG"),
        (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">' + "x" * (7 * 1024 * 1024) + "</svg>",
            "too big to print",
        ),
    ],
)
def test_a_picture_that_cannot_be_printed_becomes_a_note(svg, words, monkeypatch):
    from maestro_web.reports import documents_picture

    monkeypatch.setattr(documents_picture, "MAX_ELEMENTS", 1000)  # 80,000 in production: the same check, faster
    picture = picture_pages(svg, 3)
    assert picture.pages == [] and words in picture.notes[0] and "Open the graph in the app" in picture.notes[0]
