"""Every money and message path, with the process killed at each write step, on every
store: after a restart, the same input again and the daily run, the ledger, the card
processor and the mail agree with the scenario's own numbers. Also: two processes at once.

The kill points are found, not listed: at collection, each scenario runs once on SQLite with
its write steps counted (tests/crash/faults.py), and every step gets a "before" and an
"after" test. A write step added to a path gets its kill points without a change here. On DynamoDB
(moto's server over HTTP, slower) the "before" point of every step but the first is left
out: it leaves the same records as the "after" point of the step before it.
"""

import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from portal.adapters.dynamodb.store import DynamoDbStore
from portal.adapters.sandbox_gateway import SandboxGateway
from portal.adapters.sqlite.store import SqliteStore
from portal.adapters.stripe_gateway import StripeGateway
from portal.ports.mail import Mailer
from portal.ports.payments import OffSessionCharge
from portal.ports.store import Store
from portal.services import ledger as posting
from tests.conftest import NOW
from tests.crash.faults import (
    AFTER,
    BEFORE,
    GATEWAY_READS,
    MAILER_READS,
    STORE_READS,
    KillPoint,
)
from tests.crash.harness import (
    backend,
    check_outcome,
    processor,
    run_killed,
    run_together,
    trace,
)
from tests.crash.scenarios import SCENARIOS

STORES = ("sqlite", "dynamodb")
# Only reads come between one write step and the next, so "before step N" leaves the same
# records behind as "after step N-1": on these (slower) stores only one of each pair runs.
SAMPLED = ("dynamodb",)
# Every kill point on moto's DynamoDB (about three seconds each, over a hundred) runs in
# `make test-slow`, which CI runs after `make test`; `make test` kills every step on SQLite
# and runs two processes at once on both stores.
KILLED_IN_SLOW_RUN = ("dynamodb",)
_traces: dict[str, list[str]] = {}


def write_steps(name: str) -> list[str]:
    if name not in _traces:
        with tempfile.TemporaryDirectory(prefix="crash-trace-") as folder:
            _traces[name] = trace(SCENARIOS[name], Path(folder))
    return _traces[name]


def kill_points() -> list:
    cases = []
    for store in STORES:
        for name in SCENARIOS:
            for number, label in enumerate(write_steps(name), start=1):
                for when in (BEFORE, AFTER):
                    if store in SAMPLED and when == BEFORE and number > 1:
                        continue  # the same records as "after" the step before it
                    kill = KillPoint(number, when)
                    cases.append(
                        pytest.param(
                            store,
                            name,
                            kill,
                            id=f"{store}-{name}-{number:02d}-{when}-{label}",
                            marks=[pytest.mark.slow] if store in KILLED_IN_SLOW_RUN else [],
                        )
                    )
    return cases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.name == "test_a_crash_at_a_write_step_is_finished":
        metafunc.parametrize(("store_kind", "scenario", "kill"), kill_points())


@pytest.fixture
def records(request, store_kind, tmp_path):
    """(records, processor) for one test: a fresh SQLite file or DynamoDB table."""
    if store_kind == "dynamodb":
        request.getfixturevalue("moto_endpoint")
    with processor() as stub, backend(store_kind, tmp_path, stub) as where:
        yield where, stub


def test_a_crash_at_a_write_step_is_finished(records, scenario, kill, tmp_path):
    where, stub = records
    chosen = SCENARIOS[scenario]
    chosen.prepare(where.services(NOW), stub)

    child = run_killed(chosen, where, kill, tmp_path)

    assert child.steps == write_steps(scenario)[: kill.step], "the path changed between runs"
    done = child.steps if kill.when == AFTER else child.steps[:-1]
    check_outcome(chosen, where, stub, last_done=done[-1] if done else "")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("store_kind", STORES)
def test_two_processes_at_once(records, scenario, tmp_path):
    where, stub = records
    chosen = SCENARIOS[scenario]
    chosen.prepare(where.services(NOW), stub)

    run_together(chosen, where, tmp_path)

    check_outcome(chosen, where, stub)


@pytest.mark.parametrize(
    ("reads", "ports"),
    [
        (STORE_READS, (Store, SqliteStore, DynamoDbStore)),
        (MAILER_READS, (Mailer,)),
        (GATEWAY_READS, (StripeGateway, SandboxGateway)),
    ],
)
def test_every_named_read_still_exists(reads, ports):
    """A renamed read must not leave a stale name behind (the new name counts as a write
    until it is listed)."""
    known = set().union(*(dir(port) for port in ports))
    assert reads <= known, sorted(reads - known)


def test_every_scenario_makes_write_steps():
    for name in SCENARIOS:
        assert write_steps(name), name


@pytest.mark.parametrize(
    ("second", "found"), [("charged", "the processor charged"), ("posted", "ledger sums")]
)
def test_the_plan_charge_check_catches_a_second_charge(second, found, tmp_path):
    """The plan scenario's numbers hold after one clean run, and fail when the installment
    is charged at the processor again (another key) or posted again (another payment)."""
    chosen = SCENARIOS["plan_charge"]
    with processor() as stub, backend("sqlite", tmp_path, stub) as where:
        chosen.prepare(where.services(NOW), stub)
        chosen.deliver(where.services(NOW))
        check_outcome(chosen, where, stub)

        services = where.services(NOW)
        plan = services.store.get_plan(chosen.plan_id)
        again = OffSessionCharge("pay_again", plan.method, 10_000, "again", "plan-again-1-1")
        if second == "charged":
            services.payments.charge_saved(again)
        else:
            services.store.create_payment(
                replace(services.store.get_payment(chosen.payment_id()), payment_id="pay_again")
            )
            posting.post_payment(services.store, "pay_again", "pi_again", 10_000, NOW)
        with pytest.raises(AssertionError, match=found):
            check_outcome(chosen, where, stub)
