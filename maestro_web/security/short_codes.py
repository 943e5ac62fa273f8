"""Short link codes (SPEC §10, issue 14): `<link id><MAC>` under the public-analytics key ring.

The code is the link's public id followed by a truncated HMAC-SHA256 of it, base64url without
padding. The id alone (what a database dump holds) opens nothing: the MAC needs the key. Minted with
the ring's current key; verified against the current key, then each `_PREVIOUS` key, with
`hmac.compare_digest`, so rotating the key keeps short links working until the old key is dropped.

Its own token context module: it imports no other token module (.importlinter), only the ring.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from maestro_web.keyring import KeyRing

MAC_BYTES = 16  # 128 bits: forging one needs the key
MAC_LENGTH = 22  # characters of base64url for MAC_BYTES, no padding
MAX_CODE_LENGTH = 128
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_DOMAIN = b"maestro-short-link:"  # binds the MAC to this use of the key


class ShortCodeInvalid(Exception):
    """Not a short code of this app (altered, truncated, or signed with a key it does not hold): 404."""


def _mac(secret: str, link_id: str) -> str:
    digest = hmac.new(secret.encode(), _DOMAIN + link_id.encode(), hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mint_short_code(ring: KeyRing, link_id: str) -> str:
    """The short code of the link `link_id`, under the ring's current key (deterministic: never stored)."""
    return f"{link_id}{_mac(ring.current, link_id)}"


def verify_short_code(code: object, ring: KeyRing) -> str:
    """The link id of a genuine short code; ShortCodeInvalid for anything else."""
    if (not isinstance(code, str) or not MAC_LENGTH < len(code) <= MAX_CODE_LENGTH
            or not _ALPHABET.issuperset(code)):
        raise ShortCodeInvalid()
    link_id, mac = code[:-MAC_LENGTH], code[-MAC_LENGTH:]
    for secret in ring.secrets:
        if hmac.compare_digest(_mac(secret, link_id), mac):
            return link_id
    raise ShortCodeInvalid()
