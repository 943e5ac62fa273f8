"""The app's side of the lean services (discovery §11, reports §12): handing one a command.

Apart from service_kit.py, which is the services' own (their server side is aiohttp): the app's
processes import this on every start and never serve aiohttp.
"""

from __future__ import annotations

from typing import Any

import requests

from maestro_web.logs import REQUEST_ID_HEADER, current_request_id

COMMAND_TIMEOUT = 10.0


def post_command(url: str, token: str, body: dict[str, Any], *, service: str, thing: str, start: str) -> str | None:
    """The app hands a command to a service (`POST {url}`, the command token): None when it took it
    (202), else why not, for a person: "The `service` refused the `thing` (409): …", or that it
    is not reachable and how to `start` it."""
    request_id = current_request_id()
    headers = {"Authorization": f"JWT {token}", **({REQUEST_ID_HEADER: request_id} if request_id else {})}
    try:
        response = requests.post(url, timeout=COMMAND_TIMEOUT, headers=headers, json=body)
    except requests.RequestException:
        return f"The {service} at {url.rsplit('/', 1)[0]} is not reachable; is `{start}` running?"
    if response.status_code == 202:
        return None
    try:
        said = str(response.json().get("message", ""))[:300]
    except (ValueError, AttributeError):
        said = ""
    return f"The {service} refused the {thing} ({response.status_code}){': ' + said if said else '.'}"
