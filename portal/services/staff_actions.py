"""What billing staff change on an account: manual payments, reversals, notes.

Each action checks its input, changes the store in one step, and writes the audit log.
"""

import hashlib
import re
import uuid
from datetime import date

from portal.domain.aging import practice_date
from portal.domain.errors import InvalidInput
from portal.domain.ledger import EntryKind, LedgerEntry
from portal.domain.money import format_cents, parse_amount
from portal.domain.payments import MANUAL_METHODS, Payment, PaymentStatus
from portal.domain.staff import (
    AuditAction,
    AuditEntry,
    Escalation,
    EscalationKind,
    Note,
    check_promise_date,
)
from portal.ports.ledger import PostingResult
from portal.services import ledger
from portal.services.audit import audit
from portal.services.context import Services
from portal.services.errors import NotFound
from portal.services.notices import Delivery, deliver
from portal.services.receipts import receipt_message, send_receipt

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
        if (existing.amount_cents, existing.method, existing.method_detail) != (
            amount_cents,
            method,
            payment.method_detail,
        ):
            raise InvalidInput(
                "amount",
                f"This form already posted {format_cents(existing.amount_cents)} "
                f"({MANUAL_METHODS[existing.method].lower()}); reload the page to post another.",
            )
    result = ledger.post_payment(
        services.store, payment_id, f"manual:{payment_id}", amount_cents, now
    )
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
    result = ledger.reverse_payment(services.store, payment_id, reason[:200], services.clock.now())
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
    check_promise_date(promise_to_pay_on, practice_date(services.clock.now(), services.settings.tz))
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


ADJUSTMENT_KINDS = {"adjustment": EntryKind.ADJUSTMENT, "write_off": EntryKind.WRITE_OFF}


def post_adjustment(
    services: Services,
    actor: str,
    account_number: str,
    statement_id: str,
    kind: str,
    amount_text: str,
    reason: str,
    address: str,
) -> LedgerEntry:
    """Lower a statement's balance: a contractual adjustment or a write-off (bad debt,
    charity, small balance). A supervisor's action; the reason is kept in the ledger memo."""
    if kind not in ADJUSTMENT_KINDS:
        raise InvalidInput("kind", "Choose an adjustment or a write-off.")
    amount_cents = parse_amount(amount_text)
    if amount_cents <= 0:
        raise InvalidInput("amount", "The amount must be more than $0.00.")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("reason", "Give the reason for the adjustment or write-off.")
    try:
        entry = ledger.post_adjustment(
            services.store,
            account_number,
            statement_id,
            ADJUSTMENT_KINDS[kind],
            amount_cents,
            reason[:200],
            services.clock.now(),
        )
    except KeyError:
        raise InvalidInput("statement_id", "Choose a statement of this account.") from None
    except ValueError as exc:
        raise InvalidInput("amount", str(exc)) from None
    audit(services, actor, AuditAction.POST_ADJUSTMENT, account_number, statement_id, address)
    return entry


def resend_receipt(services: Services, actor: str, payment_id: str, address: str) -> str:
    """Send a posted payment's receipt again (the patient lost it); returns the address."""
    payment = services.store.get_payment(payment_id)
    if payment is None:
        raise NotFound(payment_id)
    if payment.posted_at is None:
        raise InvalidInput("payment", "Only a posted payment has a receipt.")
    if payment.status is PaymentStatus.REVERSED:
        raise InvalidInput("payment", "This payment was reversed; it has no receipt to resend.")
    message = receipt_message(services, payment)
    if message is None:
        raise InvalidInput("payment", "The account has no e-mail address.")
    audit(services, actor, AuditAction.RESEND_RECEIPT, payment.account_number, payment_id, address)
    outcome = deliver(services, message, payment.account_number)
    if outcome is Delivery.REFUSED:
        raise InvalidInput("payment", "The mail server refused the receipt; see the mail log.")
    if outcome is Delivery.FAILED:
        raise InvalidInput("payment", "The receipt could not be sent just now; try again later.")
    return message.to


def open_escalation(
    services: Services,
    actor: str,
    account_number: str,
    kind: EscalationKind,
    reason: str,
    address: str = "",
    key: str | None = None,
) -> Escalation | None:
    """Put the account in the queue; None when the same matter is already open."""
    if services.store.get_account(account_number) is None:
        raise NotFound(account_number)
    item, entry = new_escalation(services, actor, account_number, kind, reason, address, key)
    return services.store.open_escalation(item, entry)


def new_escalation(
    services: Services,
    actor: str,
    account_number: str,
    kind: EscalationKind,
    reason: str,
    address: str = "",
    key: str | None = None,
) -> tuple[Escalation, AuditEntry]:
    """The queue item `open_escalation` opens and the audit entry of its opening, for an
    account known to exist (the reminder run opens its batch's together)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("reason", "Say what needs a supervisor's attention.")
    now = services.clock.now()
    return (
        Escalation(
            key=key or _escalation_key(kind, account_number),
            account_number=account_number,
            kind=kind,
            reason=reason[:500],
            opened_at=now,
            opened_by=actor,
        ),
        AuditEntry(now, actor, AuditAction.OPEN_ESCALATION, account_number, kind.value, address),
    )


def _escalation_key(kind: EscalationKind, account_number: str) -> str:
    """A dispute is open at most once per account; other matters can be raised again."""
    if kind is EscalationKind.DISPUTE:
        return f"dispute:{account_number}"
    return f"{kind.value}:{account_number}:{uuid.uuid4().hex}"


def update_escalation(
    services: Services,
    actor: str,
    escalation_id: int,
    owner: str,
    promise_to_pay_on: date | None,
    address: str,
) -> Escalation:
    item = _open_item(services, escalation_id)
    check_promise_date(promise_to_pay_on, practice_date(services.clock.now(), services.settings.tz))
    owner = (owner or "").strip().lower()
    if owner and services.store.get_staff_user(owner) is None:
        raise InvalidInput("owner", f"There is no staff user {owner!r}.")
    updated = services.store.update_escalation(escalation_id, owner, promise_to_pay_on)
    audit(
        services,
        actor,
        AuditAction.UPDATE_ESCALATION,
        item.account_number,
        f"#{escalation_id} owner={owner or '-'} promise={promise_to_pay_on or '-'}",
        address,
    )
    return updated


def resolve_escalation(
    services: Services, actor: str, escalation_id: int, resolution: str, address: str
) -> Escalation:
    item = _open_item(services, escalation_id)
    resolution = (resolution or "").strip()
    if not resolution:
        raise InvalidInput("resolution", "Say how it was resolved.")
    resolved = services.store.resolve_escalation(
        escalation_id, actor, resolution[:500], services.clock.now()
    )
    audit(
        services,
        actor,
        AuditAction.RESOLVE_ESCALATION,
        item.account_number,
        f"#{escalation_id}",
        address,
    )
    return resolved


def _open_item(services: Services, escalation_id: int) -> Escalation:
    item = services.store.get_escalation(escalation_id)
    if item is None:
        raise NotFound(str(escalation_id))
    if not item.is_open:
        raise InvalidInput("escalation", "This item is already resolved.")
    return item
