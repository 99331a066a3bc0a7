"""Patients ask, staff answer (issue 17): questions about a charge, estimate disputes and
financial-assistance requests, the collection hold each puts on the bill, and the practice's
replies and resolutions.

Every change is keyed by its form's request key, so a form sent twice (a double click, a
retried request) changes the case once, posts money once and e-mails once:
- a message is added once per key (the case keeps the key with the message);
- the `case-update` e-mail of a staff message is a claim (kind `case-update`, key
  `<case>:<request key>`) taken before the message is saved, so a crash between the two
  leaves it to the sweep, which sends it when the message is in the case and drops it
  otherwise;
- a resolution's ledger entry carries the case in its memo and is decided on the account's
  book, which refuses a second one (the store commits at the version read).

The text of questions and replies may hold health information: it is never logged, never
put in an e-mail (which says only that there is a reply, with a link), never in a URL.
"""

import hashlib
import logging
import re
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta

from portal.domain.account_book import AccountBook, Change
from portal.domain.aging import practice_date, practice_midnight
from portal.domain.cases import (
    POSTING_OUTCOMES,
    Case,
    CaseMessage,
    MessageKind,
    Outcome,
    Reason,
    ReportRow,
    add_business_days,
    add_message,
    case_marker,
    case_report,
    check_assistance,
    check_outcome,
    check_question_reason,
    clean_message,
    ledger_memo,
    resolve,
)
from portal.domain.errors import InvalidInput
from portal.domain.ledger import EntryKind
from portal.domain.money import parse_amount
from portal.domain.staff import AuditAction, AuditEntry, Role
from portal.domain.viewers import Viewer
from portal.ports.claims import Claim
from portal.ports.mail import OutgoingMessage
from portal.services import ledger
from portal.services.audit import audit
from portal.services.claims import Finish, claim_payload, payload_fields, stale_before
from portal.services.context import Services
from portal.services.errors import NotFound
from portal.services.notices import Delivery, _message, send_claimed, wording_for

log = logging.getLogger(__name__)

CASE_UPDATE_CLAIM = "case-update"
_REQUEST_KEY = re.compile(r"[0-9a-f]{32}")
SAVE_ATTEMPTS = 20
PATIENT = "patient"


def new_case_id(account_number: str, request_key: str) -> str:
    """The case a form opens: the same form sent twice opens one case."""
    digest = hashlib.sha256(f"{account_number}:{request_key}".encode()).hexdigest()
    return "Q-" + digest[:16].upper()


def check_request_key(request_key: str | None) -> str:
    if not _REQUEST_KEY.fullmatch(request_key or ""):
        raise InvalidInput("request_key", "The form is out of date; reload the page.")
    return request_key or ""


def visible_to(case: Case, viewer: Viewer) -> bool:
    """Only whoever asked sees a case (the guarantor, or the patient signed in)."""
    return case.asked_by == asked_by(viewer)


def asked_by(viewer: Viewer) -> str:
    value = viewer.to_session()
    return value if isinstance(value, str) else ",".join(value)


# -- patients ----------------------------------------------------------------------------


def patient_cases(services: Services, account_number: str, viewer: Viewer) -> list[Case]:
    return [c for c in services.store.account_cases(account_number) if visible_to(c, viewer)]


def patient_case(services: Services, account_number: str, viewer: Viewer, case_id: str) -> Case:
    """The signed-in person's case; NotFound for anyone else's (never told apart from a
    case that does not exist)."""
    case = services.store.get_case(case_id)
    if case is None or case.account_number != account_number or not visible_to(case, viewer):
        raise NotFound(case_id)
    return case


def ask_question(
    services: Services,
    account_number: str,
    viewer: Viewer,
    statement_id: str,
    line_id: str | None,
    reason_text: str | None,
    message_text: str | None,
    request_key: str | None,
) -> Case:
    """Open a question about a statement (or one of its lines): the statement is held (no
    reminder, no final notice, no escalation) until the case is resolved."""
    statement = services.store.get_statement(statement_id)
    if statement is None or statement.account_number != account_number:
        raise NotFound(statement_id)
    line_id = (line_id or "").strip() or None
    if line_id is not None:
        line = next((li for li in statement.lines if li.line_id == line_id), None)
        if line is None or not viewer.sees_in_full(line.patient_id):
            raise InvalidInput("line_id", "Choose a line of this statement.")
    reason = check_question_reason(reason_text)
    text = clean_message(message_text, "message")
    key = check_request_key(request_key)
    case = _patient_case(services, account_number, viewer, reason, text, key)
    return _open_case(services, replace(case, statement_id=statement_id, line_id=line_id))


def request_assistance(
    services: Services,
    account_number: str,
    viewer: Viewer,
    household_size: int | str | None,
    income_band: str | None,
    what_happened: str | None,
    request_key: str | None,
) -> Case:
    """A financial-assistance request: the whole account is held for the practice's number
    of days (PORTAL_ASSISTANCE_HOLD_DAYS), or until the request is resolved. The guarantor's
    to ask (it is about the account's money)."""
    if not viewer.is_guarantor:
        raise InvalidInput("household_size", "Only the account's guarantor can ask for help.")
    if services.store.get_account(account_number) is None:
        raise NotFound(account_number)
    assistance = check_assistance(household_size, income_band)
    text = clean_message(what_happened, "what_happened")
    key = check_request_key(request_key)
    case = _patient_case(services, account_number, viewer, Reason.FINANCIAL_ASSISTANCE, text, key)
    hold_until = case.opened_at + timedelta(days=services.settings.assistance_hold_days)
    return _open_case(services, replace(case, assistance=assistance, hold_until=hold_until))


def _patient_case(
    services: Services, account_number: str, viewer: Viewer, reason: Reason, text: str, key: str
) -> Case:
    """A patient's new case, opened now with their message (if any) and due for an answer
    in the practice's business days; its kind adds the rest (statement, hold...)."""
    now = services.clock.now()
    messages = (CaseMessage(MessageKind.QUESTION, PATIENT, text, now, key),) if text else ()
    return Case(
        case_id=new_case_id(account_number, key),
        account_number=account_number,
        reason=reason,
        opened_at=now,
        due_on=_answer_due(services, now),
        messages=messages,
        asked_by=asked_by(viewer),
    )


def _answer_due(services: Services, now: datetime) -> date:
    today = practice_date(now, services.settings.tz)
    return add_business_days(today, services.settings.case_answer_days)


def _open_case(services: Services, case: Case) -> Case:
    if services.store.add_case(case):
        log.info(
            "case %s opened on account %s (%s)", case.case_id, case.account_number, case.reason
        )
        return case
    existing = services.store.get_case(case.case_id)  # the same form sent again
    if existing is None or existing.account_number != case.account_number:
        raise InvalidInput("request_key", "The form is out of date; reload the page.")
    return existing


def patient_reply(
    services: Services,
    account_number: str,
    viewer: Viewer,
    case_id: str,
    text: str | None,
    request_key: str | None,
) -> Case:
    """The patient answers on their open case (more information the practice asked for)."""
    case = patient_case(services, account_number, viewer, case_id)
    message_text = clean_message(text, "message", required=True)
    key = check_request_key(request_key)
    if not case.is_open and case.message_with_key(key) is None:
        raise InvalidInput("message", "This question is resolved; ask a new one if you need to.")
    message = CaseMessage(
        MessageKind.PATIENT_REPLY, PATIENT, message_text, services.clock.now(), key
    )
    saved = _add_once(services, case_id, message)
    log.info("case %s: the patient replied", case_id)
    return saved


# -- staff -------------------------------------------------------------------------------


def open_case_queue(services: Services, actor: str, address: str) -> list[Case]:
    cases = services.store.open_cases()
    audit(services, actor, AuditAction.VIEW_CASES, address=address)
    return cases


def staff_case(services: Services, actor: str, case_id: str, address: str) -> Case:
    case = services.store.get_case(case_id)
    if case is None:
        raise NotFound(case_id)
    audit(services, actor, AuditAction.VIEW_CASE, case.account_number, case_id, address)
    return case


def assign_case(services: Services, actor: str, case_id: str, owner: str, address: str) -> Case:
    owner = (owner or "").strip().lower()
    if owner and services.store.get_staff_user(owner) is None:
        raise InvalidInput("owner", f"There is no staff user {owner!r}.")

    def change(case: Case) -> Case | None:
        if not case.is_open:
            raise InvalidInput("owner", "This case is resolved.")
        return None if case.owner == owner else replace(case, owner=owner)

    entry = _audit(services, actor, AuditAction.ASSIGN_CASE, f"{case_id} owner={owner or '-'}")
    return _save(services, case_id, change, entry(address))


def staff_reply(
    services: Services,
    actor: str,
    case_id: str,
    kind_text: str | None,
    text: str | None,
    request_key: str | None,
    address: str,
) -> Case:
    """A reply, or a request for more information: added once per form, with one
    `case-update` e-mail telling the patient there is something to read."""
    kinds = {"reply": MessageKind.REPLY, "more_info": MessageKind.MORE_INFO}
    if kind_text not in kinds:
        raise InvalidInput("kind", "Choose a reply or a request for more information.")
    message_text = clean_message(text, "text", required=True)
    key = check_request_key(request_key)
    case = services.store.get_case(case_id)
    if case is None:
        raise NotFound(case_id)
    if not case.is_open and case.message_with_key(key) is None:
        raise InvalidInput("text", "This case is resolved.")
    message = CaseMessage(kinds[kind_text], actor, message_text, services.clock.now(), key)
    claimed = _claim_update(services, case, key)
    entry = _audit(services, actor, AuditAction.REPLY_CASE, case_id)
    with _dropped_if_refused(services, case_id, key, claimed):
        saved = _add_once(services, case_id, message, entry(address))
    if claimed:
        send_case_update(services, case_id, key)
    return saved


def resolve_case(
    services: Services,
    actor: str,
    role: Role,
    case_id: str,
    outcome_text: str | None,
    explanation: str | None,
    amount_text: str | None,
    ledger_reason: str | None,
    statement_id: str | None,
    request_key: str | None,
    address: str,
) -> Case:
    """Resolve with an outcome and the explanation the patient sees; releases the hold.

    A correction posts an adjustment, a financial-assistance discount (a supervisor's) a
    write-off with its own reason code, each once whatever the number of times the form is
    sent: the entry names the case, and the account's book refuses a second one."""
    outcome = check_outcome(outcome_text)
    if outcome is Outcome.ASSISTANCE_DISCOUNT and not role.allows(Role.SUPERVISOR):
        raise InvalidInput("outcome", "A financial-assistance discount is a supervisor's.")
    text = clean_message(explanation, "explanation", required=True)
    key = check_request_key(request_key)
    case = services.store.get_case(case_id)
    if case is None:
        raise NotFound(case_id)
    if not case.is_open:
        if case.message_with_key(key) is not None:
            return case  # this very form resolved it before
        raise InvalidInput("outcome", "This case is resolved already.")
    cents = 0
    target = None
    reason = ""
    if outcome in POSTING_OUTCOMES:
        cents = parse_amount(amount_text or "")
        if cents <= 0:
            raise InvalidInput("amount", "The amount must be more than $0.00.")
        reason = (ledger_reason or "").strip()
        if not reason:
            raise InvalidInput("ledger_reason", "Give the reason for the ledger entry.")
        target = case.statement_id or (statement_id or "").strip()
        if not target:
            raise InvalidInput("statement_id", "Choose the statement to adjust.")
    claimed = _claim_update(services, case, key)
    message = CaseMessage(MessageKind.RESOLUTION, actor, text, services.clock.now(), key)

    def change(current: Case) -> Case | None:
        if current.message_with_key(key) is not None:
            return None
        if not current.is_open:
            raise InvalidInput("outcome", "This case is resolved already.")
        return resolve(current, outcome, message, cents)

    entry = _audit(services, actor, AuditAction.RESOLVE_CASE, f"{case_id} {outcome.value}")
    with _dropped_if_refused(services, case_id, key, claimed):
        if target is not None:
            _post_once(services, case, outcome, target, cents, reason)
        saved = _save(services, case_id, change, entry(address))
    log.info("case %s resolved: %s", case_id, outcome.value)
    if claimed:
        send_case_update(services, case_id, key)
    return saved


@contextmanager
def _dropped_if_refused(services: Services, case_id: str, request_key: str, claimed: bool):
    """A refused change (the amount is more than the balance, the case was resolved
    meanwhile) has nothing to tell the patient: its e-mail's claim is dropped at once, so
    the same form sent again, corrected, claims it afresh."""
    try:
        yield
    except InvalidInput:
        if claimed:
            services.store.drop_claim(CASE_UPDATE_CLAIM, f"{case_id}:{request_key}")
        raise


class _PostedBefore(Exception):
    pass


def _post_once(
    services: Services, case: Case, outcome: Outcome, statement_id: str, cents: int, reason: str
) -> None:
    kind = EntryKind.WRITE_OFF if outcome is Outcome.ASSISTANCE_DISCOUNT else EntryKind.ADJUSTMENT
    marker = case_marker(case.case_id)
    memo = ledger_memo(case, outcome, reason)

    def decide(book: AccountBook) -> Change:
        if any(marker in e.memo for e in book.entries):
            raise _PostedBefore()
        return book.adjust(statement_id, kind, cents, memo, services.clock.now())

    try:
        ledger.change_account(services.store, case.account_number, decide)
    except _PostedBefore:
        return
    except KeyError:
        raise InvalidInput("statement_id", "Choose a statement of this account.") from None
    except ValueError as exc:
        raise InvalidInput("amount", str(exc)) from None


# -- storing -----------------------------------------------------------------------------


def _add_once(
    services: Services, case_id: str, message: CaseMessage, audit: "Audit | None" = None
) -> Case:
    def change(case: Case) -> Case | None:
        if case.message_with_key(message.request_key) is not None:
            return None
        try:
            return add_message(case, message)
        except ValueError:
            raise InvalidInput("message", "This case is resolved.") from None

    return _save(services, case_id, change, audit)


Audit = Callable[[Case], AuditEntry]


def _audit(services: Services, actor: str, action: AuditAction, subject: str):
    """The audit entry of a staff change, for the case it is written with."""

    def for_address(address: str) -> Audit:
        def entry(case: Case) -> AuditEntry:
            at = services.clock.now()
            return AuditEntry(at, actor, action, case.account_number, subject, address)

        return entry

    return for_address


def _save(services: Services, case_id: str, change, audit: Audit | None = None) -> Case:
    """Read the case, decide, write at the version read (with the audit entry of the staff
    action, in the same write: a change is audited once, and a form sent again that
    changes nothing adds none); a lost race is read again."""
    for _ in range(SAVE_ATTEMPTS):
        case = services.store.get_case(case_id)
        if case is None:
            raise NotFound(case_id)
        changed = change(case)
        if changed is None:
            return case
        saved = services.store.save_case(changed, audit(case) if audit else None)
        if saved is not None:
            return saved
    raise InvalidInput("case", "The case kept changing while it was saved; try again.")


# -- the case-update e-mail --------------------------------------------------------------


def _claim_update(services: Services, case: Case, request_key: str) -> bool:
    now = services.clock.now()
    return services.store.claim(
        CASE_UPDATE_CLAIM,
        f"{case.case_id}:{request_key}",
        now,
        stale_before(now),
        claim_payload(case_id=case.case_id, request_key=request_key),
    )


def case_update_message(
    services: Services, case_id: str, request_key: str
) -> OutgoingMessage | None:
    """The e-mail saying there is a reply, with a link; None when there is nothing to tell
    (the message is not in the case) or no address. It never holds the reply's text."""
    case = services.store.get_case(case_id)
    if case is None or case.message_with_key(request_key) is None:
        return None
    account = services.store.get_account(case.account_number)
    if account is None or not account.guarantor.email:
        return None
    settings = services.settings
    words = wording_for(services, account)
    subject = words.gettext("A reply from %(practice)s billing office") % {
        "practice": settings.practice_name
    }
    return _message(
        services,
        "case-update",
        account.guarantor.email,
        subject,
        language=words.language,
        first_name=account.guarantor.first_name,
        resolved=not case.is_open,
        link=f"{settings.base_url}/account#cases",
    )


def send_case_update(services: Services, case_id: str, request_key: str) -> None:
    """Send the claimed e-mail (the claim is closed: sent, or dropped when there is nothing
    to tell); never raises: a failed send is the sweep's."""
    key = f"{case_id}:{request_key}"
    try:
        message = case_update_message(services, case_id, request_key)
        case = services.store.get_case(case_id)
        if message is None or case is None:
            services.store.drop_claim(CASE_UPDATE_CLAIM, key)
            return
        send_claimed(services, CASE_UPDATE_CLAIM, key, message, case.account_number)
    except Exception:
        log.exception("case %s: the case-update e-mail was not sent", case_id)


def finish_case_update(services: Services, claim: Claim, today: date) -> Finish:
    """The sweep's: send the e-mail of a message that was saved; drop one never saved."""
    fields = payload_fields(claim.payload)
    case_id, request_key = str(fields.get("case_id", "")), str(fields.get("request_key", ""))
    now = services.clock.now()
    if not services.store.claim(claim.kind, claim.key, now, stale_before(now)):
        return Finish.LEFT
    message = case_update_message(services, case_id, request_key)
    case = services.store.get_case(case_id)
    if message is None or case is None:
        services.store.drop_claim(claim.kind, claim.key)
        return Finish.DROPPED
    outcome = send_claimed(services, claim.kind, claim.key, message, case.account_number)
    return Finish.LEFT if outcome is Delivery.FAILED else Finish.DONE


# -- the report --------------------------------------------------------------------------


def case_report_months(services: Services, last_month: date, months: int = 12) -> list[ReportRow]:
    """Cases opened in the `months` practice months ending with `last_month`, by month,
    reason and outcome, with the median time to the first answer."""
    tz = services.settings.tz
    first = last_month
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    after = (last_month + timedelta(days=32)).replace(day=1)
    cases = services.store.cases_opened(practice_midnight(first, tz), practice_midnight(after, tz))
    return case_report(cases, tz)
