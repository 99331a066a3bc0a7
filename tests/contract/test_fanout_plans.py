"""The daily plan charge run fanned out (issue 19), on every store, with a real SQS (moto's
server over HTTP): `functions.plans.handler` queues the ids of the plans due in batches,
`functions.workers.handler` charges them through the same claims as `portal plans charge`,
and each installment's try is charged, posted and receipted once whether SQS delivers a
batch twice, a worker is killed half way through a batch, or one plan of a batch keeps
failing (the batch ends in the dead-letter queue, the others in it charged once)."""

import dataclasses
import json
from collections import Counter
from datetime import date, timedelta

import pytest

import functions.plans
import functions.reminders
import functions.workers
from portal.adapters.sqs_queue import SqsWorkQueue
from portal.bootstrap import build_services
from portal.domain.accounts import Account, Guarantor
from portal.domain.payments import PaymentStatus
from portal.domain.statements import Statement
from portal.services import plan_charges
from portal.services.accounts import account_view
from portal.services.fanout import PLAN_CHARGES, BadBatch, Batch, read_batch
from portal.services.sweep import sweep_claims
from tests.conftest import NOW, line
from tests.contract.test_fanout import queues, receive_all, sqs, work
from tests.contract.test_plan_charges import kinds
from tests.plan_helpers import counts, noon, run_on, set_up_plan

__all__ = ["queues", "sqs"]  # fixtures

NUMBERS = ("710001", "710002", "710003", "710004", "710005")
OWED = 30_000  # three installments of $100.00, the first on December 1
DAY = date(2026, 12, 1)


@pytest.fixture
def fanned(store, settings, clock, queues, sqs, monkeypatch):
    """Five accounts, each with a plan on a good card; the services as the Lambda container
    keeps them, with the work queue and batches of 2."""
    work_url, _ = queues
    settings = dataclasses.replace(settings, work_queue_url=work_url, work_batch_size=2)
    services = dataclasses.replace(
        build_services(settings, clock=clock), store=store, work_queue=SqsWorkQueue(work_url, sqs)
    )
    for number in NUMBERS:
        account = Account(
            number, Guarantor("Pat", "Planner", date(1980, 2, 2), email=f"{number}@example.com")
        )
        statement = Statement(
            f"S-{number}", number, date(2026, 11, 20), date(2026, 12, 20), (line("1", owed=OWED),)
        )
        store.import_statement(account, statement, NOW - timedelta(days=1))
        set_up_plan(services, number)
    monkeypatch.setattr(functions.reminders, "_container", services)
    noon(services, DAY)
    return services


def charged(services) -> Counter:
    """Each account's succeeded plan payments (the installment posted), by account."""
    found: Counter = Counter()
    for number in NUMBERS:
        [plan] = services.store.account_plans(number)
        for attempt in plan.attempts:
            payment = services.store.get_payment(attempt.payment_id)
            if payment is not None and payment.status is PaymentStatus.SUCCEEDED:
                found[number] += 1
        assert account_view(services, number).due_cents == OWED - 10_000 * found[number]
    return found


ONCE_EACH = Counter({number: 1 for number in NUMBERS})


def test_the_planner_queues_the_plans_due_and_the_workers_charge_each_once(
    fanned, queues, sqs, outbox
):
    work_url, _ = queues
    assert functions.plans.handler({}, None) == {
        "charged": 0,
        "failed": 0,
        "skipped": 0,
        "defaulted": 0,
        "queued_batches": 3,
        "queued_plans": 5,
    }
    assert charged(fanned) == Counter()  # the planner charges nothing
    records = receive_all(sqs, work_url)
    batches = [read_batch(r["body"]) for r in records]
    assert [b.job for b in batches] == [PLAN_CHARGES] * 3
    assert sorted(p for b in batches for p in b.plan_ids) == sorted(services_plan_ids(fanned))

    assert work(sqs, work_url, records) == {"batchItemFailures": []}

    assert charged(fanned) == ONCE_EACH
    assert kinds(outbox)["receipt"] == 5
    # The one-process run of the same day afterwards finds nothing left to charge.
    alone = dataclasses.replace(fanned, work_queue=None)
    assert counts(run_on(alone, DAY)) == (0, 0, 0, 0)
    assert charged(fanned) == ONCE_EACH


def services_plan_ids(services) -> list[str]:
    return [services.store.account_plans(n)[0].plan_id for n in NUMBERS]


def test_batches_delivered_twice_and_to_two_workers_charge_each_try_once(
    fanned, queues, sqs, outbox, capsys
):
    work_url, _ = queues
    functions.plans.handler({}, None)
    records = receive_all(sqs, work_url)

    work(sqs, work_url, records[:2])
    work(sqs, work_url, records)  # SQS's at-least-once: the first two again, with the third
    work(sqs, work_url, records[1:])

    assert charged(fanned) == ONCE_EACH
    assert kinds(outbox)["receipt"] == 5
    lines = [json.loads(t) for t in capsys.readouterr().out.splitlines() if '"plans-batch"' in t]
    assert len(lines) == 7 and {line["size"] for line in lines} == {1, 2}
    assert sum(line["charged"] for line in lines) == 5
    assert sum(line["skipped"] for line in lines) == 7  # the second deliveries: run already


class Killed(BaseException):
    """The worker's process is gone."""


def test_a_worker_killed_half_way_through_a_batch_leaves_each_try_to_be_made_once(
    fanned, queues, sqs, outbox, monkeypatch
):
    """Killed right after the processor charged the batch's second plan: the first plan
    was charged and kept; the batch comes back (its visibility timeout passed) and skips
    both (the first is done, the second's try is held); once the held claim is stale the
    sweep finishes it with the same idempotency key: one charge each."""
    work_url, _ = queues
    functions.plans.handler({}, None)
    [first, *rest] = receive_all(sqs, work_url)
    batch = read_batch(first["body"])
    assert batch.size == 2
    gateway_calls: Counter = Counter()
    real_charge = fanned.payments.charge_saved

    def charge_then_die(charge):
        result = real_charge(charge)
        gateway_calls[charge.key] += 1
        if len(gateway_calls) == 2:
            raise Killed
        return result

    with monkeypatch.context() as dying:
        dying.setattr(fanned.payments, "charge_saved", charge_then_die)
        dying.setattr(fanned.store, "release_claim", lambda *a: None)  # a kill releases nothing
        with pytest.raises(Killed):
            functions.workers.handler({"Records": [first]}, None)
    # Lambda never answered: SQS hands the batch out again after its visibility timeout.
    sqs.change_message_visibility(
        QueueUrl=work_url, ReceiptHandle=first["receiptHandle"], VisibilityTimeout=0
    )
    [again] = receive_all(sqs, work_url)
    assert again["messageId"] == first["messageId"]
    assert work(sqs, work_url, [again, *rest]) == {"batchItemFailures": []}
    killed_account = next(
        n for n in NUMBERS if services_plan_ids(fanned)[NUMBERS.index(n)] == batch.plan_ids[1]
    )
    assert charged(fanned)[killed_account] == 0  # charged at the processor, not yet kept

    fanned.clock.advance(minutes=11)  # the dead worker's claim is stale
    sweep_claims(fanned, DAY)

    assert charged(fanned) == ONCE_EACH
    assert kinds(outbox)["receipt"] == 5
    for number in NUMBERS:
        [plan] = fanned.store.account_plans(number)
        keys = {fanned.store.get_payment(a.payment_id).gateway_reference for a in plan.attempts}
        assert len(plan.attempts) == 1 and len(keys) == 1
        assert fanned.store.claim_completed(
            plan_charges.PLAN_CHARGE_CLAIM, f"plan-{plan.plan_id}-1-1"
        )


def test_a_plan_that_keeps_failing_sends_its_batch_to_the_dead_letter_queue_once_charged(
    fanned, queues, sqs, outbox, monkeypatch
):
    """The poison plan raises every time: its batch is reported failed on each delivery and
    moves to the dead-letter queue after the queue's two receives; the other plan of that
    batch and every other batch are charged once."""
    work_url, dead_url = queues
    functions.plans.handler({}, None)
    poison = services_plan_ids(fanned)[0]
    real_run = plan_charges._run_plan

    def run(services, plan, today, summary):
        if plan.plan_id == poison:
            raise RuntimeError("this plan's record cannot be read")
        return real_run(services, plan, today, summary)

    monkeypatch.setattr(plan_charges, "_run_plan", run)
    for _ in range(2):
        records = receive_all(sqs, work_url)
        answer = work(sqs, work_url, records)
        [failed] = [r for r in records if poison in read_batch(r["body"]).plan_ids]
        assert answer == {"batchItemFailures": [{"itemIdentifier": failed["messageId"]}]}

    assert receive_all(sqs, work_url) == []
    [dead] = receive_all(sqs, dead_url)
    assert poison in read_batch(dead["body"]).plan_ids
    assert charged(fanned) == ONCE_EACH - Counter({NUMBERS[0]: 1})
    assert kinds(outbox)["receipt"] == 4


def test_a_plans_batch_of_another_day_is_dropped(fanned, queues, sqs):
    work_url, _ = queues
    functions.plans.handler({}, None)
    records = receive_all(sqs, work_url)
    noon(fanned, DAY + timedelta(days=1))

    assert work(sqs, work_url, records) == {"batchItemFailures": []}

    assert charged(fanned) == Counter()  # that day's planner queues them again


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"job": "plans", "day": "2026-12-01", "plans": []}', "1 to 1000"),
        ('{"job": "plans", "day": "2026-12-01"}', "1 to 1000"),
        ('{"job": "plans", "day": "2026-12-01", "plans": [7]}', "plan ids"),
        ('{"job": "plans", "day": "2026-12-01", "plans": [""]}', "plan ids"),
    ],
)
def test_a_plans_message_that_is_not_a_batch_is_refused_saying_why(body, problem):
    with pytest.raises(BadBatch, match=problem):
        read_batch(body)


def test_a_plans_batch_reads_back_as_it_was_written():
    batch = Batch(PLAN_CHARGES, DAY, plan_ids=("pl_1", "pl_2"))
    assert read_batch(batch.body()) == batch
