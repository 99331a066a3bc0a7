"""Every e-mail kind with a realistic context, in each of its branches (one day past due
and many; a try to confirm and a declined one, with and without a retry; a credit; a part
refund): what the catalog tests render in every language.

`DATA` lists the values the contexts carry (names, numbers, links): what a test strips
before it looks for words."""

from datetime import UTC, date, datetime

from portal.domain.ledger import EntryKind, LedgerEntry
from portal.domain.timeline import money_timeline

COMMON = {
    "practice_name": "Springfield Family Medicine",
    "mail_from": "billing@springfield.example",
    "pay_link": "http://portal.test/pay",
}


def _entry(n: int, kind: EntryKind, cents: int, statement_id=None, payment_id=None, hour=0):
    at = datetime(2026, 11, 20, 12 + hour, tzinfo=UTC)
    return LedgerEntry("100234", kind, cents, at, statement_id, payment_id, "", n)


def sample_events():
    """An account's activity with every kind of event the e-mails list."""
    entries = [
        _entry(1, EntryKind.CHARGE, 18500, "S-2026-000123"),
        _entry(2, EntryKind.INSURANCE_PAYMENT, -12000, "S-2026-000123"),
        _entry(3, EntryKind.ADJUSTMENT, -3500, "S-2026-000123"),
        _entry(4, EntryKind.PATIENT_PAYMENT, -2000, "S-2026-000123", "pay_1", 1),
        _entry(5, EntryKind.REFUND, 500, "S-2026-000123", "pay_1", 2),
        _entry(6, EntryKind.WRITE_OFF, -310, "S-2026-000123", None, 3),
        _entry(7, EntryKind.ADJUSTMENT, 200, "S-2026-000123", None, 4),
        _entry(8, EntryKind.INSURANCE_PAYMENT, -100, "S-2026-000123", None, 5),
        _entry(9, EntryKind.REVERSAL, 2000, "S-2026-000123", "pay_1", 6),
        _entry(10, EntryKind.CHARGE, 700, "S-2026-000123", None, 7),
        _entry(11, EntryKind.TRANSFER, 700, None, None, 8),
        _entry(12, EntryKind.TRANSFER, -700, "S-2026-000124", None, 8),
    ]
    return money_timeline(entries)


def samples() -> list[tuple[str, dict]]:
    """(kind or template, context) for every e-mail and each of its branches."""
    events = sample_events()
    out: list[tuple[str, dict]] = []
    for days in (1, 12):
        reminder = {
            "first_name": "Maria",
            "statement_id": "S-2026-000123",
            "due_cents": 123456,
            "due_date": date(2026, 11, 30),
            "days_past_due": days,
            "opt_out_link": "http://portal.test/reminders/stop/tok-abc",
        }
        out.append(("reminder", reminder))
        out.append(("final-notice", reminder))
        out.append(
            (
                "escalation",
                {
                    "account_number": "100234",
                    "statement_id": "S-2026-000123",
                    "due_cents": 123456,
                    "days_past_due": days,
                    "staff_link": "http://portal.test/staff/accounts/100234",
                },
            )
        )
    for due, account_due, corrected in (
        (3000, 3000, False),
        (3000, 9000, False),
        (0, 0, False),
        (2000, 2000, True),
    ):
        out.append(
            (
                "statement",
                {
                    "first_name": "Maria",
                    "statement_id": "S-2026-000123",
                    "statement_date": date(2026, 11, 1),
                    "due_date": date(2026, 11, 30),
                    "due_cents": due,
                    "account_due_cents": account_due,
                    "corrected": corrected,
                },
            )
        )
    for credit, applied in ((0, [("S-2026-000123", 3000)]), (500, [("", 500)])):
        out.append(
            (
                "receipt",
                {
                    "first_name": "Maria",
                    "amount_cents": 3500,
                    "paid_on": date(2026, 11, 28),
                    "payment_id": "pay_123abc",
                    "account_hint": "0234",
                    "applied": applied,
                    "due_cents": 0,
                    "credit_cents": credit,
                    "events": events,
                    "link": "http://portal.test/payments/pay_123abc",
                },
            )
        )
    for refunded, credit in ((1000, 0), (3500, 700)):
        out.append(
            (
                "refund",
                {
                    "first_name": "Maria",
                    "refund_cents": 1000,
                    "amount_cents": 3500,
                    "refunded_cents": refunded,
                    "payment_id": "pay_123abc",
                    "how": "HOW-WORDS",
                    "due_cents": 2500,
                    "credit_cents": credit,
                    "events": events,
                    "link": "http://portal.test/payments/pay_123abc",
                },
            )
        )
    plan = {"first_name": "Maria", "account_number": "100234", "method_label": "METHOD-LABEL"}
    out.append(
        (
            "plan-agreement",
            {
                **plan,
                "text": "AUTHORIZATION-TEXT line one\nline two",
                "version": "plan-2026-12",
                "agreed_on": "AGREED-ON",
            },
        )
    )
    for changed in (False, True):
        out.append(
            (
                "plan-upcoming",
                {
                    **plan,
                    "amount_cents": 10000,
                    "charge_on": "CHARGE-ON",
                    "position": 2,
                    "count": 6,
                    "changed": changed,
                    "plan_link": "http://portal.test/plans/plan_1",
                },
            )
        )
    for reason, retry in (("authenticate", ""), ("declined", "RETRY-ON"), ("declined", "")):
        out.append(
            (
                "plan-failed",
                {
                    **plan,
                    "reason": reason,
                    "reason_text": "",
                    "amount_cents": 10000,
                    "position": 2,
                    "tried_on": "TRIED-ON",
                    "retry_on": retry,
                    "pay_by": "PAY-BY",
                    "pay_installment_link": "http://portal.test/plans/plan_1/installments/2/pay",
                    "plan_link": "http://portal.test/plans/plan_1",
                },
            )
        )
    out.append(("plan-defaulted", {**plan, "due_cents": 40000}))
    out.append(
        ("plan-link", {"first_name": "Maria", "account_number": "100234", "due_cents": 60000})
    )
    out.append(
        (
            "pay-link",
            {
                "first_name": "Maria",
                "link": "http://portal.test/pay/WyIxMDAyMzQiLDk4ODld.sig",
                "last_day": "December 28, 2026",
            },
        )
    )
    for resolved in (False, True):
        out.append(
            (
                "case-update",
                {
                    "first_name": "Maria",
                    "resolved": resolved,
                    "link": "http://portal.test/account#cases",
                },
            )
        )
    return [(kind, {**COMMON, **context}) for kind, context in out]


KINDS = (
    "case-update",
    "escalation",
    "final-notice",
    "plan-agreement",
    "plan-defaulted",
    "plan-failed",
    "plan-link",
    "plan-upcoming",
    "pay-link",
    "receipt",
    "refund",
    "reminder",
    "statement",
)
