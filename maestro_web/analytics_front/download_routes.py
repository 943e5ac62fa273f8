"""Download the picture as an SVG or PNG file (SPEC §9), under the same rules as the page showing it.

- private: `GET /analytics/graphs/<id>/download.<svg|png>`: Read on the graph (the private guard);
- public: `GET /analytics/graphs/public/<id>/download.<svg|png>?token=`: the share link's rules,
  checked and counted by the same statement as the page (a download is a view of the graph), with
  the same refusals and the public headers of public_routes.py.

The stored picture was sanitized when the worker posted it (svg.py), so both files come from the
sanitized SVG; the PNG is rasterized here with resvg, twice the drawing's size for sharp text,
scaled down to stay within MAX_SIDE and MAX_PIXELS, and the last few PNGs are kept in memory. Files are named `<graph-name-slug>-<date the
picture was drawn>.<ext>` and always sent as attachments.
"""
from __future__ import annotations

import functools
import re
import unicodedata
import xml.etree.ElementTree as ET
from datetime import datetime

import resvg_py
from flask import Response, abort, g

from maestro_web import rate_limits
from maestro_web.analytics_front import analytics_private_bp, analytics_public_bp, passcode_gate
from maestro_web.analytics_front.public_routes import refusal_page, uncounted_view
from maestro_web.domain.access import authorize_graph
from maestro_web.headers import svg_document
from maestro_web.models import GraphResult
from maestro_web.models.share_rules import count_view
from maestro_web.security.session_jwt import current_user

FORMATS = ("svg", "png")
PNG_ZOOM = 2.0  # pixels per SVG unit: crisp labels on high-density screens and in documents
MAX_SIDE = 12_000  # pixels, either side
# width × height: 32 MB of RGBA while drawing, and a few seconds of rasterizing on one core (see
# docs/benchmarks.md); a bigger graph's PNG is an overview, its SVG the full-resolution file.
MAX_PIXELS = 8_000_000
# Rasterizing time grows with the drawing's paths, not only its pixels: a 1,000-node picture takes
# 10-20 s on one busy core, longer than a request should (gunicorn's timeout is 30 s). Above this
# size the PNG is refused with a message pointing at the SVG, which any browser or editor opens.
MAX_PNG_SVG_BYTES = 1_000_000
PNG_CACHE_SIZE = 8  # recent PNGs kept per process: a picture shared widely is rasterized once


class PictureTooLarge(ValueError):
    """The picture declares no usable size, so it cannot be rasterized within the caps."""


def file_name(graph_name: str, drawn_at: datetime | None, extension: str) -> str:
    """`web-shop-2026-11-30.svg`: ASCII only, so the header needs no encoding."""
    ascii_name = unicodedata.normalize("NFKD", graph_name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-") or "graph"
    date = drawn_at.strftime("%Y-%m-%d") if drawn_at is not None else "undated"
    return f"{slug}-{date}.{extension}"


def picture_size(svg: str) -> tuple[float, float]:
    """The drawing's width and height in SVG units, from its viewBox (or width/height)."""
    root = ET.fromstring(svg)  # already parsed safely and rebuilt by the sanitizer when stored
    box = (root.get("viewBox") or "").replace(",", " ").split()
    try:
        if len(box) == 4:
            width, height = float(box[2]), float(box[3])
        else:
            width, height = float(root.get("width", "")), float(root.get("height", ""))
    except ValueError:
        raise PictureTooLarge("the picture declares no size") from None
    if not (width > 0 and height > 0):
        raise PictureTooLarge("the picture declares no size")
    return width, height


def png_scale(width: float, height: float) -> float:
    """PNG_ZOOM, or less so that neither side passes MAX_SIDE nor the area MAX_PIXELS."""
    return min(PNG_ZOOM, MAX_SIDE / width, MAX_SIDE / height, (MAX_PIXELS / (width * height)) ** 0.5)


@functools.lru_cache(maxsize=PNG_CACHE_SIZE)
def svg_to_png(svg: str) -> bytes:
    """The PNG of a (sanitized) SVG; the same picture is rasterized once per process while it is recent."""
    width, height = picture_size(svg)
    scale = png_scale(width, height)
    target_width, target_height = max(1, int(width * scale)), max(1, int(height * scale))
    return bytes(resvg_py.svg_to_bytes(svg_string=svg, width=target_width, height=target_height, background="#ffffff"))


def download(svg: str, graph_name: str, drawn_at: datetime | None, fmt: str) -> Response:
    if fmt == "png":
        if len(svg) > MAX_PNG_SVG_BYTES:
            abort(422, "This picture is too large to turn into a PNG here; download the SVG instead.")
        try:
            body = svg_to_png(svg)
        except (PictureTooLarge, ValueError):
            abort(422, "This picture cannot be turned into a PNG; download the SVG instead.")
        response = Response(body, mimetype="image/png")
    else:
        response = svg_document(svg)
    response.headers["Content-Disposition"] = f'attachment; filename="{file_name(graph_name, drawn_at, fmt)}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@analytics_private_bp.get("/graphs/<graph_id>/download.<fmt>")
def private_download(graph_id: str, fmt: str) -> Response:
    if fmt not in FORMATS:
        abort(404)
    graph, _ = authorize_graph(graph_id, current_user())
    picture = GraphResult.latest_for(graph, with_picture=True)
    if picture is None or picture.svg is None:
        abort(404, "This graph has no picture yet.")
    return download(picture.svg, graph.name, picture.created_at, fmt)


@analytics_public_bp.get("/graphs/public/<graph_id>/download.<fmt>")
@rate_limits.exempt  # like the page: failures are counted in refusal_page()
def public_download(graph_id: str, fmt: str) -> Response:
    if fmt not in FORMATS:
        abort(404)
    jti = g.share_claims["jti"]  # require_share checked the token
    counted = count_view(jti, graph_id, passcode_gate.presented_hash(jti))
    if counted is None:  # a refusal, or a bare 401 until the link's passcode is entered
        return uncounted_view(graph_id, False)
    g.share_link = counted  # its allowed origins, for the headers
    if counted.svg is None:
        return refusal_page("no picture", False)
    return download(counted.svg, counted.name, counted.drawn_at, fmt)
