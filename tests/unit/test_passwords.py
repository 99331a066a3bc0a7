"""Staff password hashing: scrypt at its normal cost in the portal. The cheaper method the
test suite hashes with (tests/conftest.py) is the tests' own and never the portal's."""

import subprocess
import sys
from pathlib import Path

import pytest

from portal.adapters.werkzeug_passwords import WerkzeugPasswords
from portal.services import staff_auth
from tests.conftest import TEST_PASSWORD_METHOD

ROOT = Path(__file__).resolve().parents[2]
SCRYPT = "scrypt:32768:8:1$"


def test_the_portal_hashes_with_scrypt_at_its_normal_cost():
    # A fresh interpreter, as `portal serve` and Lambda start: no test fixture around it.
    code = "from portal.adapters.werkzeug_passwords import WerkzeugPasswords as W; "
    code += "print(W().hash('pw'))"
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip().startswith(SCRYPT), run.stdout


@pytest.mark.real_password_hashing
def test_tests_marked_real_password_hashing_hash_as_the_portal_does():
    passwords = WerkzeugPasswords()
    stored = passwords.hash("pw")
    assert stored.startswith(SCRYPT)
    assert staff_auth._dummy_hash(passwords).startswith(SCRYPT)
    assert passwords.matches(stored, "pw")
    assert not passwords.matches(stored, "pW")


def test_other_tests_hash_cheaply_and_still_check_passwords():
    passwords = WerkzeugPasswords()
    stored = passwords.hash("pw")
    assert stored.startswith(f"{TEST_PASSWORD_METHOD}$")
    assert staff_auth._dummy_hash(passwords).startswith(f"{TEST_PASSWORD_METHOD}$")
    assert passwords.matches(stored, "pw")
    assert not passwords.matches(stored, "pW")
