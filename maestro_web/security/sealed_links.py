"""What the two e-mailed links sealed with Fernet share: a password reset's step 1 (reset_tokens.py)
and the link that finishes a registration (registration_tokens.py).

A sealed link is *encrypted* (Fernet: AES-CBC + HMAC), so it reveals neither the user nor the
address it carries, under a key derived from a ring's secret for one purpose only (an HKDF `info` of
its own): a link of one purpose can never be read as the other's. Each link keeps its `info`,
purpose and lifetime in its own module; this one holds only the rules they have in common, below
them like signing.py: how the key is derived, and how a link too old is told from one that was never
ours. Flask-free.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from maestro_web.security.signing import KeyRing, well_formed


class LinkInvalid(Exception):
    """Not a link of this purpose (tampered, another purpose's, garbage, or made in the future)."""


class LinkExpired(Exception):
    """A genuine link of this purpose, older than its lifetime."""


def _sealer(ring: KeyRing, info: bytes) -> MultiFernet:
    # The current key seals; the _PREVIOUS keys still open links mailed before a rotation.
    keys = []
    for secret in (ring.current, *(secret for secret in ring.previous if secret)):
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())
        keys.append(Fernet(base64.urlsafe_b64encode(derived)))
    return MultiFernet(keys)


def seal_link(ring: KeyRing, *, info: bytes, purpose: str, fields: dict[str, str], now: float | None = None) -> str:
    """A link's token carrying `fields`, sealed for `purpose` at `now` (default: the current time)."""
    payload = json.dumps({"p": purpose, **fields}, separators=(",", ":"))
    return _sealer(ring, info).encrypt_at_time(payload.encode(), int(time.time() if now is None else now)).decode()


def open_link(
    token: object, ring: KeyRing, *, info: bytes, purpose: str, lifetime: int, max_length: int, now: float | None = None
) -> dict[str, Any]:
    """The fields of a genuine link of `purpose` at most `lifetime` seconds old (its own module checks
    their types); LinkExpired for a genuine older one, LinkInvalid for anything else."""
    if not well_formed(token, max_length):
        raise LinkInvalid()
    current = int(time.time() if now is None else now)
    sealer = _sealer(ring, info)
    try:
        data = sealer.decrypt_at_time(token.encode(), ttl=lifetime, current_time=current)
    except InvalidToken:
        # Fernet says "invalid" for an old token too: look at its time to tell them apart (a token
        # "issued" in the future is refused as invalid).
        try:
            issued = sealer.extract_timestamp(token.encode())
        except InvalidToken:
            raise LinkInvalid() from None
        if issued + lifetime < current:
            raise LinkExpired() from None
        raise LinkInvalid() from None
    try:
        payload = json.loads(data)
    except ValueError:
        raise LinkInvalid() from None
    if not isinstance(payload, dict) or payload.get("p") != purpose:
        raise LinkInvalid()
    return payload
