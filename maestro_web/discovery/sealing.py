"""Sealed provider credentials (SPEC §3 "provider credentials", §11): only the discovery service opens them.

The app seals with the service's **public** key and can never read the result back; the service
opens with its **private** key (`MAESTRO_DISCOVERY_PRIVATE_KEY`, older ones in `_PREVIOUS` while a
rotation is under way). A sealed box made of `cryptography`'s primitives:

    ephemeral X25519 key pair -> shared secret with the recipient's public key
    HKDF-SHA256(shared, salt = ephemeral public || recipient public, info = "maestro-discovery-credentials v1")
    ChaCha20-Poly1305(key, random 12-byte nonce, plaintext, associated data = the recipient key's id)

Text form: `v1.<recipient key id>.<base64url(ephemeral public || nonce || ciphertext)>`; the key id
(16 hex characters of SHA-256 of the public key) picks the private key on opening. Keys are written
as base64url of their 32 raw bytes. Flask-free: both the app and the service import it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
INFO = b"maestro-discovery-credentials v1"
MAX_SEALED_LENGTH = 8192


class SealingError(ValueError):
    """A key or a sealed value that cannot be used; the message never contains a secret."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SealingError("not base64url") from None


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def generate_key_pair() -> tuple[str, str]:
    """(private, public) as base64url text, for the instance secrets or an operator."""
    private = X25519PrivateKey.generate()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return _b64(raw), _b64(_raw_public(private.public_key()))


def public_key_of(private_text: str) -> str:
    return _b64(_raw_public(load_private_key(private_text).public_key()))


def load_public_key(text: str) -> X25519PublicKey:
    raw = _unb64(text.strip())
    if len(raw) != 32:
        raise SealingError("MAESTRO_DISCOVERY_PUBLIC_KEY must be 32 bytes in base64url")
    return X25519PublicKey.from_public_bytes(raw)


def load_private_key(text: str) -> X25519PrivateKey:
    raw = _unb64(text.strip())
    if len(raw) != 32:
        raise SealingError("MAESTRO_DISCOVERY_PRIVATE_KEY must be 32 bytes in base64url")
    return X25519PrivateKey.from_private_bytes(raw)


def key_id(public: X25519PublicKey) -> str:
    return hashlib.sha256(_raw_public(public)).hexdigest()[:16]


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=INFO).derive(shared)


def seal(values: Mapping[str, str], public_text: str) -> str:
    """`values` (a small JSON object of strings) sealed for the holder of the private key."""
    recipient = load_public_key(public_text)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = _raw_public(ephemeral.public_key())
    kid = key_id(recipient)
    nonce = os.urandom(12)
    key = _key(ephemeral.exchange(recipient), ephemeral_raw, _raw_public(recipient))
    box = ChaCha20Poly1305(key).encrypt(nonce, json.dumps(dict(values)).encode(), kid.encode())
    return f"{VERSION}.{kid}.{_b64(ephemeral_raw + nonce + box)}"


def open_sealed(sealed: str, private_texts: list[str]) -> dict[str, str]:
    """The values sealed in `sealed`, opened with whichever of the private keys it was sealed for."""
    if not isinstance(sealed, str) or len(sealed) > MAX_SEALED_LENGTH or sealed.count(".") != 2:
        raise SealingError("the sealed credentials are malformed")
    version, kid, body = sealed.split(".")
    if version != VERSION:
        raise SealingError("the sealed credentials use an unknown format")
    for text in private_texts:
        private = load_private_key(text)
        public = private.public_key()
        if key_id(public) != kid:
            continue
        raw = _unb64(body)
        if len(raw) < 32 + 12 + 16:
            raise SealingError("the sealed credentials are malformed")
        ephemeral_raw, nonce, box = raw[:32], raw[32:44], raw[44:]
        key = _key(
            private.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw)), ephemeral_raw, _raw_public(public)
        )
        try:
            values = json.loads(ChaCha20Poly1305(key).decrypt(nonce, box, kid.encode()))
        except (InvalidTag, ValueError):
            raise SealingError("the sealed credentials cannot be opened (tampered with?)") from None
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise SealingError("the sealed credentials are malformed")
        return values
    raise SealingError("the credentials were sealed for a key this discovery service does not hold; save them again")
