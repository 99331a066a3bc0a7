"""A pay link sent by staff from the account page, by text or e-mail (issue 22): audited,
and at most PAY_LINKS_PER_DAY an account a practice day, counted with claims (one per
slot), so two clicks at once cannot pass the limit. Each request (the form it came from)
sends once: its own claim closes with the send's log line and audit entry in one write."""

import secrets
from datetime import date
from enum import StrEnum

from portal.domain.accounts import Account
from portal.domain.aging import practice_date
from portal.domain.errors import InvalidInput
from portal.domain.staff import AuditAction, AuditEntry
from portal.ports.claims import Claim
from portal.ports.mail import OutgoingMessage
from portal.ports.sms import OutgoingText
from portal.services.claims import Finish, stale_before
from portal.services.context import Services
from portal.services.errors import NotFound
from portal.services.notices import Delivery, _message, attempt, wording_for
from portal.services.pay_links import pay_link, pay_link_last_day
from portal.services.texting import active_consent, attempt_text, may_text_now, pay_link_text

PAY_LINK_CLAIM = "pay-link"  # one of the day's slots
PAY_LINK_REQUEST_CLAIM = "pay-link-request"  # one staff request
PAY_LINKS_PER_DAY = 3


class Channel(StrEnum):
    TEXT = "text"
    EMAIL = "email"


def send_pay_link(
    services: Services,
    actor: str,
    account_number: str,
    channel: str,
    address: str,
    request_key: str = "",
) -> str:
    """Send the guarantor a pay link by `channel`, once per `request_key` (the same request
    again sends nothing more); where it went. InvalidInput (nothing sent) when the channel
    cannot take it now, the day's links are used up, or the same request is being sent."""
    store = services.store
    account = store.get_account(account_number)
    if account is None:
        raise NotFound(account_number)
    if channel not in (Channel.TEXT, Channel.EMAIL):
        raise InvalidInput("channel", "Choose text or e-mail.")
    outgoing = _outgoing(services, account, Channel(channel))
    destination = outgoing.to
    now = services.clock.now()
    request = f"{account_number}:{channel}:{request_key[:64] or secrets.token_hex(16)}"
    if not store.claim(PAY_LINK_REQUEST_CLAIM, request, now, stale_before(now)):
        if store.claim_completed(PAY_LINK_REQUEST_CLAIM, request):
            return destination
        raise InvalidInput(
            "channel",
            "This pay link is being sent right now: look at the account again in a few "
            "minutes before sending another.",
        )
    try:
        slot = _take_slot(services, account_number)
    except InvalidInput:
        store.drop_claim(PAY_LINK_REQUEST_CLAIM, request)
        raise
    if isinstance(outgoing, OutgoingText):
        delivery, record = attempt_text(services, outgoing, account_number)
    else:
        delivery, record = attempt(services, outgoing, account_number)
    entry = AuditEntry(
        services.clock.now(),
        actor,
        AuditAction.SEND_PAY_LINK,
        account_number,
        f"{channel} {destination}",
        address,
    )
    if delivery is not Delivery.SENT:
        store.append_audit(entry)
        store.record_mail(record)
        store.drop_claim(PAY_LINK_CLAIM, slot)  # the slot is free again
        store.drop_claim(PAY_LINK_REQUEST_CLAIM, request)
        raise InvalidInput(
            "channel", f"The pay link was not sent: {record.detail or delivery.value}."
        )
    # Whether it went is kept with the request's claim (a replay sees it), then the slot.
    store.complete_claim(PAY_LINK_REQUEST_CLAIM, request, services.clock.now(), record, entry)
    store.complete_claim(PAY_LINK_CLAIM, slot, services.clock.now())
    return destination


def _outgoing(
    services: Services, account: Account, channel: Channel
) -> OutgoingText | OutgoingMessage:
    number = account.account_number
    link = pay_link(services, number)
    if channel is Channel.TEXT:
        consent = active_consent(services, number)
        if consent is None:
            raise InvalidInput(
                "channel",
                "The guarantor has not agreed to texts (or texted STOP): send the link by "
                "e-mail, or ask them to turn on texts on their account page.",
            )
        if not may_text_now(services, consent):
            raise InvalidInput(
                "channel",
                "Texts go only from 8 a.m. to 9 p.m. where the patient is, and not on days "
                "the practice is closed: send the link by e-mail, or by text later.",
            )
        return OutgoingText(
            "pay-link", consent.phone, pay_link_text(services, account, link), {"account": number}
        )
    if not account.guarantor.email:
        raise InvalidInput("channel", "The account has no e-mail address: send the link by text.")
    words = wording_for(services, account)
    return _message(
        services,
        "statement",
        account.guarantor.email,
        words.gettext("Your statement from %(practice)s is ready")
        % {"practice": services.settings.practice_name},
        template="pay-link",
        language=words.language,
        first_name=account.guarantor.first_name,
        link=link,
        last_day=words.long_date(pay_link_last_day(services)),
    )


def _take_slot(services: Services, account_number: str) -> str:
    now = services.clock.now()
    today = practice_date(now, services.settings.tz)
    for slot in range(1, PAY_LINKS_PER_DAY + 1):
        key = f"{account_number}:{today.isoformat()}:{slot}"
        if services.store.claim(PAY_LINK_CLAIM, key, now):
            return key
    raise InvalidInput(
        "channel",
        f"At most {PAY_LINKS_PER_DAY} pay links a day go to an account, and "
        f"{PAY_LINKS_PER_DAY} went to {account_number} today: try again tomorrow.",
    )


def finish_pay_link_claim(services: Services, claim: Claim, today: date) -> Finish:
    """A staff pay link whose sender died is not sent again (staff saw no confirmation and
    may send another): its request's claim and its slot are dropped."""
    now = services.clock.now()
    if not services.store.claim(claim.kind, claim.key, now, stale_before(now)):
        return Finish.LEFT
    services.store.drop_claim(claim.kind, claim.key)
    return Finish.DROPPED
