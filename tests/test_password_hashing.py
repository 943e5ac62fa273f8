"""Password and passcode hashing: the production parameters, and the cheap ones the suite uses.

The suite hashes with cheap argon2 parameters (conftest.py `use_password_hasher`): these tests are
where the production ones are checked, in a process of their own that the suite does not touch.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from argon2 import Type, extract_parameters

from maestro_web.models.user import (
    PRODUCTION_HASHER,
    dummy_password_hash,
    hash_secret,
    verify_secret,
)

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"  # RFC 9106's low-memory profile


def test_the_app_hashes_with_rfc_9106_parameters_outside_the_suite():
    code = (
        "from maestro_web.models.user import dummy_password_hash, hash_secret, verify_secret\n"
        "hashed = hash_secret('correct horse battery')\n"
        "print(hashed)\nprint(dummy_password_hash())\n"
        "print(verify_secret(hashed, 'correct horse battery'), verify_secret(hashed, 'wrong horse'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    hashed, dummy, right, wrong = out
    assert hashed.startswith(PRODUCTION_PREFIX)
    assert dummy.startswith(PRODUCTION_PREFIX)  # an unknown e-mail costs as much as a known one
    assert extract_parameters(dummy) == extract_parameters(hashed) == extract_parameters(PRODUCTION_HASHER.hash("x"))
    assert PRODUCTION_HASHER.verify(dummy, "maestro-timing-equaliser")  # the hash it says it is
    assert (right, wrong) == ("True", "False")


def test_the_production_hasher_is_argon2id_64_mib_3_passes_4_lanes():
    hasher = PRODUCTION_HASHER
    assert (hasher.type, hasher.memory_cost, hasher.time_cost, hasher.parallelism) == (Type.ID, 65536, 3, 4)


def test_the_suites_cheap_hashes_still_verify_and_the_dummy_matches_them():
    hashed = hash_secret("correct horse battery")
    assert hashed.startswith("$argon2id$") and not hashed.startswith(PRODUCTION_PREFIX)
    assert verify_secret(hashed, "correct horse battery") and not verify_secret(hashed, "wrong horse")
    assert extract_parameters(dummy_password_hash()) == extract_parameters(hashed)
    # A hash made with production parameters verifies whatever the hasher in use: it carries them.
    assert verify_secret(PRODUCTION_HASHER.hash("s3cret passcode"), "s3cret passcode")
