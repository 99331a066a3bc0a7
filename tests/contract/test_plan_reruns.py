"""The daily plan charge run killed at each of its write steps, then run three more times
(at once and the next two days) and swept, on every store: the installment is charged,
posted and receipted once, the plan keeps its agreed schedule, no try's claim is left held.

The kill is in-process: the run's store, mailer and gateway are counted as the crash
harness counts them (tests/crash/faults.py), and at the chosen step every write from then
on raises, so nothing after it reaches the records (a dead process neither writes nor
releases its claims)."""

from datetime import timedelta

import pytest

from portal.domain.aging import practice_midnight
from portal.domain.ledger import EntryKind
from portal.domain.payments import PaymentStatus
from portal.services.accounts import account_view
from portal.services.plan_charges import PLAN_CHARGE_CLAIM, run_plan_charges
from portal.services.sweep import sweep_claims
from tests.contract.test_plan_charges import NUMBER, OWED, kinds, set_up
from tests.contract.test_plan_charges import services as services
from tests.crash.faults import AFTER, BEFORE, KillPoint, Recorder, with_faults

# The steps of one clean run of the first installment on the sandbox gateway.
STEPS = (
    "store.claim(plan-charge)",
    "store.create_payment",
    "gateway.charge_saved",
    "store.commit",
    "mailer.send(receipt to pat@example.com)",
    "store.complete_claim(receipt)",
    "store.save_plan",
    "store.complete_claim(plan-charge)",
)


class Killed(BaseException):
    """The process is gone: raised by every write from the kill point on."""


class DeadAfterKill(Recorder):
    dead = False

    def around(self, label, call, args, kwargs):
        if self.dead:
            raise Killed(label)
        return super().around(label, call, args, kwargs)

    def die(self) -> None:
        self.dead = True
        raise Killed(self.steps[-1])


def kill_points():
    points = [pytest.param(KillPoint(1, BEFORE), id="01-before-" + STEPS[0])]
    for number, label in enumerate(STEPS, start=1):
        points.append(pytest.param(KillPoint(number, AFTER), id=f"{number:02d}-after-{label}"))
    return points


@pytest.mark.parametrize("kill", kill_points())
def test_three_reruns_after_a_kill_charge_the_installment_once(services, outbox, kill):
    plan = set_up(services)
    day = plan.installments[0].due_on
    noon = practice_midnight(day, services.settings.tz) + timedelta(hours=12)
    services.clock._at = noon
    recorder = DeadAfterKill(kill)
    with pytest.raises(Killed):
        run_plan_charges(with_faults(services, recorder), noon)
    assert recorder.steps == list(STEPS[: kill.step]), "the run's write steps changed"

    # Three more runs: at once (a held try is left alone), and the next two days' (the dead
    # run's claim long stale); then the daily sweep of unfinished claims.
    for later in (timedelta(minutes=1), timedelta(days=1), timedelta(days=2)):
        services.clock._at = noon + later
        run_plan_charges(services, services.clock.now())
    sweep_claims(services, (noon + timedelta(days=2)).date())

    stored = services.store.get_plan(plan.plan_id)
    assert [i.amount_cents for i in stored.installments] == [10_000] * 3, "re-spread"
    assert [(a.installment, a.number) for a in stored.attempts] == [(1, 1)]
    [payment] = [services.store.get_payment(a.payment_id) for a in stored.attempts]
    assert payment.status is PaymentStatus.SUCCEEDED and payment.posted_at is not None
    records = services.store.account_records(NUMBER)
    posted = [e for e in records.entries if e.kind is EntryKind.PATIENT_PAYMENT]
    assert [(e.payment_id, e.amount_cents) for e in posted] == [(payment.payment_id, -10_000)]
    assert account_view(services, NUMBER).due_cents == OWED - 10_000
    # Killed in the instant after the mail server took the receipt and before it was marked
    # sent, the receipt goes again (e-mail cannot be one step with a store write); else once.
    in_window = STEPS[kill.step - 1].startswith("mailer.send(receipt")
    receipts = kinds(outbox)["receipt"]
    assert receipts == 1 or (in_window and receipts == 2), receipts
    assert kinds(outbox)["plan-agreement"] == 1
    key = f"plan-{plan.plan_id}-1-1"
    assert services.store.claim_completed(PLAN_CHARGE_CLAIM, key)
    # Next looked at on the second installment's notice day, 3 days before it.
    assert stored.next_on == stored.installments[1].due_on - timedelta(days=3)
