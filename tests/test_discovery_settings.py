"""The discovery service's key pair (SPEC §3 "provider credentials", §11): generated once in
development, refused in production when missing, malformed or equal to another secret; `_PREVIOUS`
keys still open what they sealed, so the pair rotates without losing stored credentials."""

from __future__ import annotations

import json

import pytest

from maestro_web import create_app
from maestro_web.config import ConfigError
from maestro_web.discovery.sealing import SealingError, generate_key_pair, open_sealed, seal
from maestro_web.discovery.settings import DiscoverySettings, SettingsError


def _production_config(**changes):
    from test_config_secrets import production_environ

    environ = production_environ(**changes)
    return create_app({"INSTANCE_PATH": "/nonexistent"}, environ=environ).config


def test_development_generates_the_pair_once(tmp_path):
    first = create_app({"INSTANCE_PATH": str(tmp_path)}, environ={"MAESTRO_ENV": "development"}).config
    stored = json.loads((tmp_path / "secrets.json").read_text())
    assert stored["MAESTRO_DISCOVERY_PRIVATE_KEY"] == first["MAESTRO_DISCOVERY_PRIVATE_KEY"]
    second = create_app({"INSTANCE_PATH": str(tmp_path)}, environ={"MAESTRO_ENV": "development"}).config
    assert second["MAESTRO_DISCOVERY_PUBLIC_KEY"] == first["MAESTRO_DISCOVERY_PUBLIC_KEY"]
    sealed = seal({"secret_access_key": "s3cr3t"}, first["MAESTRO_DISCOVERY_PUBLIC_KEY"])
    settings = DiscoverySettings.from_config(second)
    assert open_sealed(sealed, list(settings.private_keys)) == {"secret_access_key": "s3cr3t"}
    assert "s3cr3t" not in sealed and "PRIVATE" not in repr(settings)


def test_production_refuses_a_missing_private_key_on_the_service():
    config = _production_config()
    assert config["MAESTRO_DISCOVERY_PRIVATE_KEY"] is None  # the app itself starts: it only seals
    with pytest.raises(SettingsError, match="MAESTRO_DISCOVERY_PRIVATE_KEY is not set"):
        DiscoverySettings.from_config(config)


def test_production_refuses_a_private_key_equal_to_another_secret_or_not_a_key():
    private, public = generate_key_pair()
    config = _production_config(MAESTRO_DISCOVERY_PRIVATE_KEY=private, MAESTRO_DISCOVERY_PUBLIC_KEY=public)
    assert DiscoverySettings.from_config(config).private_keys == (private,)
    reused = _production_config(MAESTRO_DISCOVERY_PRIVATE_KEY=private, MAESTRO_SECRETJWT_SOCKET=private)
    with pytest.raises(SettingsError, match="equal to the socket secret"):
        DiscoverySettings.from_config(reused)
    with pytest.raises(ConfigError, match="MAESTRO_DISCOVERY_PRIVATE_KEY is not an X25519 private key"):
        _production_config(MAESTRO_DISCOVERY_PRIVATE_KEY="x" * 40)
    with pytest.raises(ConfigError, match="MAESTRO_DISCOVERY_PUBLIC_KEY is not an X25519 public key"):
        _production_config(MAESTRO_DISCOVERY_PUBLIC_KEY="not a key")


def test_rotation_keeps_opening_what_the_previous_key_sealed():
    old_private, old_public = generate_key_pair()
    new_private, new_public = generate_key_pair()
    sealed_before = seal({"k": "v"}, old_public)
    assert open_sealed(sealed_before, [new_private, old_private]) == {"k": "v"}
    with pytest.raises(SealingError, match="does not hold"):
        open_sealed(sealed_before, [new_private])
    tampered = sealed_before[:-4] + ("AAAA" if not sealed_before.endswith("AAAA") else "BBBB")
    with pytest.raises(SealingError):
        open_sealed(tampered, [old_private])
    assert open_sealed(seal({"k": "w"}, new_public), [new_private, old_private]) == {"k": "w"}
