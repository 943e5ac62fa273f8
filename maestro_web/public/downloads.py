"""The picture as an SVG or PNG file (SPEC §9), and the PNG answer of the image link: the one place
that turns a stored picture into a file answer, for every path that serves one:

- the owner's: `GET /analytics/graphs/<id>/download.<svg|png>`: Read on the graph (graphs/analytics_routes.py);
- the visitor's: `GET /analytics/graphs/public/<id>/download.<svg|png>?token=` (and `/analytics/s/<code>/download.<svg|png>`):
  the share link's rules, checked and counted by the same statement as the page (a download is a view
  of the graph), with the same refusals and the public headers of routes.py, which registers it;
- the image link (`&ext=png` on the page's own URL, routes.py): png_answer, inline.

Both PNG paths are png_or_refusal (one call of pictures.svg_to_png, one set of refusals); they differ
only in where the SVG is offered instead and in the words that point to it.

The stored picture was sanitized when the worker posted it (ingest/svg.py), so every file comes from
the sanitized SVG; the PNG is rasterized by pictures.py in a limited child process (twice the
drawing's size for sharp text, within MAX_SIDE and MAX_PIXELS, one render per picture at a time,
outcomes cached). A picture it cannot draw (rows stored before the sanitizer's limits included)
answers 422 with a link to the SVG. Downloaded files are named `<graph-name-slug>-<date the picture
was drawn>.<ext>` and always sent as attachments.
"""

from __future__ import annotations

import os
from datetime import datetime
from urllib.parse import urlencode

from flask import Response, current_app, request

from maestro_web import pictures
from maestro_web.domain.file_names import file_name
from maestro_web.errors import error_page, json_error, wants_json
from maestro_web.web.headers import svg_document

FORMATS = ("svg", "png")


def png_or_refusal(svg: str, svg_link: str, message: str, *, public: bool, embed: bool = False) -> Response:
    """The PNG of a stored picture (rendered out of process, pictures.py), or the answer that says
    why there is none: 422 with a link to the SVG (`message` formatted with the reason), or 503 with
    Retry-After while the renderer is busy with it. Never a 500, whatever the picture holds."""
    try:
        body = pictures.svg_to_png(svg, os.path.join(current_app.instance_path, "pictures"))
    except pictures.RendererBusy as busy:
        text = "The picture is being drawn for another request; try again in a few seconds."
        response = json_error(503, text) if wants_json() else error_page(503, text, public=public, embed=embed)
        response.headers["Retry-After"] = str(busy.retry_after)
        return response
    except pictures.Unrenderable as refused:
        text = message.format(reason=refused.reason)
        if wants_json():
            return json_error(422, text, {"ext" if public else "format": text}, extra={"svg_url": svg_link})
        return error_page(
            422,
            text,
            "No PNG of this picture",
            public=public,
            embed=embed,
            links=[(svg_link, "Open the picture as SVG", "")],
        )
    return Response(body, mimetype="image/png")


def png_answer(svg: str, embed: bool) -> Response:
    """The picture as an inline PNG (`&ext=png`, the image link); if it cannot be drawn, 422 with this
    same link at `ext=svg`."""
    query = urlencode(
        [(name, value) for name, value in request.args.items(multi=True) if name != "ext"] + [("ext", "svg")]
    )
    return png_or_refusal(
        svg,
        f"{request.path}?{query}",
        "ext: no PNG of this picture ({reason}); use ext=svg instead.",
        public=True,
        embed=embed,
    )


def download(svg: str, graph_name: str, drawn_at: datetime | None, fmt: str, *, public: bool) -> Response:
    """The picture as an attachment file; a PNG that cannot be drawn is refused with a link to the SVG file."""
    if fmt == "png":
        query = request.query_string.decode()
        svg_link = request.path.removesuffix(".png") + ".svg" + (f"?{query}" if query else "")
        response = png_or_refusal(
            svg,
            svg_link,
            "This picture cannot be turned into a PNG ({reason}); download the SVG instead.",
            public=public,
        )
        if response.status_code != 200:
            return response
    else:
        response = svg_document(svg)
    response.headers["Content-Disposition"] = f'attachment; filename="{file_name(graph_name, drawn_at, fmt)}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
