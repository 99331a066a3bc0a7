"""Text messages: consent, sending, and the keywords patients text back.

A number is texted only while its account holds an active consent (portal/domain/texting.py);
texts the portal starts (pay links, reminders) go only within quiet hours
(portal/domain/quiet_hours.py); answers to a patient's own text or action (the opt-in
confirmation, STOP, HELP, START) go at once, as the carriers require. Every text is in the
guarantor's language and says the practice's name, never a patient's name, an amount or
anything about health. Each text sent is kept in the account's message log (no body kept).
"""

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime

from portal.domain.accounts import Account
from portal.domain.errors import InvalidInput
from portal.domain.phones import normalize_phone
from portal.domain.quiet_hours import TextingDays
from portal.domain.staff import MailRecord
from portal.domain.texting import (
    SOURCE_PATIENT,
    SOURCES_MAX_LENGTH,
    Keyword,
    SmsConsent,
    imported_consent_applies,
    keyword_of,
)
from portal.ports.claims import Claim
from portal.ports.mail import Wording
from portal.ports.sms import NotificationRefused, OutgoingText, PermanentSmsError, SmsError
from portal.services.claims import Finish, claim_payload, payload_fields, stale_before
from portal.services.context import Services
from portal.services.notices import Delivery

log = logging.getLogger(__name__)

INBOUND_CLAIM = "sms-inbound"
TEXT_SUBJECT = "(text message)"  # the message log's subject column for a text


def texting_days(services: Services) -> TextingDays:
    s = services.settings
    return TextingDays(s.tz, s.closed_weekdays, s.closed_dates)


def may_text_now(services: Services, consent: SmsConsent) -> bool:
    return texting_days(services).may_text(services.clock.now(), consent.time_zone)


def active_consent(services: Services, account_number: str) -> SmsConsent | None:
    consent = services.store.sms_consent(account_number)
    return consent if consent is not None and consent.active else None


# -- words ----------------------------------------------------------------------------------


def _words(services: Services, account: Account | None) -> Wording:
    return services.emails.wording(account.guarantor.preferred_language if account else "en")


def _practice(services: Services) -> dict[str, str]:
    return {"practice": services.practice.name, "phone": services.practice.phone}


def pay_link_text(services: Services, account: Account | None, link: str) -> str:
    words = _words(services, account)
    return words.gettext(
        "%(practice)s: a statement is ready. View and pay: %(link)s Reply STOP to end texts, "
        "HELP for help."
    ) % {**_practice(services), "link": link}


def reminder_text(services: Services, account: Account | None, link: str) -> str:
    words = _words(services, account)
    return words.gettext(
        "%(practice)s: a reminder that a statement is past due. View and pay: %(link)s "
        "Reply STOP to end texts, HELP for help."
    ) % {**_practice(services), "link": link}


def confirm_text(services: Services, account: Account | None) -> str:
    words = _words(services, account)
    return words.gettext(
        "%(practice)s: you will get billing texts at this number. Msg & data rates may apply. "
        "Reply HELP for help, STOP to end."
    ) % _practice(services)


def help_text(services: Services, account: Account | None) -> str:
    words = _words(services, account)
    return words.gettext(
        "%(practice)s billing texts. For help call %(phone)s. Msg & data rates may apply. "
        "Reply STOP to end."
    ) % _practice(services)


def stop_text(services: Services, account: Account | None) -> str:
    words = _words(services, account)
    return words.gettext(
        "%(practice)s: you will get no more texts from us. Reply START to get them again."
    ) % _practice(services)


def start_text(services: Services, account: Account | None) -> str:
    words = _words(services, account)
    return words.gettext(
        "%(practice)s: billing texts are on again. Reply HELP for help, STOP to end."
    ) % _practice(services)


# -- sending --------------------------------------------------------------------------------


def attempt_text(
    services: Services, text: OutgoingText, account_number: str
) -> tuple[Delivery, MailRecord]:
    """Send one text; the message-log line for it is the caller's to keep."""
    detail = ""
    outcome = Delivery.SENT
    try:
        if services.texts is None:
            raise PermanentSmsError("The text was not sent: no text sender is set up.")
        services.texts.send(text)
    except PermanentSmsError as exc:
        outcome, detail = Delivery.REFUSED, exc.message
    except SmsError as exc:
        outcome, detail = Delivery.FAILED, exc.message
    except Exception as exc:
        log.error("account %s: the %s text failed", account_number, text.kind, exc_info=True)
        outcome, detail = Delivery.FAILED, type(exc).__name__
    if outcome is not Delivery.SENT:
        log.warning("account %s: the %s text was not sent: %s", account_number, text.kind, detail)
    record = MailRecord(
        account_number,
        f"text-{text.kind}",
        text.to,
        TEXT_SUBJECT,
        outcome.value,
        services.clock.now(),
        detail[:300],
    )
    return outcome, record


def send_now(services: Services, account_number: str, phone: str, kind: str, body: str) -> Delivery:
    """Send a text at once (an answer to the patient), its log line kept."""
    text = OutgoingText(kind=kind, to=phone, body=body, tags={"account": account_number})
    outcome, record = attempt_text(services, text, account_number)
    if account_number:
        try:
            services.store.record_mail(record)
        except Exception:
            log.exception("account %s: the text's log line was not kept", account_number)
    return outcome


# -- consent --------------------------------------------------------------------------------


def opt_in(services: Services, account_number: str, phone: str, time_zone: str = "") -> SmsConsent:
    """The patient's own agreement on their account page: kept, and confirmed by a text to
    the number at once. InvalidInput (nothing kept) for a number that is not a mobile one."""
    number = normalize_phone(phone)
    if not number:
        raise InvalidInput(
            "phone", "Enter a mobile number with its area code, for example 555-555-0123."
        )
    account = services.store.get_account(account_number)
    if account is None:
        raise InvalidInput("account_number", "No such account.")
    zone = (
        time_zone
        if time_zone and texting_days(services).zone_for(time_zone).key == time_zone
        else ""
    )
    consent = SmsConsent(account_number, number, services.clock.now(), SOURCE_PATIENT, None, zone)
    services.store.save_sms_consent(consent)
    send_now(services, account_number, number, "sms-confirm", confirm_text(services, account))
    return consent


def opt_out(services: Services, account_number: str) -> SmsConsent | None:
    """Texts stopped from the account page (as a STOP would)."""
    consent = services.store.sms_consent(account_number)
    if consent is None or not consent.active:
        return consent
    stopped = consent.stopped(services.clock.now())
    services.store.save_sms_consent(stopped)
    return stopped


def imported_consent(
    account_number: str, phone: str, given_at: datetime, source: str
) -> SmsConsent:
    """The consent an imported statement carries (`sms_consent`)."""
    return SmsConsent(account_number, phone, given_at, source[:SOURCES_MAX_LENGTH])


def record_imported_consent(services: Services, consent: SmsConsent) -> bool:
    """Keep an imported consent unless the account's is newer or a later STOP stands;
    True when kept."""
    existing = services.store.sms_consent(consent.account_number)
    if not imported_consent_applies(existing, consent):
        return False
    if existing is not None and existing.time_zone:
        consent = SmsConsent(
            consent.account_number,
            consent.phone,
            consent.given_at,
            consent.source,
            None,
            existing.time_zone,
        )
    services.store.save_sms_consent(consent)
    return True


# -- texts back (STOP, HELP, START) -------------------------------------------------------


class InboundInProgress(Exception):
    """The same text back is being acted on (or its handler died a moment ago): try later."""


@dataclass(frozen=True)
class InboundText:
    message_id: str  # the carrier's or SNS's id: the same text delivered twice is one
    phone: str  # the number it came from (E.164)
    body: str


def receive_text(services: Services, inbound: InboundText) -> Keyword | None:
    """Act on a text a patient sent, once per message id: STOP ends texts to the number on
    every account at once, HELP answers with the practice's name and phone, START turns
    texts on again where a STOP had ended them; each is answered. Any other text is only
    logged (no answer: staff read texts in the console of the number's provider)."""
    store, now = services.store, services.clock.now()
    payload = claim_payload(phone=inbound.phone, body=inbound.body[:20])
    if not store.claim(INBOUND_CLAIM, inbound.message_id, now, stale_before(now), payload):
        if store.claim_completed(INBOUND_CLAIM, inbound.message_id):
            return keyword_of(inbound.body)  # delivered before: acted on already
        # Another delivery is at it now, or its process died (its claim goes stale after
        # 10 minutes): SNS delivers it again later, and a later delivery takes it over.
        raise InboundInProgress(inbound.message_id)
    try:
        keyword, record = _act(services, inbound)
    except Exception:
        # SNS delivers it again: the next delivery takes the claim over at once.
        store.release_claim(INBOUND_CLAIM, inbound.message_id)
        raise
    # The answer's log line goes with the mark, in one write.
    store.complete_claim(INBOUND_CLAIM, inbound.message_id, services.clock.now(), mail=record)
    return keyword


def _act(services: Services, inbound: InboundText) -> tuple[Keyword | None, MailRecord | None]:
    """What the text asks, done; the keyword, and the log line of the answer (None when
    there is none, or when the number is on no account)."""
    store, now = services.store, services.clock.now()
    keyword = keyword_of(inbound.body)
    consents = store.sms_consents_for_phone(inbound.phone)
    account = store.get_account(consents[0].account_number) if consents else None
    number = consents[0].account_number if consents else ""
    if keyword is Keyword.STOP:
        for consent in consents:
            if consent.active:
                store.save_sms_consent(consent.stopped(now))
        log.info("texts: STOP from a number on %d account(s)", len(consents))
        answer = ("sms-stop", stop_text(services, account))
    elif keyword is Keyword.START and consents:
        for consent in consents:
            if not consent.active:
                store.save_sms_consent(consent.started(now))
        answer = ("sms-start", start_text(services, account))
    elif keyword in (Keyword.HELP, Keyword.START):
        # START from a number no account has agreed for: it cannot opt in by text alone.
        answer = ("sms-help", help_text(services, account))
    else:
        log.info("texts: a text that is no keyword, from a number on %d account(s)", len(consents))
        return keyword, None
    kind, body = answer
    text = OutgoingText(kind=kind, to=inbound.phone, body=body, tags={"account": number})
    _, record = attempt_text(services, text, number)
    return keyword, record if number else None


def finish_inbound_claim(services: Services, claim: Claim, today: date) -> Finish:
    """The sweep's way to finish a text back whose handler died: acted on again (STOP and
    START change nothing the second time; the answer may go twice)."""
    fields = payload_fields(claim.payload)
    now = services.clock.now()
    if not services.store.claim(claim.kind, claim.key, now, stale_before(now)):
        return Finish.LEFT
    _, record = _act(
        services, InboundText(claim.key, str(fields.get("phone", "")), str(fields.get("body", "")))
    )
    services.store.complete_claim(claim.kind, claim.key, services.clock.now(), mail=record)
    return Finish.DONE


def receive_notification(services: Services, body: bytes) -> str:
    """An SNS delivery to the inbound-text subscription: its signature checked
    (NotificationRefused otherwise, nothing done); a subscription confirmed; a text acted
    on once. What was done, in a word."""
    verifier = services.inbound_texts
    if verifier is None:
        raise NotificationRefused("no inbound-text topic is set up")
    notification = verifier.verify(body, services.clock.now())
    if notification.type == "SubscriptionConfirmation":
        verifier.confirm(notification)
        return "subscribed"
    if notification.type != "Notification":
        return "ignored"
    try:
        fields = json.loads(notification.message)
    except ValueError:
        raise NotificationRefused("the message is not an inbound text") from None
    if not isinstance(fields, dict):
        raise NotificationRefused("the message is not an inbound text")
    phone = normalize_phone(str(fields.get("originationNumber", "")))
    if not phone:
        raise NotificationRefused("the inbound text has no number")
    message_id = str(fields.get("inboundMessageId") or notification.message_id)
    keyword = receive_text(
        services, InboundText(message_id, phone, str(fields.get("messageBody", "")))
    )
    return keyword.value if keyword else "logged"
