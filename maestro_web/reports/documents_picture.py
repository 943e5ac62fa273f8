"""The graph's picture for the PDF: a clean copy of the worker's SVG, fitted to landscape pages.

The SVG is untrusted (SPEC §5) even after the app's ingest sanitizer (ingest/svg.py): a
row stored before a rule existed, or a rule's gap, must not reach WeasyPrint's SVG renderer as it
is. So the picture is parsed here again (lxml, no entities, no DTD, no network, bounded size) and
**rebuilt** from an allow-list: the elements and attributes a dependency diagram uses (SPEC §9:
`g`, `rect`, `text`, `path`, `polygon`…), references only to ids inside the picture (`url(#x)`),
no `<use>`, `<image>`, `<style>`, `<foreignObject>`, script, link or event attribute, numbers below
a million. The root's own size is replaced by the page's. Anything else is dropped, not escaped.

Size: a picture whose labels would print below MIN_LABEL_PT on one page is split into a grid of
pages (each a window on the same drawing, with only the boxes and arrows that cross it) when that
takes at most MAX_TILES pages; a bigger graph gets a note instead of an unreadable or huge picture
(the app's viewer and its SVG download show it whole). Always vector: never a bitmap.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from lxml import etree

SVG_NS = "http://www.w3.org/2000/svg"
MAX_SVG_BYTES = 6 * 1024 * 1024  # the 2,000-node reference picture is about 4 MB
MAX_ELEMENTS = 80_000  # the same picture has about 60,000
MAX_DRAWN_NODES = 400  # boxes above which the picture is summarised, not drawn (time and paper)
MAX_NUMBER = 1_000_000  # as the ingest sanitizer: a diagram needs coordinates in the thousands
LABEL_UNITS = 13.0  # the worker's label size, in the picture's units (worker/render.py FONT_SIZE)
MIN_LABEL_PT = 5.0  # below this on paper a label is unreadable: split across pages instead
MAX_TILES = 12

# The box a picture may fill on an A4 page with 12 mm margins (14 mm at the bottom, for the page
# number), less 30 mm for the chapter's heading, a note and a caption, in CSS px: landscape and
# portrait. A wide drawing goes on landscape pages, a tall one on portrait pages, whichever prints
# it larger.
_MM = 96 / 25.4
PAGE_BOXES = {
    "landscape": ((297 - 24) * _MM, (210 - 26 - 30) * _MM),
    "portrait": ((210 - 24) * _MM, (297 - 26 - 30) * _MM),
}

ELEMENTS = {
    "svg",
    "g",
    "rect",
    "circle",
    "ellipse",
    "line",
    "polyline",
    "polygon",
    "path",
    "text",
    "tspan",
    "title",
    "desc",
    "defs",
    "marker",
}
_NUMERIC = {
    "x",
    "y",
    "x1",
    "y1",
    "x2",
    "y2",
    "cx",
    "cy",
    "r",
    "rx",
    "ry",
    "width",
    "height",
    "d",
    "points",
    "viewBox",
    "transform",
    "stroke-width",
    "stroke-dasharray",
    "font-size",
    "dx",
    "dy",
    "markerWidth",
    "markerHeight",
    "refX",
    "refY",
}

# The allowed attributes: the numeric ones (their values checked as numbers), and the others.
ATTRIBUTES = _NUMERIC | {
    "id",
    "class",
    "fill",
    "stroke",
    "stroke-linecap",
    "stroke-linejoin",
    "fill-opacity",
    "stroke-opacity",
    "opacity",
    "fill-rule",
    "font-family",
    "font-weight",
    "font-style",
    "text-anchor",
    "dominant-baseline",
    "marker-start",
    "marker-mid",
    "marker-end",
    "orient",
    "markerUnits",
    "preserveAspectRatio",
    "role",
    "data-node",
    "data-kind",
    "data-source",
    "data-target",
}
_URL = re.compile(r"url\(", re.I)
_LOCAL_URL = re.compile(r"\s*url\(\s*#[A-Za-z0-9_.:-]{1,100}\s*\)\s*")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_BAD_VALUE = re.compile(r"javascript:|expression|@import|\\", re.I)


@dataclass(frozen=True)
class PicturePage:
    svg: str
    caption: str = ""


@dataclass
class Picture:
    pages: list[PicturePage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    orientation: str = "landscape"  # of the pages it is printed on


class Unusable(Exception):
    """The SVG cannot be shown; the message says why, for the reader of the report."""


def _local(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None  # a comment, processing instruction or entity reference
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return name if namespace == SVG_NS else None
    return tag


def _value_ok(name: str, value: str) -> bool:
    if len(value) > 200_000 or _BAD_VALUE.search(value):
        return False
    if _URL.search(value) and not _LOCAL_URL.fullmatch(value):
        return False
    if name in _NUMERIC:
        for number in _NUMBER.findall(value):
            try:
                if abs(float(number)) >= MAX_NUMBER:
                    return False
            except ValueError:
                return False
    return True


def clean(svg: str) -> etree._Element:
    """The allow-listed copy of `svg` (root `<svg>` in the SVG namespace); Unusable says why not."""
    raw = svg.encode("utf-8", "replace")
    if len(raw) > MAX_SVG_BYTES:
        raise Unusable(f"The picture is {len(raw) / 1024 / 1024:.1f} MB, too big to print.")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        dtd_validation=False,
    )
    try:
        source = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError:
        raise Unusable("The picture is not a readable SVG document.") from None
    if _local(source.tag) != "svg":
        raise Unusable("The picture is not an SVG document.")
    count = 0

    def copy(element: etree._Element, parent: etree._Element | None) -> etree._Element | None:
        nonlocal count
        name = _local(element.tag)
        if name is None or name not in ELEMENTS:
            return None
        count += 1
        if count > MAX_ELEMENTS:
            raise Unusable("The picture has too many parts to print.")
        attributes: dict[str, str] = {}
        for key, value in element.attrib.items():
            key_name = _local(str(key))
            if key_name in ATTRIBUTES and _value_ok(key_name, str(value)):
                attributes[key_name] = str(value)
        if parent is None:
            made = etree.Element(f"{{{SVG_NS}}}{name}", attributes, nsmap={None: SVG_NS})  # type: ignore[dict-item]
        else:
            made = etree.SubElement(parent, f"{{{SVG_NS}}}{name}", attributes)
        textual = name in ("text", "tspan", "title", "desc")
        if textual:
            made.text = (element.text or "")[:500]
        last: etree._Element | None = None
        for child in element:
            copied = copy(child, made)
            if copied is not None:
                last = copied
                if textual:
                    copied.tail = (child.tail or "")[:500]
            elif textual and child.tail:
                # Text after something dropped (an unexpanded entity, a refused element) stays text.
                if last is None:
                    made.text = ((made.text or "") + child.tail)[:1000]
                else:
                    last.tail = ((last.tail or "") + child.tail)[:1000]
        return made

    # Depth first without recursion limits in mind: the ingest sanitizer caps nesting at 100, and a
    # clean copy of a deeper document is refused here (RecursionError) rather than crashing.
    try:
        root = copy(source, None)
    except RecursionError:
        raise Unusable("The picture is nested too deeply to print.") from None
    assert root is not None
    return root


def _view_box(root: etree._Element) -> tuple[float, float, float, float]:
    raw = root.get("viewBox")
    numbers: list[float] = []
    if raw:
        try:
            numbers = [float(n) for n in re.split(r"[\s,]+", raw.strip())]
        except ValueError:
            numbers = []
    if len(numbers) != 4:
        try:
            numbers = [0.0, 0.0, float(root.get("width", "")), float(root.get("height", ""))]
        except ValueError:
            raise Unusable("The picture declares no usable size.") from None
    x, y, width, height = numbers
    if not all(math.isfinite(n) for n in numbers) or width <= 0 or height <= 0:
        raise Unusable("The picture declares no usable size.")
    return x, y, width, height


def _fitted(root: etree._Element, box: tuple[float, float, float, float], width: float, height: float) -> str:
    """The drawing shown through the window `box`, at `width` × `height` CSS px. What paper does not
    draw goes (titles, data attributes, classes): each element costs the PDF engine a style."""
    for element in list(root.iter(f"{{{SVG_NS}}}title", f"{{{SVG_NS}}}desc")):
        parent = element.getparent()
        if parent is not None and parent is not root:
            parent.remove(element)
    for element in root.iter():
        for name in ("data-node", "data-kind", "data-source", "data-target", "class", "role"):
            if name in element.attrib:
                del element.attrib[name]
    for name in ("width", "height", "viewBox", "preserveAspectRatio", "x", "y"):
        if name in root.attrib:
            del root.attrib[name]
    x, y, w, h = box
    root.set("viewBox", f"{x:.2f} {y:.2f} {w:.2f} {h:.2f}")
    root.set("width", f"{width:.1f}")
    root.set("height", f"{height:.1f}")
    root.set("preserveAspectRatio", "xMidYMid meet")
    return etree.tostring(root, encoding="unicode")


def picture_pages(svg: str | None, services: int) -> Picture:
    """The picture as one or more pages of vector graphics, or notes saying why it is not shown."""
    if svg is None:
        return Picture(notes=["This graph has no picture yet: the analytics worker has not drawn it."])
    try:
        root = clean(svg)
        box = _view_box(root)
    except Unusable as unusable:
        return Picture(notes=[f"{unusable} Open the graph in the app to see it."])
    drawn = sum(1 for g in root.iter(f"{{{SVG_NS}}}g") if "node" in (g.get("class") or "").split())
    if drawn > MAX_DRAWN_NODES or (drawn == 0 and services > MAX_DRAWN_NODES):
        return Picture(
            notes=[
                f"The picture has {max(drawn, services):,} boxes: on paper it would be too small to read, or run to "
                f"dozens of pages. It is not printed here; open the graph in the app (its viewer zooms) or download "
                f"its SVG there. The services and dependencies below list everything it shows."
            ]
        )
    x, y, width, height = box
    # The orientation that prints the drawing larger.
    orientation = max(PAGE_BOXES, key=lambda o: min(PAGE_BOXES[o][0] / width, PAGE_BOXES[o][1] / height))
    page_width, page_height = PAGE_BOXES[orientation]
    scale = min(page_width / width, page_height / height)
    label_pt = LABEL_UNITS * scale * 0.75
    if label_pt >= MIN_LABEL_PT:
        return Picture(pages=[PicturePage(_fitted(root, box, width * scale, height * scale))], orientation=orientation)
    # Split into windows at a scale where labels print at MIN_LABEL_PT or more, in the orientation
    # that needs fewer pages.
    wanted = MIN_LABEL_PT / 0.75 / LABEL_UNITS

    def grid(name: str) -> tuple[int, int]:
        tile_w, tile_h = PAGE_BOXES[name][0] / wanted, PAGE_BOXES[name][1] / wanted
        return math.ceil(width / tile_w), math.ceil(height / tile_h)

    orientation = min(PAGE_BOXES, key=lambda o: grid(o)[0] * grid(o)[1])
    columns, rows = grid(orientation)
    page_width, page_height = PAGE_BOXES[orientation]
    if columns * rows > MAX_TILES:
        return Picture(
            notes=[
                f"The picture is too big for paper: its labels would print at {label_pt:.1f} pt on one page, and "
                f"splitting it would take {columns * rows} pages. It is not printed here; open the graph in the app "
                f"(its viewer zooms) or download its SVG there. The services and dependencies below list everything it shows."
            ]
        )
    # Even windows over the whole drawing (rather than full windows and a sliver at the edge).
    tile_w, tile_h = width / columns, height / rows
    page_scale = min(page_width / tile_w, page_height / tile_h)
    pages = []
    text = etree.tostring(root, encoding="unicode")
    for row in range(rows):
        for column in range(columns):
            window = (x + column * tile_w, y + row * tile_h, tile_w, tile_h)
            copy = etree.fromstring(text, etree.XMLParser(resolve_entities=False, no_network=True))
            _crop(copy, window)
            where = (
                f"row {row + 1} of {rows}, column {column + 1} of {columns}"
                if rows > 1 and columns > 1
                else f"{'top to bottom' if rows > 1 else 'left to right'}"
            )
            pages.append(
                PicturePage(
                    _fitted(copy, window, tile_w * page_scale, tile_h * page_scale),
                    f"Part {row * columns + column + 1} of {rows * columns} ({where})",
                )
            )
    return Picture(
        pages=pages,
        orientation=orientation,
        notes=[
            f"On one page its labels would print at {label_pt:.1f} pt, so the picture is split into "
            f"{rows * columns} parts, each on its own page."
        ],
    )


def _bounds(element: etree._Element) -> tuple[float, float, float, float] | None:
    """A box around the coordinates an element and its children name (absolute coordinates, as the
    §9 picture has no transforms); None when it names none."""
    xs: list[float] = []
    ys: list[float] = []
    for item in element.iter():
        attributes = {str(k): str(v) for k, v in item.attrib.items()}
        for key in ("x", "x1", "x2", "cx"):
            if key in attributes:
                xs.extend(float(n) for n in _NUMBER.findall(attributes[key])[:1])
        for key in ("y", "y1", "y2", "cy"):
            if key in attributes:
                ys.extend(float(n) for n in _NUMBER.findall(attributes[key])[:1])
        if "width" in attributes and "x" in attributes:
            xs.extend(
                float(a) + float(b)
                for a, b in zip(_NUMBER.findall(attributes["x"])[:1], _NUMBER.findall(attributes["width"])[:1])
            )
        if "height" in attributes and "y" in attributes:
            ys.extend(
                float(a) + float(b)
                for a, b in zip(_NUMBER.findall(attributes["y"])[:1], _NUMBER.findall(attributes["height"])[:1])
            )
        for key in ("d", "points"):
            if key in attributes:
                numbers = [float(n) for n in _NUMBER.findall(attributes[key])]
                xs.extend(numbers[0::2])
                ys.extend(numbers[1::2])
    if not xs or not ys:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def _crop(root: etree._Element, window: tuple[float, float, float, float]) -> None:
    """Drop the boxes and arrows that do not cross `window` (they would be clipped anyway; dropping
    them keeps each page's size to its own part)."""
    x, y, w, h = window
    margin = 20.0
    for group in list(root.iter(f"{{{SVG_NS}}}g")):
        classes = (group.get("class") or "").split()
        if "node" not in classes and "edge" not in classes:
            continue
        bounds = _bounds(group)
        if bounds is None:
            continue
        left, top, right, bottom = bounds
        if right < x - margin or left > x + w + margin or bottom < y - margin or top > y + h + margin:
            parent = group.getparent()
            if parent is not None:
                parent.remove(group)
