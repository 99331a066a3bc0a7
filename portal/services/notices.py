"""Notices by e-mail: statement ready, payment reminders, final notice, escalation to staff.

Every message is rendered from templates/email/<kind>.{txt,html} with only what a patient
needs to pay: the practice's name, the amount, the opaque statement number, due dates and
links. A statement's lines (codes, descriptions, providers, service dates) and anyone's date
of birth are never passed to a template.
"""

import logging
import secrets
from collections.abc import Collection
from dataclasses import replace
from datetime import date
from enum import StrEnum

from itsdangerous import BadSignature, URLSafeSerializer

from portal.domain.accounts import Account
from portal.domain.plans import SavedMethod
from portal.domain.staff import MailRecord, Note
from portal.domain.statements import Statement
from portal.ports.claims import Claim
from portal.ports.mail import OutgoingMessage, PermanentMailError, TransientMailError, Wording
from portal.services.accounts import account_view
from portal.services.claims import claim_payload, stale_before
from portal.services.context import Services
from portal.services.errors import NotFound
from portal.services.mail_feedback import (
    ACCOUNT_TAG,
    is_listed,
    refusal_detail,
    undeliverable_for,
)

log = logging.getLogger(__name__)

OPT_OUT_SALT = "reminder-opt-out"  # the signed tokens of links sent before they were opaque
OPT_OUT_BYTES = 24
MAX_OPT_OUT_TOKEN = 200
REMINDER_KINDS = ("reminder", "final-notice")
STATEMENT_CLAIM = "statement"


class Delivery(StrEnum):
    SENT = "sent"
    FAILED = "failed"  # transient: try again later
    REFUSED = "refused"  # permanent: bad address, rejected; sending it again will not help


# -- sending -------------------------------------------------------------------------------


def deliver(services: Services, message: OutgoingMessage, account_number: str) -> Delivery:
    """Send one message and keep the attempt in the account's mail log."""
    outcome, record = attempt(services, message, account_number)
    _log_attempt(services, record)
    return outcome


def attempt(
    services: Services,
    message: OutgoingMessage,
    account_number: str,
    undeliverable: Collection[str] | None = None,
) -> tuple[Delivery, MailRecord]:
    """Send one message; the mail-log line for it is the caller's to keep. A permanent
    refusal is noted on the account for staff; nothing about the body is logged or noted.

    Every e-mail the portal sends comes here: an address SES reported as undeliverable (a
    permanent bounce, a complaint) is refused without a send until staff mark it corrected.
    `undeliverable`: the addresses, when the caller read them once for many messages."""
    stopped = _undeliverable(services, message, undeliverable)
    if stopped is not None:
        log.info(
            "account %s: the %s e-mail was not sent: %s", account_number, message.kind, stopped
        )
        return _attempted(services, message, account_number, Delivery.REFUSED, stopped)
    if ACCOUNT_TAG not in message.tags:
        message = replace(message, tags={**message.tags, ACCOUNT_TAG: account_number})
    try:
        services.mailer.send(message)
    except PermanentMailError as exc:
        log.warning(
            "account %s: the %s e-mail was refused: %s", account_number, message.kind, exc.message
        )
        _note_refusal(services, message, account_number, exc.message)
        return _attempted(services, message, account_number, Delivery.REFUSED, exc.message)
    except TransientMailError as exc:
        log.warning(
            "account %s: the %s e-mail was not sent, will try again: %s",
            account_number,
            message.kind,
            exc.message,
        )
        return _attempted(services, message, account_number, Delivery.FAILED, exc.message)
    except Exception as exc:
        log.error(
            "account %s: the %s e-mail was not sent (%s)",
            account_number,
            message.kind,
            type(exc).__name__,
            exc_info=True,
        )
        return _attempted(services, message, account_number, Delivery.FAILED, type(exc).__name__)
    return _attempted(services, message, account_number, Delivery.SENT)


def _undeliverable(
    services: Services, message: OutgoingMessage, undeliverable: Collection[str] | None
) -> str | None:
    """Why the message must not go (its address is undeliverable), or None. A store that
    cannot answer does not stop the mail: SES keeps its own suppression list as well."""
    if undeliverable is not None:
        return refusal_detail(None) if is_listed(message.to, undeliverable) else None
    try:
        report = undeliverable_for(services, message.to)
    except Exception:
        log.exception("the undeliverable addresses could not be read; the e-mail goes")
        return None
    return refusal_detail(report) if report is not None else None


def _attempted(
    services: Services,
    message: OutgoingMessage,
    account_number: str,
    outcome: Delivery,
    detail: str = "",
) -> tuple[Delivery, MailRecord]:
    record = MailRecord(
        account_number,
        message.kind,
        message.to,
        message.subject,
        outcome.value,
        services.clock.now(),
        detail[:300],
    )
    return outcome, record


def _log_attempt(services: Services, record: MailRecord) -> None:
    """A lost log line never stops a send that already happened."""
    try:
        services.store.record_mail(record)
    except Exception:
        log.exception(
            "account %s: the %s e-mail was not logged", record.account_number, record.kind
        )


def _note_refusal(
    services: Services, message: OutgoingMessage, account_number: str, reason: str
) -> None:
    note = Note(
        account_number=account_number,
        author="system",
        text=f"E-mail ({message.kind}) to {message.to} could not be delivered: {reason}",
        created_at=services.clock.now(),
    )
    try:
        services.store.add_note(note)
    except Exception:
        log.exception("account %s: the refused e-mail could not be noted", account_number)


def send_once(
    services: Services,
    claim_kind: str,
    claim_key: str,
    message: OutgoingMessage,
    account_number: str,
    payload: str = "",
) -> Delivery | None:
    """Send the message unless (claim_kind, claim_key) was sent before: None then. A claim
    whose sender died (never marked sent, older than the stale window) or that was released
    is taken over. `payload` is what the sweep needs to send it if this sender cannot."""
    now = services.clock.now()
    if not services.store.claim(
        claim_kind, claim_key, now, stale_before=stale_before(now), payload=payload
    ):
        return None
    return send_claimed(services, claim_kind, claim_key, message, account_number)


def send_claimed(
    services: Services,
    claim_kind: str,
    claim_key: str,
    message: OutgoingMessage,
    account_number: str,
    undeliverable: Collection[str] | None = None,
) -> Delivery:
    """Send a message whose claim the caller holds, and close the claim. A refused address
    (an undeliverable one among them) counts as done (not retried); a transient failure
    releases the claim, which stays unfinished for the next attempt or the daily sweep.
    `undeliverable`: as `attempt`'s."""
    store = services.store
    outcome, record = attempt(services, message, account_number, undeliverable)
    if outcome is Delivery.FAILED:
        _log_attempt(services, record)
        store.release_claim(claim_kind, claim_key)
    else:
        # The log line goes with the mark, in one write (see Store.complete_claim).
        store.complete_claim(claim_kind, claim_key, services.clock.now(), mail=record)
    return outcome


# -- opting out of reminders -----------------------------------------------------------------


def _opt_out_serializer(services: Services) -> URLSafeSerializer:
    return URLSafeSerializer(services.settings.secret_key, salt=OPT_OUT_SALT)


def opt_out_url(services: Services, account_number: str, token: str | None = None) -> str:
    """The one-click link that stops reminders; it never expires (old e-mails still work).

    The token is random and says nothing about the account: it is made the first time and
    kept with the account, so every reminder carries the same link. KeyError for an unknown
    account. `token`: the account's, when the caller has it already."""
    if token is None:
        token = services.store.opt_out_token(account_number, new_opt_out_token())
    return f"{services.settings.base_url}/reminders/stop/{token}"


def new_opt_out_token() -> str:
    return secrets.token_urlsafe(OPT_OUT_BYTES)


def opt_out_account(services: Services, token: str) -> str | None:
    """The account number an opt-out token was made for; None when it is not ours.

    Links sent before the tokens were opaque carry the account number, signed (itsdangerous):
    those still work."""
    if not token or len(token) > MAX_OPT_OUT_TOKEN:
        return None
    number = services.store.account_of_opt_out_token(token)
    if number is not None:
        return number
    try:
        number = _opt_out_serializer(services).loads(token)
    except BadSignature:
        return None
    return number if isinstance(number, str) and number else None


def opt_out_of_reminders(services: Services, token: str) -> bool:
    """Stop payment reminders for the account the token names; False when they were stopped
    before. NotFound when the token is not ours or its account is gone."""
    account_number = opt_out_account(services, token)
    if account_number is None:
        raise NotFound(token)
    try:
        return services.store.opt_out_of_reminders(account_number, services.clock.now())
    except KeyError:
        raise NotFound(token) from None


# -- messages ------------------------------------------------------------------------------


def _message(
    services: Services,
    kind: str,
    to: str,
    subject: str,
    headers: dict[str, str] | None = None,
    template: str | None = None,
    language: str = "en",
    **context: object,
) -> OutgoingMessage:
    """A message of `kind`, from templates/email/<template or kind>.{txt,html}, in
    `language` (the guarantor's; staff's messages are in English)."""
    settings = services.settings
    text, html = services.emails.render(
        template or kind,
        language,
        practice_name=settings.practice_name,
        # templates/site/_practice.html (the billing office's phone and hours) reads this.
        mail_from="" if settings.mail_from.endswith("@localhost") else settings.mail_from,
        pay_link=f"{settings.base_url}/pay",
        **context,
    )
    return OutgoingMessage(
        kind=kind, to=to, subject=subject, text=text, html=html, headers=headers or {}
    )


def wording_for(services: Services, account: Account) -> Wording:
    """The words and formats of the guarantor's language, for what is sent to them."""
    return services.emails.wording(account.guarantor.preferred_language)


def method_label(words: Wording, method: SavedMethod) -> str:
    """ "Visa ending in 4242", "Bank account ending in 6789" (SavedMethod.label) in the
    language of `words`."""
    if method.kind == "us_bank_account":
        return words.gettext("Bank account ending in %(last4)s") % {"last4": method.last4}
    return words.gettext("%(brand)s ending in %(last4)s") % {
        "brand": method.brand.title(),
        "last4": method.last4,
    }


def statement_notice(
    services: Services,
    account: Account,
    statement: Statement,
    due_cents: int,
    account_due_cents: int | None = None,
) -> OutgoingMessage | None:
    """ "Your statement is ready", or None when the guarantor has no e-mail address.
    `account_due_cents`, when given and different, is shown as the account's whole balance."""
    to = account.guarantor.email
    if not to:
        return None
    words = wording_for(services, account)
    corrected = statement.version > 1
    subject = (
        words.gettext("Your corrected statement from %(practice)s is ready")
        if corrected
        else words.gettext("Your statement from %(practice)s is ready")
    )
    return _message(
        services,
        "statement",
        to,
        subject % {"practice": services.settings.practice_name},
        language=words.language,
        first_name=account.guarantor.first_name,
        corrected=corrected,
        statement_id=statement.statement_id,
        statement_date=statement.statement_date,
        due_date=statement.due_date,
        due_cents=due_cents,
        account_due_cents=due_cents if account_due_cents is None else account_due_cents,
    )


def statement_notice_claim(account: Account, statement: Statement) -> Claim | None:
    """The notice's claim, written with the import (released: the first send takes it)."""
    if not account.guarantor.email:
        return None
    payload = claim_payload(statement_id=statement.statement_id)
    return Claim(STATEMENT_CLAIM, notice_key(statement), None, payload)


def notice_key(statement: Statement) -> str:
    """The statement notice's claim key: one notice per statement, and one per correction."""
    if statement.version == 1:
        return statement.statement_id
    return f"{statement.statement_id}#v{statement.version}"


def send_statement_notice(
    services: Services, account: Account, statement: Statement
) -> Delivery | None:
    """Tell the guarantor a statement is ready, once per statement; None when it was sent
    before or there is no address to send it to."""
    message = statement_notice_for(services, account, statement)
    if message is None:
        log.info("account %s: no e-mail address, no statement notice", account.account_number)
        return None
    return send_once(
        services,
        STATEMENT_CLAIM,
        notice_key(statement),
        message,
        account.account_number,
        payload=claim_payload(statement_id=statement.statement_id),
    )


def statement_notice_for(
    services: Services, account: Account, statement: Statement
) -> OutgoingMessage | None:
    """The statement notice with the statement's balance and the account's as they are now;
    None when the guarantor has no e-mail address."""
    view = account_view(services, account.account_number)
    due_cents = next(
        (
            s.balance_cents
            for s in view.statements
            if s.statement.statement_id == statement.statement_id
        ),
        statement.total_cents,
    )
    return statement_notice(
        services, account, statement, max(due_cents, 0), account_due_cents=view.due_cents
    )


def reminder_message(
    services: Services,
    account: Account,
    kind: str,
    statement_id: str,
    due_cents: int,
    due_date: date,
    days_past_due: int,
    opt_out_token: str | None = None,
) -> OutgoingMessage:
    """A payment reminder or the final notice, with a one-click opt-out (RFC 8058)."""
    if kind not in REMINDER_KINDS:
        raise ValueError(f"not a reminder kind: {kind!r}")
    words = wording_for(services, account)
    values = {"practice": services.settings.practice_name, "amount": words.money(due_cents)}
    if kind == "reminder":
        subject = words.gettext("Reminder: %(practice)s balance of %(amount)s past due") % values
    else:
        subject = (
            words.gettext("Final notice: %(practice)s balance of %(amount)s past due") % values
        )
    stop = opt_out_url(services, account.account_number, opt_out_token)
    return _message(
        services,
        kind,
        account.guarantor.email,
        subject,
        headers={
            "List-Unsubscribe": f"<{stop}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        language=words.language,
        first_name=account.guarantor.first_name,
        statement_id=statement_id,
        due_cents=due_cents,
        due_date=due_date,
        days_past_due=days_past_due,
        opt_out_link=stop,
    )


def escalation_message(
    services: Services,
    account: Account,
    statement_id: str,
    due_cents: int,
    days_past_due: int,
) -> OutgoingMessage:
    """To the billing inbox: the account is past the final notice and in the queue."""
    settings = services.settings
    return _message(
        services,
        "escalation",
        settings.billing_inbox or settings.mail_from,
        f"Account {account.account_number} is past the final notice",
        account_number=account.account_number,
        statement_id=statement_id,
        due_cents=due_cents,
        days_past_due=days_past_due,
        staff_link=f"{settings.base_url}/staff/accounts/{account.account_number}",
    )


def plan_agreement_message(
    services: Services,
    account: Account,
    method_label: str,
    text: str,
    version: str,
    agreed_on: str,
) -> OutgoingMessage | None:
    """The patient's copy of the plan's authorization; None without an address.
    `agreed_on`: the date, as the guarantor's language writes it."""
    to = account.guarantor.email
    if not to:
        return None
    words = wording_for(services, account)
    return _message(
        services,
        "plan-agreement",
        to,
        words.gettext("Your payment plan with %(practice)s is set up")
        % {"practice": services.settings.practice_name},
        language=words.language,
        first_name=account.guarantor.first_name,
        account_number=account.account_number,
        method_label=method_label,
        text=text,
        version=version,
        agreed_on=agreed_on,
    )


PLAN_NOTICE_KINDS = ("plan-upcoming", "plan-failed", "plan-defaulted")


def plan_notice_message(
    services: Services, account: Account, kind: str, subject: str, **context: object
) -> OutgoingMessage | None:
    """A payment plan's notice to the guarantor (an upcoming charge, a failed one, the plan
    ended), with amounts, dates, the method's label and links to the portal only; None
    without an address. The subject, dates and label are in the guarantor's language
    (wording_for)."""
    if kind not in PLAN_NOTICE_KINDS:
        raise ValueError(f"not a plan notice kind: {kind!r}")
    to = account.guarantor.email
    if not to:
        return None
    return _message(
        services,
        kind,
        to,
        subject,
        None,
        None,
        account.guarantor.preferred_language,
        first_name=account.guarantor.first_name,
        account_number=account.account_number,
        **context,
    )


def plan_link_message(services: Services, account: Account, due_cents: int) -> OutgoingMessage:
    """The way to set up a payment plan on the portal, sent by staff while the guarantor is
    on the phone (staff never take card numbers). Kind "reminder": no kind of the contract
    is for it, and it asks the guarantor to act on the balance as a reminder does; it has no
    opt-out link, since the guarantor asked for it."""
    words = wording_for(services, account)
    return _message(
        services,
        "reminder",
        account.guarantor.email,
        words.gettext("Set up a payment plan with %(practice)s")
        % {"practice": services.settings.practice_name},
        template="plan-link",
        language=words.language,
        first_name=account.guarantor.first_name,
        account_number=account.account_number,
        due_cents=due_cents,
    )
