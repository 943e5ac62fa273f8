"""Response headers named once: the app-wide security set, the set for pages that carry a token,
and the policy that keeps an SVG document inert."""

from __future__ import annotations

from functools import lru_cache
from typing import TypeVar
from urllib.parse import urlsplit

from flask import Response
from werkzeug.wrappers import Response as AnyResponse

R = TypeVar("R", bound=AnyResponse)  # a page, or a redirect (werkzeug's own class)

# Set on every response unless a view set its own (register_security_headers in __init__.py).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# Pages whose URL or body holds a token (share links, reset links, the public view): never kept
# in a cache, never sent on to another site in a Referer header.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"}


@lru_cache(maxsize=16)  # a setting: the same few values on every response of the public view
def live_connect_src(live_url: str) -> str:
    """`connect-src` of pages with live updates: this site (tickets, redraws) and the live server."""
    parts = urlsplit(live_url)
    return f"'self' {parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "'self'"


def app_security_headers(live_url: str) -> dict[str, str]:
    """SECURITY_HEADERS with the live server's origin allowed for connections (SPEC §8)."""
    csp = SECURITY_HEADERS["Content-Security-Policy"] + f"; connect-src {live_connect_src(live_url)}"
    return {**SECURITY_HEADERS, "Content-Security-Policy": csp}


def keep_private(response: R) -> R:
    response.headers.update(PRIVATE_HEADERS)
    return response


def sandboxed_svg_csp(frame_ancestors: str = "'none'") -> str:
    """The CSP of an SVG served as a document: no script, nothing loaded, inline styles only."""
    return f"sandbox; default-src 'none'; style-src 'unsafe-inline'; frame-ancestors {frame_ancestors}"


def svg_document(svg: str | bytes) -> Response:
    """An SVG served as a document (a picture, a QR code): inert under the sandbox CSP, never cached
    (SPEC §5). The one home of that answer; a view may add headers (an attachment's file name)."""
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = sandboxed_svg_csp()
    response.headers["Cache-Control"] = "no-store"
    return response


def attachment(body: bytes, mimetype: str, filename: str) -> Response:
    """A private download (a report's file): saved under `filename` (ASCII, domain.file_names.file_name),
    never sniffed, never cached."""
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
