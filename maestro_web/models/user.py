"""Accounts and revoked session tokens."""
from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from maestro_web.extensions import Model, db
from maestro_web.models.base import UTCDateTime, new_public_id, utcnow

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128

# RFC 9106's second recommended profile (argon2id, 64 MiB, 3 passes, 4 lanes): argon2-cffi's default.
PRODUCTION_HASHER = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)


class _Hashing:
    """The hasher new secrets get, and a hash of no one's secret made with it: checked against when an
    e-mail is unknown, so a login takes as long either way."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        self.dummy_hash = hasher.hash("maestro-timing-equaliser")


_hashing = _Hashing(PRODUCTION_HASHER)


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Hash new secrets with `hasher` from now on. Only the test suite calls it (cheap parameters, so
    that hundreds of accounts cost milliseconds); a hash keeps verifying with the parameters it carries."""
    global _hashing
    _hashing = _Hashing(hasher)


def hash_secret(secret: str) -> str:
    """An argon2id hash of a password or a share link's passcode (a new salt each time)."""
    return _hashing.hasher.hash(secret)


def verify_secret(secret_hash: str, secret: str) -> bool:
    """Whether `secret` matches `secret_hash`; False for a wrong secret or a damaged hash."""
    try:
        return _hashing.hasher.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def dummy_password_hash() -> str:
    """A real argon2 hash of no account's password, for doing equal work when an account is unknown."""
    return _hashing.dummy_hash


def normalize_email(email: str) -> str:
    return email.strip().lower()


class User(Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    # Stored lower-cased, so the unique constraint is case-insensitive on every engine.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Bumped on password change or reset: every token carrying an older value is dead.
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When a worker last claimed a run of this user's graphs (NULL: never): the job claim serves the
    # owner served least recently first (analytics_front/jobs.py).
    last_claim_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<User {self.public_id}>"

    @classmethod
    def get_by_email(cls, email: str) -> User | None:
        return db.session.scalar(select(cls).where(cls.email == normalize_email(email)))

    @classmethod
    def get_by_public_id(cls, public_id: str) -> User | None:
        return db.session.scalar(select(cls).where(cls.public_id == public_id))

    @classmethod
    def create(cls, email: str, name: str, password: str) -> User:
        user = cls(email=normalize_email(email), name=name.strip())
        user.set_password(password, end_sessions=False)
        db.session.add(user)
        return user

    def set_password(self, password: str, end_sessions: bool = True) -> None:
        """Store a new argon2id hash; by default also end every session of this user."""
        self.password_hash = hash_secret(password)
        self.password_changed_at = utcnow()
        if end_sessions:
            self.token_version = (self.token_version or 1) + 1

    def check_password(self, password: str) -> bool:
        return verify_secret(self.password_hash, password)

    @classmethod
    def authenticate(cls, email: str, password: str) -> User | None:
        """The user with this e-mail and password, or None, in about the same time either way."""
        user = cls.get_by_email(email) if email else None
        if user is None:
            verify_secret(dummy_password_hash(), password or "-")
            return None
        return user if user.check_password(password) else None


class RevokedToken(Model):
    """A session token (access or refresh) revoked before its expiry, by logout or the API."""

    __tablename__ = "revoked_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    token_type: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @classmethod
    def is_revoked(cls, jti: str) -> bool:
        return db.session.scalar(select(cls.id).where(cls.jti == jti)) is not None
