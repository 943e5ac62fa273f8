"""The import contract (.importlinter) holds and places every module, maestro_web has no import cycle, and
the worker and the live server really load without Flask."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = 10


def _fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_lint_imports_keeps_every_contract():
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"Contracts: {CONTRACTS} kept, 0 broken." in result.stdout


def test_lint_imports_catches_a_layer_violation(tmp_path):
    # The contract is not vacuous: a config naming a layer the wrong way round is reported broken.
    config = tmp_path / "upside_down.ini"
    config.write_text(
        "[importlinter]\nroot_package = maestro_web\n\n"
        "[importlinter:contract:upside-down]\nname = upside down\ntype = layers\n"
        "layers =\n    maestro_web.models\n    maestro_web.web.guards\n"
    )
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(config)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1, result.stdout[-4000:]
    assert "maestro_web.web.guards is not allowed to import maestro_web.models" in result.stdout


PROBE = """
import json, sys
import {module}
banned = {banned!r}
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in banned or name in banned)))
"""


@pytest.mark.parametrize("module", ["maestro_web.worker", "maestro_web.worker.runner", "maestro_web.worker.client"])
def test_the_worker_imports_without_flask_or_the_app(module):
    banned = [
        "flask",
        "flask_jwt_extended",
        "sqlalchemy",
        "maestro_web.config",
        "maestro_web.errors",
        "maestro_web.models",
        "maestro_web.extensions",
    ]
    result = _fresh_python(PROBE.format(module=module, banned=banned))
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"importing {module} loaded {loaded}"


def test_the_live_server_imports_without_flask_or_the_database():
    result = _fresh_python(
        PROBE.format(
            module="maestro_web.live_server.server",
            banned=["flask", "sqlalchemy", "maestro_web.models", "maestro_web.config"],
        )
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_png_renderer_imports_without_flask_or_the_database():
    # Its child process (`python -m maestro_web.pictures`) loads this module and resvg only.
    result = _fresh_python(
        PROBE.format(
            module="maestro_web.pictures", banned=["flask", "sqlalchemy", "maestro_web.models", "maestro_web.config"]
        )
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_report_service_imports_without_flask_or_the_database():
    # `python -m maestro_web.reports` (flask reports serve) loads the service, its job and the documents.
    result = _fresh_python(
        PROBE.format(
            module="maestro_web.reports.service, maestro_web.reports.job",
            banned=[
                "flask",
                "flask_jwt_extended",
                "sqlalchemy",
                "maestro_web.models",
                "maestro_web.config",
                "maestro_web.extensions",
            ],
        )
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_probe_sees_flask_when_the_app_is_imported():
    # The control: the same probe on the app's factory module does report Flask.
    result = _fresh_python(PROBE.format(module="maestro_web.web.guards", banned=["flask"]))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "flask" in json.loads(result.stdout.strip().splitlines()[-1])


def test_every_blueprint_guard_is_one_of_the_guard_layer(app):
    # The authorisation map has one home: each blueprint's before_request is a function of guards.py.
    from maestro_web.web import guards

    guarded = {name: funcs for name, funcs in app.before_request_funcs.items() if name is not None}
    assert set(guarded) >= {"auth", "account", "graphs", "shares", "api", "live", "main", "public", "ingest"}
    for name, funcs in guarded.items():
        assert [func.__module__ for func in funcs] == ["maestro_web.web.guards"], name
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
    for name, package in (
        ("public", "maestro_web.public"),
        ("ingest", "maestro_web.ingest"),
        ("graphs", "maestro_web.graphs"),
        ("shares", "maestro_web.shares"),
    ):
        assert app.blueprints[name].import_name == package
    packages = [blueprint.import_name for blueprint in app.blueprints.values()]
    for package in ("maestro_web.public", "maestro_web.ingest", "maestro_web.graphs", "maestro_web.shares"):
        assert packages.count(package) == 1, package


# --- every module placed, no cycle -----------------------------------------------------------------


def _layer_entries() -> list[str]:
    """Every module or package named by a layer of a `layers` contract of .importlinter."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    entries = []
    for section in config.sections():
        if config[section].get("type") == "layers":
            for line in config[section]["layers"].split("\n"):
                entries += [name.strip() for name in line.replace("|", ":").split(":") if name.strip()]
    return entries


def _package_modules() -> set[str]:
    return set(grimp.build_graph("maestro_web", cache_dir=None).modules)


def _unplaced(modules: set[str], entries: list[str]) -> list[str]:
    # The package's own __init__ (create_app) wires every layer together: it is above them all.
    return sorted(
        module
        for module in modules - {"maestro_web"}
        if not any(module == entry or module.startswith(entry + ".") for entry in entries)
    )


def test_every_module_sits_in_a_layer_of_the_contract():
    modules, entries = _package_modules(), _layer_entries()
    assert _unplaced(modules, entries) == [], "modules in no layer of .importlinter: place them (docs/architecture.md)"
    assert sorted(entry for entry in entries if entry not in modules) == [], "layers naming no module"


def test_an_unplaced_module_is_reported():
    # Not vacuous: a module the contract does not name is found.
    assert _unplaced({"maestro_web", "maestro_web.web.guards", "maestro_web.stray"}, ["maestro_web.web"]) == [
        "maestro_web.stray"
    ]


def _import_cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a circle (Tarjan's components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in imports.get(module, set()):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return cycles


def test_maestro_web_has_no_import_cycle():
    # Function-level imports count (a circle dodged by importing inside a function is still a circle);
    # imports under TYPE_CHECKING do not (they never run). One edge is left out: a package's __init__
    # importing its own modules, Flask's blueprint idiom (`bp` made in __init__, its routes imported
    # at the bottom so they attach to it).
    graph = grimp.build_graph("maestro_web", cache_dir=None, exclude_type_checking_imports=True)
    imports = {
        module: {
            imported
            for imported in graph.find_modules_directly_imported_by(module)
            if not imported.startswith(module + ".")
        }
        for module in graph.modules
    }
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(imports)))
    assert _import_cycles(imports) == []


def test_an_import_cycle_is_reported():
    # Not vacuous: a circle of three is found, a package importing its own module is not one.
    imports = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _import_cycles(imports) == [["a", "b", "c"]]
    assert _import_cycles({"a": set(), "b": {"a"}}) == []
