"""What the owner copies or prints to hand a link on: the iframe snippet, the image link's Markdown
and HTML, and the QR code.

The QR code encodes the same URL as the page shows (domain/link_urls.py); its SVG is served as a document under
the sandbox CSP (headers.svg_document), like every SVG of the app.
"""

from __future__ import annotations

import io
import re
import unicodedata

import segno
from markupsafe import escape

from maestro_web.domain.link_urls import image_url, share_url, short_url
from maestro_web.models import GraphResult, ShareLink

THEMES = ("auto", "light", "dark")  # of the embedded page; auto follows the visitor's own setting
EMBED_WIDTH = 800  # the snippet's widest frame, in CSS px; narrower pages get a frame as wide as they are
EMBED_CHROME = 160  # the embedded page's live line, title, toolbar and margins around the picture
EMBED_LEAST = 340  # the frame's least height: on a phone the chrome would leave the picture too little
# The frame keeps the picture's shape within these bounds (height / width): a very wide picture still
# gets a frame its toolbar fits in, a very tall one a frame that does not fill a whole page.
LOWEST, TALLEST = 0.3, 1.2
_VIEWBOX = re.compile(r'<svg\b[^>]*?\bviewBox="\s*[-\d.]+[\s,]+[-\d.]+[\s,]+([\d.]+)[\s,]+([\d.]+)\s*"')


def picture_shape(svg: str | None) -> float:
    """The picture's height over its width, from the root's viewBox; 0.6 without a readable one."""
    found = _VIEWBOX.search(svg[:4096]) if svg else None
    try:
        width, height = (float(found.group(1)), float(found.group(2))) if found else (0.0, 0.0)
    except ValueError:
        width = height = 0.0
    return min(TALLEST, max(LOWEST, height / width)) if width > 0 and height > 0 else 0.6


def shown_picture(link: ShareLink) -> str | None:
    """The SVG a visitor of the link sees now: the pinned result of a snapshot, else the newest picture."""
    if link.pinned_result_id is not None and link.pinned_result is not None:
        return link.pinned_result.svg
    result = GraphResult.latest_for(link.graph, with_picture=True)
    return result.svg if result is not None else None


def iframe_snippet(link: ShareLink, theme: str = "auto", shape: float = 0.6) -> str:
    """The HTML to paste into a site allowed to embed the link (its embed URL, no referrer).

    Responsive: the frame is as wide as the page it sits in, up to EMBED_WIDTH, and as tall as the
    picture's `shape` (height / width) needs at that width plus the embedded page's title and toolbar
    (a box whose padding is a share of its width plus EMBED_CHROME px, at least EMBED_LEAST, the frame
    filling it), so it never overflows a phone. `theme` (THEMES) rides on the embed URL after the token;
    `allow="fullscreen"` lets the viewer's Full screen button use the whole screen from inside the frame.
    """
    if theme not in THEMES:
        raise ValueError(f"theme: one of {', '.join(THEMES)}")
    return (
        f'<div style="max-width:{EMBED_WIDTH}px"><div style="position:relative;height:0;'
        f'padding-top:max({EMBED_LEAST}px, calc({shape * 100:.2f}% + {EMBED_CHROME}px))">'
        f'<iframe src="{escape(share_url(link, embed=True))}&amp;theme={theme}" title="{escape(link.graph.name)}" '
        f'style="position:absolute;top:0;left:0;width:100%;height:100%;border:0" loading="lazy" '
        f'referrerpolicy="no-referrer" allow="fullscreen"></iframe></div></div>'
    )


def iframe_snippets(link: ShareLink) -> dict[str, str]:
    """The iframe snippet in each theme, framed to the shape of the picture the link shows now."""
    shape = picture_shape(shown_picture(link))
    return {theme: iframe_snippet(link, theme, shape) for theme in THEMES}


def _markdown_text(text: str) -> str:
    """`text` safe inside Markdown's square brackets."""
    return re.sub(r"([\\\[\]])", r"\\\1", " ".join(text.split()))


def image_markdown(link: ShareLink) -> str:
    """Markdown showing the link's picture (its image link) that opens the page when clicked."""
    return f"[![{_markdown_text(f'Dependency diagram: {link.graph.name}')}]({image_url(link)})]({short_url(link)})"


def image_html(link: ShareLink) -> str:
    """The same as HTML: the picture, linked to the page."""
    return (
        f'<a href="{escape(short_url(link))}"><img src="{escape(image_url(link))}" '
        f'alt="{escape(f"Dependency diagram: {link.graph.name}")}"></a>'
    )


def qr_svg(link: ShareLink) -> bytes:
    """The link's QR code as a small SVG document for the page."""
    buffer = io.BytesIO()
    segno.make(short_url(link), error="m").save(
        buffer, kind="svg", scale=4, border=2, xmldecl=False, title=f"QR code of the link “{link.label}”"
    )
    return buffer.getvalue()


def qr_png(link: ShareLink) -> bytes:
    """The same QR code as a PNG large enough for slides and print."""
    buffer = io.BytesIO()
    segno.make(short_url(link), error="m").save(buffer, kind="png", scale=10, border=4)
    return buffer.getvalue()


def qr_file_name(link: ShareLink) -> str:
    """`<graph>-<label>-qr.png` in ASCII, so the Content-Disposition header needs no encoding."""
    words = unicodedata.normalize("NFKD", f"{link.graph.name} {link.label}").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")
    return f"{slug[:80].strip('-') or 'link'}-qr.png"
