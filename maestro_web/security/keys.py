"""Key rings: the current secret of one token context plus the keys it still accepts.

Every token carries a `kid` header naming the key that signed it, so a verifier picks the right key
without trying them all, and rotation works by moving the old value to `<NAME>_PREVIOUS`.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

import jwt as pyjwt


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

    Nothing in the token is trusted before its signature is checked: the key is the one its `kid`
    names in this ring (and no other), the algorithm is pinned to HS256 whatever the header says.
    Raises a `jwt.PyJWTError` for every kind of failure, so each caller maps errors in one place.
    With `verify_exp=False` the caller checks every time claim (exp, iat, nbf) itself, against a
    clock it can pass in (tests freeze it).
    """
    header = pyjwt.get_unverified_header(token)
    secret = ring.secret_for(header.get("kid"))
    if secret is None or header.get("alg") != "HS256":
        raise pyjwt.InvalidTokenError("unknown key or algorithm")
    return pyjwt.decode(token, secret, algorithms=["HS256"], audience=audience, issuer=issuer,
                        options={"require": require, "verify_exp": verify_exp, "verify_iat": verify_exp,
                                 "verify_nbf": verify_exp})
