"""The suite itself: plain `pytest` finds the package, and conftest is one module, loaded once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_conftest_is_loaded_once():
    # Importing it as both `conftest` and `tests.conftest` would run its module code twice and give
    # two copies of every fixture helper class (isinstance checks across them fail).
    assert "conftest" in sys.modules
    assert "tests.conftest" not in sys.modules


def test_plain_pytest_collects_from_the_repository_root():
    pytest = Path(sys.executable).with_name("pytest")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [str(pytest), "--collect-only", "-q", "tests/test_spec_parser.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "test_spec_parser.py::" in result.stdout


def test_no_fixture_is_imported_into_a_test_module():
    # Fixtures shared by several modules live in conftest.py (or a plugin it loads); importing one
    # instead needs a "noqa: F401" and shadows conftest's fixture of that name without a word.
    importing = [
        path.name
        for path in sorted((ROOT / "tests").glob("*.py"))
        if "noqa: F401" in path.read_text() and path.name != "test_suite_hygiene.py"
    ]
    assert importing == []
