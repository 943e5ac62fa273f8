"""`flask keys rotate` and `flask users create` through the real CLI runner."""

from __future__ import annotations

import json
import re
import secrets
import stat
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD, form_csrf
from flask import Flask

from maestro_web import create_app
from maestro_web.config import GENERATED_SECRETS_FILE, SECRET_SPECS
from maestro_web.security.signing import KeyRing
from maestro_web.security.worker_tokens import WorkerTokenError, mint_worker_token, verify_worker_token


def development_app(instance: Path) -> Flask:
    """The app as `flask` builds it on a developer's machine: no secret in the environment."""
    return create_app(
        {"INSTANCE_PATH": str(instance), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/dev.db"},
        environ={"MAESTRO_ENV": "development"},
    )


def secrets_file(instance: Path) -> dict[str, Any]:
    return json.loads((instance / GENERATED_SECRETS_FILE).read_text())


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_development_rotation_rewrites_the_instance_secrets_and_old_tokens_still_verify(tmp_path):
    instance = tmp_path / "instance"
    before = development_app(instance)
    path = instance / GENERATED_SECRETS_FILE
    assert mode_of(path) == 0o600
    original = secrets_file(instance)
    old_ring = before.config["KEY_RINGS"]["analytics"]
    token_before = mint_worker_token(old_ring)

    result = before.test_cli_runner().invoke(args=["keys", "rotate", "analytics"])
    assert result.exit_code == 0, result.output
    assert "Rotated MAESTRO_SECRETJWT_ANALYTICS" in result.output and "Restart" in result.output
    rotated = secrets_file(instance)
    assert rotated["MAESTRO_SECRETJWT_ANALYTICS"] != old_ring.current
    assert rotated["MAESTRO_SECRETJWT_ANALYTICS_PREVIOUS"] == old_ring.current
    assert rotated["MAESTRO_SECRETJWT_ANALYTICS"] not in result.output  # nothing secret on the terminal
    for spec in SECRET_SPECS:  # every other context is untouched
        if spec.context != "analytics":
            assert rotated[spec.env] == original[spec.env]
            assert f"{spec.env}_PREVIOUS" not in rotated
    assert mode_of(path) == 0o600

    # A restart: the new key signs, the old one still verifies (with and without a kid).
    after = development_app(instance)
    ring = after.config["KEY_RINGS"]["analytics"]
    assert ring.current == rotated["MAESTRO_SECRETJWT_ANALYTICS"]
    assert ring.previous == (old_ring.current,)
    assert verify_worker_token(token_before, ring)["graph_id"] == "*"
    import jwt as pyjwt

    claims = pyjwt.decode(token_before, options={"verify_signature": False})
    foreign = pyjwt.encode(claims, old_ring.current, algorithm="HS256")  # a signer that sends no kid
    assert verify_worker_token(foreign, ring)["jti"] == claims["jti"]
    token_after = mint_worker_token(ring)
    assert pyjwt.get_unverified_header(token_after)["kid"] == ring.current_kid != old_ring.current_kid
    with pytest.raises(WorkerTokenError):  # a key the ring never held is still refused
        verify_worker_token(mint_worker_token(KeyRing("analytics", secrets.token_urlsafe(48))), ring)

    # A second rotation puts the newer old value first and keeps the older one.
    assert after.test_cli_runner().invoke(args=["keys", "rotate", "analytics"]).exit_code == 0
    twice = secrets_file(instance)
    assert twice["MAESTRO_SECRETJWT_ANALYTICS_PREVIOUS"].split(",") == [ring.current, old_ring.current]
    third = development_app(instance).config["KEY_RINGS"]["analytics"]
    assert verify_worker_token(token_before, third) and verify_worker_token(token_after, third)


def test_an_unknown_context_is_refused(tmp_path):
    result = development_app(tmp_path / "instance").test_cli_runner().invoke(args=["keys", "rotate", "nope"])
    assert result.exit_code == 2
    assert "'nope' is not one of" in result.output


def production_environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    environ = {spec.env: secrets.token_urlsafe(48) for spec in SECRET_SPECS}
    environ.update(
        MAESTRO_ENV="production",
        MAESTRO_BASE_URL="https://maestro.example.com",
        REDIS_URL="redis://127.0.0.1:6379/0",
        DATABASE_URL=f"sqlite:///{tmp_path}/prod.db",
        **extra,
    )
    return environ


def test_production_rotation_prints_the_exact_variables_and_writes_nothing(tmp_path):
    instance = tmp_path / "instance"
    older = secrets.token_urlsafe(48)
    environ = production_environ(tmp_path, MAESTRO_SECRETJWT_ANALYTICS_PREVIOUS=older)
    app = create_app({"INSTANCE_PATH": str(instance)}, environ=environ)
    token_before = mint_worker_token(app.config["KEY_RINGS"]["analytics"])

    result = app.test_cli_runner().invoke(args=["keys", "rotate", "analytics"])
    assert result.exit_code == 0, result.output
    assert not (instance / GENERATED_SECRETS_FILE).exists()
    assert "nothing was written" in result.output
    current = re.search(r"^MAESTRO_SECRETJWT_ANALYTICS=(\S+)$", result.output, re.M)
    previous = re.search(r"^MAESTRO_SECRETJWT_ANALYTICS_PREVIOUS=(\S+)$", result.output, re.M)
    assert current and previous, result.output
    assert len(current.group(1)) >= 48 and current.group(1) != environ["MAESTRO_SECRETJWT_ANALYTICS"]
    assert previous.group(1).split(",") == [environ["MAESTRO_SECRETJWT_ANALYTICS"], older]

    # Setting exactly what was printed gives an app that passes the production rules, signs with
    # the new key, and still accepts the token signed before.
    restarted = create_app(
        {"INSTANCE_PATH": str(instance)},
        environ={
            **environ,
            "MAESTRO_SECRETJWT_ANALYTICS": current.group(1),
            "MAESTRO_SECRETJWT_ANALYTICS_PREVIOUS": previous.group(1),
        },
    )
    ring = restarted.config["KEY_RINGS"]["analytics"]
    assert ring.current == current.group(1)
    assert verify_worker_token(token_before, ring)["graph_id"] == "*"


# --- one e-mail rule ---------------------------------------------------------------------------------

ADDRESSES = [
    ("ada@example.com", True),
    ("  Grace@Example.COM ", True),
    ("ada@localhost", False),  # the CLI used to accept these: anything with an "@"
    ("a b@example.com", False),
    ("ada@@example.com", False),
    ("@example.com", False),
    ("ada@example..com", False),
    ("x" * 250 + "@example.com", False),
]


@pytest.mark.parametrize("address,accepted", ADDRESSES)
def test_the_cli_and_the_register_form_accept_the_same_addresses(app, runner, address, accepted):
    result = runner.invoke(args=["users", "create", address, "--password-stdin"], input=PASSWORD + "\n")
    client = app.test_client()
    page = client.get("/auth/register")
    # The form gets the same address under another local part (the CLI already took this one).
    typed = "form." + address.strip() if accepted else address
    form = client.post("/auth/register", data={"name": "Ada", "email": typed, "csrf_token": form_csrf(page.text)})
    if accepted:
        assert result.exit_code == 0, result.output
        assert f"Created user {address.strip().lower()}" in result.output
        assert form.status_code == 200 and "Check your e-mail" in form.text
    else:
        assert result.exit_code == 2, result.output
        assert form.status_code == 422
        message = "Use at most 254 characters." if len(address) > 254 else "Enter a valid e-mail address."
        assert message in result.output and message in form.text


def test_the_cli_refuses_a_second_account_for_the_same_address(runner):
    assert (
        runner.invoke(args=["users", "create", "ada@example.com", "--password-stdin"], input=PASSWORD + "\n").exit_code
        == 0
    )
    again = runner.invoke(args=["users", "create", "ADA@example.com", "--password-stdin"], input=PASSWORD + "\n")
    assert again.exit_code == 1 and "already exists" in again.output


def test_rotating_the_flask_secret_keeps_session_cookies(tmp_path):
    instance = tmp_path / "instance"
    before = development_app(instance)
    cookie = before.session_interface.get_signing_serializer(before).dumps({"reset_link_token": "kept"})
    assert before.test_cli_runner().invoke(args=["keys", "rotate", "flask"]).exit_code == 0
    after = development_app(instance)
    assert after.secret_key != before.secret_key
    assert after.config["SECRET_KEY_FALLBACKS"] == [before.secret_key]
    serializer = after.session_interface.get_signing_serializer(after)
    assert serializer.loads(cookie) == {"reset_link_token": "kept"}
    # A cookie signed by a key the app never had is still refused.
    stranger = create_app(
        {"INSTANCE_PATH": str(tmp_path / "other"), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/other.db"},
        environ={"MAESTRO_ENV": "development"},
    )
    forged = stranger.session_interface.get_signing_serializer(stranger).dumps({"reset_link_token": "forged"})
    from itsdangerous import BadSignature

    with pytest.raises(BadSignature):
        serializer.loads(forged)
