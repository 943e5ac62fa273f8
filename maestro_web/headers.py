"""Response headers named once: the app-wide security set, the set for pages that carry a token,
and the policy that keeps an SVG document inert."""
from __future__ import annotations

from flask import Response

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


def keep_private(response: Response) -> Response:
    response.headers.update(PRIVATE_HEADERS)
    return response


def sandboxed_svg_csp(frame_ancestors: str = "'none'") -> str:
    """The CSP of an SVG served as a document: no script, nothing loaded, inline styles only."""
    return f"sandbox; default-src 'none'; style-src 'unsafe-inline'; frame-ancestors {frame_ancestors}"
