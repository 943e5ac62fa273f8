"""`flask backup create PATH` / `flask backup restore PATH`: the database and what keeps old links
working (docs/operations.md, "Backup and restore").

A backup is a directory (mode 0700): `manifest.json`, the database (`database.dump`, PostgreSQL's
custom format from the server's own `pg_dump`, or `database.sqlite`, SQLite's online backup) and,
in development, a copy of `instance/secrets.json`. In production the secrets live in the operator's
secret store, not in the instance folder, so a backup says so instead of carrying them.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url

FORMAT = 1
MANIFEST = "manifest.json"
SECRETS = "secrets.json"
DUMPS = {"postgresql": "database.dump", "sqlite": "database.sqlite"}


class BackupError(Exception):
    """Why a backup or a restore was refused, for the operator (never a secret)."""


def _engine_name(engine: Engine) -> str:
    name = engine.dialect.name
    if name not in DUMPS:
        raise BackupError(f"backups support PostgreSQL and SQLite, not {name}")
    return name


def _libpq(engine: Engine) -> tuple[str, dict[str, str]]:
    """The database URL for pg_dump / pg_restore without its password, and an environment holding it."""
    url = make_url(str(engine.url.render_as_string(hide_password=False)))
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[:500]}")


def create(engine: Engine, config: Mapping[str, Any], instance_path: str, path: Path) -> dict[str, Any]:
    """Write a backup into `path` (a new or empty directory); returns the manifest."""
    engine_name = _engine_name(engine)
    if path.exists() and any(path.iterdir()):
        raise BackupError(f"{path} is not empty; give a new directory")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    with engine.connect() as connection:
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    dump = path / DUMPS[engine_name]
    if engine_name == "postgresql":
        url, env = _libpq(engine)
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}", url], env)
    else:
        source = sqlite3.connect(str(engine.url.database))
        target = sqlite3.connect(str(dump))
        try:
            source.backup(target)  # consistent even while the app writes
        finally:
            target.close()
            source.close()
    os.chmod(dump, 0o600)
    secrets_file = Path(instance_path) / SECRETS
    in_environment = config.get("MAESTRO_ENV") == "production" or not secrets_file.exists()
    if not in_environment:
        shutil.copyfile(secrets_file, path / SECRETS)
        os.chmod(path / SECRETS, 0o600)
    manifest = {
        "format": FORMAT,
        "engine": engine_name,
        "database": DUMPS[engine_name],
        "alembic_revision": revision,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "secrets": "operator's secret store (not in this backup)" if in_environment else SECRETS,
    }
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def is_empty(engine: Engine) -> bool:
    """True when the database has no table at all (a fresh database name)."""
    return not inspect(engine).get_table_names()


def restore(engine: Engine, instance_path: str, path: Path, *, force: bool = False) -> dict[str, Any]:
    """Load the backup in `path` into the app's database (empty, unless `force`) and, when the
    backup carries them, its secrets into the instance folder (the file replaced is kept beside)."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        raise BackupError(f"{path} is not a backup: no readable {MANIFEST}") from None
    engine_name = _engine_name(engine)
    if manifest.get("format") != FORMAT or manifest.get("engine") != engine_name:
        raise BackupError(f"this backup is of a {manifest.get('engine')} database; the app uses {engine_name}")
    dump = path / DUMPS[engine_name]
    if not dump.exists():
        raise BackupError(f"{dump} is missing")
    if not is_empty(engine):
        if not force:
            raise BackupError("the database is not empty; restore into a fresh database, or pass --force to replace it")
        _clear(engine, engine_name)
    engine.dispose()
    if engine_name == "postgresql":
        url, env = _libpq(engine)
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={url}", str(dump)], env)
    else:
        source = sqlite3.connect(str(dump))
        target = sqlite3.connect(str(engine.url.database))
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    if (path / SECRETS).exists():
        _restore_secrets(path / SECRETS, Path(instance_path) / SECRETS)
    return manifest


def _clear(engine: Engine, engine_name: str) -> None:
    with engine.begin() as connection:
        if engine_name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        else:
            connection.execute(text("PRAGMA foreign_keys=OFF"))
            for table in inspect(connection).get_table_names():
                connection.execute(text(f'DROP TABLE "{table}"'))


def _restore_secrets(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        if target.read_bytes() == source.read_bytes():
            return
        kept = target.with_name(SECRETS + ".before-restore")
        target.replace(kept)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(source.read_bytes())
