"""Accounts, their login sessions, personal API tokens, e-mail changes and revoked session tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import Boolean, ForeignKey, Integer, String, delete, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from maestro_web.extensions import Model, db
from maestro_web.models.base import UTCDateTime, new_public_id, utcnow

PERSONAL_TOKEN_NAME_MAX_LENGTH = 100
PERSONAL_TOKEN_MAX_DAYS = 365
USER_AGENT_MAX_LENGTH = 300

# RFC 9106's second recommended profile (argon2id, 64 MiB, 3 passes, 4 lanes): argon2-cffi's default.
PRODUCTION_HASHER = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)


# PRODUCTION_HASHER's hash of "maestro-timing-equaliser", made once: hashing it at import cost every
# process 0.15 s of CPU (the app's workers, the live server, every CLI command). Verifying against it
# costs what verifying an account's hash does: the parameters travel in the hash
# (tests/test_password_hashing.py checks they are PRODUCTION_HASHER's).
_PRODUCTION_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$bnXLXk6gvTBoRpdLc/k0Zw$rbGdSbfVHsqjwrOKSYxa7fjApMykQLgK9hkyQ+np82w"
)


class _Hashing:
    """The hasher new secrets get, and a hash of no one's secret made with it: checked against when an
    e-mail is unknown, so a login takes as long either way."""

    def __init__(self, hasher: PasswordHasher, dummy_hash: str | None = None) -> None:
        self.hasher = hasher
        self.dummy_hash = dummy_hash or hasher.hash("maestro-timing-equaliser")


_hashing = _Hashing(PRODUCTION_HASHER, _PRODUCTION_DUMMY_HASH)


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
    # owner served least recently first (ingest/jobs.py).
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
    """A session token (access, refresh or personal) revoked before its expiry, by logout or the API."""

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


class LoginSession(Model):
    """One login: the refresh-token family of a browser (or an API client's token pair).

    Its tokens carry its `public_id` as `sid`; a row with `ended_at` refuses them all on their next
    use, whatever their `jti` (the access tokens a browser renews silently are never listed one by one).
    """

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_MAX_LENGTH), default="")
    api: Mapped[bool] = mapped_column(Boolean, default=False)  # a token pair from POST /api/auth/token
    # The user's token_version at login: a password change ends the session without touching the row.
    token_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @classmethod
    def get_by_public_id(cls, public_id: str) -> LoginSession | None:
        return db.session.scalar(select(cls).where(cls.public_id == public_id))

    @classmethod
    def open_for(cls, user: User) -> list[LoginSession]:
        """The user's sessions that still let someone in, last seen first."""
        return list(
            db.session.scalars(
                select(cls)
                .where(
                    cls.user_id == user.id,
                    cls.ended_at.is_(None),
                    cls.expires_at > utcnow(),
                    cls.token_version == user.token_version,
                )
                .order_by(cls.last_seen_at.desc(), cls.id.desc())
            )
        )

    def end(self) -> None:
        if self.ended_at is None:
            self.ended_at = utcnow()


class PersonalToken(Model):
    """A personal API token: a long-lived user-context JWT whose `jti` is this row's.

    The token itself is never stored (it is shown once); revoking sets `revoked_at` and blocklists the
    `jti`, so the JSON API refuses it on its next use.
    """

    __tablename__ = "personal_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(PERSONAL_TOKEN_NAME_MAX_LENGTH))
    # The user's token_version when it was made: a password change ends it (docs/sessions.md).
    token_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @classmethod
    def get_by_jti(cls, jti: str) -> PersonalToken | None:
        return db.session.scalar(select(cls).where(cls.jti == jti))

    @classmethod
    def of_user(cls, user: User, public_id: str) -> PersonalToken | None:
        """The user's token with this id; None for an unknown id or another user's token."""
        return db.session.scalar(select(cls).where(cls.user_id == user.id, cls.public_id == public_id))

    @classmethod
    def listed_for(cls, user: User) -> list[PersonalToken]:
        """Every token of the user that has not been revoked, newest first (expired ones too: the
        list says so, and the owner may delete them)."""
        return list(
            db.session.scalars(
                select(cls)
                .where(cls.user_id == user.id, cls.revoked_at.is_(None))
                .order_by(cls.created_at.desc(), cls.id.desc())
            )
        )

    def status(self, user: User) -> str:
        """active, expired, revoked, or ended (by a password change)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.token_version != user.token_version:
            return "ended"
        if self.expires_at <= utcnow():
            return "expired"
        return "active"

    def revoke(self) -> None:
        """Refuse the token from now on: the row keeps the time, the blocklist the `jti`."""
        if self.revoked_at is not None:
            return
        self.revoked_at = utcnow()
        if not RevokedToken.is_revoked(self.jti):
            db.session.add(
                RevokedToken(jti=self.jti, token_type="personal", user_id=self.user_id, expires_at=self.expires_at)
            )


class EmailChange(Model):
    """A change of e-mail waiting for its link to be opened at the new address.

    Only the SHA-256 of the link's secret is stored; the link works once, until `expires_at`.
    """

    __tablename__ = "email_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    new_email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @classmethod
    def get_by_token_hash(cls, token_hash: str) -> EmailChange | None:
        return db.session.scalar(select(cls).where(cls.token_hash == token_hash))

    @classmethod
    def pending_for(cls, user: User) -> EmailChange | None:
        return db.session.scalar(
            select(cls)
            .where(cls.user_id == user.id, cls.used_at.is_(None), cls.expires_at > utcnow())
            .order_by(cls.created_at.desc(), cls.id.desc())
            .limit(1)
        )

    def usable(self) -> bool:
        return self.used_at is None and self.expires_at > utcnow()


def prune_account_rows(cutoff: datetime) -> dict[str, int]:
    """Delete the rows of things that ended before `cutoff`: login sessions (ended or expired), e-mail
    change links (used or expired) and blocklist entries of expired tokens (an expired token is refused
    by its `exp` alone). Personal token rows stay: they are few, and their list keeps its history."""

    def count(statement: Any) -> int:
        return int(getattr(db.session.execute(statement), "rowcount", 0) or 0)  # a DELETE gives a CursorResult

    return {
        "sessions": count(
            delete(LoginSession).where(or_(LoginSession.ended_at < cutoff, LoginSession.expires_at < cutoff))
        ),
        "email_changes": count(
            delete(EmailChange).where(or_(EmailChange.used_at < cutoff, EmailChange.expires_at < cutoff))
        ),
        "revoked_tokens": count(delete(RevokedToken).where(RevokedToken.expires_at < cutoff)),
    }
