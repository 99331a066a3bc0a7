"""Guesses sent in parallel cannot slip under the 5-attempt limit."""

import threading
from datetime import date

import pytest

from portal.services.errors import LookupFailed, LookupLocked
from portal.services.lookup import find_account
from portal.services.staff_auth import SignInFailed, SignInLocked, check_password_step
from tests.integration.staff_helpers import make_staff

GUESSES = 30


def run_together(attempt) -> list[str]:
    """Start GUESSES threads at once; return the name of what each one raised."""
    barrier = threading.Barrier(GUESSES)
    outcomes: list[str] = []

    def one(n: int) -> None:
        barrier.wait()
        try:
            attempt(n)
        except Exception as exc:  # the outcome is what we count
            outcomes.append(type(exc).__name__)
        else:
            outcomes.append("ok")

    threads = [threading.Thread(target=one, args=(n,)) for n in range(GUESSES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_parallel_wrong_birth_dates_check_at_most_five(services, lopez):
    outcomes = run_together(
        lambda n: find_account(services, "100234", "Lopez", date(1900, 1, 1 + n), "10.9.9.9")
    )
    assert len(outcomes) == GUESSES
    assert outcomes.count(LookupFailed.__name__) <= 5
    assert outcomes.count(LookupLocked.__name__) >= GUESSES - 5
    assert "ok" not in outcomes


# scrypt's tenth of a second is the window the guesses race in.
@pytest.mark.real_password_hashing
def test_parallel_wrong_staff_passwords_check_at_most_five(services):
    make_staff(services, "alice")
    outcomes = run_together(
        lambda n: check_password_step(services, "alice", f"wrong-password-{n}", "10.9.9.9")
    )
    assert outcomes.count(SignInFailed.__name__) <= 5
    assert outcomes.count(SignInLocked.__name__) >= GUESSES - 5
