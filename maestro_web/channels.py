"""Channel names of live events (SPEC §8): the one rule for the app, the services, the tokens and the live server.

A leaf module (no Flask, no database, nothing of maestro_web) so every process may import it.
A browser reads `graph:<graph>`, `user:<user>` and `share:<link>` channels through a ticket; a
service's socket token lists the prefixes it may post to (`GRAPH_PREFIX`, `USER_PREFIX`); only the
app and the live servers speak on `CONTROL`, which carries revocations and is never on a ticket.
"""

from __future__ import annotations

import re
from typing import TypeGuard

CONTROL = "control"
GRAPH_PREFIX = "graph:"
USER_PREFIX = "user:"
SHARE_PREFIX = "share:"
MAX_CHANNEL_LENGTH = 200
# `graph:<id>`, `user:<id>`, `share:<id>`, a service's own `<kind>:<id>`, or the bare `control`.
_CHANNEL = re.compile(r"[a-z][a-z0-9_-]{0,31}(:[A-Za-z0-9_.~-]{1,160})?")


def graph_channel(graph_public_id: str) -> str:
    """The channel of one graph: its runs and pictures, read by everyone who may read the graph."""
    return f"{GRAPH_PREFIX}{graph_public_id}"


def user_channel(user_public_id: str) -> str:
    """The channel of one user: their own links, views and reports."""
    return f"{USER_PREFIX}{user_public_id}"


def share_channel(link_public_id: str) -> str:
    """The channel of one share link, read by its anonymous visitors."""
    return f"{SHARE_PREFIX}{link_public_id}"


def is_channel(name: object) -> TypeGuard[str]:
    """True when `name` is a well-formed channel name."""
    return isinstance(name, str) and len(name) <= MAX_CHANNEL_LENGTH and _CHANNEL.fullmatch(name) is not None
