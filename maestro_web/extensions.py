"""Extensions, created unbound and bound to the app in the factory."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import current_app, request
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    # Named constraints so that Alembic migrations can alter them on SQLite and PostgreSQL alike.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


SESSION_RECEIPT = "maestro_receipt"  # session.info key: the request's receipt is armed (receipts.py)


class AppSession(FlaskSession):
    """Flask-SQLAlchemy's session, whose commit waits for the request's receipt when one is armed.

    A write request behind nginx (receipts.py) commits its work and its receipt, which holds the
    answer, in one transaction once the answer is made: until then the view's commit is a flush (the
    statements run, constraints are checked and refusals raised where they were, nothing is visible
    to others yet)."""

    def commit(self) -> None:
        armed = self.info.get(SESSION_RECEIPT)
        if armed is None:
            super().commit()
            return
        self.flush()
        armed.deferred = True


db = SQLAlchemy(model_class=Base, session_options={"class_": AppSession})
# The base class of every model. Flask-SQLAlchemy builds `db.Model` at run time from Base, which a
# type checker cannot follow; it sees Base, whose mapping API is the same.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
jwt = JWTManager()
csrf = CSRFProtect()


class AppLimiter(Limiter):
    """Flask-Limiter, where the views given to `exempt_view` skip its per-request work entirely.

    `limiter.exempt` alone still resolves an exempt view's limits on every request (22 µs, ~7 % of
    the public view's CPU in cProfile); the public view, the app's hottest route, has none to check
    and counts its failures itself (rate_limits.share_failure_allowed). A request filter (Flask-Limiter's
    public `request_filter`) is asked before any limit is resolved, and says "exempt" for those views."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unlimited_views: set[Callable[..., Any]] = set()
        self.request_filter(self._unlimited_view)

    def exempt_view(self, view: Callable[..., Any]) -> Callable[..., Any]:
        exempted = self.exempt(view)
        self.unlimited_views.add(exempted)
        return exempted

    def _unlimited_view(self) -> bool:
        return current_app.view_functions.get(request.endpoint or "") in self.unlimited_views


# ProxyFix (configured by MAESTRO_TRUSTED_PROXIES) has already put the real client in remote_addr.
limiter = AppLimiter(key_func=get_remote_address)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite: write-ahead log (readers never block the writer, commits need no full fsync) and a
    busy timeout, so that threads and processes sharing the file wait for each other instead of
    failing with "database is locked"."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()
