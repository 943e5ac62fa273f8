"""npm packages the tests use (Node's jsonwebtoken, axe-core), installed once into the repo's .cache/.

`make test` installs Node.js and npm when they are missing; the packages come from npm here, pinned,
on first use. A file lock keeps parallel test processes from installing into one folder at once.
"""
from __future__ import annotations

import fcntl
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
            subprocess.run([npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", spec],
                           check=True, capture_output=True, timeout=300)
    return folder
