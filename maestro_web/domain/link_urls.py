"""The public URL of a share link: Maestro's shape (SPEC §3.2), from configuration, never from the
request's Host header."""

from __future__ import annotations

from flask import current_app

from maestro_web.models import ShareLink
from maestro_web.security.share_tokens import CONTEXT, share_token_of
from maestro_web.security.short_codes import mint_short_code


def share_url(link: ShareLink, embed: bool = False) -> str:
    """`{MAESTRO_ANALYTICS_URL}/graphs/public/<graph id>[/embed]?token=<the link's token>`."""
    base = current_app.config["MAESTRO_ANALYTICS_URL"]
    return f"{base}/graphs/public/{link.graph.public_id}{'/embed' if embed else ''}?token={share_token_of(link)}"


def short_url(link: ShareLink) -> str:
    """`{MAESTRO_ANALYTICS_URL}/s/<code>` (SPEC §10): the link id and its MAC, for QR codes and chat apps."""
    ring = current_app.config["KEY_RINGS"][CONTEXT]
    return f"{current_app.config['MAESTRO_ANALYTICS_URL']}/s/{mint_short_code(ring, link.public_id)}"


def image_url(link: ShareLink) -> str:
    """The image link (SPEC §10): the public URL with `&ext=png`, a PNG of the current picture."""
    return f"{share_url(link)}&ext=png"
