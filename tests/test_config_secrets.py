"""Secret rules of SPEC §3: refusal in production, generation in development, rotation, contexts."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import stat
import subprocess
import sys

import jwt as pyjwt
import pytest

from maestro_web import create_app
from maestro_web.config import SECRET_SPECS, ConfigError, weakness
from maestro_web.security.signing import KeyRing, key_id

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def strong(label: str) -> str:
    """A secret that passes the production rules and is the same on every run: label, then a hash of it."""
    return f"{label}-" + base64.urlsafe_b64encode(hashlib.sha256(label.encode()).digest()).decode().rstrip("=")


def production_environ(**changes: str) -> dict[str, str]:
    environ = {spec.env: strong(spec.context) for spec in SECRET_SPECS}
    environ.update(
        MAESTRO_ENV="production", MAESTRO_BASE_URL="https://maestro.example", REDIS_URL="redis://127.0.0.1:6379/15"
    )
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


@pytest.mark.parametrize(
    "value", ["defaultSecretKey", "defaultSecretKeyPrivate", "dsfsdfsd43", "wsSecretKey", "changeme"]
)
def test_production_refuses_known_defaults(tmp_path, value):
    with pytest.raises(ConfigError, match="MAESTRO_SECRETJWT_FORGOT is a known default"):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=production_environ(MAESTRO_SECRETJWT_FORGOT=value))


def test_production_refuses_short_secret(tmp_path):
    with pytest.raises(ConfigError, match=r"MAESTRO_SECRETJWT_SOCKET is too short \(31"):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=production_environ(MAESTRO_SECRETJWT_SOCKET="s" * 31))


def test_production_refuses_two_equal_secrets(tmp_path):
    same = strong("same")
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
    ("value", "message"),
    [
        ("a" * 32, r"has too little variety \(1 different characters"),
        ("changeme" * 4, r"has too little variety \(7 different characters, at least 16\)"),
        # 17 different characters, but one pattern twice; a hex pattern the same
        ("abcdefghijklmnopq" * 2, "repeats a pattern of 17 characters"),
        ("0123456789abcdef" * 4, "repeats a pattern of 16 characters"),
        ("deadbeef" * 8, r"has too little variety \(5 different characters, at least 8\)"),
    ],
)
def test_production_refuses_low_entropy_secrets_and_says_how_to_generate_one(tmp_path, value, message):
    with pytest.raises(ConfigError, match=f"MAESTRO_SECRETJWT_SOCKET {message}.*`flask keys generate`"):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=production_environ(MAESTRO_SECRETJWT_SOCKET=value))
    with pytest.raises(ConfigError, match=f"MAESTRO_SECRETJWT_PREVIOUS {message}"):  # previous keys too
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=production_environ(MAESTRO_SECRETJWT_PREVIOUS=value))


@pytest.mark.parametrize(
    "make",
    [
        lambda: secrets.token_urlsafe(48),
        lambda: secrets.token_urlsafe(32),
        lambda: secrets.token_hex(32),
        lambda: secrets.token_hex(16),
    ],
)
def test_production_accepts_what_the_usual_generators_make(tmp_path, make):
    """token_urlsafe (what `flask keys generate` and development use) and `openssl rand -hex 16/32`:
    a hex value has 16 possible characters, so the variety rule asks it for 8, not 16."""
    for _ in range(200):
        environ = production_environ(MAESTRO_SECRETJWT=make())
        assert weakness(environ["MAESTRO_SECRETJWT"]) is None
    create_app({"INSTANCE_PATH": str(tmp_path)}, environ=environ)


def test_flask_keys_generate_prints_seven_strong_secrets_even_when_the_configuration_is_bad(tmp_path):
    """The hint of every secret refusal names the command, so it runs where the app cannot start."""
    environ = {
        **production_environ(MAESTRO_SECRETJWT="changeme" * 4),
        "PATH": os.environ["PATH"],
        "FLASK_APP": os.path.join(ROOT, "app.py"),
    }
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    start = subprocess.run(
        [flask, "users", "create", "a@example.com"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert start.returncode == 1 and "MAESTRO_SECRETJWT has too little variety" in start.stderr
    result = subprocess.run(
        [flask, "keys", "generate"], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert list(lines) == [spec.env for spec in SECRET_SPECS]
    assert len(set(lines.values())) == len(SECRET_SPECS)
    assert all(weakness(value) is None for value in lines.values())
    # The printed lines are a configuration production accepts.
    create_app({"INSTANCE_PATH": str(tmp_path)}, environ={**production_environ(), **lines})
    one = subprocess.run(
        [flask, "keys", "generate", "socket"], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60
    )
    assert one.returncode == 0 and one.stdout.startswith("MAESTRO_SECRETJWT_SOCKET=") and one.stdout.count("\n") == 1


@pytest.mark.parametrize("value", ["lots", "20 per fortnight", "-1 per minute", "20"])
def test_a_rate_limit_the_limiter_cannot_read_stops_the_start(tmp_path, value):
    """Flask-Limiter would skip an unreadable limit at request time: the limit would be gone."""
    with pytest.raises(ConfigError, match=f"MAESTRO_LOGIN_RATE_LIMIT is not a rate limit, got '{value}'"):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=production_environ(MAESTRO_LOGIN_RATE_LIMIT=value))
    with pytest.raises(ConfigError, match="MAESTRO_WORKER_RATE_LIMIT is not a rate limit"):  # in development too
        create_app(
            {"INSTANCE_PATH": str(tmp_path)}, environ={"MAESTRO_ENV": "development", "MAESTRO_WORKER_RATE_LIMIT": value}
        )


def test_every_rate_limit_setting_is_checked_by_name(tmp_path):
    """A limit added later is checked without being listed: every *_RATE_LIMIT setting is parsed."""
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path)},
        environ=production_environ(MAESTRO_LOGIN_RATE_LIMIT="5/second;100/hour", MAESTRO_FORGOT_RATE_LIMIT=""),
    )
    assert app.config["MAESTRO_LOGIN_RATE_LIMIT"] == "5/second;100/hour"
    assert app.config["MAESTRO_FORGOT_RATE_LIMIT"] == "10 per hour"  # empty: the default
    names = [name for name in app.config if name.endswith("_RATE_LIMIT")]
    assert len(names) >= 10
    for name in names:
        with pytest.raises(ConfigError, match=f"{name} is not a rate limit"):
            create_app({"INSTANCE_PATH": str(tmp_path), name: "lots"}, environ=production_environ())


def test_gunicorn_with_a_bad_rate_limit_stops_instead_of_starting(tmp_path):
    environ = {
        **production_environ(MAESTRO_LOGIN_RATE_LIMIT="lots"),
        "PATH": os.environ["PATH"],
        "GUNICORN_BIND": "127.0.0.1:0",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_CMD_ARGS": "--no-control-socket",
    }
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    result = subprocess.run([gunicorn, "app:app"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "Maestro Web cannot start: MAESTRO_LOGIN_RATE_LIMIT is not a rate limit, got 'lots'" in result.stderr
    assert "Booting worker" not in result.stderr


@pytest.mark.parametrize(
    ("previous", "message"),
    [
        ("changeme", "MAESTRO_SECRETJWT_PREVIOUS is a known default value"),
        ("defaultSecretKey", "MAESTRO_SECRETJWT_PREVIOUS is a known default value"),
        ("p" * 31, r"MAESTRO_SECRETJWT_PREVIOUS is too short \(31"),
        # another context's current secret, and the context's own current secret
        (strong("analytics"), "MAESTRO_SECRETJWT_PREVIOUS is equal to MAESTRO_SECRETJWT_ANALYTICS"),
        (strong("session"), "MAESTRO_SECRETJWT_PREVIOUS is equal to MAESTRO_SECRETJWT"),
    ],
)
def test_production_previous_keys_obey_the_secret_rules(tmp_path, previous, message):
    environ = production_environ(MAESTRO_SECRETJWT_PREVIOUS=strong("g") + "," + previous)
    with pytest.raises(ConfigError, match=message):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=environ)


def test_production_refuses_one_previous_key_in_two_contexts(tmp_path):
    shared = strong("shared")
    environ = production_environ(MAESTRO_SECRETJWT_FORGOT_PREVIOUS=shared, MAESTRO_SECRETJWT_SOCKET_PREVIOUS=shared)
    with pytest.raises(
        ConfigError, match="MAESTRO_SECRETJWT_SOCKET_PREVIOUS is equal to MAESTRO_SECRETJWT_FORGOT_PREVIOUS"
    ):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ=environ)


def test_alias_variables_are_read(tmp_path):
    environ = production_environ(
        MAESTRO_SECRETJWT_PUBLIC_ANALYTICS="",
        MAESTRO_SECRETJWT_PUBLIC=strong("p"),
        MAESTRO_SECRETJWT_ANALYTICS="",
        MAESTRO_SECRETJWT_PRIVATE=strong("q"),
        MAESTRO_SECRETJWT_SOCKET="",
        MAESTRO_WEBSOCKET_SECRET=strong("w"),
    )
    rings = create_app({"INSTANCE_PATH": str(tmp_path)}, environ=environ).config["KEY_RINGS"]
    assert rings["public-analytics"].current == strong("p")
    assert rings["analytics"].current == strong("q")
    assert rings["socket"].current == strong("w")


def test_gunicorn_import_prints_one_line_naming_the_variable(tmp_path):
    environ = {**production_environ(MAESTRO_SECRETJWT=""), "PATH": os.environ["PATH"]}
    result = subprocess.run(
        [sys.executable, "-c", "import app"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Maestro Web cannot start: MAESTRO_SECRETJWT is not set; production needs its own secret for it,"
        " generate one with `flask keys generate`"
    ]


def test_gunicorn_with_a_bad_secret_stops_instead_of_respawning(tmp_path):
    """The master checks the rules before any worker boots: exit non-zero within 10 s, one line."""
    environ = {
        **production_environ(MAESTRO_SECRETJWT="changeme"),
        "PATH": os.environ["PATH"],
        "GUNICORN_BIND": "127.0.0.1:0",
        "WEB_CONCURRENCY": "2",
    }
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
    assert set(stored) == {spec.env for spec in SECRET_SPECS} | {
        "MAESTRO_DISCOVERY_PRIVATE_KEY",
        "MAESTRO_DISCOVERY_PUBLIC_KEY",
    }
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
    environ = production_environ(MAESTRO_SECRETJWT_PREVIOUS=" " + strong("a") + ", " + strong("b"))
    ring = create_app({"INSTANCE_PATH": str(tmp_path)}, environ=environ).config["KEY_RINGS"]["session"]
    assert ring.previous == (strong("a"), strong("b"))


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
    claims = {
        "sub": user.public_id,
        "jti": "x1",
        "type": "access",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "aud": "maestro-web",
        "iss": "maestro-server",
        "ver": 1,
        "csrf": "c",
    }
    # Even with the kid of the session ring, a signature made with another context's secret fails...
    forged = pyjwt.encode(
        claims, other.current, algorithm="HS256", headers={"kid": app.config["KEY_RINGS"]["session"].current_kid}
    )
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
    claims = {
        "sub": user.public_id,
        "jti": "x2",
        "type": "access",
        "iat": now,
        "exp": now + 600,
        "aud": "maestro-analytics-front",
        "iss": "maestro-server",
        "ver": 1,
    }
    forged = pyjwt.encode(
        claims, secret, algorithm="HS256", headers={"kid": app.config["KEY_RINGS"]["session"].current_kid}
    )
    assert client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
