"""Channel names of the live server (SPEC §8), one rule for the app, the tokens and the server."""
from __future__ import annotations

import re
from typing import TypeGuard

CONTROL = "control"
MAX_CHANNEL_LENGTH = 200
# `graph:<id>`, `user:<id>`, `share:<id>`, a service's own `<kind>:<id>`, or the bare `control`.
_CHANNEL = re.compile(r"[a-z][a-z0-9_-]{0,31}(:[A-Za-z0-9_.~-]{1,160})?")


def is_channel(name: object) -> TypeGuard[str]:
    """True when `name` is a well-formed channel name."""
    return isinstance(name, str) and len(name) <= MAX_CHANNEL_LENGTH and _CHANNEL.fullmatch(name) is not None
