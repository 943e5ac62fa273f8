"""flask backup create / restore: after a restore into an empty database, old links still work."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import ENGINE, PASSWORD, drop_postgres_database, make_postgres_database, migrate_database
from worker_support import post_result

from maestro_web import create_app
from maestro_web.extensions import db

SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><text>restored-picture</text></svg>'


def _app(url: str, instance: Path):
    return create_app(
        {
            "MAESTRO_ENV": "development",
            "SQLALCHEMY_DATABASE_URI": url,
            "INSTANCE_PATH": str(instance),
            "RATELIMIT_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://",
            "MAESTRO_LIVE_PUBLISH": False,
        },
        environ={},
    )


@pytest.fixture
def databases(tmp_path):
    """Two database URLs: one migrated (the original), one fresh and empty (the restore target)."""
    if ENGINE == "postgresql":
        names = [f"maestro_backup_{os.getpid()}_{secrets.token_hex(3)}_{i}" for i in range(2)]
        urls = [make_postgres_database(name) for name in names]
        yield urls
        for name in names:
            drop_postgres_database(name)
    else:
        yield [f"sqlite:///{tmp_path / 'original.db'}", f"sqlite:///{tmp_path / 'restored.db'}"]


def test_restore_into_an_empty_database_keeps_logins_links_revocations_and_pictures(databases, tmp_path):
    original_url, fresh_url = databases
    migrate_database(original_url, str(tmp_path / "migrate"))
    original = _app(original_url, tmp_path / "instance-a")
    client = original.test_client()
    with original.app_context():
        from maestro_web.models import User

        User.create("ada@example.com", "Ada", PASSWORD)
        db.session.commit()
    token = client.post("/api/auth/token", json={"email": "ada@example.com", "password": PASSWORD}).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    graph = client.post("/api/graphs", headers=headers, json={"name": "Shop", "spec": "web -> api"}).json["id"]
    run = client.post("/analytics/jobs/claim", headers={"Authorization": "JWT " + _worker_token(original)}).json
    assert (
        post_result(
            client,
            original.config["KEY_RINGS"]["analytics"],
            graph,
            json={
                "run_id": run["run_id"],
                "status": "finished",
                "msg": "2 nodes",
                "svg": SVG,
                "total": 2,
                "info": {"nodes": 2, "edges": 1},
            },
        ).status_code
        == 201
    )
    kept = client.post(f"/api/graphs/{graph}/shares", headers=headers, json={"label": "kept"}).json
    revoked = client.post(f"/api/graphs/{graph}/shares", headers=headers, json={"label": "revoked"}).json
    assert client.delete(f"/api/graphs/{graph}/shares/{revoked['id']}", headers=headers).status_code == 200
    kept_url, revoked_url = (urlsplit(link["url"]) for link in (kept, revoked))
    assert client.get(f"{kept_url.path}?{kept_url.query}").status_code == 200

    backup = tmp_path / "backup"
    result = original.test_cli_runner().invoke(args=["backup", "create", str(backup)])
    assert result.exit_code == 0, result.output
    assert (backup / "secrets.json").exists() and oct(backup.stat().st_mode & 0o777) == "0o700"
    with original.app_context():
        db.engine.dispose()

    # A new machine: an empty database under a fresh name, an instance folder of its own.
    target = _app(fresh_url, tmp_path / "instance-b")
    restored = target.test_cli_runner().invoke(args=["backup", "restore", str(backup)])
    assert restored.exit_code == 0, restored.output
    with target.app_context():
        db.engine.dispose()
    again = target.test_cli_runner().invoke(args=["backup", "restore", str(backup)])
    assert again.exit_code != 0 and "not empty" in again.output and "--force" in again.output

    after = _app(fresh_url, tmp_path / "instance-b")  # restarted: reads the restored secrets
    visitor = after.test_client()
    assert visitor.post("/api/auth/token", json={"email": "ada@example.com", "password": PASSWORD}).status_code == 200
    view = visitor.get(f"{kept_url.path}?{kept_url.query}")
    assert view.status_code == 200 and "restored-picture" in view.get_data(as_text=True)
    assert visitor.get(f"{revoked_url.path}?{revoked_url.query}").status_code == 410  # revoked
    with after.app_context():
        db.engine.dispose()

    forced = target.test_cli_runner().invoke(args=["backup", "restore", "--force", str(backup)])
    assert forced.exit_code == 0, forced.output
    with target.app_context():
        db.engine.dispose()


def _worker_token(app) -> str:
    from maestro_web.security.worker_tokens import mint_worker_token

    return mint_worker_token(app.config["KEY_RINGS"]["analytics"])
