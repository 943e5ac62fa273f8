"""One public page, as one frozen object: every input of the page, and nothing else.

The template receives the object whole (`public`, with the fields presenters.page_fields makes of
it as `page`), and the page cache keys on it (page_cache.py): an input the page gains is a field
here, so it is in the key by construction; a value that is not a field cannot reach the page. What
is derived from the fields (every URL of the page, the view receipt, the image link, the fields
shown) is worked out only when the page is rendered, once per cached page, not on every view.

The picture is named by its result's id: a result never changes once stored, and its SVG is read
when the page is rendered (share_rules.picture_svg), so a view served from the cache moves no SVG.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from flask import current_app, url_for

from maestro_web.channels import share_channel
from maestro_web.models.share_rules import SNAPSHOT, CountedView
from maestro_web.security.share_tokens import CONTEXT as SHARE_CONTEXT
from maestro_web.security.short_codes import mint_view_receipt

TICKET_MARK = "@@maestro-live-ticket@@"  # where the visitor's own ticket goes into a cached page
TICKET_EXPIRES_MARK = "@@maestro-live-ticket-expires@@"
SINCE_MARK = "@@maestro-live-since@@"  # and where this view's first event id (live_pages.tickets.live_since)
THEMES = ("light", "dark")  # an embed's `&theme=`; anything else follows the visitor's setting


@dataclass(frozen=True)
class Address:
    """How the visitor reached the link: the long URL (graph id and token) or the short one (code).

    Every URL of the page (its redraw, live ticket, state check, downloads, image link) is built on the
    address it was opened at, so the short link's page is the long link's page, feature for feature.
    """

    graph_id: str
    token: str | None = None
    code: str | None = None

    def url(self, what: str, **args: Any) -> str:
        """The URL of this link's `what`: page, live, ticket, state or download (with fmt=)."""
        if self.code is not None:
            return url_for(f"public.short_{what}", code=self.code, **args)
        endpoint = "public_graph" if what == "page" else f"public_{what}"
        return url_for(f"public.{endpoint}", graph_id=self.graph_id, token=self.token, **args)

    def image_url(self) -> str:
        """The image link (`&ext=png`), absolute from MAESTRO_ANALYTICS_URL: the page's og:image."""
        base = current_app.config["MAESTRO_ANALYTICS_URL"]
        if self.code is not None:
            return f"{base}/s/{self.code}?ext=png"
        return f"{base}/graphs/public/{self.graph_id}?token={self.token}&ext=png"


@dataclass(frozen=True)
class Shown:
    """What a link shows: the graph's name and type, the status, message and figures (their JSON text)
    of the graph now or of a snapshot's pinned result, and its picture (by result id) with when it was drawn."""

    name: str
    type: str
    description: str | None  # None unless the owner chose to show it to visitors
    status: str
    message: str
    info_json: str | None
    picture_id: int | None
    drawn_at: datetime | None
    snapshot: bool
    version: int | None  # a snapshot link: the graph's version it was made from

    @classmethod
    def of(cls, counted: CountedView) -> Shown:
        """What the counting statement returned for the view it counted."""
        return cls(
            counted.name,
            counted.type,
            counted.description,
            counted.status,
            counted.message,
            counted.info_json,
            counted.picture_id,
            counted.drawn_at,
            counted.mode == SNAPSHOT,
            counted.snapshot_version,
        )


@dataclass(frozen=True)
class PublicPage:
    """Every input of one public page (see the module's docstring). `link_id` names the link's live
    channel and its view receipt; `theme` is an embed's `&theme=` (light or dark), else None."""

    shown: Shown
    expires_at: datetime
    address: Address
    link_id: str
    embed: bool = False
    theme: str | None = None

    @property
    def template(self) -> str:
        return "analytics/public_embed.html" if self.embed else "analytics/public.html"

    @property
    def has_picture(self) -> bool:
        return self.shown.picture_id is not None

    @property
    def og_image(self) -> str | None:
        return self.address.image_url() if self.has_picture else None

    @cached_property
    def live(self) -> dict[str, Any]:
        """What the page's script needs: where its ticket goes (TICKET_MARK, filled in per view after
        the cache), the link's channel, where to renew the ticket, redraw the page (with the receipt
        of the counted view) and check the link's state, and the link's downloads."""
        here, config = self.address, current_app.config
        seen = mint_view_receipt(config["KEY_RINGS"][SHARE_CONTEXT], self.link_id)
        return {
            "ticket": TICKET_MARK,
            "expires_at": TICKET_EXPIRES_MARK,
            "since": SINCE_MARK,
            "url": config["MAESTRO_LIVE_URL"],
            "channels": [share_channel(self.link_id)],
            "ticket_url": here.url("ticket"),
            "refresh_url": here.url("live", seen=seen),
            "state_url": here.url("state"),
            "poll": config["MAESTRO_PUBLIC_STATE_POLL"],
            "link_expires_at": self.expires_at.isoformat(),
            "download_svg": here.url("download", fmt="svg") if self.has_picture else None,
            "download_png": here.url("download", fmt="png") if self.has_picture else None,
        }
