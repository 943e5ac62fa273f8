"""The schema comes from the migrations: one head, upgrade on an empty database, no drift."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from conftest import ENGINE, drop_postgres_database, make_postgres_database, require_postgres_or_skip
from flask_migrate import downgrade, upgrade

from maestro_web import create_app
from maestro_web.extensions import db

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_single_head(app):
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, heads


@pytest.fixture
def empty_database_url(tmp_path):
    if ENGINE == "postgresql":
        require_postgres_or_skip()
        name = f"maestro_migrate_{uuid.uuid4().hex[:8]}"
        yield make_postgres_database(name)
        drop_postgres_database(name)
    else:
        yield f"sqlite:///{tmp_path / 'empty.db'}"


def test_upgrade_empty_database_matches_the_models_and_downgrades(empty_database_url, tmp_path):
    app = create_app(
        {"MAESTRO_ENV": "testing", "SQLALCHEMY_DATABASE_URI": empty_database_url, "INSTANCE_PATH": str(tmp_path)},
        environ={},
    )
    with app.app_context():
        upgrade()
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {table.name for table in db.metadata.sorted_tables} <= tables
        # What autogenerate would write now must be nothing: models and migrations agree.
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        db.engine.dispose()
