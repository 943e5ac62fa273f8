"""The link of the "confirm your address" e-mail that finishes a registration.

Registering answers "check your e-mail" for every address, whether or not it has an account (an
answer that differed would tell anyone which addresses are registered). A new address gets this
link; opening it is the proof that the person holds the mailbox, and only then is a password chosen
and the account created. Nothing is stored before that: the link carries the address and the name,
*encrypted* (Fernet: AES-CBC + HMAC) so that it reveals neither, under a key derived from
MAESTRO_SECRET_CRYPTO_FORGOT for this purpose only (HKDF `info` of its own), so that a reset link
can never be read as a registration link nor the other way round. It lives 24 hours and works once
in effect: once the address has an account, the link only says so.

Flask-free; the views pass the key ring (maestro_web/auth/register.py).
"""

from __future__ import annotations

from maestro_web.security.sealed_links import LinkExpired, LinkInvalid, open_link, seal_link
from maestro_web.security.signing import KeyRing

CONTEXT = "crypto-forgot"  # the ring whose secret the key is derived from
LIFETIME = 24 * 3600
PURPOSE = "maestro-registration-link"
INFO = b"maestro-registration-link"  # the HKDF info of its key (sealed_links.py)
MAX_TOKEN_LENGTH = 2048  # an address of 254 characters and a name of 120, encrypted and encoded


class RegistrationTokenInvalid(Exception):
    """Not a registration link of this app (tampered, another purpose's, garbage)."""


class RegistrationTokenExpired(Exception):
    """A genuine link, older than LIFETIME."""


def mint(ring: KeyRing, email: str, name: str, now: float | None = None) -> str:
    """The token of the link mailed to a new address."""
    return seal_link(ring, info=INFO, purpose=PURPOSE, fields={"e": email, "n": name}, now=now)


def verify(token: object, ring: KeyRing, now: float | None = None) -> tuple[str, str]:
    """(e-mail address, name) of a valid link; RegistrationTokenInvalid or RegistrationTokenExpired."""
    try:
        payload = open_link(
            token, ring, info=INFO, purpose=PURPOSE, lifetime=LIFETIME, max_length=MAX_TOKEN_LENGTH, now=now
        )
    except LinkExpired:
        raise RegistrationTokenExpired() from None
    except LinkInvalid:
        raise RegistrationTokenInvalid() from None
    email, name = payload.get("e"), payload.get("n")
    if not isinstance(email, str) or not isinstance(name, str) or not email or not name:
        raise RegistrationTokenInvalid()
    return email, name
