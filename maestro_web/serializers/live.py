"""A live ticket as the page or API client gets it (live_pages/tickets.py issues it)."""

from __future__ import annotations

from pydantic import BaseModel


class LiveTicketOut(BaseModel):
    ticket: str
    url: str
    channels: list[str]
    expires_at: str
