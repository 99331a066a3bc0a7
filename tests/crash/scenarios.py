"""The money and message paths the crash tests run, each with its own numbers.

Every scenario's account owes on a statement that is not past due on the day of the daily
run (unless reminding is the point), so that run adds no message of its own.
"""

import base64
import json
from collections import Counter
from dataclasses import asdict, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from portal import create_app
from portal.adapters.sandbox_gateway import SandboxGateway
from portal.adapters.sns_notifications import SnsNotificationVerifier
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.aging import practice_date
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.payouts import simulated_fee
from portal.domain.plan_terms import text_digest
from portal.domain.staff import AuditAction, Role
from portal.domain.statements import Statement
from portal.domain.texting import SmsConsent
from portal.domain.viewers import Viewer
from portal.ports.reminders import DueAccount
from portal.services import ledger as posting
from portal.services.cases import ask_question, new_case_id, resolve_case
from portal.services.context import Services
from portal.services.errors import InvalidInput
from portal.services.fanout import REMINDERS, Batch, run_batch
from portal.services.imports import import_records
from portal.services.payouts import sandbox_payouts
from portal.services.plan_charges import payment_id_for, run_plan_charges
from portal.services.plans import agree, finish_method_setup, propose, start_method_setup
from portal.services.refunds import refund_payment
from portal.services.reminders import run_reminders
from portal.services.remittances import import_remittances
from portal.services.staff_pay_links import send_pay_link
from portal.services.statements import import_statement
from tests.conftest import NOW, line
from tests.crash.harness import WEBHOOK_SECRET, Expected
from tests.stripe_fixtures import session_object
from tests.stripe_stub import StripeStub, event, sign

EMAIL = "pat@example.com"
OWED = (4550, 2000)  # the statement's lines: $65.50 owed


def account(number: str) -> Account:
    return Account(
        number,
        Guarantor("Pat", "Crash", date(1980, 1, 1), email=EMAIL),
        patients=(Patient("P1", "Sam", "Crash", date(2015, 6, 2)),),
    )


def statement(number: str, due: date, owed: tuple[int, ...] = OWED) -> Statement:
    return Statement(
        f"S-{number}",
        number,
        due - timedelta(days=30),
        due,
        tuple(line(str(n + 1), owed=cents) for n, cents in enumerate(owed)),
    )


NOT_DUE = date(2026, 12, 15)  # past the daily run's day, 2026-11-29


def card_payment(number: str, payment_id: str, cents: int) -> Payment:
    return Payment(
        payment_id,
        number,
        cents,
        PaymentStatus.PENDING,
        "card",
        "stripe",
        NOW - timedelta(minutes=5),
        checkout_session_id=f"cs_test_{payment_id}",
    )


def card_payment_on_new_account(
    services: Services, number: str, payment_id: str, cents: int, posted_at: datetime | None = None
) -> str:
    """An account with a statement not yet due and a pending card payment on it, posted at
    `posted_at` when given; the payment's intent id."""
    store = services.store
    store.import_statement(account(number), statement(number, NOT_DUE), NOW - timedelta(days=2))
    store.create_payment(card_payment(number, payment_id, cents))
    intent = f"pi_{payment_id}"
    if posted_at is not None:
        posting.post_payment(store, payment_id, intent, cents, posted_at)
    return intent


class CardWebhook:
    """Posting a card payment: Stripe's signed checkout.session.completed, then the receipt."""

    name = "card_webhook"
    number, payment_id, cents = "510001", "pay_crash_card", 4000

    def __init__(self) -> None:
        self.envelope = event(
            "checkout.session.completed",
            session_object(self.payment_id, self.cents),
            event_id="evt_crash_card",
        )

    def prepare(self, services: Services, stub: StripeStub) -> None:
        card_payment_on_new_account(services, self.number, self.payment_id, self.cents)

    def deliver(self, services: Services) -> bool:
        body = json.dumps(self.envelope).encode()
        headers = {
            "Stripe-Signature": sign(body, WEBHOOK_SECRET),
            "Content-Type": "application/json",
        }
        answer = (
            create_app(services=services)
            .test_client()
            .post("/webhooks/stripe", data=body, headers=headers)
        )
        return answer.status_code >= 300  # Stripe tries again on anything but 2xx

    def expected(self) -> Expected:
        return Expected(
            self.number,
            sum(OWED) - self.cents,
            paid={self.payment_id: self.cents},
            messages=Counter({("receipt", EMAIL): 1}),
        )


class CardWebhookPostedBefore(CardWebhook):
    """The same webhook for a payment posted before it came (the return page asked Stripe
    first, and died before its receipt): the event takes the claimed path, which sends the
    receipt once."""

    name = "card_webhook_posted_before"
    number, payment_id = "510005", "pay_crash_card_before"

    def __init__(self) -> None:
        self.envelope = event(
            "checkout.session.completed",
            session_object(self.payment_id, self.cents),
            event_id="evt_crash_card_before",
        )

    def prepare(self, services: Services, stub: StripeStub) -> None:
        super().prepare(services, stub)
        reference = self.envelope["data"]["object"]["payment_intent"]
        posting.post_payment(
            services.store, self.payment_id, reference, self.cents, NOW - timedelta(minutes=4)
        )


class StatementNotice:
    """Sending: a statement imported with its "your statement is ready" e-mail."""

    name = "statement_notice"
    number = "510002"

    def prepare(self, services: Services, stub: StripeStub) -> None:
        pass

    def deliver(self, services: Services) -> bool:
        import_statement(services, account(self.number), statement(self.number, NOT_DUE))
        return False

    def expected(self) -> Expected:
        return Expected(self.number, sum(OWED), messages=Counter({("statement", EMAIL): 1}))


class ImportBatch:
    """Importing a file: four statements of one account in two batches (one transaction
    each on SQLite), each with its "ready" e-mail; a fifth reuses the id of a statement
    imported before with other content and is rejected alone."""

    name = "import_batch"
    number = "510005"
    owed = ((1000,), (2000, 500), (3000,), (700,))

    def record(self, n: int, owed: tuple[int, ...], email: str) -> dict:
        st = statement(self.number, NOT_DUE - timedelta(days=n), owed)
        return {
            "statement_id": f"S-{self.number}-{n}",
            "account_number": self.number,
            "statement_date": st.statement_date.isoformat(),
            "due_date": st.due_date.isoformat(),
            "guarantor": {
                "first_name": "Pat",
                "last_name": "Crash",
                "date_of_birth": "1980-01-01",
                "email": email,
            },
            "patients": [
                {
                    "patient_id": "P1",
                    "first_name": "Sam",
                    "last_name": "Crash",
                    "date_of_birth": "2015-06-02",
                }
            ],
            "lines": [
                {
                    **asdict(line),
                    "service_date": line.service_date.isoformat(),
                    "diagnosis_codes": list(line.diagnosis_codes),
                }
                for line in st.lines
            ],
        }

    def prepare(self, services: Services, stub: StripeStub) -> None:
        services.store.import_statement(
            account(self.number),
            replace(statement(self.number, NOT_DUE), statement_id=f"S-{self.number}-9"),
            NOW - timedelta(days=2),
        )

    def deliver(self, services: Services) -> bool:
        records = [self.record(n, owed, EMAIL) for n, owed in enumerate(self.owed)]
        records.insert(2, self.record(9, (1,), EMAIL))  # the id of the one imported before
        summary = import_records(services, records, "crash", batch_size=3)
        assert summary.imported + summary.unchanged == len(self.owed), summary.line
        assert [r.statement_id for r in summary.rejected] == [f"S-{self.number}-9"]
        return False

    def expected(self) -> Expected:
        return Expected(
            self.number,
            sum(OWED) + sum(sum(o) for o in self.owed),
            messages=Counter({("statement", EMAIL): len(self.owed)}),
        )


class Reminder:
    """Sending: the daily run on the day a statement's first reminder is due."""

    name = "reminder"
    number = "510003"
    due = NOW.date() - timedelta(days=15)

    def prepare(self, services: Services, stub: StripeStub) -> None:
        services.store.import_statement(
            account(self.number), statement(self.number, self.due), NOW - timedelta(days=45)
        )

    def deliver(self, services: Services) -> bool:
        run_reminders(services, as_of=services.clock.now())
        return False

    def expected(self) -> Expected:
        return Expected(self.number, sum(OWED), messages=Counter({("reminder", EMAIL): 1}))


class ReminderBatch(Reminder):
    """Sending from the fan-out: a worker given a queued batch (SQS delivers it again after
    a kill, and to two workers at once)."""

    name = "reminder_batch"
    number = "510013"

    def deliver(self, services: Services) -> bool:
        today = practice_date(NOW, services.settings.tz)  # the day the planner queued it
        due = DueAccount(self.number, f"S-{self.number}", self.due, sum(OWED))
        summary = run_batch(services, Batch(REMINDERS, today, (due,)), services.clock.now())
        return summary.failed > 0  # reported as a batch failure: delivered again


class TextReminder(Reminder):
    """Sending by both channels (issue 22): the first reminder by e-mail and by text, each
    with its own claim, each exactly once."""

    name = "text_reminder"
    number = "510023"
    phone = "+15555550123"

    def prepare(self, services: Services, stub: StripeStub) -> None:
        super().prepare(services, stub)
        services.store.save_sms_consent(
            SmsConsent(self.number, self.phone, NOW - timedelta(days=60), "intake form")
        )

    def expected(self) -> Expected:
        return Expected(
            self.number,
            sum(OWED),
            messages=Counter({("reminder", EMAIL): 1, ("text-reminder", self.phone): 1}),
        )


class TextBackStop:
    """A patient's STOP texted back (issue 22), through SNS's signed HTTPS delivery: texts
    end and the confirmation goes once (SNS delivers again on anything but 2xx)."""

    name = "text_back_stop"
    number = "510033"
    phone = "+15555550133"
    topic = "arn:aws:sns:us-east-1:123456789012:portal-inbound-sms"
    cert_url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-crash.pem"

    def __init__(self) -> None:
        self.pem, self.body = signed_stop(self.topic, self.cert_url, self.phone)

    def prepare(self, services: Services, stub: StripeStub) -> None:
        services.store.import_statement(
            account(self.number), statement(self.number, NOT_DUE), NOW - timedelta(days=2)
        )
        services.store.save_sms_consent(
            SmsConsent(self.number, self.phone, NOW - timedelta(days=30), "intake form")
        )

    def deliver(self, services: Services) -> bool:
        verifier = SnsNotificationVerifier(self.topic, fetch=lambda url: self.pem)
        app = create_app(services=replace(services, inbound_texts=verifier))
        answer = app.test_client().post("/webhooks/sms", data=self.body)
        return answer.status_code >= 300

    def expected(self) -> Expected:
        return Expected(
            self.number, sum(OWED), messages=Counter({("text-sms-stop", self.phone): 1})
        )


def signed_stop(topic: str, cert_url: str, phone: str) -> tuple[bytes, bytes]:
    """A throwaway signing certificate (PEM), and an SNS notification of a STOP signed
    with its key, as SNS delivers a text back."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    text = {"originationNumber": phone, "messageBody": "STOP", "inboundMessageId": "in-crash"}
    message = {
        "Type": "Notification",
        "MessageId": "sns-crash",
        "TopicArn": topic,
        "Message": json.dumps(text),
        "Timestamp": NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "SignatureVersion": "2",
        "SigningCertURL": cert_url,
    }
    fields = ("Message", "MessageId", "Timestamp", "TopicArn", "Type")
    signed = "".join(f"{n}\n{message[n]}\n" for n in fields).encode()
    signature = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    message["Signature"] = base64.b64encode(signature).decode()
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    return pem, json.dumps(message).encode()


class StaffPayLink:
    """Staff send a pay link from the account page (issue 22), by text or by e-mail: one
    request (the form's key) sends once and is audited once; a request held by a process
    that died is taken over once its claim is stale (staff send the form again)."""

    phone = "+15555550143"
    request_key = "req-crash-pay-link"

    def __init__(self, channel: str, number: str) -> None:
        self.channel, self.number = channel, number
        self.name = f"staff_pay_link_{channel}"

    def prepare(self, services: Services, stub: StripeStub) -> None:
        services.store.import_statement(
            account(self.number), statement(self.number, NOT_DUE), NOW - timedelta(days=2)
        )
        services.store.save_sms_consent(
            SmsConsent(self.number, self.phone, NOW - timedelta(days=30), "intake form")
        )

    def deliver(self, services: Services) -> bool:
        try:
            send_pay_link(services, "sam", self.number, self.channel, "10.0.0.9", self.request_key)
        except InvalidInput:
            return True  # staff see the error and send the form again later
        return False

    def expected(self) -> Expected:
        sent = ("text-pay-link", self.phone) if self.channel == "text" else ("statement", EMAIL)
        return Expected(
            self.number,
            sum(OWED),
            messages=Counter({sent: 1}),
            audited=Counter({("sam", AuditAction.SEND_PAY_LINK): 1}),
        )


class Refund:
    """Refunding: staff give back part of a posted card payment (through Stripe first)."""

    name = "refund"
    number, payment_id, cents, refund_cents = "510004", "pay_crash_refund", 4000, 1500

    def prepare(self, services: Services, stub: StripeStub) -> None:
        posted_at = NOW - timedelta(minutes=4)
        intent = card_payment_on_new_account(
            services, self.number, self.payment_id, self.cents, posted_at
        )
        stub.payment_intents[intent] = {
            "id": intent,
            "object": "payment_intent",
            "amount": self.cents,
            "amount_received": self.cents,
            "currency": "usd",
            "metadata": {"payment_id": self.payment_id},
            "status": "succeeded",
            "latest_charge": f"ch_{self.payment_id}",
        }

    def deliver(self, services: Services) -> bool:
        try:
            refund_payment(services, "sam", self.payment_id, "15.00", "req-crash")
        except InvalidInput:
            return True  # staff see the error and try again later
        return False

    def expected(self) -> Expected:
        return Expected(
            self.number,
            sum(OWED) - self.cents + self.refund_cents,
            paid={self.payment_id: self.cents},
            refunded={self.payment_id: self.refund_cents},
            messages=Counter({("refund", EMAIL): 1}),  # the patient is told, once
            audited=Counter({("sam", AuditAction.REFUND_PAYMENT): 1}),
        )


PLAN_OWED = (30_000,)  # $300.00: three installments of $100.00
TODAY_DAY = 28  # the practice's day of NOW (10:00 in New York on 2026-11-28)
GOOD_CARD = "4242424242424242"


def plan_with_card(services: Services, stub: StripeStub, number: str) -> str:
    """The patient's way through the processor's page: a schedule of three on the 28th
    (the first installment due today), agreed, a test card saved; the agreement's copy
    e-mailed. The plan's id."""
    services.store.import_statement(
        account(number), statement(number, NOT_DUE, PLAN_OWED), NOW - timedelta(days=2)
    )
    plan = agreed_plan(services, number)
    session_id = start_method_setup(services, plan).rsplit("/", 1)[1]
    stub.complete_setup(session_id, card=GOOD_CARD)
    finish_method_setup(services, plan.plan_id, session_id)
    return plan.plan_id


def agreed_plan(services: Services, number: str):
    viewer = Viewer.guarantor()
    proposal = propose(services, number, viewer, months="3", day=str(TODAY_DAY))
    assert proposal.installments[0].due_on == NOW.date(), proposal.installments[0]
    return agree(services, number, viewer, proposal, text_digest(proposal.text), "10.0.0.9")


class PlanCharge:
    """Charging: the daily plan run on the day a plan's first installment is due, with the
    saved card charged off-session through the processor (the same idempotency key on
    every try, so the processor makes one charge)."""

    name = "plan_charge"
    number, installment_cents = "510006", 10_000
    plan_id = ""

    def prepare(self, services: Services, stub: StripeStub) -> None:
        self.plan_id = plan_with_card(services, stub, self.number)

    def deliver(self, services: Services) -> bool:
        summary = run_plan_charges(services, services.clock.now())
        # A try held by a run that died is made again once its claim is stale.
        return bool(summary.skipped or summary.failed)

    def payment_id(self) -> str:
        """The portal payment of the first try of the first installment."""
        return payment_id_for(f"plan-{self.plan_id}-1-1")

    def expected(self) -> Expected:
        payment_id = self.payment_id()
        return Expected(
            self.number,
            sum(PLAN_OWED) - self.installment_cents,
            paid={payment_id: self.installment_cents},
            charged={payment_id: self.installment_cents},
            messages=Counter({("plan-agreement", EMAIL): 1, ("receipt", EMAIL): 1}),
        )


class PlanMethodSaved:
    """Setting up a plan: the patient is back from the processor's page, the saved card is
    kept on the plan and the agreement's copy e-mailed once."""

    name = "plan_method_saved"
    number = "510007"
    plan_id = session_id = ""

    def prepare(self, services: Services, stub: StripeStub) -> None:
        services.store.import_statement(
            account(self.number),
            statement(self.number, NOT_DUE, PLAN_OWED),
            NOW - timedelta(days=2),
        )
        plan = agreed_plan(services, self.number)
        self.plan_id = plan.plan_id
        self.session_id = start_method_setup(services, plan).rsplit("/", 1)[1]
        stub.complete_setup(self.session_id, card=GOOD_CARD)

    def deliver(self, services: Services) -> bool:
        # The patient's browser asks again when the page did not answer.
        saved = finish_method_setup(services, self.plan_id, self.session_id)
        assert saved.method is not None and saved.method.last4 == GOOD_CARD[-4:]
        return False

    def expected(self) -> Expected:
        return Expected(
            self.number,
            sum(PLAN_OWED),
            messages=Counter({("plan-agreement", EMAIL): 1}),
        )


class CaseResolved:
    """Answering a patient's question (issue 17): a correction posted, the case resolved
    (its audit entry in the same write) and the patient told there is a reply, each once."""

    name = "case_resolved"
    number, correction_cents = "510008", 1250
    asked_key, resolve_key = "e" * 32, "f" * 32

    @property
    def case_id(self) -> str:
        return new_case_id(self.number, self.asked_key)

    def prepare(self, services: Services, stub: StripeStub) -> None:
        services.store.import_statement(
            account(self.number), statement(self.number, NOT_DUE), NOW - timedelta(days=2)
        )
        ask_question(
            services,
            self.number,
            Viewer.guarantor(),
            f"S-{self.number}",
            "1",
            "charged_twice",
            "Was this visit billed twice?",
            self.asked_key,
        )

    def deliver(self, services: Services) -> bool:
        resolve_case(
            services,
            "sam",
            Role.SUPERVISOR,
            self.case_id,
            "correction",
            "We removed the duplicate line.",
            "12.50",
            "duplicate line",
            None,
            self.resolve_key,
            "10.0.0.9",
        )
        return False

    def expected(self) -> Expected:
        return Expected(
            self.number,
            sum(OWED) - self.correction_cents,
            messages=Counter({("case-update", EMAIL): 1}),
            audited=Counter({("sam", AuditAction.RESOLVE_CASE): 1}),
        )


class Remittance835:
    """An insurer's 835 remittance (issue 20): a secondary payer pays what the first line
    left to the patient; the payment is kept, posted and kept finished, each once."""

    name = "remittance"
    number = "510009"
    paid_cents = 4550

    def prepare(self, services: Services, stub: StripeStub) -> None:
        st = statement(self.number, NOT_DUE)
        claimed = replace(st.lines[0], claim_id=f"C-{self.number}")
        services.store.import_statement(
            account(self.number),
            replace(st, lines=(claimed, *st.lines[1:])),
            NOW - timedelta(days=2),
        )

    def text(self) -> str:
        served = line("1").service_date.strftime("%Y%m%d")
        body = [
            "ST*835*0001",
            "BPR*I*45.5*C*ACH*CCP*01*999999999*DA*123456*1999999999**01*999988880*DA*98765"
            "*20261201",
            "TRN*1*EFT-CRASH*1999999999",
            "DTM*405*20261201",
            "N1*PR*BLUE MEADOW MEDICAID",
            "N3*100 MAIN ST",
            "N4*ALBANY*NY*12207",
            "PER*BL*PROVIDER SERVICES*TE*5555550100",
            "N1*PE*DEMO FAMILY PRACTICE*XX*1234567893",
            "LX*1",
            f"CLP*C-{self.number}*2*200.5*45.5*0*MC*BM-1*11*1",
            "NM1*QC*1*CRASH*SAM****MI*W1",
            "SVC*HC:99213*200.5*45.5**1",
            f"DTM*472*{served}",
            "CAS*OA*23*155",
        ]
        body.append(f"SE*{len(body) + 1}*0001")
        isa = (
            "ISA*00*          *00*          *ZZ*BLUEMEADOW     *ZZ*DEMOPRACTICE   "
            "*261201*1200*^*00501*000000901*0*P*:"
        )
        segments = [isa, "GS*HP*BLUEMEADOW*DEMOPRACTICE*20261201*1200*901*X*005010X221A1"]
        return "~".join([*segments, *body, "GE*1*901", "IEA*1*000000901"]) + "~"

    def deliver(self, services: Services) -> bool:
        summary = import_remittances(services, self.text(), "crash")
        assert not summary.refused, summary.refusals
        return False

    def expected(self) -> Expected:
        return Expected(self.number, sum(OWED) - self.paid_cents)


class PayoutWebhook:
    """Keeping a card payout: Stripe's signed payout.paid, its lines listed (the payment's
    charge and fee), matched and kept once, reconciled."""

    name = "payout_webhook"
    number, payment_id, cents, fee = "510071", "pay_crash_payout", 4000, 146

    def prepare(self, services: Services, stub: StripeStub) -> None:
        posted_at = NOW - timedelta(days=3)
        intent = card_payment_on_new_account(
            services, self.number, self.payment_id, self.cents, posted_at
        )
        source = {"id": f"ch_{self.payment_id}", "object": "charge", "payment_intent": intent}
        line = {"type": "charge", "amount": self.cents, "fee": self.fee, "source": source}
        payout = stub.add_payout(date(2026, 11, 28), [line], "po_crash")
        self.envelope = event("payout.paid", payout, event_id="evt_crash_payout")

    def deliver(self, services: Services) -> bool:
        body = json.dumps(self.envelope).encode()
        headers = {
            "Stripe-Signature": sign(body, WEBHOOK_SECRET),
            "Content-Type": "application/json",
        }
        answer = (
            create_app(services=services)
            .test_client()
            .post("/webhooks/stripe", data=body, headers=headers)
        )
        return answer.status_code >= 300

    def expected(self) -> Expected:
        return Expected(
            self.number,
            sum(OWED) - self.cents,
            paid={self.payment_id: self.cents},
            payouts={"po_crash": (True, self.fee, {self.payment_id: self.fee})},
        )


class SandboxPayouts:
    """The sandbox's daily payouts (`portal payouts sandbox`): two days' card payments, one
    payout each, kept reconciled once."""

    name = "sandbox_payouts"
    number = "510072"
    paid = (("pay_crash_sbx_1", 4000, 4), ("pay_crash_sbx_2", 1999, 3))  # id, cents, days ago

    def prepare(self, services: Services, stub: StripeStub) -> None:
        store = services.store
        store.import_statement(
            account(self.number), statement(self.number, NOT_DUE), NOW - timedelta(days=5)
        )
        for payment_id, cents, days in self.paid:
            at = NOW - timedelta(days=days)
            payment = replace(card_payment(self.number, payment_id, cents), gateway="sandbox")
            store.create_payment(replace(payment, created_at=at))
            posting.post_payment(store, payment_id, f"sbx_{payment_id}", cents, at)

    def deliver(self, services: Services) -> bool:
        sandbox = SandboxGateway(services.settings.secret_key, services.settings.base_url)
        sandbox_payouts(
            replace(services, payments=sandbox), practice_date(NOW, services.settings.tz)
        )
        return False

    def expected(self) -> Expected:
        payouts = {}
        for payment_id, cents, days in self.paid:
            day = practice_date(NOW - timedelta(days=days), ZoneInfo("America/New_York"))
            fee = simulated_fee(cents)
            payouts[f"po_sandbox_{day:%Y%m%d}"] = (True, fee, {payment_id: fee})
        return Expected(self.number, sum(OWED) - sum(c for _, c, _ in self.paid), payouts=payouts)


SCENARIOS = {
    s.name: s
    for s in (
        CardWebhook(),
        CardWebhookPostedBefore(),
        StatementNotice(),
        ImportBatch(),
        Reminder(),
        ReminderBatch(),
        TextReminder(),
        TextBackStop(),
        StaffPayLink("text", "510043"),
        StaffPayLink("email", "510053"),
        Refund(),
        PlanCharge(),
        PlanMethodSaved(),
        CaseResolved(),
        Remittance835(),
        PayoutWebhook(),
        SandboxPayouts(),
    )
}
