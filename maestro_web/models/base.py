"""Small helpers shared by the models."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp column that always hands back an aware UTC datetime, on SQLite too.

    Stored as DateTime(timezone=True) (the same schema as before, so no migration); SQLite keeps no
    zone and returns naive values, which are the UTC they were written as. Aware values are
    converted to UTC before they are written, so SQLite never stores a local offset.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value  # the driver's datetime, naive on SQLite
        return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)


def new_public_id() -> str:
    """A random, URL-safe identifier that cannot be guessed or enumerated (128 bits)."""
    return secrets.token_urlsafe(16)
