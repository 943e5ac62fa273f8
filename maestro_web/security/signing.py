"""Signing and verifying with a key ring, and the checks every token context shares.

The one place PyJWT is called. Every token this app signs carries a `kid` header naming the key, so a verifier picks the right key
without trying them all, and rotation works by moving the old value to `<NAME>_PREVIOUS`. `kid` is
optional on the way in (RFC 7515): a foreign signer (Maestro's own worker, Node's `jsonwebtoken`)
sends none, and its token is checked against the current key, then the previous ones.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid
from calendar import timegm
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeGuard

import jwt as pyjwt
from jwt.algorithms import HMACAlgorithm

from maestro_web.keyring import KeyRing, key_id

__all__ = [
    "REGISTERED",
    "KeyRing",
    "bearer_token",
    "decode_pinned",
    "encode_pinned",
    "key_for",
    "key_for_decoded",
    "key_id",
    "registered_claims",
    "unverified_jti_for_lookup",
    "well_formed",
]

_JWS = pyjwt.PyJWS()  # signature checks alone, for picking the key of a token without `kid`


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: JWT <t>` or `Bearer <t>` header value; None for anything else.

    The one parser of that header: the session guard, the worker guard, the worker rate limit and
    the live server's `/publish` all read it through here.
    """
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() in ("jwt", "bearer") and token.strip():
        return token.strip()
    return None


def well_formed(token: object, max_length: int) -> TypeGuard[str]:
    """The precheck every context runs before any decoding: a non-empty ASCII string of at most
    `max_length` characters (a hostile megabyte or a non-string never reaches PyJWT or Fernet)."""
    return isinstance(token, str) and 0 < len(token) <= max_length and token.isascii()


# The registered claims (RFC 7519 §4.1) every token this app signs carries, and every verifier requires.
REGISTERED = ["exp", "iat", "jti", "aud", "iss"]


def registered_claims(
    *,
    issuer: str,
    audience: str,
    ttl: int | None = None,
    expires_at: float | None = None,
    now: float | None = None,
    jti: str | None = None,
    not_before: float | None = None,
) -> dict[str, Any]:
    """`jti`, `iat`, `exp`, `iss`, `aud` (and `nbf` when given) of a token issued `now` (default: the clock)
    that lives `ttl` seconds or until `expires_at` (a timestamp; exactly one of the two). Times are whole
    seconds; `jti` is a random one unless the token is named by a row (a share link's public id).

    The one place every token context builds them (share, worker, socket, reset, live ticket and command
    tokens); each adds its own claims around them. The order is the share token's since its first day,
    so a link's token (deterministic, not stored) stays the same string."""
    issued = int(now if now is not None else time.time())
    if ttl is not None and expires_at is None:
        expires = issued + ttl
    elif expires_at is not None and ttl is None:
        expires = int(expires_at)
    else:
        raise ValueError("give a token either ttl or expires_at")
    claims: dict[str, Any] = {
        "jti": jti if jti is not None else uuid.uuid4().hex,
        "iat": issued,
        "exp": expires,
        "iss": issuer,
        "aud": audience,
    }
    if not_before is not None:
        claims["nbf"] = int(not_before)
    return claims


def encode_pinned(payload: dict[str, Any], ring: KeyRing) -> str:
    """Sign `payload` with HS256 and the ring's current key, naming it in the `kid` header.

    The very token `pyjwt.encode(payload, ring.current, algorithm="HS256", headers={"kid": kid})`
    makes, byte for byte (tests/test_foreign_signers.py holds the two equal), without PyJWT's work
    on every call: it checks the key (not empty, not a PEM, SSH or DER key, not a JWK's JSON) and
    encodes the header each time, about 85 % of the 170 µs a visitor's live ticket took to sign (the
    public view signs one per view). Here the key is checked by PyJWT's own rule and the header
    encoded once per key (`_signer`).
    """
    header, key = _signer(ring)
    claims = payload
    if any(isinstance(payload.get(name), datetime) for name in _TIME_CLAIMS):  # as PyJWT does
        claims = {
            **payload,
            **{
                name: timegm(payload[name].utctimetuple())
                for name in _TIME_CLAIMS
                if isinstance(payload.get(name), datetime)
            },
        }
    if "iss" in claims and not isinstance(claims["iss"], str):
        raise TypeError("Issuer (iss) must be a string.")
    signing_input = header + b"." + _b64(_COMPACT_JSON.encode(claims).encode())
    return (signing_input + b"." + _b64(hmac.new(key, signing_input, hashlib.sha256).digest())).decode()


_TIME_CLAIMS = ("exp", "iat", "nbf")
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))  # PyJWT's payload encoding


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@lru_cache(maxsize=64)
def _signer(ring: KeyRing) -> tuple[bytes, bytes]:
    """The encoded header of `ring`'s current key and the key itself, checked by PyJWT's own rules once."""
    key = HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(ring.current)
    header = {"alg": "HS256", "kid": ring.current_kid, "typ": "JWT"}  # PyJWT sorts the header's keys
    return _b64(json.dumps(header, separators=(",", ":"), sort_keys=True).encode()), key


def decode_pinned(
    token: str, ring: KeyRing, *, audience: str, issuer: str, require: list[str], verify_exp: bool = True
) -> dict[str, Any]:
    """Verify an HS256 token of `ring`'s context and return its claims.

    Nothing in the token is trusted before its signature is checked: the key is chosen by `key_for`,
    the algorithm is pinned to HS256 whatever the header says, and `aud` must be the expected string
    (a list of audiences is refused: each context has exactly one).
    Raises a `jwt.PyJWTError` for every kind of failure, so each caller maps errors in one place.
    With `verify_exp=False` the caller checks every time claim (exp, iat, nbf) itself, against a
    clock it can pass in (tests freeze it).
    """
    secret = key_for(token, ring)
    options: Any = {"require": require, "verify_exp": verify_exp, "verify_iat": verify_exp, "verify_nbf": verify_exp}
    claims: dict[str, Any] = pyjwt.decode(
        token, secret, algorithms=["HS256"], audience=audience, issuer=issuer, options=options
    )
    if claims.get("aud") != audience:  # PyJWT also accepts a list that contains the audience
        raise pyjwt.InvalidAudienceError("audience must be a single string")
    return claims


def _named_key(header: dict[str, Any], ring: KeyRing) -> str | None:
    """Check the header (HS256, `typ` JWT when present); the key its `kid` names, None without one."""
    if header.get("alg") != "HS256":
        raise pyjwt.InvalidTokenError("unknown key or algorithm")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
        raise pyjwt.InvalidTokenError("not a JWT")
    if "kid" not in header:
        return None
    secret = ring.secret_for(header["kid"])
    if secret is None:
        raise pyjwt.InvalidTokenError("unknown key or algorithm")
    return secret


def key_for(token: str, ring: KeyRing) -> str:
    """The key of `ring` that signed `token` (HS256, `typ` JWT when present), or a `jwt.PyJWTError`.

    With a `kid` header the key is the one it names in this ring: an unknown `kid` is refused, never
    tried against the other keys. Without one, the current key and then each previous key.
    """
    header = pyjwt.get_unverified_header(token)
    named = _named_key(header, ring)
    if named is not None:
        return named
    for secret in ring.secrets:
        try:
            _JWS.decode(token, secret, algorithms=["HS256"])
        except pyjwt.InvalidSignatureError:
            continue
        return secret
    raise pyjwt.InvalidSignatureError("signature verification failed")


def key_for_decoded(
    header: dict[str, Any], payload: dict[str, Any], raw_tokens: Iterable[str | None], ring: KeyRing
) -> str:
    """`key_for` for a library that hands over a token already split (flask-jwt-extended's key loader).

    The raw token is needed to pick the key of a token without `kid`: it is the one of `raw_tokens`
    (the places the request may carry it) whose unverified `jti` is the payload's; the library then
    verifies its own copy with the key returned here, so a look-alike token gains nothing.
    """
    named = _named_key(header, ring)
    if named is not None:
        return named
    wanted = payload.get("jti")
    for raw in raw_tokens:
        if raw and isinstance(wanted, str) and unverified_jti_for_lookup(raw) == wanted:
            return key_for(raw, ring)
    raise pyjwt.InvalidTokenError("token not found in the request")


def unverified_jti_for_lookup(token: str) -> str | None:
    """The `jti` written in a token's payload segment, UNVERIFIED: a lookup key, never a claim.

    Only for finding which of several raw tokens is the one a library already split, so that its
    key can be picked and the signature checked. It returns nothing but that one string (or None for
    anything malformed), never the claims, so it cannot be reused as a "decode" that skips the
    signature: whatever it returns grants nothing until `key_for` and the library have verified.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    segment = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError):  # bad base64, UTF-8 or JSON; JSON nested too deep
        return None
    jti = claims.get("jti") if isinstance(claims, dict) else None
    return jti if isinstance(jti, str) else None
