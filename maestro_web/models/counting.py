"""The engine the public view counts on, apart so that each count commits at once (docs/scale.md "The public view").

One autocommit engine per app for `share_rules.count_view`, the app's hottest statement: each view
is one conditional UPDATE that commits on its own. Measured on the 2-core machine, the commit's WAL
flush was 4.5 of the statement's 5 ms; on PostgreSQL this engine's connections therefore run with
`synchronous_commit = off`:

- Nothing the spec promises changes while PostgreSQL runs: an asynchronously committed UPDATE is
  visible to every other transaction the moment it commits, so the row lock still serialises the
  counts (max views exact under concurrency) and a pause or revocation, committed synchronously by
  the owner's request on the app's main engine, acts on the very next view on every process. An app
  process that dies loses nothing: the count is PostgreSQL's, committed before the page is sent.
- What it gives up: if the PostgreSQL server itself crashes (or the machine loses power), the views
  counted in the last moments before (at most 3 × wal_writer_delay, 0.6 s by default) are lost from
  the counters although their pages were served. The same bound as a Redis counter with
  `appendfsync everysec`, without a second store to reconcile. The owner's writes keep full
  durability: only this engine's connections commit asynchronously.

Instead of `pool_pre_ping` (a `SELECT 1` round trip on every checkout, a tenth of a view), a
checkout tests whether the idle connection's socket has something to read: an idle PostgreSQL
connection receives nothing unless the server is closing it (a restart or `pg_terminate_backend`
sends an error and closes the socket), so a readable socket means a dead connection, which the pool
replaces before the statement is sent. The check and the server's goodbye can cross: the soak
(bench/soak.py) terminated the database's connections under load and two views in that instant
failed with 503. A statement answered with SQLSTATE 57P01 (admin_shutdown: `pg_terminate_backend`,
or a fast shutdown of the server) is therefore run once more on a new connection: PostgreSQL acts
on a termination as an interrupt, which aborts a statement still running, while a statement that
committed has sent its row before its backend reads from the client again, where the termination
is acted on; so that error means nothing was counted. (A fast shutdown then refuses the new
connection: 503 as before.) Any other error in flight (a lost network, a crash) fails that view
with 503 (errors.py), as it would after a successful pre-ping; it is not retried, because the count
may have committed before the error. SQLite keeps the app's own engine (in autocommit mode). The
counting engine is disposed with the app's engine.

`run_on_driver` runs the counting statement straight through psycopg on a connection of this pool:
measured under load, SQLAlchemy's Connection and CursorResult layers around the one statement cost
more Python time than the rest of the view (docs/scale.md). The pool, its liveness check and
SQLAlchemy's error classes (errors.py answers 503 for OperationalError) are kept.
"""

from __future__ import annotations

import select
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from flask import current_app
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.sql.selectable import TextualSelect

from maestro_web.extensions import db

if TYPE_CHECKING:
    from psycopg import Cursor

EXTENSION = "maestro_counting_engine"
APPLICATION_NAME = "maestro-view-counter"  # how its connections show in pg_stat_activity


def counting_engine() -> Engine:
    """The current app's engine for counting views (made on first use, one per app and process)."""
    engine: Engine | None = current_app.extensions.get(EXTENSION)
    if engine is None:
        engine = current_app.extensions[EXTENSION] = _make_engine()
    return engine


def _make_engine() -> Engine:
    app_engine = db.engine
    if app_engine.dialect.name != "postgresql":
        return app_engine.execution_options(isolation_level="AUTOCOMMIT")
    engine = create_engine(
        app_engine.url,
        isolation_level="AUTOCOMMIT",
        hide_parameters=True,
        pool_reset_on_return=None,  # autocommit: no transaction is ever left to end
        connect_args={"options": "-c synchronous_commit=off", "application_name": APPLICATION_NAME},
    )
    event.listen(engine, "checkout", _refuse_closing_connection)
    # Closed with the app's engine (a test's teardown, a worker's shutdown): never a pool left behind.
    event.listen(app_engine, "engine_disposed", lambda _engine: engine.dispose())
    return engine


def _refuse_closing_connection(
    dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
) -> None:
    """The pool's liveness check: an idle connection whose socket is readable is being closed."""
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError) as exc:  # closed already
        raise DisconnectionError("closed connection") from exc
    if readable:
        raise DisconnectionError("the server is closing this connection")


_COMPILED: dict[tuple[TextualSelect, str], tuple[str, dict[str, Any], list[str]]] = {}


ADMIN_SHUTDOWN = "57P01"  # SQLSTATE of a connection ended by pg_terminate_backend or a fast shutdown


def run_on_driver(engine: Engine, statement: TextualSelect, params: dict[str, Any]) -> dict[str, Any] | None:
    """The first row of `statement` (a text().columns() statement with the counting statement's simple types)
    by column name, run on a connection of `engine`'s pool straight through the driver; datetimes
    come back in UTC.

    The statement is compiled once per dialect; its bound defaults (e.g. :write) are kept. A driver
    error, a failed connect included, is raised as SQLAlchemy's (OperationalError, ...: 503 when the
    database is down), and a connection it found dead is invalidated so that the pool never hands it
    out again. A statement whose connection the administrator ended runs once more on a new one
    (the module's docstring says why that cannot count twice).
    """
    try:
        return _run_once(engine, statement, params)
    except DBAPIError as exc:
        if not (exc.connection_invalidated and getattr(exc.orig, "sqlstate", None) == ADMIN_SHUTDOWN):
            raise
    return _run_once(engine, statement, params)


def _run_once(engine: Engine, statement: TextualSelect, params: dict[str, Any]) -> dict[str, Any] | None:
    sql, defaults, names = _compiled(engine, statement)
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        connection = engine.raw_connection()  # the pool hands out the driver's own connect() errors
    except dbapi_error as exc:  # the database cannot be reached: OperationalError, 503 (errors.py)
        raise DBAPIError.instance(
            None, None, exc, dbapi_error, hide_parameters=True, dialect=engine.dialect, connection_invalidated=False
        ) from exc
    try:
        cursor = cast("Cursor[tuple[Any, ...]]", connection.cursor())  # PostgreSQL's driver: psycopg 3
        try:
            cursor.execute(sql, {**defaults, **params}, prepare=True)
            row = cursor.fetchone()
        except dbapi_error as exc:
            dead = engine.dialect.is_disconnect(exc, connection.dbapi_connection, None)
            if dead:
                connection.invalidate(exc)
            raise DBAPIError.instance(
                sql, None, exc, dbapi_error, hide_parameters=True, dialect=engine.dialect, connection_invalidated=dead
            ) from exc
        finally:
            cursor.close()
    finally:
        connection.close()  # back to the pool (or discarded, if invalidated)
    if row is None:
        return None
    return {name: value.astimezone(UTC) if isinstance(value, datetime) else value for name, value in zip(names, row)}


def _compiled(engine: Engine, statement: TextualSelect) -> tuple[str, dict[str, Any], list[str]]:
    key = (statement, engine.dialect.name)
    compiled = _COMPILED.get(key)
    if compiled is None:
        done = statement.compile(dialect=engine.dialect)
        compiled = _COMPILED[key] = (
            done.string,
            {name: bind.effective_value for name, bind in done.binds.items() if not bind.required},
            [column.key for column in statement.selected_columns],
        )  # names, once
    return compiled
