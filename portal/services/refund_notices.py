"""The patient's e-mail about a refund (kind `refund`), once per refund.

The notice is claimed before its refund is posted (key: the refund's id), so a crash
between the posting and the e-mail leaves a claim the sweep finishes: sent once the refund
is in the ledger, dropped if it never got there.
"""

import logging
import re
from datetime import date

from portal.domain.account_book import KeyKind
from portal.domain.catalog import N_
from portal.domain.payments import Payment
from portal.ports.claims import Claim
from portal.ports.mail import OutgoingMessage, Wording
from portal.services.accounts import account_view
from portal.services.claims import Finish, claim_payload, payload_fields, stale_before
from portal.services.context import Services
from portal.services.notices import Delivery, send_claimed, wording_for
from portal.services.receipts import RECENT_EVENTS

log = logging.getLogger(__name__)

REFUND_NOTICE_CLAIM = "refund"
# How the money went back, in the words refunds.py and payments.py keep in the claim.
HOW_PHRASES = (N_("to the card or bank account you paid with"), N_("by check"))
_CHECK_NUMBER = re.compile(r"by check number (?P<number>.+)")


def how_words(words: Wording, how: str) -> str:
    """The claim's `how` in the guarantor's language (a phrase the catalog does not
    know stays as it was written)."""
    match = _CHECK_NUMBER.fullmatch(how)
    if match:
        return words.gettext("by check number %(number)s") % {"number": match["number"]}
    return words.gettext(how) if how else how


def claim_refund_notice(
    services: Services, payment: Payment, refund_id: str, cents: int, how: str
) -> bool:
    """Claim the notice of a refund about to be posted; False when it was claimed (or
    sent) before: its sender, or the sweep, tells the patient."""
    now = services.clock.now()
    return services.store.claim(
        REFUND_NOTICE_CLAIM,
        refund_id,
        now,
        stale_before(now),
        claim_payload(payment_id=payment.payment_id, cents=cents, how=how),
    )


def send_refund_notice(
    services: Services, payment_id: str, refund_id: str, cents: int, how: str
) -> None:
    """Send the claimed notice of a posted refund (the claim is closed: sent, or dropped
    when there is nothing to tell); never raises: a failed send is the sweep's."""
    try:
        payment = services.store.get_payment(payment_id)
        message = refund_message(services, payment_id, refund_id, cents, how)
        if payment is None or message is None:
            services.store.drop_claim(REFUND_NOTICE_CLAIM, refund_id)
            return
        send_claimed(services, REFUND_NOTICE_CLAIM, refund_id, message, payment.account_number)
    except Exception:
        log.exception("refund %s: the notice was not sent", refund_id)


def refund_message(
    services: Services, payment_id: str, refund_id: str, cents: int, how: str
) -> OutgoingMessage | None:
    """The notice of a posted refund; None without an address, or when the refund is not
    in the ledger."""
    payment = services.store.get_payment(payment_id)
    if payment is None:
        return None
    book = services.store.load_book(payment.account_number, [(KeyKind.REFUND, refund_id)])
    if book.owners.get((KeyKind.REFUND, refund_id)) != payment_id:
        return None
    view = account_view(services, payment.account_number)
    to = view.account.guarantor.email
    if not to or cents <= 0:
        return None
    settings = services.settings
    words = wording_for(services, view.account)
    text, html = services.emails.render(
        "refund",
        words.language,
        practice_name=settings.practice_name,
        first_name=view.account.guarantor.first_name,
        refund_cents=cents,
        amount_cents=payment.amount_cents,
        refunded_cents=payment.refunded_cents,
        payment_id=payment.payment_id,
        how=how_words(words, how),
        due_cents=view.due_cents,
        credit_cents=view.credit_cents,
        events=view.timeline[:RECENT_EVENTS],
        link=f"{settings.base_url}/payments/{payment.payment_id}",
    )
    subject = words.gettext("Your refund from %(practice)s") % {"practice": settings.practice_name}
    return OutgoingMessage(kind="refund", to=to, subject=subject, text=text, html=html)


def finish_refund_notice(services: Services, claim: Claim, today: date) -> Finish:
    """The sweep's: send the notice of a refund that was posted; drop one never posted."""
    fields = payload_fields(claim.payload)
    payment_id, how = str(fields.get("payment_id", "")), str(fields.get("how", ""))
    cents = fields.get("cents")
    now = services.clock.now()
    if not services.store.claim(claim.kind, claim.key, now, stale_before(now)):
        return Finish.LEFT
    message = refund_message(
        services, payment_id, claim.key, cents if isinstance(cents, int) else 0, how
    )
    if message is None:
        services.store.drop_claim(claim.kind, claim.key)
        return Finish.DROPPED
    payment = services.store.get_payment(payment_id)
    assert payment is not None  # refund_message found it
    outcome = send_claimed(services, claim.kind, claim.key, message, payment.account_number)
    return Finish.LEFT if outcome is Delivery.FAILED else Finish.DONE
