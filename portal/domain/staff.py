"""Billing staff: who they are, what their role lets them do, and the audit trail they leave."""

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from portal.domain.errors import InvalidInput


class Role(StrEnum):
    ASSOCIATE = "associate"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    def allows(self, needed: "Role") -> bool:
        """Roles are ordered: a supervisor may do what an associate may, an admin all."""
        order = (Role.ASSOCIATE, Role.SUPERVISOR, Role.ADMIN)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class StaffUser:
    username: str
    role: Role
    password_hash: str
    totp_secret: str
    created_at: datetime
    session_epoch: int = 0  # raised on a password change: every older session ends
    totp_last_step: int = 0  # the last TOTP time step used, so a code works only once


_USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,31}")
MIN_PASSWORD_LENGTH = 12


def normalize_username(text: str) -> str:
    return (text or "").strip().lower()


def check_username(username: str) -> None:
    if not _USERNAME.fullmatch(username):
        raise InvalidInput(
            "username",
            "Use 2-32 characters: lower-case letters, digits, dot, dash or underscore, "
            "starting with a letter.",
        )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            "password", f"The password needs at least {MIN_PASSWORD_LENGTH} characters."
        )


class AuditAction(StrEnum):
    VIEW_ACCOUNT = "view_account"
    VIEW_STATEMENT = "view_statement"
    VIEW_PAYMENTS = "view_payments"
    VIEW_REPORT = "view_report"
    SEARCH = "search"
    POST_PAYMENT = "post_payment"
    REVERSE_PAYMENT = "reverse_payment"
    REFUND_PAYMENT = "refund_payment"
    ADD_NOTE = "add_note"
    POST_ADJUSTMENT = "post_adjustment"
    RESEND_RECEIPT = "resend_receipt"
    OPEN_ESCALATION = "open_escalation"
    UPDATE_ESCALATION = "update_escalation"
    RESOLVE_ESCALATION = "resolve_escalation"
    VIEW_ESCALATIONS = "view_escalations"
    VIEW_AUDIT_LOG = "view_audit_log"
    ADD_STAFF_USER = "add_staff_user"
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    CHANGE_PASSWORD = "change_password"
    IMPORT_STATEMENTS = "import_statements"
    CREATE_API_KEY = "create_api_key"
    REVOKE_API_KEY = "revoke_api_key"
    CANCEL_PLAN = "cancel_plan"
    SKIP_INSTALLMENT = "skip_installment"
    SEND_PLAN_LINK = "send_plan_link"
    VIEW_UNDELIVERABLE = "view_undeliverable"
    MARK_ADDRESS_CORRECTED = "mark_address_corrected"
    VIEW_CASES = "view_cases"
    VIEW_CASE = "view_case"
    ASSIGN_CASE = "assign_case"
    REPLY_CASE = "reply_case"
    RESOLVE_CASE = "resolve_case"
    SEND_PAY_LINK = "send_pay_link"
    VIEW_MONEY_EVENTS = "view_money_events"
    VIEW_WEBHOOK_FAILURES = "view_webhook_failures"
    RETRY_WEBHOOK = "retry_webhook"
    IMPORT_REMITTANCE = "import_remittance"
    VIEW_REMITTANCES = "view_remittances"
    RESOLVE_REMITTANCE_ITEM = "resolve_remittance_item"
    CHECK_PAYOUT = "check_payout"


@dataclass(frozen=True)
class AuditEntry:
    """Who looked at or changed what, when, from where. Append-only."""

    at: datetime
    actor: str
    action: AuditAction
    account_number: str | None = None
    subject: str = ""  # the statement, payment or search the action was about
    address: str = ""
    entry_id: int | None = None


@dataclass(frozen=True)
class Note:
    account_number: str
    author: str
    text: str
    created_at: datetime
    promise_to_pay_on: date | None = None
    note_id: int | None = None


@dataclass(frozen=True)
class MailRecord:
    """One e-mail the portal sent or tried to send about an account (no body kept)."""

    account_number: str
    kind: str  # receipt | statement | reminder | final-notice | escalation
    to: str
    subject: str
    # sent | failed (will be tried again) | refused (the address will not take it); and what
    # SES reported back: delivered | bounced | complained | rejected
    outcome: str
    at: datetime
    detail: str = ""


class EscalationKind(StrEnum):
    DISPUTE = "dispute"
    FAILED_PAYMENT = "failed_payment"
    REMINDER = "reminder"  # past the last reminder (opened by the reminder job)
    REFUND_REQUEST = "refund_request"
    PAYMENT_MISMATCH = "payment_mismatch"  # the card was charged another amount or currency
    UNPOSTABLE_EVENT = "unpostable_event"  # a signed processor event that cannot be applied
    OTHER = "other"


ESCALATION_LABELS = {
    EscalationKind.DISPUTE: "Disputed balance",
    EscalationKind.FAILED_PAYMENT: "Failed payment",
    EscalationKind.REMINDER: "Unpaid after the last reminder",
    EscalationKind.REFUND_REQUEST: "Refund request",
    EscalationKind.PAYMENT_MISMATCH: "Card charged other than asked",
    EscalationKind.UNPOSTABLE_EVENT: "Card processor report not applied",
    EscalationKind.OTHER: "Needs a supervisor",
}


@dataclass(frozen=True)
class Escalation:
    """An account that needs a person. At most one open item per `key` (e.g. one dispute
    per account, one item per failed payment)."""

    key: str
    account_number: str
    kind: EscalationKind
    reason: str
    opened_at: datetime
    opened_by: str
    owner: str = ""
    promise_to_pay_on: date | None = None
    resolved_at: datetime | None = None
    resolved_by: str = ""
    resolution: str = ""
    escalation_id: int | None = None

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


def check_promise_date(promise_to_pay_on: date | None, today: date) -> None:
    if promise_to_pay_on is not None and promise_to_pay_on < today:
        raise InvalidInput("promise_to_pay_on", "A promise-to-pay date cannot be in the past.")
