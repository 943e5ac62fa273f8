"""Key rings: the current secret of one token context plus the keys it still accepts.

Every token this app signs carries a `kid` header naming the key, so a verifier picks the right key
without trying them all, and rotation works by moving the old value to `<NAME>_PREVIOUS`. `kid` is
optional on the way in (RFC 7515): a foreign signer (Maestro's own worker, Node's `jsonwebtoken`)
sends none, and its token is checked against the current key, then the previous ones.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, Iterable

import jwt as pyjwt

_JWS = pyjwt.PyJWS()  # signature checks alone, for picking the key of a token without `kid`


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
        if not isinstance(kid, str):
            return None
        for known, secret in self._by_kid.items():
            if hmac.compare_digest(known, kid):
                return secret
        return None


def encode_pinned(payload: dict[str, Any], ring: KeyRing) -> str:
    """Sign `payload` with HS256 and the ring's current key, naming it in the `kid` header."""
    return pyjwt.encode(payload, ring.current, algorithm="HS256", headers={"kid": ring.current_kid})


def decode_pinned(token: str, ring: KeyRing, *, audience: str, issuer: str, require: list[str],
                  verify_exp: bool = True) -> dict[str, Any]:
    """Verify an HS256 token of `ring`'s context and return its claims.

    Nothing in the token is trusted before its signature is checked: the key is chosen by `key_for`,
    the algorithm is pinned to HS256 whatever the header says, and `aud` must be the expected string
    (a list of audiences is refused: each context has exactly one).
    Raises a `jwt.PyJWTError` for every kind of failure, so each caller maps errors in one place.
    With `verify_exp=False` the caller checks every time claim (exp, iat, nbf) itself, against a
    clock it can pass in (tests freeze it).
    """
    secret = key_for(token, ring)
    options = {"require": require, "verify_exp": verify_exp, "verify_iat": verify_exp, "verify_nbf": verify_exp}
    claims: dict[str, Any] = pyjwt.decode(token, secret, algorithms=["HS256"], audience=audience, issuer=issuer,
                                          options=options)  # type: ignore[arg-type]
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


def key_for_decoded(header: dict[str, Any], payload: dict[str, Any], raw_tokens: Iterable[str | None],
                    ring: KeyRing) -> str:
    """`key_for` for a library that hands over a token already split (flask-jwt-extended's key loader).

    The raw token is needed to pick the key of a token without `kid`: it is the one of `raw_tokens`
    (the places the request may carry it) whose unverified `jti` is the payload's; the library then
    verifies its own copy with the key returned here, so a look-alike token gains nothing.
    """
    named = _named_key(header, ring)
    if named is not None:
        return named
    for raw in raw_tokens:
        if not raw:
            continue
        try:
            if pyjwt.decode(raw, options={"verify_signature": False}).get("jti") == payload.get("jti"):
                return key_for(raw, ring)
        except pyjwt.DecodeError:
            continue
    raise pyjwt.InvalidTokenError("token not found in the request")
