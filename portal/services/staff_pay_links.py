"""A pay link sent by staff from the account page, by text or e-mail (issue 22): audited,
and at most PAY_LINKS_PER_DAY an account a practice day, counted with claims (one per
slot), so two clicks at once cannot pass the limit."""

from datetime import date
from enum import StrEnum

from portal.domain.accounts import Account
from portal.domain.aging import practice_date
from portal.domain.errors import InvalidInput
from portal.domain.staff import AuditAction
from portal.ports.claims import Claim
from portal.ports.mail import OutgoingMessage
from portal.ports.sms import OutgoingText
from portal.services.audit import audit
from portal.services.claims import Finish, stale_before
from portal.services.context import Services
from portal.services.errors import NotFound
from portal.services.notices import Delivery, _message, attempt, wording_for
from portal.services.pay_links import pay_link, pay_link_last_day
from portal.services.texting import active_consent, attempt_text, may_text_now, pay_link_text

PAY_LINK_CLAIM = "pay-link"
PAY_LINKS_PER_DAY = 3


class Channel(StrEnum):
    TEXT = "text"
    EMAIL = "email"


def send_pay_link(
    services: Services, actor: str, account_number: str, channel: str, address: str
) -> str:
    """Send the guarantor a pay link by `channel`; where it went. InvalidInput (nothing
    sent) when the channel cannot take it now or the day's links are used up."""
    store = services.store
    account = store.get_account(account_number)
    if account is None:
        raise NotFound(account_number)
    if channel not in (Channel.TEXT, Channel.EMAIL):
        raise InvalidInput("channel", "Choose text or e-mail.")
    outgoing = _outgoing(services, account, Channel(channel))
    destination = outgoing.to
    key = _take_slot(services, account_number)
    audit(
        services,
        actor,
        AuditAction.SEND_PAY_LINK,
        account_number,
        f"{channel} {destination}",
        address,
    )
    if isinstance(outgoing, OutgoingText):
        delivery, record = attempt_text(services, outgoing, account_number)
    else:
        delivery, record = attempt(services, outgoing, account_number)
    if delivery is not Delivery.SENT:
        store.drop_claim(PAY_LINK_CLAIM, key)  # the slot is free again
        store.record_mail(record)
        raise InvalidInput(
            "channel", f"The pay link was not sent: {record.detail or delivery.value}."
        )
    store.complete_claim(PAY_LINK_CLAIM, key, services.clock.now(), mail=record)
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
    may send another): the slot is freed."""
    now = services.clock.now()
    if not services.store.claim(claim.kind, claim.key, now, stale_before(now)):
        return Finish.LEFT
    services.store.drop_claim(claim.kind, claim.key)
    return Finish.DROPPED
