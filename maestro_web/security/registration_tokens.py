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

import base64
import json
import time

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from maestro_web.security.signing import KeyRing, well_formed

CONTEXT = "crypto-forgot"  # the ring whose secret the key is derived from
LIFETIME = 24 * 3600
PURPOSE = "maestro-registration-link"
MAX_TOKEN_LENGTH = 2048  # an address of 254 characters and a name of 120, encrypted and encoded


class RegistrationTokenInvalid(Exception):
    """Not a registration link of this app (tampered, another purpose's, garbage)."""


class RegistrationTokenExpired(Exception):
    """A genuine link, older than LIFETIME."""


def _fernet(ring: KeyRing) -> MultiFernet:
    # The current key encrypts; the _PREVIOUS keys still decrypt links mailed before a rotation.
    keys = []
    for secret in (ring.current, *(secret for secret in ring.previous if secret)):
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"maestro-registration-link").derive(
            secret.encode()
        )
        keys.append(Fernet(base64.urlsafe_b64encode(derived)))
    return MultiFernet(keys)


def mint(ring: KeyRing, email: str, name: str, now: float | None = None) -> str:
    """The token of the link mailed to a new address."""
    payload = json.dumps({"p": PURPOSE, "e": email, "n": name}, separators=(",", ":"))
    return _fernet(ring).encrypt_at_time(payload.encode(), int(time.time() if now is None else now)).decode()


def verify(token: object, ring: KeyRing, now: float | None = None) -> tuple[str, str]:
    """(e-mail address, name) of a valid link; RegistrationTokenInvalid or RegistrationTokenExpired."""
    if not well_formed(token, MAX_TOKEN_LENGTH):
        raise RegistrationTokenInvalid()
    current = int(time.time() if now is None else now)
    fernet = _fernet(ring)
    try:
        data = fernet.decrypt_at_time(token.encode(), ttl=LIFETIME, current_time=current)
    except InvalidToken:
        # Fernet says "invalid" for an old token too: look at its time to tell them apart.
        try:
            issued = fernet.extract_timestamp(token.encode())
        except InvalidToken:
            raise RegistrationTokenInvalid() from None
        if issued + LIFETIME < current:
            raise RegistrationTokenExpired() from None
        raise RegistrationTokenInvalid() from None
    try:
        payload = json.loads(data)
    except ValueError:
        raise RegistrationTokenInvalid() from None
    if not isinstance(payload, dict) or payload.get("p") != PURPOSE:
        raise RegistrationTokenInvalid()
    email, name = payload.get("e"), payload.get("n")
    if not isinstance(email, str) or not isinstance(name, str) or not email or not name:
        raise RegistrationTokenInvalid()
    return email, name
