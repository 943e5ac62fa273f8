"""Short link codes (SPEC §10): `<link id><MAC>` under the public-analytics key ring.

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
    if not isinstance(code, str) or not MAC_LENGTH < len(code) <= MAX_CODE_LENGTH or not _ALPHABET.issuperset(code):
        raise ShortCodeInvalid()
    link_id, mac = code[:-MAC_LENGTH], code[-MAC_LENGTH:]
    for secret in ring.secrets:
        if hmac.compare_digest(_mac(secret, link_id), mac):
            return link_id
    raise ShortCodeInvalid()


# --- view receipts -----------------------------------------------------------------------------------
# A public page carries a receipt of the view it counted: the MAC of the link id under another domain of
# the same key. The page's own redraws (`/live`) show the graph again without counting only with it, so
# the link alone never shows a graph uncounted (a max-views link stays exact); the receipt names the
# link only, so one page cached for every visitor of a link carries the same one.
_RECEIPT_DOMAIN = b"maestro-view-receipt:"


def mint_view_receipt(ring: KeyRing, link_id: str) -> str:
    """The receipt a counted view of `link_id` hands its page (deterministic, never stored)."""
    digest = hmac.new(ring.current.encode(), _RECEIPT_DOMAIN + link_id.encode(), hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def view_receipt_valid(ring: KeyRing, link_id: str, receipt: object) -> bool:
    """Whether `receipt` was minted for `link_id` under any key of the ring (so rotation keeps open pages)."""
    if not isinstance(receipt, str) or len(receipt) != MAC_LENGTH or not receipt.isascii():
        return False  # hmac.compare_digest raises on non-ASCII text: a visitor's `seen=é…` was a 500
    for secret in ring.secrets:
        digest = hmac.new(secret.encode(), _RECEIPT_DOMAIN + link_id.encode(), hashlib.sha256).digest()[:MAC_BYTES]
        if hmac.compare_digest(base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), receipt):
            return True
    return False
