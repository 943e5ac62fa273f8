"""Receipts of requests done: what makes nginx's retry of a request safe.

nginx sends a request that failed on one gunicorn instance (its connection refused or cut: a kill -9,
a crash) to the next one with the same `X-Request-ID` (its `$request_id`). A receipt is written in the
transaction that does the request's work, so a request id has a receipt exactly when that work was
committed; the repeat is then answered from the receipt instead of doing the work again.

- A write (POST, PUT, PATCH, DELETE): the answer it gave (status, headers that matter, body),
  encrypted with a key made from the request itself (`maestro_web/receipts.py`): a receipt holds
  answers such as a new token, and the table alone opens none of them.
- A counted public view: the link it counted (`share_link_id`), written by the counting statement
  itself (models/share_rules.py), so a view nginx sends again after the first instance counted it
  is shown without being counted a second time.

Receipts older than a day are dropped (`prune`), a bounded batch at a time, oldest first: on each
write's receipt, and after every VIEWS_PER_PRUNE counted views of a process (receipts.py), so a day of
views with no write in it never leaves its receipts behind, nor one write to delete them all. nginx
retries within its proxy timeouts, seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Integer, LargeBinary, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from maestro_web.extensions import Model, db
from maestro_web.models.base import UTCDateTime, utcnow

KEPT_FOR = timedelta(days=1)
PRUNE_BATCH = 1_000  # receipts dropped at most at once: a bounded statement on a request's path


class RequestReceipt(Model):
    """One request id whose work was committed, and how to answer it again."""

    __tablename__ = "request_receipts"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    status: Mapped[int] = mapped_column(Integer)
    # A write: a digest of the request (method, path, credentials, body), so that only the very same
    # request is answered from this receipt, and its answer, encrypted (receipts.py).
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    answer: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # A counted view: the link it counted (no foreign key: one more index probe on the hot path).
    share_link_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    @classmethod
    def get_by_request_id(cls, request_id: str) -> RequestReceipt | None:
        return db.session.get(cls, request_id)

    @classmethod
    def prune(cls, now: datetime | None = None, limit: int = PRUNE_BATCH, connection: Connection | None = None) -> int:
        """Drop up to `limit` of the receipts older than KEPT_FOR, oldest first, in the caller's
        transaction (the session's, or `connection`'s); how many."""
        cutoff = (now or utcnow()) - KEPT_FOR
        oldest = select(cls.request_id).where(cls.created_at < cutoff).order_by(cls.created_at).limit(limit)
        statement = delete(cls).where(cls.request_id.in_(oldest.scalar_subquery()))
        result = (connection or db.session).execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)
