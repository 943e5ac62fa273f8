"""The app's side of a crawl command (SPEC §11): mint the user's command token, POST it to the service.

The token is the user's (or the schedule owner's), for this graph only, for at most 15 minutes; the
service acts with it through the app's API, where the role rules decide. A service that is down or
refuses ends the crawl `failed` with a message that says so: a source is never left `running`.
"""
from __future__ import annotations

from typing import Any, Mapping

import requests

from maestro_web.logs import REQUEST_ID_HEADER, current_request_id
from maestro_web.models import DiscoveryCrawl, DiscoverySource, User
from maestro_web.security import discovery_tokens

COMMAND_TIMEOUT = 10.0


def _request_id_header() -> dict[str, str]:
    """The current request's id, so the discovery service's lines and calls of this crawl carry it."""
    request_id = current_request_id()
    return {REQUEST_ID_HEADER: request_id} if request_id else {}


def send_crawl_command(config: Mapping[str, Any], user: User, source: DiscoverySource,
                       crawl: DiscoveryCrawl) -> str | None:
    """Hand the crawl to the discovery service; None when it took it (202), else why not, for a person."""
    ring = config["KEY_RINGS"][discovery_tokens.CONTEXT]
    token = discovery_tokens.issue_command_token(ring, user_id=user.public_id, graph_id=source.graph.public_id,
                                                  token_version=user.token_version)
    url = config["MAESTRO_DISCOVERY_URL"]
    try:
        response = requests.post(f"{url}/crawl", timeout=COMMAND_TIMEOUT,
                                 headers={"Authorization": f"JWT {token}", **_request_id_header()},
                                 json={"graph": source.graph.public_id, "source": source.public_id,
                                       "crawl": crawl.public_id})
    except requests.RequestException:
        return f"The discovery service at {url} is not reachable; is `flask discovery serve` running?"
    if response.status_code == 202:
        return None
    try:
        said = str(response.json().get("message", ""))[:300]
    except ValueError:
        said = ""
    return f"The discovery service refused the crawl ({response.status_code}){': ' + said if said else '.'}"
