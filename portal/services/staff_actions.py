"""What billing staff change on an account: manual payments, reversals, notes.

Each action checks its input, changes the store in one step, and writes the audit log.
"""

import hashlib
import re
from datetime import date

from portal.adapters.store import PostingResult
from portal.bootstrap import Services
from portal.domain.errors import InvalidInput
from portal.domain.money import parse_amount
from portal.domain.payments import MANUAL_METHODS, Payment, PaymentStatus
from portal.domain.staff import AuditAction, Note
from portal.services.audit import audit
from portal.services.errors import NotFound
from portal.services.receipts import send_receipt

_REQUEST_KEY = re.compile(r"[0-9a-f]{32}")
_CHECK_NUMBER = re.compile(r"[0-9A-Za-z-]{1,20}")
MAX_MANUAL_PAYMENT_CENTS = 10_000_000  # $100,000.00: anything larger is a typing slip


def post_manual_payment(
    services: Services,
    actor: str,
    account_number: str,
    method: str,
    amount_text: str,
    check_number: str,
    request_key: str,
    address: str,
) -> PostingResult:
    """Post a check, cash or desk-card payment, oldest statement first.

    `request_key` comes from the form, so submitting the same form twice posts once.
    """
    if services.store.get_account(account_number) is None:
        raise NotFound(account_number)
    if method not in MANUAL_METHODS:
        raise InvalidInput("method", "Choose check, cash or card at the desk.")
    amount_cents = parse_amount(amount_text)
    if amount_cents <= 0:
        raise InvalidInput("amount", "The amount must be more than $0.00.")
    if amount_cents > MAX_MANUAL_PAYMENT_CENTS:
        raise InvalidInput("amount", "The amount is over $100,000.00; check it.")
    check_number = (check_number or "").strip()
    if method == "check" and not _CHECK_NUMBER.fullmatch(check_number):
        raise InvalidInput("check_number", "Enter the check number (letters, digits, dashes).")
    if not _REQUEST_KEY.fullmatch(request_key or ""):
        raise InvalidInput("request_key", "The form is out of date; reload the page.")

    now = services.clock.now()
    payment_id = "pay_" + hashlib.sha256(request_key.encode()).hexdigest()[:24]
    payment = Payment(
        payment_id=payment_id,
        account_number=account_number,
        amount_cents=amount_cents,
        status=PaymentStatus.PENDING,
        method=method,
        gateway="manual",
        created_at=now,
        method_detail=check_number if method == "check" else "",
    )
    if not services.store.create_payment(payment):
        existing = services.store.get_payment(payment_id)
        if existing is None or existing.account_number != account_number:
            raise InvalidInput("request_key", "The form is out of date; reload the page.")
    result = services.store.post_payment(payment_id, f"manual:{payment_id}", amount_cents, now)
    if result.posted:
        audit(services, actor, AuditAction.POST_PAYMENT, account_number, payment_id, address)
        send_receipt(services, payment_id)
    return result


def reverse_manual_payment(
    services: Services, actor: str, payment_id: str, reason: str, address: str
) -> PostingResult:
    """Undo a mistaken manual posting with reversal entries (never an edit)."""
    payment = services.store.get_payment(payment_id)
    if payment is None:
        raise NotFound(payment_id)
    if payment.gateway != "manual":
        raise InvalidInput("payment", "Card payments are given back with a refund, not reversed.")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("reason", "Say why the payment is reversed.")
    if payment.status not in (PaymentStatus.SUCCEEDED, PaymentStatus.REVERSED):
        raise InvalidInput("payment", f"A {payment.status} payment cannot be reversed.")
    result = services.store.reverse_payment(payment_id, reason[:200], services.clock.now())
    if result.posted:
        audit(
            services,
            actor,
            AuditAction.REVERSE_PAYMENT,
            payment.account_number,
            payment_id,
            address,
        )
    return result


def add_note(
    services: Services,
    actor: str,
    account_number: str,
    text: str,
    promise_to_pay_on: date | None,
    address: str,
) -> Note:
    if services.store.get_account(account_number) is None:
        raise NotFound(account_number)
    text = (text or "").strip()
    if not text:
        raise InvalidInput("text", "Write the note.")
    if len(text) > 2000:
        raise InvalidInput("text", "Keep the note under 2,000 characters.")
    today = services.clock.now().astimezone(services.settings.tz).date()
    if promise_to_pay_on is not None and promise_to_pay_on < today:
        raise InvalidInput("promise_to_pay_on", "A promise-to-pay date cannot be in the past.")
    note = Note(
        account_number=account_number,
        author=actor,
        text=text,
        created_at=services.clock.now(),
        promise_to_pay_on=promise_to_pay_on,
    )
    services.store.add_note(note)
    audit(services, actor, AuditAction.ADD_NOTE, account_number, address=address)
    return note
