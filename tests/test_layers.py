"""The import contract (.importlinter) holds, and the worker and the live server really load without Flask."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = 8


def _fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_lint_imports_keeps_every_contract():
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"Contracts: {CONTRACTS} kept, 0 broken." in result.stdout


def test_lint_imports_catches_a_layer_violation(tmp_path):
    # The contract is not vacuous: a config naming a layer the wrong way round is reported broken.
    config = tmp_path / "upside_down.ini"
    config.write_text(
        "[importlinter]\nroot_package = maestro_web\n\n"
        "[importlinter:contract:upside-down]\nname = upside down\ntype = layers\n"
        "layers =\n    maestro_web.models\n    maestro_web.guards\n"
    )
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache", str(config)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout[-4000:]
    assert "maestro_web.guards is not allowed to import maestro_web.models" in result.stdout


PROBE = """
import json, sys
import {module}
banned = {banned!r}
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in banned or name in banned)))
"""


@pytest.mark.parametrize("module", ["maestro_web.worker", "maestro_web.worker.runner", "maestro_web.worker.client"])
def test_the_worker_imports_without_flask_or_the_app(module):
    banned = ["flask", "flask_jwt_extended", "sqlalchemy", "maestro_web.config", "maestro_web.errors",
              "maestro_web.models", "maestro_web.extensions"]
    result = _fresh_python(PROBE.format(module=module, banned=banned))
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"importing {module} loaded {loaded}"


def test_the_live_server_imports_without_flask_or_the_database():
    result = _fresh_python(PROBE.format(module="maestro_web.live.server",
                                        banned=["flask", "sqlalchemy", "maestro_web.models", "maestro_web.config"]))
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_png_renderer_imports_without_flask_or_the_database():
    # Its child process (`python -m maestro_web.pictures`) loads this module and resvg only.
    result = _fresh_python(PROBE.format(module="maestro_web.pictures",
                                        banned=["flask", "sqlalchemy", "maestro_web.models", "maestro_web.config"]))
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_report_service_imports_without_flask_or_the_database():
    # `python -m maestro_web.reports` (flask reports serve) loads the service, its job and the documents.
    result = _fresh_python(PROBE.format(module="maestro_web.reports.service, maestro_web.reports.job",
                                        banned=["flask", "flask_jwt_extended", "sqlalchemy", "maestro_web.models",
                                                "maestro_web.config", "maestro_web.extensions"]))
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_probe_sees_flask_when_the_app_is_imported():
    # The control: the same probe on the app's factory module does report Flask.
    result = _fresh_python(PROBE.format(module="maestro_web.guards", banned=["flask"]))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "flask" in json.loads(result.stdout.strip().splitlines()[-1])


def test_every_blueprint_guard_is_one_of_the_guard_layer(app):
    # The authorisation map has one home: each blueprint's before_request is a function of guards.py.
    from maestro_web import guards

    guarded = {name: funcs for name, funcs in app.before_request_funcs.items() if name is not None}
    assert set(guarded) >= {"auth", "account", "graphs", "shares", "api", "live", "main", "public", "ingest"}
    for name, funcs in guarded.items():
        assert [func.__module__ for func in funcs] == ["maestro_web.guards"], name
    assert guarded["public"] == [guards.require_share]
    assert guarded["ingest"] == [guards.require_worker]
    assert guarded["graphs"] == guarded["shares"] == [guards.require_user]
    assert guarded["api"] == [guards.require_api_user]


def test_each_caller_of_analytics_has_its_own_package(app):
    # /analytics serves three callers; each reaches only its own blueprint, in its own package: the
    # visitor public/ (require_share), the worker ingest/ (require_worker), the owner graphs/ and shares/.
    owners = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/analytics/"):
            continue
        blueprint = rule.endpoint.rpartition(".")[0]
        if rule.rule.startswith(("/analytics/graphs/public/", "/analytics/s/")):
            caller = "visitor"
        elif rule.rule == "/analytics/jobs/claim" or (rule.rule == "/analytics/graphs" and "POST" in rule.methods):
            caller = "worker"
        else:
            caller = "owner"
        owners.setdefault(caller, set()).add(blueprint)
    assert owners == {"visitor": {"public"}, "worker": {"ingest"}, "owner": {"graphs", "shares"}}
    for name, package in (("public", "maestro_web.public"), ("ingest", "maestro_web.ingest"),
                          ("graphs", "maestro_web.graphs"), ("shares", "maestro_web.shares")):
        assert app.blueprints[name].import_name == package
    packages = [blueprint.import_name for blueprint in app.blueprints.values()]
    for package in ("maestro_web.public", "maestro_web.ingest", "maestro_web.graphs", "maestro_web.shares"):
        assert packages.count(package) == 1, package
