"""A webhook delivery killed while its receipt is being sent (issue 13): two server
processes against one SQLite store, the first killed (SIGKILL) while the mail server has not
answered; Stripe's later deliveries go to the second. The receipt goes exactly once and the
event is a duplicate only after that."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path

import pytest

from portal.services.statements import import_statement
from tests.aws import free_port
from tests.conftest import NOW, lopez_account, statement
from tests.integration.test_mailers import Recorder, smtp_server
from tests.integration.test_stripe_webhooks import completed, open_payment
from tests.stripe_fixtures import WEBHOOK_SECRET, signed

ROOT = Path(__file__).resolve().parents[2]


class SilentRelay:
    """A mail server that accepts the connection and never says a word."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connected = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.held.append(conn)
        self.connected.set()

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.sock.close()


@contextmanager
def portal_process(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, int]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.portal_process", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, "the portal process did not start"
                assert time.monotonic() < deadline, "the portal process did not listen"
                time.sleep(0.05)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def deliver(port: int, envelope: dict) -> tuple[int, str | None]:
    body, headers = signed(envelope)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/stripe", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read()).get("status")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()).get("status")


@pytest.fixture
def store_env(stripe_services, stub, settings, tmp_path) -> dict[str, str]:
    """The Lopez account with a pending $40.00 card payment, and the environment of a
    portal process on the same SQLite file."""
    account = lopez_account()
    import_statement(stripe_services, account, statement("S-2026-000123", (4550,)), notify=False)
    open_payment(stripe_services, "pay_test_40", 4000)
    clock_file = tmp_path / "clock"
    clock_file.write_text(NOW.isoformat())
    return {
        "PORTAL_SQLITE_PATH": str(settings.sqlite_path),
        "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "PORTAL_PAYMENTS": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_portal",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": stub.base,
        "PORTAL_MAIL": "smtp",
        "PORTAL_SMTP_HOST": "127.0.0.1",
        "PORTAL_SMTP_STARTTLS": "false",
        "PORTAL_TEST_CLOCK_FILE": str(clock_file),
    }


def test_a_delivery_killed_while_sending_the_receipt_still_gets_the_receipt_sent_once(
    store_env, stripe_services
):
    envelope = completed("pay_test_40", event_id="evt_test_killed")
    clock_file = Path(store_env["PORTAL_TEST_CLOCK_FILE"])
    relay = SilentRelay()
    try:
        first_env = {**store_env, "PORTAL_SMTP_PORT": str(relay.port)}
        with portal_process(first_env) as (process, port):
            request = threading.Thread(target=lambda: _swallow(deliver, port, envelope))
            request.start()
            assert relay.connected.wait(20), "the first delivery never reached the mail server"
            os.kill(process.pid, signal.SIGKILL)  # dies with the receipt claimed, unsent
            request.join(30)
    finally:
        relay.close()
    assert stripe_services.store.get_payment("pay_test_40").posted_at is not None

    mail = Recorder()
    answers = []
    with smtp_server(mail) as smtp_port:
        second_env = {**store_env, "PORTAL_SMTP_PORT": str(smtp_port)}
        with portal_process(second_env) as (_, port):
            for minutes in (6, 11, 16, 21):  # Stripe's later deliveries of the same event
                clock_file.write_text((NOW + timedelta(minutes=minutes)).isoformat())
                answers.append(deliver(port, envelope))

    receipts = [m for m in mail.received if b"X-Portal-Message-Kind: receipt" in m.content]
    assert len(receipts) == 1, answers
    assert answers[-1] == (200, "duplicate"), answers
    assert all(code in (200, 409, 503) for code, _ in answers), answers
    # Until the receipt went, the event was never answered as done.
    sent_at = next(i for i, (_, status) in enumerate(answers) if status == "processed")
    assert all(status == "retry" for _, status in answers[:sent_at]), answers


def _swallow(function, *args) -> None:
    with suppress(OSError):  # the server died mid-request: that is the point
        function(*args)
