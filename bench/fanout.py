"""The fan-out of the daily reminder job (issue 19, docs/scaling.md) on this machine: the
planner queues the due accounts on a real SQS (moto's server on 127.0.0.1, over HTTP), and
1, 2, 4 and 8 worker processes take the batches through `functions.workers.handler`, as
Lambda's SQS event source hands them over, and send each message to an SMTP server
(aiosmtpd on 127.0.0.1) that takes 50 ms to accept each one, as SES's API takes about that.

The population is bench/reminders.py's: --accounts accounts (20,000), one in ten past due, on
a SQLite store loaded once and copied for each run, so every run starts from the same
records and claims nothing. For each number of workers it prints the run's time (from
queuing to the last batch done), the messages the server took, messages a second, and the
throughput against one worker in the same run; every run must deliver exactly the planned
messages, each once.

With --dynamodb N it instead measures a worker's cost per due account on DynamoDB (moto's
server): N accounts (one in ten due) planned and run batch by batch in this process, the
DynamoDB calls botocore makes per due account, by operation, and the message bytes and
in-process milliseconds per message (the figures docs/scaling.md's capacity model uses).

    .venv/bin/python bench/fanout.py [--accounts 20000] [--workers 1,2,4,8] [--batch 25]
    .venv/bin/python bench/fanout.py --dynamodb 2000
"""

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import resource
import socket
import sqlite3
import statistics
import sys
import time
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path

from _population import NOW, bench_folder, build_store, store_env
from reminders import planned, population

from portal.adapters.sqs_queue import SqsWorkQueue
from portal.bootstrap import build_services
from portal.clock import FixedClock
from portal.config import Settings
from portal.services.fanout import plan_reminders
from portal.services.statements import import_statement

ACCEPT_SECONDS = 0.05  # the mail server's time to take one message, as SES's API


class SlowHandler:
    """aiosmtpd handler: waits ACCEPT_SECONDS per message (other connections go on), then
    keeps (kind, recipient) of what it took."""

    def __init__(self, taken):
        self.taken = taken

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(ACCEPT_SECONDS)
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.taken.append((message["X-Portal-Message-Kind"], message["To"], message["Subject"]))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def worker(env: dict[str, str], queue_url: str, done: "multiprocessing.Queue") -> None:
    """Take batches until the queue stays empty; report when the last one was done."""
    import boto3

    import functions.reminders
    import functions.workers

    functions.reminders._container = build_services(Settings.from_env(env), clock=FixedClock(NOW))
    sqs = boto3.client("sqs")
    last = 0.0
    batches = 0
    idle = 0
    while idle < 2:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
        messages = got.get("Messages", [])
        if not messages:
            idle += 1
            continue
        idle = 0
        records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # its log lines
            answer = functions.workers.handler({"Records": records}, None)
        if answer["batchItemFailures"]:
            sys.exit(f"a batch failed: {answer}")
        for m in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        batches += 1
        last = time.time()
    done.put((last, batches))


def run(folder: Path, loaded: Path, workers: int, env: dict[str, str], taken: list) -> dict:
    """One fan-out with `workers` processes on a fresh copy of the loaded store."""
    import boto3

    store_file = folder / f"run-{workers}.sqlite3"
    with sqlite3.connect(loaded) as source, sqlite3.connect(store_file) as copy:
        source.backup(copy)  # with what is still in the write-ahead log
    env = {**env, "PORTAL_SQLITE_PATH": str(store_file)}
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"bench-work-{workers}")["QueueUrl"]
    services = build_services(Settings.from_env(env), clock=FixedClock(NOW))
    services.work_queue = SqsWorkQueue(queue_url, sqs)
    taken.clear()
    done: multiprocessing.Queue = multiprocessing.Queue()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    queued = plan_reminders(services, NOW)
    processes = [
        multiprocessing.Process(target=worker, args=(env, queue_url, done)) for _ in range(workers)
    ]
    for process in processes:
        process.start()
    reports = [done.get(timeout=1800) for _ in processes]
    for process in processes:
        process.join()
        if process.exitcode:
            sys.exit(f"a worker exited with {process.exitcode}")
    finished = max(last for last, _ in reports)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": finished - started,
        "worker_cpu": cpu.ru_utime + cpu.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime,
        "batches": queued.batches,
        "taken": Counter(kind for kind, _, _ in taken),
        "twice": sum(1 for n in Counter(taken).values() if n > 1),
    }


def dynamodb_costs(accounts: int, batch_size: int) -> None:
    """A worker's DynamoDB calls, message bytes and milliseconds per due account."""
    from _population import ApiCounter, CountingMailer
    from reminders import load_dynamodb

    from portal.services.fanout import read_batch, run_batch

    class Queue:
        def __init__(self) -> None:
            self.bodies: list[str] = []

        def send(self, bodies) -> None:
            self.bodies += bodies

    with bench_folder() as folder:
        env = store_env(folder, "dynamodb", PORTAL_WORK_BATCH_SIZE=str(batch_size))
        services = build_store(env)
        plan = population(accounts)
        print(load_dynamodb(services, plan, accounts))
        mailer = CountingMailer(services.settings.mail_from)
        services.mailer = mailer
        services.work_queue = Queue()
        counter = ApiCounter(services.store.db.client)
        queued = plan_reminders(services, NOW)
        planner_calls = sum(counter.calls.values())
        counter.reset()
        started = time.process_time()
        for body in services.work_queue.bodies:
            summary = run_batch(services, read_batch(body), NOW)
            if summary.failed:
                sys.exit(f"a batch failed: {summary.counts()}")
        cpu = time.process_time() - started
        due = queued.accounts
        calls = sum(counter.calls.values())
        inside_ms = sum(counter.inside.values()) / 1e6
        mix = ", ".join(f"{op} {n / due:.2f}" for op, n in sorted(counter.calls.items()))
        print(f"planner: {queued.batches} batches of {due:,} due accounts, {planner_calls} calls")
        print(f"worker: {calls / due:.2f} DynamoDB calls per due account ({mix})")
        print(
            f"worker: {statistics.fmean(mailer.sizes) / 1024:.1f} KiB per message;"
            f" {(cpu * 1000 - inside_ms) / due:.1f} ms CPU per due account outside botocore"
            f" ({cpu * 1000 / due:.1f} ms with moto's answers parsed)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--batch", type=int, default=25, help="due accounts per batch (25)")
    parser.add_argument("--dynamodb", type=int, default=0, help="measure costs on DynamoDB")
    args = parser.parse_args(argv)
    if args.dynamodb:
        dynamodb_costs(args.dynamodb, args.batch)
        return
    counts = [int(n) for n in args.workers.split(",")]
    from aiosmtpd.controller import Controller

    multiprocessing.set_start_method("fork")
    with bench_folder() as folder:
        taken: list = []  # the server runs in this process
        port = free_port()
        controller = Controller(SlowHandler(taken), hostname="127.0.0.1", port=port)
        controller.start()
        try:
            env = store_env(
                folder,
                "sqlite",
                PORTAL_MAIL="smtp",
                PORTAL_SMTP_HOST="127.0.0.1",
                PORTAL_SMTP_PORT=str(port),
                PORTAL_SMTP_STARTTLS="false",
                PORTAL_WORK_BATCH_SIZE=str(args.batch),
            )
            services = build_store(env)
            plan = population(args.accounts)
            started = time.perf_counter()
            for account, st, _ in plan:
                import_statement(services, account, st, notify=False)
            expected = planned(services, plan)
            print(__doc__.split("\n\n")[0].replace("\n", " "))
            print(
                f"{args.accounts:,} accounts loaded in {time.perf_counter() - started:.1f} s;"
                f" {sum(expected.values()):,} messages due; batches of {args.batch};"
                f" the server takes {ACCEPT_SECONDS * 1000:.0f} ms a message"
            )
            print(
                f"{'workers':>7} {'seconds':>8} {'messages':>9} {'msg/s':>7} {'vs 1':>6}"
                f" {'worker CPU ms/msg':>18}"
            )
            base = None
            for n in counts:
                result = run(folder, Path(env["PORTAL_SQLITE_PATH"]), n, env, taken)
                sent = sum(result["taken"].values())
                if Counter(result["taken"]) != expected or result["twice"]:
                    sys.exit(f"{n} workers: took {dict(result['taken'])}, planned {dict(expected)}")
                rate = sent / result["seconds"]
                base = base or rate
                cpu_ms = result["worker_cpu"] * 1000 / sent
                print(
                    f"{n:>7} {result['seconds']:>8.1f} {sent:>9,} {rate:>7.1f}"
                    f" {rate / base:>5.1f}x {cpu_ms:>18.1f}"
                )
            print(f"({os.cpu_count()} CPUs here; each Lambda worker has its own)")
        finally:
            controller.stop()


if __name__ == "__main__":
    main()
