"""Secret rules of SPEC §3: refusal in production, generation in development, rotation, contexts."""
from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys

import jwt as pyjwt
import pytest

from maestro_web import create_app
from maestro_web.config import SECRET_SPECS, ConfigError
from maestro_web.security.keys import KeyRing, key_id

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def production_environ(**changes: str) -> dict[str, str]:
    environ = {spec.env: f"{spec.context}-" + "x" * 40 for spec in SECRET_SPECS}
    environ.update(MAESTRO_ENV="production", MAESTRO_BASE_URL="https://maestro.example",
                   REDIS_URL="redis://127.0.0.1:6379/15")
    environ.update(changes)
    return {k: v for k, v in environ.items() if v != ""}


def test_production_starts_with_good_secrets(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path)}, environ=production_environ())
    assert app.config["MAESTRO_ENV"] == "production"
    assert app.config["JWT_COOKIE_SECURE"] is True
    assert not (tmp_path / "secrets.json").exists()


@pytest.mark.parametrize("spec", SECRET_SPECS, ids=lambda s: s.env)
def test_production_refuses_missing_secret(tmp_path, spec):
    with pytest.raises(ConfigError, match=spec.env):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=production_environ(**{spec.env: ""}))


@pytest.mark.parametrize("value", ["defaultSecretKey", "defaultSecretKeyPrivate", "dsfsdfsd43", "wsSecretKey", "changeme"])
def test_production_refuses_known_defaults(tmp_path, value):
    with pytest.raises(ConfigError, match="MAESTRO_SECRETJWT_FORGOT is a known default"):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=production_environ(MAESTRO_SECRETJWT_FORGOT=value))


def test_production_refuses_short_secret(tmp_path):
    with pytest.raises(ConfigError, match=r"MAESTRO_SECRETJWT_SOCKET is too short \(31"):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=production_environ(MAESTRO_SECRETJWT_SOCKET="s" * 31))


def test_production_refuses_two_equal_secrets(tmp_path):
    same = "z" * 48
    environ = production_environ(MAESTRO_SECRETJWT=same, MAESTRO_SECRETJWT_ANALYTICS=same)
    with pytest.raises(ConfigError, match="MAESTRO_SECRETJWT_ANALYTICS is equal to MAESTRO_SECRETJWT"):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=environ)


def test_production_refuses_missing_base_url(tmp_path):
    with pytest.raises(ConfigError, match="MAESTRO_BASE_URL"):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=production_environ(MAESTRO_BASE_URL=""))


def test_production_refuses_missing_redis_url(tmp_path):
    # Rate limits counted per process let 5 workers take 5 times the limit: Redis is required.
    with pytest.raises(ConfigError, match="REDIS_URL is not set"):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=production_environ(REDIS_URL=""))


@pytest.mark.parametrize(
    ("previous", "message"),
    [
        ("changeme", "MAESTRO_SECRETJWT_PREVIOUS is a known default value"),
        ("defaultSecretKey", "MAESTRO_SECRETJWT_PREVIOUS is a known default value"),
        ("p" * 31, r"MAESTRO_SECRETJWT_PREVIOUS is too short \(31"),
        # another context's current secret, and the context's own current secret
        ("analytics-" + "x" * 40, "MAESTRO_SECRETJWT_PREVIOUS is equal to MAESTRO_SECRETJWT_ANALYTICS"),
        ("session-" + "x" * 40, "MAESTRO_SECRETJWT_PREVIOUS is equal to MAESTRO_SECRETJWT"),
    ],
)
def test_production_previous_keys_obey_the_secret_rules(tmp_path, previous, message):
    environ = production_environ(MAESTRO_SECRETJWT_PREVIOUS="g" * 40 + "," + previous)
    with pytest.raises(ConfigError, match=message):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=environ)


def test_production_refuses_one_previous_key_in_two_contexts(tmp_path):
    shared = "s" * 48
    environ = production_environ(MAESTRO_SECRETJWT_FORGOT_PREVIOUS=shared, MAESTRO_SECRETJWT_SOCKET_PREVIOUS=shared)
    with pytest.raises(ConfigError, match="MAESTRO_SECRETJWT_SOCKET_PREVIOUS is equal to MAESTRO_SECRETJWT_FORGOT_PREVIOUS"):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=environ)


def test_alias_variables_are_read(tmp_path):
    environ = production_environ(
        MAESTRO_SECRETJWT_PUBLIC_ANALYTICS="", MAESTRO_SECRETJWT_PUBLIC="p" * 40,
        MAESTRO_SECRETJWT_ANALYTICS="", MAESTRO_SECRETJWT_PRIVATE="q" * 40,
        MAESTRO_SECRETJWT_SOCKET="", MAESTRO_WEBSOCKET_SECRET="w" * 40,
    )
    rings = create_app({"INSTANCE_PATH": str(tmp_path)}, environ=environ).config["KEY_RINGS"]
    assert rings["public-analytics"].current == "p" * 40
    assert rings["analytics"].current == "q" * 40
    assert rings["socket"].current == "w" * 40


def test_gunicorn_import_prints_one_line_naming_the_variable(tmp_path):
    environ = {**production_environ(MAESTRO_SECRETJWT=""), "PATH": os.environ["PATH"]}
    result = subprocess.run(
        [sys.executable, "-c", "import app"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Maestro Web cannot start: MAESTRO_SECRETJWT is not set; production needs its own secret for it"
    ]


def test_gunicorn_with_a_bad_secret_stops_instead_of_respawning(tmp_path):
    """The master checks the rules before any worker boots: exit non-zero within 10 s, one line."""
    environ = {**production_environ(MAESTRO_SECRETJWT="changeme"), "PATH": os.environ["PATH"],
               "GUNICORN_BIND": "127.0.0.1:0", "WEB_CONCURRENCY": "2"}
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    result = subprocess.run([gunicorn, "app:app"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=10)
    assert result.returncode != 0
    assert "Maestro Web cannot start: MAESTRO_SECRETJWT is a known default value" in result.stderr
    assert "Booting worker" not in result.stderr


def test_development_generates_secrets_once_with_mode_0600(tmp_path, caplog):
    environ = {"MAESTRO_ENV": "development"}
    with caplog.at_level(logging.WARNING, logger="maestro_web.config"):
        first = create_app({"INSTANCE_PATH": str(tmp_path)}, environ=environ).config["KEY_RINGS"]
    path = tmp_path / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "Generated development secrets for MAESTRO_SECRETJWT" in caplog.text
    stored = json.loads(path.read_text())
    # the seven secrets, and the discovery service's key pair (SPEC §3 "provider credentials")
    assert set(stored) == {spec.env for spec in SECRET_SPECS} | {"MAESTRO_DISCOVERY_PRIVATE_KEY",
                                                                 "MAESTRO_DISCOVERY_PUBLIC_KEY"}
    assert len(set(stored.values())) == len(stored)  # every context its own secret
    # The secret never appears in the log line, only the variable names.
    assert all(value not in caplog.text for value in stored.values())

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="maestro_web.config"):
        second = create_app({"INSTANCE_PATH": str(tmp_path)}, environ=environ).config["KEY_RINGS"]
    assert "Generated" not in caplog.text
    assert {c: r.current for c, r in first.items()} == {c: r.current for c, r in second.items()}


def test_environment_wins_over_generated_secret(tmp_path):
    create_app({"INSTANCE_PATH": str(tmp_path)}, environ={"MAESTRO_ENV": "development"})
    rings = create_app(
        {"INSTANCE_PATH": str(tmp_path)}, environ={"MAESTRO_ENV": "development", "MAESTRO_SECRETJWT": "e" * 40}
    ).config["KEY_RINGS"]
    assert rings["session"].current == "e" * 40


def test_key_ring_finds_previous_keys_by_kid():
    ring = KeyRing("session", current="new" * 12, previous=("old" * 12, "older" * 8))
    assert ring.secret_for(key_id("session", "old" * 12)) == "old" * 12
    assert ring.secret_for(ring.current_kid) == "new" * 12
    assert ring.secret_for("unknown") is None
    assert ring.secret_for(None) is None
    # The same secret has a different kid in another context.
    assert key_id("session", "old" * 12) != key_id("forgot", "old" * 12)
    assert "new" not in repr(ring)


def test_previous_companion_is_read_comma_separated(tmp_path):
    environ = production_environ(MAESTRO_SECRETJWT_PREVIOUS=" " + "a" * 40 + ", " + "b" * 40)
    ring = create_app({"INSTANCE_PATH": str(tmp_path)}, environ=environ).config["KEY_RINGS"]["session"]
    assert ring.previous == ("a" * 40, "b" * 40)


def test_session_token_signed_with_previous_key_still_verifies(app, client, make_user):
    from flask_jwt_extended import create_access_token

    user = make_user()
    old_ring = app.config["KEY_RINGS"]["session"]
    with app.app_context():
        token = create_access_token(identity=user)
    # Rotate: a new current key, the old one kept for verification only.
    app.config["KEY_RINGS"] = {**app.config["KEY_RINGS"], "session": KeyRing("session", "n" * 48, (old_ring.current,))}
    assert pyjwt.get_unverified_header(token)["kid"] == old_ring.current_kid
    assert client.get("/api/me", headers={"Authorization": f"JWT {token}"}).status_code == 200
    # Dropping the previous key kills the token.
    app.config["KEY_RINGS"] = {**app.config["KEY_RINGS"], "session": KeyRing("session", "n" * 48)}
    assert client.get("/api/me", headers={"Authorization": f"JWT {token}"}).status_code == 401


@pytest.mark.parametrize("context", [s.context for s in SECRET_SPECS if s.context != "session"])
def test_token_signed_with_another_contexts_secret_is_refused(app, client, make_user, context):
    user = make_user()
    other = app.config["KEY_RINGS"][context]
    now = 1_000_000_000
    import time

    now = int(time.time())
    claims = {"sub": user.public_id, "jti": "x1", "type": "access", "iat": now, "nbf": now, "exp": now + 600,
              "aud": "maestro-web", "iss": "maestro-server", "ver": 1, "csrf": "c"}
    # Even with the kid of the session ring, a signature made with another context's secret fails...
    forged = pyjwt.encode(claims, other.current, algorithm="HS256",
                          headers={"kid": app.config["KEY_RINGS"]["session"].current_kid})
    assert client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    # ...and the kid of the other context names no session key.
    forged = pyjwt.encode(claims, other.current, algorithm="HS256", headers={"kid": other.current_kid})
    assert client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_equal_secrets_still_do_not_cross_contexts(app, client, make_user):
    """Misconfigured with equal secrets, the audience still keeps contexts apart."""
    import time

    user = make_user()
    secret = app.config["KEY_RINGS"]["session"].current
    now = int(time.time())
    claims = {"sub": user.public_id, "jti": "x2", "type": "access", "iat": now, "exp": now + 600,
              "aud": "maestro-analytics-front", "iss": "maestro-server", "ver": 1}
    forged = pyjwt.encode(claims, secret, algorithm="HS256", headers={"kid": app.config["KEY_RINGS"]["session"].current_kid})
    assert client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
