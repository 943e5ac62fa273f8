"""The public URL of a share link: Maestro's shape (SPEC §3.2), from configuration, never from the
request's Host header."""
from __future__ import annotations

from flask import current_app

from maestro_web.models import ShareLink
from maestro_web.security.share_tokens import share_token_of


def share_url(link: ShareLink, embed: bool = False) -> str:
    """`{MAESTRO_ANALYTICS_URL}/graphs/public/<graph id>[/embed]?token=<the link's token>`."""
    base = current_app.config["MAESTRO_ANALYTICS_URL"]
    return f"{base}/graphs/public/{link.graph.public_id}{'/embed' if embed else ''}?token={share_token_of(link)}"
