"""Revocations the live servers have not taken yet (the outbox of control events, docs/live.md).

A control event (`revoke`) is written here in the transaction that makes the change it announces
(a logout, a password change, a paused or revoked link, a lost role), so it is as durable as the
change. It is deleted once a live server accepted it; one no live server took within the life of
a ticket (660 s) is no longer needed (every ticket it could refuse has expired) and is dropped.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from maestro_web.extensions import Model
from maestro_web.models.base import UTCDateTime, utcnow


class ControlOutbox(Model):
    """One `revoke` on the `control` channel, waiting for a live server to take it."""

    __tablename__ = "live_control_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[str] = mapped_column(Text)  # the event's data as JSON: user and/or channel, and at
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
