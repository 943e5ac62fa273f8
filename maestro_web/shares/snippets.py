"""What the owner copies or prints to hand a link on: the iframe snippet and the QR code.

The QR code encodes the same URL as the page shows (urls.py); its SVG is served as a document under
the sandbox CSP (headers.svg_document), like every SVG of the app.
"""
from __future__ import annotations

import io
import re
import unicodedata

import segno
from markupsafe import escape

from maestro_web.models import ShareLink
from maestro_web.shares.urls import share_url, short_url


def iframe_snippet(link: ShareLink) -> str:
    """The HTML to paste into a site allowed to embed the link (its embed URL, no referrer)."""
    return (f'<iframe src="{share_url(link, embed=True)}" title="{escape(link.graph.name)}" width="800" height="600" '
            f'style="border:0" loading="lazy" referrerpolicy="no-referrer"></iframe>')


def qr_svg(link: ShareLink) -> bytes:
    """The link's QR code as a small SVG document for the page."""
    buffer = io.BytesIO()
    segno.make(short_url(link), error="m").save(buffer, kind="svg", scale=4, border=2, xmldecl=False,
                                                 title=f"QR code of the link “{link.label}”")
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
