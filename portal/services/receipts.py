"""The receipt e-mail: sent once per posted payment, with no health information in it."""

import logging

from portal.domain.account_book import AccountBook
from portal.domain.aging import practice_date
from portal.domain.payments import Payment
from portal.ports.claims import ClaimMark
from portal.ports.ledger import AccountRecords, PostingResult
from portal.ports.mail import OutgoingMessage
from portal.services.accounts import AccountView, account_view, view_of
from portal.services.claims import claim_payload
from portal.services.context import Services
from portal.services.notices import Delivery, send_claimed, send_once, wording_for

log = logging.getLogger(__name__)
RECENT_EVENTS = 5  # the account's latest money events, in plain words, in the receipt
RECEIPT_CLAIM = "receipt"


def send_receipt(services: Services, payment_id: str) -> bool:
    """Send the receipt unless it was sent (or claimed) before; True when sent now."""
    return receipt_delivery(services, payment_id) is Delivery.SENT


def receipt_delivery(services: Services, payment_id: str) -> Delivery | None:
    """Send the receipt unless it was sent (or claimed) before: what came of it; None when
    there is nothing to send or its claim is held (or was sent) by another."""
    store = services.store
    payment = store.get_payment(payment_id)
    if payment is None or payment.posted_at is None:
        return None
    message = receipt_message(services, payment)
    if message is None:
        return None
    # Claimed once per payment; a failed send leaves the claim unfinished for a retry or the
    # daily sweep (the payment is posted whatever happens to its e-mail), a refused address
    # is noted for staff.
    outcome = send_once(
        services,
        RECEIPT_CLAIM,
        payment_id,
        message,
        payment.account_number,
        payload=claim_payload(payment_id=payment_id),
    )
    return outcome


def receipt_mark(book: AccountBook, payment_id: str) -> ClaimMark | None:
    """The receipt's claim, written held with the payment's posting (one write: a crash
    before the receipt is sent leaves it to the next delivery or the sweep); None when the
    account has no address to send it to."""
    if book.account is None or not book.account.guarantor.email:
        return None
    return ClaimMark(RECEIPT_CLAIM, payment_id, claim_payload(payment_id=payment_id))


def send_posted_receipt(services: Services, posting: PostingResult) -> Delivery | None:
    """Send the receipt of a payment posted just now, whose claim the posting wrote (held
    by this process), built from the book the posting left (nothing read again); None
    when no receipt is owed."""
    book, payment = posting.book, posting.payment
    if not posting.posted or book is None or book.account is None:
        return None
    if receipt_mark(book, payment.payment_id) is None:
        return None
    records = AccountRecords(book.account, book.statements, book.entries, (payment,))
    today = practice_date(services.clock.now(), services.settings.tz)
    message = receipt_message(services, payment, view_of(records, today))
    if message is None:
        return None
    return send_claimed(
        services, RECEIPT_CLAIM, payment.payment_id, message, payment.account_number
    )


def receipt_unsent(services: Services, payment_id: str) -> bool:
    """True when the payment is posted, its account has an address and its receipt is not
    marked sent (never claimed, failed, or still being sent by another request)."""
    payment = services.store.get_payment(payment_id)
    if payment is None or payment.posted_at is None:
        return False
    account = services.store.get_account(payment.account_number)
    if account is None or not account.guarantor.email:
        return False
    return not services.store.claim_completed(RECEIPT_CLAIM, payment_id)


def receipt_message(
    services: Services, payment: Payment, view: AccountView | None = None
) -> OutgoingMessage | None:
    """The receipt for a posted payment, or None when the account has no e-mail address.
    `view`: the account as it stands with the payment posted (read when not given)."""
    settings = services.settings
    view = view or account_view(services, payment.account_number)
    to = view.account.guarantor.email
    if not to or payment.posted_at is None:
        log.info("payment %s: no e-mail address on the account, no receipt", payment.payment_id)
        return None
    words = wording_for(services, view.account)
    text, html = services.emails.render(
        "receipt",
        words.language,
        practice_name=settings.practice_name,
        first_name=view.account.guarantor.first_name,
        amount_cents=payment.amount_cents,
        paid_on=practice_date(payment.posted_at, settings.tz),
        payment_id=payment.payment_id,
        account_hint=payment.account_number[-4:],
        applied=view.applied_to(payment.payment_id),
        due_cents=view.due_cents,
        credit_cents=view.credit_cents,
        events=view.timeline[:RECENT_EVENTS],
        link=f"{settings.base_url}/payments/{payment.payment_id}",
    )
    return OutgoingMessage(
        kind="receipt",
        to=to,
        subject=words.gettext("Your payment to %(practice)s - receipt")
        % {"practice": settings.practice_name},
        text=text,
        html=html,
    )
