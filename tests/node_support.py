"""Node for the tests: npm packages (Node's jsonwebtoken, axe-core), installed once into the repo's
.cache/, and scripts of static/ run in node beside their Python twins (run_static_script).

`make test` installs Node.js and npm when they are missing; the packages come from npm here, pinned,
on first use. A file lock keeps parallel test processes from installing into one folder at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MAESTRO_NODE_CACHE", ROOT / ".cache"))


def npm_package(spec: str) -> Path:
    """The folder holding `node_modules/<name>` for `spec` (name@version), installed if missing."""
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        pytest.fail(f"node and npm are needed for {spec} (Debian: apt-get install nodejs npm; make test does it)")
    name, _, version = spec.rpartition("@")
    folder = CACHE / f"node-{name}-{version}"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "node_modules" / name / "package.json").exists():
            subprocess.run(
                [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", spec],
                check=True,
                capture_output=True,
                timeout=300,
            )
    return folder


def node_binary() -> str:
    """The node executable; the test fails (not skips) without it, as npm_package does."""
    node = shutil.which("node")
    if not node:
        pytest.fail("node is needed (Debian: apt-get install nodejs; make test does it)")
    return node


# Loads a browser script of static/ in a bare VM context (a window, a document with no elements, timers
# that never fire), then prints JSON.stringify(<call>) of the JSON input's `call` over `window`.
_STATIC_RUNNER = r"""
const fs = require("fs"), vm = require("vm");
const input = JSON.parse(fs.readFileSync(0, "utf8"));
const window = {};
const context = vm.createContext({
  window, Date, Math, JSON,
  document: {readyState: "complete", querySelectorAll: () => [], addEventListener: () => {}},
  setInterval: () => 0, setTimeout: () => 0,
});
vm.runInContext(fs.readFileSync(input.script, "utf8"), context, {filename: input.script});
const call = new Function("window", "args", "return (" + input.call + ");");
process.stdout.write(JSON.stringify(call(window, input.args)));
"""


def run_static_script(script: str, call: str, args: object) -> object:
    """What `call` (a JS expression over `window` and `args`) answers once static/`script` has run in
    node: how a test compares a browser script with its Python twin, case by case, in one process."""
    path = ROOT / "static" / script
    result = subprocess.run(
        [node_binary(), "-e", _STATIC_RUNNER],
        input=json.dumps({"script": str(path), "call": call, "args": args}),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)
