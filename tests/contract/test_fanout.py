"""The daily reminder job fanned out (issue 19), on every store, with a real SQS (moto's
server over HTTP): the scheduled function queues the due accounts in batches, the worker
function sends them, and every reminder goes exactly once, whether SQS delivers a batch
twice, a batch comes back after its worker failed, or a message is not a batch at all (it
ends in the dead-letter queue)."""

import dataclasses
import json
import uuid
from collections import Counter

import boto3
import pytest

import functions.reminders
import functions.workers
from portal.adapters.sqs_queue import SqsWorkQueue
from portal.bootstrap import build_services
from portal.services import fanout
from portal.services.fanout import REMINDERS, BadBatch, Batch, read_batch
from portal.services.reminders import run_reminders
from tests.contract.test_reminders_run import PLAN, add_account, sent

# What PLAN's accounts get today, each once (all share one address): three reminders, a
# final notice, and the escalation to the billing inbox.
EXPECTED = Counter(
    {
        ("reminder", "x@example.com"): 3,
        ("final-notice", "x@example.com"): 1,
        ("escalation", "billing@localhost"): 1,
    }
)


@pytest.fixture
def sqs(moto_endpoint):
    return boto3.client("sqs")


@pytest.fixture
def queues(sqs):
    """A work queue whose messages go to a dead-letter queue after two receives."""
    name = f"work-{uuid.uuid4().hex[:10]}"
    dead = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])
    policy = {"deadLetterTargetArn": dead_arn["Attributes"]["QueueArn"], "maxReceiveCount": "2"}
    work = sqs.create_queue(
        QueueName=name,
        Attributes={"RedrivePolicy": json.dumps(policy), "VisibilityTimeout": "60"},
    )["QueueUrl"]
    yield work, dead
    for url in (work, dead):
        sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def fanned(store, settings, clock, queues, sqs, monkeypatch):
    """Services on the store with the work queue, batches of 2, as the Lambda container
    keeps them (functions.reminders._container)."""
    work, _ = queues
    settings = dataclasses.replace(settings, work_queue_url=work, work_batch_size=2)
    services = dataclasses.replace(
        build_services(settings, clock=clock), store=store, work_queue=SqsWorkQueue(work, sqs)
    )
    for number, (days, cents) in PLAN.items():
        add_account(store, number, days, cents)
    monkeypatch.setattr(functions.reminders, "_container", services)
    return services


def receive_all(sqs, url: str) -> list[dict]:
    """Every message now on the queue, as the Lambda event source hands them over."""
    records = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return records
        records += [
            {"messageId": m["MessageId"], "body": m["Body"], "receiptHandle": m["ReceiptHandle"]}
            for m in got
        ]


def work(sqs, url: str, records: list[dict]) -> dict:
    """One worker invocation; what it did not report as failed is deleted (as Lambda does),
    and the failed ones are visible again at once (their visibility timeout passed)."""
    try:
        answer = functions.workers.handler({"Records": records}, None)
    except functions.workers.BatchFailed:
        answer = {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    for record in records:
        if record["messageId"] not in failed:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
        else:
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )
    return answer


def test_the_planner_queues_batches_and_the_workers_send_what_one_process_would(
    fanned, queues, sqs, outbox, tmp_path
):
    work_url, _ = queues
    answer = functions.reminders.handler({}, None)

    assert answer == {
        "sent": 0,
        "skipped": 0,
        "failed": 0,
        "escalated": 0,
        "queued_batches": 3,  # 6 accounts owe at least a day past due: 2 a batch
        "queued_accounts": 6,
    }
    assert not list(outbox.glob("*.eml"))  # the planner sends nothing
    records = receive_all(sqs, work_url)
    assert len(records) == 3
    assert all(len(read_batch(r["body"]).accounts) == 2 for r in records)

    assert work(sqs, work_url, records) == {"batchItemFailures": []}

    fanned_out = sent(outbox)
    assert fanned_out == EXPECTED
    # A one-process run of the same day afterwards finds every reminder claimed.
    alone = dataclasses.replace(fanned, work_queue=None)
    assert run_reminders(alone, as_of=alone.clock.now()).counts()["sent"] == 0
    assert sent(outbox) == fanned_out


def test_a_batch_delivered_twice_and_to_two_workers_sends_each_reminder_once(
    fanned, queues, sqs, outbox
):
    work_url, _ = queues
    functions.reminders.handler({}, None)
    records = receive_all(sqs, work_url)

    work(sqs, work_url, records[:2])
    work(sqs, work_url, records)  # SQS's at-least-once: the first two again, with the third
    work(sqs, work_url, records[1:])

    assert sent(outbox) == EXPECTED


def test_a_batch_whose_send_failed_comes_back_and_then_sends_once(
    fanned, queues, sqs, outbox, monkeypatch
):
    work_url, _ = queues
    functions.reminders.handler({}, None)
    records = receive_all(sqs, work_url)
    real = fanned.mailer.send
    calls = []

    def flaky(message):
        calls.append(message.to)
        if len(calls) == 1:
            from portal.ports.mail import TransientMailError

            raise TransientMailError("the mail server is away")
        return real(message)

    monkeypatch.setattr(fanned.mailer, "send", flaky)
    first = work(sqs, work_url, records)

    assert len(first["batchItemFailures"]) == 1  # the batch with the failed send
    assert sum(sent(outbox).values()) == sum(EXPECTED.values()) - 1
    again = receive_all(sqs, work_url)
    assert [r["messageId"] for r in again] == [
        f["itemIdentifier"] for f in first["batchItemFailures"]
    ]
    assert work(sqs, work_url, again) == {"batchItemFailures": []}
    assert sent(outbox) == EXPECTED


def test_a_message_that_is_not_a_batch_ends_in_the_dead_letter_queue(fanned, queues, sqs, outbox):
    work_url, dead_url = queues
    fanned.work_queue.send(['{"job": "reminders", "day": "not a day", "accounts": []}'])

    for _ in range(2):
        records = receive_all(sqs, work_url)
        assert len(records) == 1
        assert work(sqs, work_url, records) == {
            "batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]
        }

    assert receive_all(sqs, work_url) == []  # moved on its third receive
    [dead] = receive_all(sqs, dead_url)
    assert json.loads(dead["body"])["day"] == "not a day"
    assert not list(outbox.glob("*.eml"))


def test_a_batch_of_another_day_is_dropped(fanned, queues, sqs, outbox):
    work_url, _ = queues
    functions.reminders.handler({}, None)
    records = receive_all(sqs, work_url)
    fanned.clock.advance(days=1)

    assert work(sqs, work_url, records) == {"batchItemFailures": []}

    assert not list(outbox.glob("*.eml"))  # the planner of the new day queues them again


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not json", "not JSON"),
        (
            '{"job": "payroll", "day": "2026-11-28", "accounts": [["1", "S", "2026-11-01", 1]]}',
            "no known job",
        ),
        ('{"job": "reminders", "day": "2026-11-28", "accounts": []}', "1 to 1000"),
        (
            '{"job": "reminders", "day": "2026-11-28", "accounts": [["1", "S", "2026-11-01", -5]]}',
            "accounts[0]",
        ),
        ('{"job": "reminders", "day": "2026-11-28", "accounts": [["1", "S"]]}', "accounts[0]"),
    ],
)
def test_a_message_that_is_not_a_batch_is_refused_saying_why(body, problem):
    with pytest.raises(BadBatch, match=problem.replace("[", r"\[").replace("]", r"\]")):
        read_batch(body)


def test_a_batch_reads_back_as_it_was_written():
    from datetime import date

    from portal.ports.reminders import DueAccount

    batch = Batch(
        REMINDERS, date(2026, 11, 28), (DueAccount("400015", "S-400015", date(2026, 11, 13), 5000),)
    )
    assert read_batch(batch.body()) == batch


def test_an_invocation_whose_every_batch_failed_raises_so_that_sqs_retries_them(fanned):
    """Zappa's event source mapping has no ReportBatchItemFailures: an answer would delete."""
    with pytest.raises(functions.workers.BatchFailed):
        functions.workers.handler({"Records": [{"messageId": "m-1", "body": "not json"}]}, None)


def test_each_batch_writes_one_json_line_of_its_job_size_counts_time_and_store_calls(
    fanned, queues, sqs, capsys
):
    work_url, _ = queues
    functions.reminders.handler({}, None)
    records = receive_all(sqs, work_url)
    fanned.work_queue.send(["not json"])
    records += receive_all(sqs, work_url)
    capsys.readouterr()

    work(sqs, work_url, records)

    lines = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    by_message = {line["message_id"]: line for line in lines}
    assert list(by_message) == [r["messageId"] for r in records]
    done, refused = (
        [by_message[r["messageId"]] for r in records[:3]],
        by_message[records[3]["messageId"]],
    )
    for line in done:
        assert line["job"] == "reminders-batch" and line["size"] == 2
        assert set(line) == {
            "job", "message_id", "size", "sent", "skipped", "failed", "escalated", "ms",
            "store_calls",
        }  # fmt: skip
        assert line["store_calls"] >= 2 and line["ms"] >= 0
    assert sum(line["sent"] for line in done) == 4
    assert refused["job"] == "batch" and refused["size"] == 0
    assert refused["refused"] == "The message is not JSON."
    assert "x@example.com" not in json.dumps(lines)


def test_a_worker_reads_plans_cases_and_bad_addresses_once_per_batch_not_per_account(
    fanned, queues, sqs, outbox, monkeypatch
):
    """The batch decides as the one-process run: the account whose statement is on a
    running plan gets no reminder; and no account's own plans or cases are read."""
    from tests.plan_helpers import set_up_plan

    add_account(fanned.store, "400031", 30, 20_000)  # its second reminder is due today...
    set_up_plan(fanned, "400031")  # ...but its statement is on a running plan
    work_url, _ = queues
    functions.reminders.handler({}, None)
    records = receive_all(sqs, work_url)
    reads: Counter = Counter()
    for name in ("running_plans", "holding_cases", "undeliverable_set"):
        real = getattr(fanout, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            reads[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(fanout, name, counted)

    def per_account(*args):
        raise AssertionError("read per account")

    monkeypatch.setattr(fanned.store, "account_plans", per_account)
    monkeypatch.setattr(fanned.store, "account_cases", per_account)

    assert work(sqs, work_url, records) == {"batchItemFailures": []}

    assert len(records) == 4  # 7 accounts owe: 2 a batch
    assert reads == Counter({"running_plans": 4, "holding_cases": 4, "undeliverable_set": 4})
    assert sent(outbox) == EXPECTED + Counter({("plan-agreement", "x@example.com"): 1})


def test_past_so_many_plans_a_batch_reads_each_accounts_own_instead(
    fanned, queues, sqs, outbox, monkeypatch
):
    """Reading every plan still looked at costs more than each account's own once there are
    many: past BATCH_PLANS_READ a batch reads its accounts' plans, deciding the same."""
    from tests.plan_helpers import set_up_plan

    add_account(fanned.store, "400031", 30, 20_000)
    set_up_plan(fanned, "400031")
    monkeypatch.setattr(fanout, "BATCH_PLANS_READ", 1)
    add_account(fanned.store, "400032", 5, 20_000)  # not due yet: its plan is the second
    set_up_plan(fanned, "400032")
    work_url, _ = queues
    functions.reminders.handler({}, None)
    own: Counter = Counter()
    real = fanned.store.account_plans

    def account_plans(number):
        own[number] += 1
        return real(number)

    monkeypatch.setattr(fanned.store, "account_plans", account_plans)

    assert work(sqs, work_url, receive_all(sqs, work_url)) == {"batchItemFailures": []}

    assert own["400031"] == 1  # read for its own decision
    assert sent(outbox) == EXPECTED + Counter({("plan-agreement", "x@example.com"): 2})
