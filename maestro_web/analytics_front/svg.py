"""Worker SVG is untrusted (SPEC §5): parse it safely, then keep only an allow-list.

`sanitize_svg` is the only way a worker's picture reaches storage, so every page that shows a
picture shows sanitized markup. Parsing goes through lxml (libxml2) with a hardened parser: no
DTD loaded, no entity resolved, no network, libxml2's size and depth limits on (`huge_tree=False`),
and any DOCTYPE refused, so entity expansion ("billion laughs") and external entities never happen.
The cleaned document keeps only drawing elements and presentation attributes: no script, no event
handlers, no foreignObject, no links or references that leave the document (`href` must be a
`#fragment`, `url()` must be `url(#id)`), no `<style>` sheets. The tree is walked by lxml's C
iteration (no recursion in Python) and cleaned in place; only the per-attribute checks run in Python.
"""
from __future__ import annotations

import re
from typing import Any

from lxml import etree

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

# Allowed element tags, with or without the SVG namespace, and the namespaced tag each is written as.
_SVG_TAG = {tag: f"{{{SVG_NS}}}{name}" for name in ELEMENTS for tag in (name, f"{{{SVG_NS}}}{name}")}
# Attributes kept as they are when the value cannot hold a url(), a scheme, an escape or markup.
_PLAIN_ATTRIBUTES = frozenset(name for name in ATTRIBUTES if name not in {"href", "style"} and not name.lower().startswith("on"))
_SUSPECT = re.compile(r"[:(@\\<]")
_URL = re.compile(r"url\s*\(", re.IGNORECASE)
_LOCAL_URL = re.compile(r"url\(\s*['\"]?#[A-Za-z0-9_.:-]+['\"]?\s*\)")
_DANGEROUS = re.compile(r"javascript:|vbscript:|data:|expression\s*\(|@import|\\|<|behavior\s*:", re.IGNORECASE)
_FRAGMENT = re.compile(r"^#[A-Za-z0-9_.:-]{1,200}$")


class SvgError(ValueError):
    """The document is not a safe, well-formed SVG; the message says why (for a 422 field)."""


# One parser per thread would be needed to share it (lxml parsers are not thread-safe), so each call
# makes its own: construction costs microseconds.
def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, dtd_validation=False,
        remove_comments=True, remove_pis=True, encoding="utf-8",
    )


def validate_svg(text: str) -> Any:
    """Parse untrusted SVG safely and return its root element (an lxml element), or raise SvgError."""
    if not text or not text.strip():
        raise SvgError("svg is empty")
    try:
        # Encoded here and read as UTF-8 whatever the XML declaration claims: the text is already text.
        root = etree.fromstring(text.encode("utf-8", "surrogatepass"), _parser())
    except etree.XMLSyntaxError as exc:
        message = str(exc)
        if "DOCTYPE" in message or ("entity" in message.lower() and "not defined" not in message):
            raise SvgError("svg must not contain a DOCTYPE or entity declarations") from None
        if "depth" in message.lower():  # libxml2 stops at its own limit (256), far past ours
            raise SvgError(f"svg nests elements more than {MAX_DEPTH} deep (at most {MAX_DEPTH})") from None
        raise SvgError(f"svg is not well-formed XML: {message}") from None
    except ValueError as exc:  # e.g. text lxml refuses before parsing
        raise SvgError(f"svg is not well-formed XML: {exc}") from None
    if root is None:
        raise SvgError("svg is not well-formed XML: no element found")
    docinfo = root.getroottree().docinfo
    # libxml2 records an internal subset for every DOCTYPE, even a bare `<!DOCTYPE svg>`.
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise SvgError("svg must not contain a DOCTYPE or entity declarations")
    namespace, local = _split(root.tag)
    if local != "svg" or namespace not in ("", SVG_NS):
        raise SvgError(f"root element must be <svg>, got <{local}>")
    return root


def sanitize_svg(text: str) -> str:
    """The untrusted document rebuilt from allow-listed elements and attributes only."""
    root = validate_svg(text)
    count = depth = deepest = 0
    dropped = []
    kept = []
    # One pass in lxml's own (C, iterative) walk: no recursion, whatever the nesting.
    for event, element in etree.iterwalk(root, events=("start", "end")):
        if event == "end":
            depth -= 1
            continue
        count += 1
        depth += 1
        if depth > deepest:
            deepest = depth
        if element.tag in _SVG_TAG:
            kept.append(element)
        else:
            dropped.append(element)
    if count > MAX_ELEMENTS:
        raise SvgError(f"svg has {count:,} elements (at most {MAX_ELEMENTS:,})")
    if deepest > MAX_DEPTH:
        raise SvgError(f"svg nests elements {deepest:,} deep (at most {MAX_DEPTH})")
    for element in dropped:
        parent = element.getparent()
        if parent is not None:  # already gone if an ancestor was dropped
            parent.remove(element)  # with its content and its tail text
    # SVG as the default namespace (a None prefix, which lxml-stubs 0.5.1 does not know about).
    clean = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS})  # type: ignore[dict-item]
    for element in kept:
        items = element.items()
        attributes = []
        for name, value in items:
            # The common case inline (a plain presentation attribute whose value has none of the
            # characters a reference or a script needs); everything else through _attribute.
            if name in _PLAIN_ATTRIBUTES and _SUSPECT.search(value) is None:
                attributes.append((name, value))
            elif (kept_attribute := _attribute(name, value)) is not None:
                attributes.append(kept_attribute)
        if element is root:
            clean.text = root.text
            clean.extend(list(root))
            for name, value in attributes:
                clean.set(name, value)
            continue
        tag = _SVG_TAG[element.tag]
        if element.tag != tag:
            element.tag = tag
        if attributes != items:
            element.attrib.clear()
            for name, value in attributes:
                element.set(name, value)
    etree.cleanup_namespaces(clean, top_nsmap={None: SVG_NS})  # type: ignore[dict-item]
    # Written the way ElementTree wrote it before (`<rect />`, a tab in a value as `&#09;`), so stored
    # pictures stay byte-identical. Neither `/>` nor `&#9;` can occur anywhere else in lxml's output:
    # `>` and `&` inside values and text come out escaped.
    markup = str(etree.tostring(clean, encoding="unicode"))
    return markup.replace("/>", " />").replace("&#9;", "&#09;")


def _split(tag: object) -> tuple[str, str]:
    if not isinstance(tag, str):  # comments and processing instructions
        return "", ""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


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
