"""Passcode cookies (SPEC §10): what opens a passcode-protected share link for one browser.

After the right passcode the visitor's browser holds a cookie named for the link
(`maestro_pass_<link id>`) whose value is `<expiry>.<MAC>`: an HMAC-SHA256 under the public-analytics
key ring of the link id, the expiry and the link's current passcode hash. So the cookie

- opens that link only (the link id is in the MAC: replayed under another link's name it fails);
- dies with the passcode: a new passcode, or the same one set again, is a new hash (new salt);
- cannot be stretched: the expiry is in the MAC, and a verifier refuses it once past;
- survives a key rotation while the old key sits in `_PREVIOUS` (checked against every ring key).

The passcode itself is never in it. Its own token context module: it imports no other token module
(.importlinter), only the ring.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from maestro_web.keyring import KeyRing

COOKIE_PREFIX = "maestro_pass_"
MAX_LIFETIME = timedelta(hours=12)  # SPEC §10: at most 12 h, and never beyond the link's expiry
_DOMAIN = b"maestro-passcode-cookie:"  # binds the MAC to this use of the key
_MAX_VALUE_LENGTH = 64


def cookie_name(link_id: str) -> str:
    return f"{COOKIE_PREFIX}{link_id}"


def _mac(secret: str, link_id: str, expires: int, passcode_hash: str) -> str:
    message = b"\x00".join((_DOMAIN + link_id.encode(), str(expires).encode(), passcode_hash.encode()))
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def cookie_expiry(link_expires_at: datetime, now: datetime) -> datetime:
    """When a cookie minted `now` ends: 12 hours on, or the link's expiry if sooner (whole seconds)."""
    end = min(now + MAX_LIFETIME, link_expires_at)
    return datetime.fromtimestamp(int(end.timestamp()), tz=UTC)


def mint_cookie_value(ring: KeyRing, link_id: str, passcode_hash: str, expires_at: datetime) -> str:
    """The cookie value opening `link_id` until `expires_at` while its passcode hash is `passcode_hash`."""
    expires = int(expires_at.timestamp())
    return f"{expires}.{_mac(ring.current, link_id, expires, passcode_hash)}"


def cookie_opens(value: object, ring: KeyRing, link_id: str, passcode_hash: str, now: datetime) -> bool:
    """Whether `value` is a genuine, unexpired cookie of `link_id` under its current `passcode_hash`."""
    # ASCII only: a MAC is base64 text, and hmac.compare_digest raises on non-ASCII text.
    if not isinstance(value, str) or len(value) > _MAX_VALUE_LENGTH or not value.isascii():
        return False
    expires_text, _, mac = value.partition(".")
    if not expires_text.isascii() or not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    if expires <= now.timestamp():
        return False
    # Every key is tried, with no early exit, so the answer's timing says nothing about which matched.
    matched = False
    for secret in ring.secrets:
        matched |= hmac.compare_digest(_mac(secret, link_id, expires, passcode_hash), mac)
    return matched
