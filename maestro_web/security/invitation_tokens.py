"""The link of an invitation e-mail (SPEC §4): a random token, stored only as its SHA-256.

An invitation gives a role on a graph to an address that may have no account yet. Its link must
work once, for 7 days, and be revocable ("withdraw"), so it is a row in the database, not a signed
token: the row holds the state (pending, accepted, withdrawn) and the link carries 256 random bits
that find it. Only the digest is stored, as for an API key: whoever reads the table (a backup, a
replica) cannot open the links. No secret key is involved, so rotating keys never breaks a link,
and a digest of 256 random bits needs no salt or slow hash (nothing to guess).

Flask-free; maestro_web/graphs/invitations.py keeps the rows.
"""

from __future__ import annotations

import hashlib
import secrets

from maestro_web.security.signing import well_formed

LIFETIME = 7 * 24 * 3600
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 64  # 32 bytes are 43 characters of URL-safe base64; anything much longer is not ours


def new_token() -> tuple[str, str]:
    """(the token for the link, the digest to store)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, digest(token)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def digest_of_link(token: object) -> str | None:
    """The digest to look a link's token up by, or None when it cannot be one of ours."""
    if not well_formed(token, MAX_TOKEN_LENGTH):
        return None
    return digest(token)
