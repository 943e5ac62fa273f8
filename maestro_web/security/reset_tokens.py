"""Password reset tokens (SecretJwt Crypto Forgot + SecretJwt Forgot, SPEC §3.4).

Two steps, two secrets, two kinds of token, so that neither can stand in for the other:

- Step 1 travels in the e-mailed link. It is *encrypted* (Fernet: AES-CBC + HMAC) under
  MAESTRO_SECRET_CRYPTO_FORGOT, so the link reveals neither the user nor the address; it lives
  30 minutes.
- Step 2 is a JWT signed with MAESTRO_SECRETJWT_FORGOT (`aud` maestro-password-reset) that rides in
  the reset form's hidden field; it lives 10 minutes.

Both carry a fingerprint of the user's current password hash (and token version). Setting a new
password changes the hash, so after one successful reset both tokens, and every other reset link
of that user, are dead: each works once, and no table of used tokens is needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from flask import current_app

from maestro_web.models.user import User, dummy_password_hash
from maestro_web.security.sealed_links import LinkExpired, LinkInvalid, open_link, seal_link
from maestro_web.security.signing import (
    REGISTERED,
    KeyRing,
    decode_pinned,
    encode_pinned,
    registered_claims,
    well_formed,
)

STEP1_CONTEXT = "crypto-forgot"
STEP2_CONTEXT = "forgot"
STEP1_LIFETIME = 30 * 60
STEP2_LIFETIME = 10 * 60
STEP1_PURPOSE = "maestro-password-reset-link"
STEP1_INFO = b"maestro-forgot-step1"  # the HKDF info of step 1's key (sealed_links.py)
AUDIENCE = "maestro-password-reset"
ISSUER = "maestro-web"
MAX_TOKEN_LENGTH = 1024
LEEWAY = 5  # seconds of clock skew tolerated on iat


class ResetTokenInvalid(Exception):
    """Not a reset token of this step (tampered, another context's, garbage)."""


class ResetTokenExpired(Exception):
    """A genuine token of this step, past its lifetime."""


class ResetTokenUsed(Exception):
    """A genuine, unexpired token whose account has changed its password since (or is gone)."""


def password_fingerprint(password_hash: str, token_version: int) -> str:
    """A short digest of the current password hash: changes with every new password.

    The argon2 hash is salted, so even setting the same password again gives a new fingerprint.
    """
    digest = hashlib.sha256(f"maestro-reset:{token_version}:{password_hash}".encode()).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def mint_step1(ring: KeyRing, user_public_id: str, fingerprint: str, now: float | None = None) -> str:
    """The token of the e-mailed link."""
    return seal_link(
        ring, info=STEP1_INFO, purpose=STEP1_PURPOSE, fields={"u": user_public_id, "f": fingerprint}, now=now
    )


def verify_step1(token: object, ring: KeyRing, now: float | None = None) -> dict[str, str]:
    """`{"user": public id, "fingerprint": ...}` of a valid step 1 token."""
    try:
        payload = open_link(
            token,
            ring,
            info=STEP1_INFO,
            purpose=STEP1_PURPOSE,
            lifetime=STEP1_LIFETIME,
            max_length=MAX_TOKEN_LENGTH,
            now=now,
        )
    except LinkExpired:
        raise ResetTokenExpired() from None
    except LinkInvalid:
        raise ResetTokenInvalid() from None
    user, fingerprint = payload.get("u"), payload.get("f")
    if not isinstance(user, str) or not isinstance(fingerprint, str):
        raise ResetTokenInvalid()
    return {"user": user, "fingerprint": fingerprint}


def mint_step2(ring: KeyRing, user_public_id: str, fingerprint: str, now: float | None = None) -> str:
    """The token of the reset form's hidden field."""
    payload = {
        "sub": user_public_id,
        "fp": fingerprint,
        **registered_claims(issuer=ISSUER, audience=AUDIENCE, ttl=STEP2_LIFETIME, now=now),
    }
    return encode_pinned(payload, ring)


def verify_step2(token: object, ring: KeyRing, now: float | None = None) -> dict[str, str]:
    """`{"user": public id, "fingerprint": ...}` of a valid step 2 token."""
    if not well_formed(token, MAX_TOKEN_LENGTH):
        raise ResetTokenInvalid()
    current = time.time() if now is None else now
    try:
        claims: dict[str, Any] = decode_pinned(
            token, ring, audience=AUDIENCE, issuer=ISSUER, verify_exp=False, require=[*REGISTERED, "sub"]
        )
    except Exception:  # every PyJWT error, and anything odd in a hostile header
        raise ResetTokenInvalid() from None
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int) or iat > current + LEEWAY or exp - iat > STEP2_LIFETIME:
        raise ResetTokenInvalid()
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("fp"), str):
        raise ResetTokenInvalid()
    if exp <= current:
        raise ResetTokenExpired()
    return {"user": claims["sub"], "fingerprint": claims["fp"]}


# --- the app's side: rings from the config, users from the database ------------------------------


def _ring(context: str) -> KeyRing:
    ring: KeyRing = current_app.config["KEY_RINGS"][context]
    return ring


def fingerprint_of(user: User) -> str:
    return password_fingerprint(user.password_hash, user.token_version or 1)


def mint_link_token(user: User | None) -> str:
    """The step 1 token for `user`'s reset e-mail; for None, a decoy made with the same work, so a
    request for an unknown address takes as long as one for a real account."""
    if user is None:
        return mint_step1(_ring(STEP1_CONTEXT), "0" * 22, password_fingerprint(dummy_password_hash(), 1))
    return mint_step1(_ring(STEP1_CONTEXT), user.public_id, fingerprint_of(user))


def mint_form_token(user: User) -> str:
    """The step 2 token for the reset form of `user`."""
    return mint_step2(_ring(STEP2_CONTEXT), user.public_id, fingerprint_of(user))


def user_of_link_token(token: object) -> User:
    """The account a valid step 1 token names. Raises ResetTokenInvalid, ResetTokenExpired or ResetTokenUsed."""
    return _current_user(verify_step1(token, _ring(STEP1_CONTEXT)))


def user_of_form_token(token: object) -> User:
    """The account a valid step 2 token names. Raises ResetTokenInvalid, ResetTokenExpired or ResetTokenUsed."""
    return _current_user(verify_step2(token, _ring(STEP2_CONTEXT)))


def _current_user(claims: dict[str, str]) -> User:
    user = User.get_by_public_id(claims["user"])
    if user is None or not hmac.compare_digest(fingerprint_of(user), claims["fingerprint"]):
        raise ResetTokenUsed()  # the password changed since: this token was used, or superseded
    return user
