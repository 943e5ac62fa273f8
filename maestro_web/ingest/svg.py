"""Worker SVG is untrusted (SPEC §5): parse it safely, then keep only an allow-list.

`sanitize_svg` is the only way a worker's picture reaches storage, so every page that shows a
picture shows sanitized markup. Parsing goes through lxml (libxml2) with a hardened parser: no
DTD loaded, no entity resolved, no network, libxml2's size and depth limits on (`huge_tree=False`),
and any DOCTYPE refused, so entity expansion ("billion laughs") and external entities never happen.
The cleaned document keeps only drawing elements and presentation attributes: no script, no event
handlers, no foreignObject, no links or references that leave the document (`href` must be a
`#fragment`, `url()` must be `url(#id)`), no `<style>` sheets, no filters. The tree is walked by
lxml's C iteration (no recursion in Python) and cleaned in place; only the per-attribute checks run
in Python.

What is knowably costly to draw is refused (SvgError, a 422 on `svg`), because the PNG of a picture
is rasterized from it (pictures.py, in a limited child process, is the backstop for the rest):
numbers of a million or more in geometry (resvg panics on a stroke width of 1e10), `<use>` of a
`<use>` of a `<use>` (a kilobyte that draws a thousand canvases), more than MAX_ELEMENTS elements
once every reference (`<use>`, `url(#id)` in clip-path, mask, markers, fill, stroke) is expanded,
reference loops and chains, and more than MAX_LAYERS offscreen layers (group opacity, masks, clip
paths) once expanded. docs/hostile-input.md says why each is refused rather than rewritten.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
MAX_ELEMENTS = 200_000
MAX_DEPTH = 100  # elements inside each other; a drawing needs a handful, 5,000 nested <g> is an attack
MAX_USE_DEPTH = 2  # a <use> of a shape, or of a group that uses shapes; a third level multiplies again
MAX_REFERENCE_DEPTH = 8  # references followed through references (any kind), e.g. a mask that clips
MAX_LAYERS = 256  # expanded elements drawn on a layer of their own (group opacity, mask, clip-path)
MAX_NUMBER = 1_000_000  # in geometry, a magnitude a drawing never needs (resvg panics at 1e10)

ELEMENTS = frozenset(
    {
        "svg",
        "g",
        "defs",
        "title",
        "desc",
        "symbol",
        "use",
        "rect",
        "circle",
        "ellipse",
        "line",
        "polyline",
        "polygon",
        "path",
        "text",
        "tspan",
        "marker",
        "linearGradient",
        "radialGradient",
        "stop",
        "clipPath",
        "mask",
        "pattern",
    }
)

# Attributes (and style properties) that hold lengths, coordinates or transforms.
_NUMERIC = frozenset(
    {
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
        "fx",
        "fy",
        "width",
        "height",
        "d",
        "points",
        "transform",
        "viewBox",
        "stroke-width",
        "stroke-dasharray",
        "stroke-dashoffset",
        "stroke-miterlimit",
        "font-size",
        "letter-spacing",
        "dx",
        "dy",
        "textLength",
        "markerWidth",
        "markerHeight",
        "refX",
        "refY",
        "gradientTransform",
        "patternTransform",
    }
)

# The allowed attributes: the numeric ones (their values checked as numbers), and the others.
ATTRIBUTES = _NUMERIC | frozenset(
    {
        "id",
        "class",
        "preserveAspectRatio",
        "version",
        "fill",
        "fill-opacity",
        "fill-rule",
        "stroke",
        "stroke-opacity",
        "stroke-linecap",
        "stroke-linejoin",
        "opacity",
        "visibility",
        "display",
        "color",
        "font-family",
        "font-weight",
        "font-style",
        "text-anchor",
        "dominant-baseline",
        "alignment-baseline",
        "rotate",
        "lengthAdjust",
        "marker-start",
        "marker-mid",
        "marker-end",
        "markerUnits",
        "orient",
        "offset",
        "stop-color",
        "stop-opacity",
        "gradientUnits",
        "spreadMethod",
        "clip-path",
        "clipPathUnits",
        "clip-rule",
        "mask",
        "maskUnits",
        "patternUnits",
        "role",
        "aria-label",
        "aria-hidden",
        "focusable",
        "style",
        "href",
        "vector-effect",
        "paint-order",
        "shape-rendering",
        "text-rendering",
    }
)

# The picture's machine-readable structure (SPEC §9): which node a box is, which nodes an edge joins.
DATA_ATTRIBUTES = frozenset({"data-node", "data-kind", "data-source", "data-target"})

# CSS properties allowed in a `style` attribute: the presentation attributes above.
STYLE_PROPERTIES = frozenset(
    name
    for name in ATTRIBUTES
    if name
    not in {
        "id",
        "class",
        "d",
        "points",
        "transform",
        "viewBox",
        "href",
        "style",
        "role",
        "aria-label",
        "aria-hidden",
        "focusable",
        "version",
    }
)

# Allowed element tags, with or without the SVG namespace, and the namespaced tag each is written as.
_SVG_TAG = {tag: f"{{{SVG_NS}}}{name}" for name in ELEMENTS for tag in (name, f"{{{SVG_NS}}}{name}")}
# Attributes kept as they are when the value cannot hold a url(), a scheme, an escape or markup.
_PLAIN_ATTRIBUTES = frozenset(
    name for name in ATTRIBUTES if name not in {"href", "style"} and not name.lower().startswith("on")
)
_SUSPECT = re.compile(r"[:(@\\<]")
_URL = re.compile(r"url\s*\(", re.IGNORECASE)
_LOCAL_URL = re.compile(r"url\(\s*['\"]?#[A-Za-z0-9_.:-]+['\"]?\s*\)")
_DANGEROUS = re.compile(r"javascript:|vbscript:|data:|expression\s*\(|@import|\\|<|behavior\s*:", re.IGNORECASE)
_FRAGMENT = re.compile(r"^#[A-Za-z0-9_.:-]{1,200}$")

# A cheap first look (C only): seven digits before any point, or a positive exponent. Only a value it
# matches has its numbers read one by one.
_NUMBER_HINT = re.compile(r"(?<![\d.])\d{7}|\d[eE]\+?\d")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# Attributes whose url(#id) makes the renderer draw the referenced element's content again.
_DRAWING_REFERENCES = frozenset({"clip-path", "mask", "marker-start", "marker-mid", "marker-end", "fill", "stroke"})
_REFERENCE = re.compile(r"url\(\s*['\"]?#([A-Za-z0-9_.:-]+)")
_USE_TAG = f"{{{SVG_NS}}}use"


class SvgError(ValueError):
    """The document is not a safe, well-formed SVG; the message says why (for a 422 field)."""


# One parser per thread would be needed to share it (lxml parsers are not thread-safe), so each call
# makes its own: construction costs microseconds.
def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
        encoding="utf-8",
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
    costs = _Costs()
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
            else:
                continue
            name, value = attributes[-1]
            if name in _NUMERIC and _NUMBER_HINT.search(value) is not None:
                _refuse_huge_numbers(name, value)
            if name in _COST_ATTRIBUTES:
                costs.note(clean if element is root else element, element.tag, name, value)
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
    costs.check(clean, count)
    etree.cleanup_namespaces(clean, top_nsmap={None: SVG_NS})  # type: ignore[dict-item]
    # Written the way ElementTree wrote it before (`<rect />`, a tab in a value as `&#09;`), so stored
    # pictures stay byte-identical. Neither `/>` nor `&#9;` can occur anywhere else in lxml's output:
    # `>` and `&` inside values and text come out escaped.
    markup = str(etree.tostring(clean, encoding="unicode"))
    return markup.replace("/>", " />").replace("&#9;", "&#09;")


def _refuse_huge_numbers(name: str, value: str) -> None:
    for number in _NUMBER.findall(value):
        try:
            magnitude = abs(float(number))
        except ValueError:  # pragma: no cover - the pattern only matches numbers
            continue
        if magnitude >= MAX_NUMBER:
            raise SvgError(f"svg {name} holds {number} (numbers in geometry must stay below {MAX_NUMBER:,})")


_COST_ATTRIBUTES = frozenset({"id", "href", "opacity", "style"} | _DRAWING_REFERENCES)


class _Costs:
    """What drawing the cleaned document would expand to: every `<use>` and `url(#id)` reference
    draws its target's content again, and group opacity, masks and clip paths each draw on a layer.

    Filled by sanitize_svg's attribute loop (`note`), then checked once (`check`): only the targets
    of references are walked again, each once (memoized), so a document without references costs
    nothing more than the loop.
    """

    def __init__(self) -> None:
        self.ids: dict[str, Any] = {}
        self.references: dict[Any, list[tuple[str, bool]]] = {}  # element -> (target id, is a <use>)
        self.layers: set[Any] = set()
        self._memo: dict[str, tuple[int, int, int]] = {}

    def note(self, element: Any, tag: str, name: str, value: str) -> None:
        if name == "id":
            self.ids.setdefault(value, element)  # the first element with an id is the one referenced
        elif name == "href":
            if tag == _USE_TAG or tag == "use":
                self.references.setdefault(element, []).append((value.strip()[1:], True))
        elif name == "style":
            for declaration in value.split("; "):
                prop, _, prop_value = declaration.partition(": ")
                if prop in _COST_ATTRIBUTES and prop not in ("id", "href", "style"):
                    self.note(element, tag, prop, prop_value)
        elif name == "opacity":
            try:
                translucent = float(value.strip().rstrip("%")) < (100 if value.strip().endswith("%") else 1)
            except ValueError:
                translucent = True
            if translucent:
                self.layers.add(element)
        else:
            if name in ("clip-path", "mask") and value.strip() != "none":
                self.layers.add(element)
            for target in _REFERENCE.findall(value):
                self.references.setdefault(element, []).append((target, False))

    def check(self, clean: Any, count: int) -> None:
        """Refuse the document if its expansion passes MAX_ELEMENTS, MAX_LAYERS or MAX_USE_DEPTH,
        or its references loop or chain deeper than MAX_REFERENCE_DEPTH."""
        if not self.references:
            if len(self.layers) > MAX_LAYERS:
                raise SvgError(
                    f"svg draws {len(self.layers):,} layers (group opacity, masks, clip paths; at most {MAX_LAYERS})"
                )
            return
        self._budget = MAX_ELEMENTS * 2  # elements walked again under referenced targets
        elements, layers, use_depth = count, len(self.layers), 0
        for references in self.references.values():
            for target, is_use in references:
                size, target_layers, target_depth = self._expanded(target, 1, ())
                elements, layers = elements + size, layers + target_layers
                use_depth = max(use_depth, target_depth + is_use)
                self._refuse(elements, layers, use_depth)

    def _refuse(self, elements: int, layers: int, use_depth: int) -> None:
        if use_depth > MAX_USE_DEPTH:
            raise SvgError(f"svg nests <use> {use_depth} deep (a <use> of a <use>...; at most {MAX_USE_DEPTH})")
        if elements > MAX_ELEMENTS:
            raise SvgError(f"svg expands to more than {MAX_ELEMENTS:,} elements through <use> and url(#...) references")
        if layers > MAX_LAYERS:
            raise SvgError(
                f"svg draws more than {MAX_LAYERS} layers (group opacity, masks, clip paths) "
                "once its references are expanded"
            )

    def _expanded(self, target: str, depth: int, path: tuple[str, ...]) -> tuple[int, int, int]:
        """(elements, layers, <use> depth) that drawing the element `#target` once adds."""
        if target in self._memo:
            return self._memo[target]
        if target in path:
            raise SvgError(f"svg references loop back to #{target}")
        if depth > MAX_REFERENCE_DEPTH:
            raise SvgError(f"svg references nest more than {MAX_REFERENCE_DEPTH} deep")
        element = self.ids.get(target)
        if element is None:  # a dangling reference draws nothing
            return 0, 0, 0
        elements = layers = use_depth = walked = 0
        for inner in element.iter():
            walked += 1
            elements += 1
            layers += inner in self.layers
            for reference, is_use in self.references.get(inner, ()):
                size, inner_layers, inner_depth = self._expanded(reference, depth + 1, (*path, target))
                elements, layers = elements + size, layers + inner_layers
                use_depth = max(use_depth, inner_depth + is_use)
                self._refuse(elements, layers, use_depth)
        self._budget -= walked
        if self._budget < 0:
            raise SvgError(f"svg expands to more than {MAX_ELEMENTS:,} elements through <use> and url(#...) references")
        self._memo[target] = elements, layers, use_depth
        return self._memo[target]


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
            if prop in _NUMERIC and _NUMBER_HINT.search(prop_value) is not None:
                _refuse_huge_numbers(prop, prop_value)
            kept.append(f"{prop}: {prop_value}")
    return "; ".join(kept)
