"""The app's side of a crawl command (SPEC §11): mint the user's command token, POST it to the service.

The token is the user's (or the schedule owner's), for this graph only, for at most 15 minutes; the
service acts with it through the app's API, where the role rules decide. A service that is down or
refuses ends the crawl `failed` with a message that says so: a source is never left `running`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maestro_web.models import DiscoveryCrawl, DiscoverySource, User
from maestro_web.security import discovery_tokens
from maestro_web.service_commands import post_command


def send_crawl_command(
    config: Mapping[str, Any], user: User, source: DiscoverySource, crawl: DiscoveryCrawl
) -> str | None:
    """Hand the crawl to the discovery service; None when it took it (202), else why not, for a person."""
    ring = config["KEY_RINGS"][discovery_tokens.CONTEXT]
    token = discovery_tokens.issue_command_token(
        ring, user_id=user.public_id, graph_id=source.graph.public_id, token_version=user.token_version
    )
    return post_command(
        f"{config['MAESTRO_DISCOVERY_URL']}/crawl",
        token,
        {"graph": source.graph.public_id, "source": source.public_id, "crawl": crawl.public_id},
        service="discovery service",
        thing="crawl",
        start="flask discovery serve",
    )
