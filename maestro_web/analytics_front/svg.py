"""Worker SVG is untrusted (SPEC §5): parse it safely, then keep only an allow-list.

`sanitize_svg` is the only way a worker's picture reaches storage, so every page that shows a
picture shows sanitized markup. Parsing goes through defusedxml with DTDs forbidden, so entity
expansion ("billion laughs") and external entities never happen. The rebuilt document keeps only
drawing elements and presentation attributes: no script, no event handlers, no foreignObject, no
links or references that leave the document (`href` must be a `#fragment`, `url()` must be
`url(#id)`), no `<style>` sheets.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
MAX_ELEMENTS = 200_000
MAX_DEPTH = 100  # elements inside each other; a drawing needs a handful, 5,000 nested <g> is an attack

ELEMENTS = frozenset({
    "svg", "g", "defs", "title", "desc", "symbol", "use", "rect", "circle", "ellipse", "line",
    "polyline", "polygon", "path", "text", "tspan", "marker", "linearGradient", "radialGradient",
    "stop", "clipPath", "mask", "pattern",
})

ATTRIBUTES = frozenset({
    "id", "class", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "fx", "fy",
    "width", "height", "d", "points", "transform", "viewBox", "preserveAspectRatio", "version",
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity",
    "stroke-dasharray", "stroke-dashoffset", "stroke-linecap", "stroke-linejoin", "stroke-miterlimit",
    "opacity", "visibility", "display", "color", "font-family", "font-size", "font-weight",
    "font-style", "text-anchor", "dominant-baseline", "alignment-baseline", "letter-spacing",
    "dx", "dy", "rotate", "textLength", "lengthAdjust", "marker-start", "marker-mid", "marker-end",
    "markerWidth", "markerHeight", "markerUnits", "refX", "refY", "orient", "offset", "stop-color",
    "stop-opacity", "gradientUnits", "gradientTransform", "spreadMethod", "clip-path",
    "clipPathUnits", "clip-rule", "mask", "maskUnits", "patternUnits", "patternTransform",
    "role", "aria-label", "aria-hidden", "focusable", "style", "href", "vector-effect",
    "paint-order", "shape-rendering", "text-rendering",
})

# The picture's machine-readable structure (SPEC §9): which node a box is, which nodes an edge joins.
DATA_ATTRIBUTES = frozenset({"data-node", "data-kind", "data-source", "data-target"})

# CSS properties allowed in a `style` attribute: the presentation attributes above.
STYLE_PROPERTIES = frozenset(name for name in ATTRIBUTES if name not in {
    "id", "class", "d", "points", "transform", "viewBox", "href", "style", "role", "aria-label",
    "aria-hidden", "focusable", "version",
})

_URL = re.compile(r"url\s*\(", re.IGNORECASE)
_LOCAL_URL = re.compile(r"url\(\s*['\"]?#[A-Za-z0-9_.:-]+['\"]?\s*\)")
_DANGEROUS = re.compile(r"javascript:|vbscript:|data:|expression\s*\(|@import|\\|<|behavior\s*:", re.IGNORECASE)
_FRAGMENT = re.compile(r"^#[A-Za-z0-9_.:-]{1,200}$")


class SvgError(ValueError):
    """The document is not a safe, well-formed SVG; the message says why (for a 422 field)."""


def validate_svg(text: str) -> ET.Element:
    """Parse untrusted SVG safely and return its root element, or raise SvgError."""
    if not text or not text.strip():
        raise SvgError("svg is empty")
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise SvgError("svg must not contain a DOCTYPE or entity declarations") from None
    except ET.ParseError as exc:
        raise SvgError(f"svg is not well-formed XML: {exc}") from None
    namespace, local = _split(root.tag)
    if local != "svg" or namespace not in ("", SVG_NS):
        raise SvgError(f"root element must be <svg>, got <{local}>")
    return root


def sanitize_svg(text: str) -> str:
    """The untrusted document rebuilt from allow-listed elements and attributes only."""
    root = validate_svg(text)
    count = sum(1 for _ in root.iter())
    if count > MAX_ELEMENTS:
        raise SvgError(f"svg has {count:,} elements (at most {MAX_ELEMENTS:,})")
    # Copying and serializing recurse per level, so the depth is bounded first (without recursion).
    depth = _depth(root)
    if depth > MAX_DEPTH:
        raise SvgError(f"svg nests elements {depth:,} deep (at most {MAX_DEPTH})")
    clean = _copy(root, root=True)
    assert clean is not None  # the root is an <svg>, which is allowed
    return ET.tostring(clean, encoding="unicode", short_empty_elements=True)


def _depth(root: ET.Element) -> int:
    deepest = 0
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in element)
    return deepest


def _split(tag: object) -> tuple[str, str]:
    if not isinstance(tag, str):  # comments and processing instructions
        return "", ""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _copy(element: ET.Element, root: bool = False) -> ET.Element | None:
    namespace, local = _split(element.tag)
    if namespace not in ("", SVG_NS) or local not in ELEMENTS:
        return None
    # Elements are rebuilt without a namespace and the root declares SVG as the default one, so the
    # output reads `<svg xmlns="...">` (ElementTree's default_namespace refuses plain attributes).
    clean = ET.Element(local, {"xmlns": SVG_NS} if root else {})
    for name, value in element.attrib.items():
        kept = _attribute(name, value)
        if kept is not None:
            clean.set(*kept)
    clean.text = element.text
    for child in element:
        copied = _copy(child)
        if copied is None:
            continue  # dropped with its content; its tail text goes with it
        copied.tail = child.tail
        clean.append(copied)
    return clean


def _attribute(name: str, value: str) -> tuple[str, str] | None:
    namespace, local = _split(name)
    if namespace == XLINK_NS and local == "href":
        local, namespace = "href", ""
    if namespace or (local not in ATTRIBUTES and local not in DATA_ATTRIBUTES) or local.lower().startswith("on"):
        return None
    if local == "href":
        return ("href", value) if _FRAGMENT.match(value.strip()) else None
    if local == "style":
        style = _clean_style(value)
        return ("style", style) if style else None
    if local in DATA_ATTRIBUTES:
        return local, value  # inert text (node names) that nothing loads or runs; escaped on output
    if not _safe_value(value):
        return None
    return local, value


def _safe_value(value: str) -> bool:
    if _DANGEROUS.search(value):
        return False
    # Every url(...) must point inside the document.
    return len(_URL.findall(value)) == len(_LOCAL_URL.findall(value))


def _clean_style(value: str) -> str:
    kept = []
    for declaration in value.split(";"):
        prop, colon, prop_value = declaration.partition(":")
        prop, prop_value = prop.strip().lower(), prop_value.strip()
        if colon and prop in STYLE_PROPERTIES and prop_value and _safe_value(prop_value):
            kept.append(f"{prop}: {prop_value}")
    return "; ".join(kept)
