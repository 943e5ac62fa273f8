"""Key rings: the current secret of one token context plus the keys it still accepts.

A bottom module (standard library only), so config, the security modules, the live server and the
worker can all hold rings without importing each other. Signing and verifying with a ring is
`security/signing.py`'s job.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field


def key_id(context: str, secret: str) -> str:
    """A short public name for a key: reveals nothing of the secret, differs per context."""
    digest = hashlib.sha256(f"maestro-kid:{context}:{secret}".encode()).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class KeyRing:
    context: str
    current: str
    previous: tuple[str, ...] = ()
    _by_kid: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_kid = {key_id(self.context, secret): secret for secret in self.previous if secret}
        by_kid[key_id(self.context, self.current)] = self.current
        object.__setattr__(self, "_by_kid", by_kid)

    def __repr__(self) -> str:  # never print secrets, e.g. in a debugger or a log line
        return f"KeyRing({self.context!r}, kid={self.current_kid!r}, previous={len(self.previous)})"

    @property
    def current_kid(self) -> str:
        return key_id(self.context, self.current)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every key this ring accepts, the current one first (for tokens without a `kid`)."""
        return (self.current, *(secret for secret in self.previous if secret and secret != self.current))

    def secret_for(self, kid: object) -> str | None:
        """The secret named by `kid`, or None when this ring does not hold it."""
        if not isinstance(kid, str) or not kid.isascii():  # compare_digest raises on non-ASCII text
            return None
        for known, secret in self._by_kid.items():
            if hmac.compare_digest(known, kid):
                return secret
        return None
