"""Payment plans as the patient sets them up: what the practice offers for the balance, the
schedule for a number of months or a monthly amount, the authorization agreed to, the card
or bank account saved on the processor's page, the plan's page, and canceling.

A plan is stored when the patient agrees (with the agreement: version, time, address, the
schedule and the digest of the exact words); it charges nothing until the processor's page
has saved a method for it. The balance the schedule spreads is the account's balance when
the patient agreed; the charge run takes the installments as agreed.
"""

import logging
import secrets
from dataclasses import dataclass, replace
from datetime import date, timedelta

from portal.domain.aging import practice_date
from portal.domain.errors import InvalidInput
from portal.domain.money import parse_amount
from portal.domain.plan_terms import (
    AUTHORIZATION_VERSION,
    agreement_text,
    authorization_text,
    authorization_version,
    autopay_text,
    autopay_version,
    text_digest,
)
from portal.domain.plans import (
    Agreement,
    Installment,
    Plan,
    PlanKind,
    PlanStatus,
    check_day,
    is_paid,
    next_look,
    plan_notice_leads,
    plan_status,
    processing_cents,
    renumbered_rest,
    respread,
    schedule,
    unsettled,
    with_rest,
)
from portal.domain.staff import AuditAction, AuditEntry
from portal.domain.viewers import Viewer
from portal.ports.claims import Claim
from portal.ports.payments import SESSION_PLACEHOLDER, GatewayError, SetupRequest
from portal.services.accounts import account_view
from portal.services.claims import Finish, claim_payload, payload_fields
from portal.services.context import Services
from portal.services.errors import NotFound
from portal.services.notices import method_label, plan_agreement_message, send_once, wording_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanOffer:
    """What the practice offers for the account's balance today; `reason` says why no plan
    is offered (`longest` below 2 then)."""

    balance_cents: int
    longest: int
    min_installment_cents: int
    reason: str = ""
    running_plan_id: str = ""  # the account's plan, when it has one running
    language: str = "en"  # the guarantor's: the authorization's words are in it

    @property
    def offered(self) -> bool:
        return not self.reason


@dataclass(frozen=True)
class Proposal:
    """A schedule the patient asked for, with the words they are asked to agree to."""

    installments: tuple[Installment, ...]
    day: int
    text: str
    version: str = AUTHORIZATION_VERSION
    kind: PlanKind = PlanKind.INSTALLMENTS

    @property
    def total_cents(self) -> int:
        return sum(i.amount_cents for i in self.installments)


def today_of(services: Services) -> date:
    return practice_date(services.clock.now(), services.settings.tz)


def plan_offer(services: Services, account_number: str, viewer: Viewer) -> PlanOffer:
    view = account_view(services, account_number, viewer)
    policy = services.settings.plan_policy
    balance = view.due_cents
    running = [p for p in services.store.account_plans(account_number) if is_running(p)]
    if not viewer.is_guarantor:
        reason = "Only the account's guarantor can set up a payment plan."
    elif running:
        reason = "This account already has a payment plan."
    elif policy.longest(balance) < 2:
        reason = (
            "A payment plan is offered for balances of"
            f" ${policy.min_balance_cents // 100:,}.{policy.min_balance_cents % 100:02d} or more."
        )
    else:
        reason = ""
    longest = policy.longest(balance) if not reason else 0
    running_id = running[0].plan_id if running else ""
    language = view.account.guarantor.preferred_language
    return PlanOffer(balance, longest, policy.min_installment_cents, reason, running_id, language)


def propose(
    services: Services,
    account_number: str,
    viewer: Viewer,
    *,
    months: str = "",
    installment: str = "",
    day: str = "",
) -> Proposal:
    """The schedule for a number of months or a monthly amount (one of them) on a day of
    the month; InvalidInput naming the field that is wrong."""
    offer = plan_offer(services, account_number, viewer)
    if not offer.offered:
        raise InvalidInput("plan", offer.reason)
    policy = services.settings.plan_policy
    chosen_day = _whole_number(day, "day", "Choose a day of the month from 1 to 31.")
    check_day(chosen_day)
    if months.strip() and installment.strip():
        raise InvalidInput("months", "Choose a number of months or a monthly amount, not both.")
    if months.strip():
        count = _whole_number(months, "months", f"Choose from 2 to {offer.longest} months.")
        policy.check_months(offer.balance_cents, count)
    elif installment.strip():
        cents = parse_amount(installment, "installment")
        count = policy.months_for_installment(offer.balance_cents, cents)
    else:
        raise InvalidInput("months", "Choose a number of months or a monthly amount.")
    installments = schedule(offer.balance_cents, count, chosen_day, today_of(services))
    version = authorization_version(offer.language)
    text = authorization_text(
        services.settings.practice_name, account_number, installments, version
    )
    return Proposal(installments, chosen_day, text, version)


def propose_autopay(services: Services, account_number: str, viewer: Viewer) -> Proposal:
    """Autopay: each new statement paid in full on its due date (no schedule to choose)."""
    offer = plan_offer(services, account_number, viewer)
    if offer.reason and (offer.running_plan_id or not viewer.is_guarantor):
        raise InvalidInput("plan", offer.reason)
    version = autopay_version(offer.language)
    text = autopay_text(services.settings.practice_name, account_number, version)
    return Proposal((), 0, text, version, PlanKind.AUTOPAY)


def _whole_number(text: str, field: str, message: str) -> int:
    value = (text or "").strip()
    if not value.isdigit() or len(value) > 3:
        raise InvalidInput(field, message)
    return int(value)


def agree(
    services: Services,
    account_number: str,
    viewer: Viewer,
    proposal: Proposal,
    digest: str,
    address: str,
) -> Plan:
    """Store the plan the patient agreed to (nothing is charged before a method is saved).
    `digest` is that of the text the patient saw: InvalidInput when the schedule changed
    since (the balance moved), so the patient sees the new one first."""
    if digest != text_digest(proposal.text):
        raise InvalidInput(
            "agree", "Your balance changed since the schedule was shown: review it again."
        )
    now = services.clock.now()
    plan = Plan(
        plan_id="plan_" + secrets.token_hex(10),
        account_number=account_number,
        kind=proposal.kind,
        day=proposal.day,
        created_at=now,
        installments=proposal.installments,
        agreements=(
            Agreement(
                version=proposal.version,
                accepted_at=now,
                address=address,
                digest=digest,
                installments=proposal.installments,
            ),
        ),
        # The statements the plan pays: the open ones (autopay: none yet; it takes each
        # statement imported after it began as it comes due).
        statement_ids=()
        if proposal.kind is PlanKind.AUTOPAY
        else tuple(
            s.statement.statement_id
            for s in account_view(services, account_number, viewer).open_statements
        ),
    )
    if not services.store.add_plan(plan):  # a random id taken: cannot happen in practice
        raise RuntimeError("plan id taken")
    return plan


def start_method_setup(services: Services, plan: Plan, language: str = "en") -> str:
    """The processor's page, in the patient's `language` where it can be, where the patient
    saves the plan's card or bank account."""
    base = services.settings.base_url
    session = services.payments.create_setup(
        SetupRequest(
            purpose_id=plan.plan_id,
            success_url=f"{base}/plans/{plan.plan_id}/saved?session_id={SESSION_PLACEHOLDER}",
            cancel_url=f"{base}/plans/{plan.plan_id}",
            customer_id=plan.method.customer_id if plan.method else None,
            language=language,
        )
    )
    return session.url


def finish_method_setup(services: Services, plan_id: str, session_id: str) -> Plan:
    """Keep the method the processor's page saved for the plan; the plan then runs.
    InvalidInput (the processor's words) when the page saved nothing usable."""
    plan = services.store.get_plan(plan_id)
    if plan is None:
        raise NotFound(plan_id)
    try:
        method = services.payments.setup_outcome(session_id, plan_id)
    except GatewayError as exc:
        raise InvalidInput("method", exc.message) from None
    if method is None:
        raise InvalidInput("method", "The card or bank account is not saved yet: try again.")
    for _ in range(5):
        if plan.method == method:
            send_agreement_copy(services, plan)
            return plan
        # The charge run first looks at the plan on its first notice or charge day from
        # today on (asked as of yesterday: today's run may be still to come); autopay is
        # looked at every day, for the statements that come due.
        charged = [i for i in plan.installments if i.number not in plan.skipped]
        with_method = replace(plan, method=method)
        yesterday = today_of(services) - timedelta(days=1)
        first = (
            today_of(services)
            if plan.kind is PlanKind.AUTOPAY
            else next_look(charged, plan.attempts, yesterday, plan_notice_leads(with_method))
        )
        saved = services.store.save_plan(replace(with_method, next_on=plan.next_on or first))
        if saved is not None:
            send_agreement_copy(services, saved)
            return saved
        plan = services.store.get_plan(plan_id) or plan
    raise RuntimeError(f"plan {plan_id} kept changing")


AGREEMENT_CLAIM = "plan-agreement"


def send_agreement_copy(services: Services, plan: Plan) -> None:
    """E-mail the patient a copy of the plan's latest authorization, once (a failed send is
    finished by the sweep)."""
    agreement = plan.agreements[-1] if plan.agreements else None
    account = services.store.get_account(plan.account_number)
    if agreement is None or account is None or plan.method is None:
        return
    # The words of the version agreed to (its language), as they were shown.
    text = agreement_text(
        agreement.version,
        services.settings.practice_name,
        plan.account_number,
        agreement.installments,
    )
    agreed_on = practice_date(agreement.accepted_at, services.settings.tz)
    words = wording_for(services, account)
    message = plan_agreement_message(
        services,
        account,
        method_label(words, plan.method),
        text,
        agreement.version,
        words.long_date(agreed_on),
    )
    if message is None:
        return
    key = f"{plan.plan_id}:{len(plan.agreements)}"
    send_once(
        services,
        AGREEMENT_CLAIM,
        key,
        message,
        plan.account_number,
        claim_payload(plan_id=plan.plan_id),
    )


def finish_agreement_copy(services: Services, claim: Claim, today: date) -> Finish:
    """The sweep's way to send a copy whose send failed or whose sender died."""
    plan = services.store.get_plan(str(payload_fields(claim.payload).get("plan_id", "")))
    if plan is None or f"{plan.plan_id}:{len(plan.agreements)}" != claim.key:
        services.store.drop_claim(claim.kind, claim.key)
        return Finish.DROPPED
    send_agreement_copy(services, plan)
    done = services.store.claim_completed(claim.kind, claim.key)
    return Finish.DONE if done else Finish.LEFT


def is_running(plan: Plan) -> bool:
    """Set up (a method saved), neither canceled nor defaulted, and not paid off."""
    if not plan.active or plan.method is None:
        return False
    return plan.kind is PlanKind.AUTOPAY or not all(
        is_paid(i, plan.attempts) for i in plan.installments
    )


def status_of(services: Services, plan: Plan) -> PlanStatus:
    status = _status(services, plan)
    if plan.kind is PlanKind.AUTOPAY and status is PlanStatus.PAID_OFF:
        return PlanStatus.CURRENT  # nothing owed today; autopay goes on
    return status


def _status(services: Services, plan: Plan) -> PlanStatus:
    return plan_status(
        [i for i in plan.installments if i.number not in plan.skipped],
        plan.attempts,
        today_of(services),
        canceled=plan.canceled_at is not None,
    )


def cancel_plan(
    services: Services, plan_id: str, actor: str | None, reason: str, address: str = ""
) -> Plan:
    """Stop the plan's future charges; what is still owed is due as on the statements.
    `actor`: the staff user who canceled it (audited), None for the patient."""
    for _ in range(5):
        plan = services.store.get_plan(plan_id)
        if plan is None:
            raise NotFound(plan_id)
        if plan.canceled_at is not None:
            return plan
        now = services.clock.now()
        saved = services.store.save_plan(
            replace(plan, canceled_at=now, cancel_reason=reason.strip()[:300], next_on=None)
        )
        if saved is not None:
            if actor is not None:
                services.store.append_audit(
                    AuditEntry(
                        now, actor, AuditAction.CANCEL_PLAN, plan.account_number, plan_id, address
                    )
                )
            return saved
    raise RuntimeError(f"plan {plan_id} kept changing")


# -- the plan's page -----------------------------------------------------------------------


@dataclass(frozen=True)
class InstallmentView:
    installment: Installment
    state: str  # paid | processing | failed | missed | skipped | next | upcoming
    message: str = ""  # the processor's reason of the last failed try

    @property
    def label(self) -> str:
        return INSTALLMENT_LABELS[self.state]


INSTALLMENT_LABELS = {
    "paid": "paid",
    "processing": "processing",
    "failed": "will be tried again",
    "needs-you": "needs you to pay it",
    "missed": "missed",
    "skipped": "skipped",
    "next": "next",
    "upcoming": "upcoming",
}


@dataclass(frozen=True)
class PlanView:
    plan: Plan
    status: PlanStatus
    installments: tuple[InstallmentView, ...]

    @property
    def paid_cents(self) -> int:
        return sum(i.installment.amount_cents for i in self.installments if i.state == "paid")

    @property
    def remaining_cents(self) -> int:
        return sum(
            i.installment.amount_cents
            for i in self.installments
            if i.state not in ("paid", "skipped", "processing")
        )

    @property
    def next(self) -> InstallmentView | None:
        return next((i for i in self.installments if i.state == "next"), None)


def plan_view(services: Services, plan: Plan) -> PlanView:
    from portal.domain.plans import Outcome, is_missed

    today = today_of(services)
    shown = []
    next_found = False
    for item in plan.installments:
        tries = [a for a in plan.attempts if a.installment == item.number]
        last = max(tries, key=lambda a: a.number) if tries else None
        message = ""
        if item.number in plan.skipped:
            state = "skipped"
        elif is_paid(item, plan.attempts):
            state = "paid"
        elif last is not None and last.outcome is Outcome.PROCESSING:
            state = "processing"
        elif is_missed(item, plan.attempts, today):
            state, message = "missed", last.message if last else ""
        elif last is not None and last.outcome is Outcome.NEEDS_AUTHENTICATION:
            state, message = "needs-you", last.message
        elif last is not None:
            state, message = "failed", last.message
        elif not next_found:
            state, next_found = "next", True
        else:
            state = "upcoming"
        shown.append(InstallmentView(item, state, message))
    return PlanView(plan, status_of(services, plan), tuple(shown))


def account_plan(services: Services, account_number: str, plan_id: str) -> Plan:
    """The account's plan; NotFound for one of another account (never shown)."""
    plan = services.store.get_plan(plan_id)
    if plan is None or plan.account_number != account_number:
        raise NotFound(plan_id)
    return plan


# -- a new statement while on a plan -------------------------------------------------------


def unplanned_cents(services: Services, plan: Plan) -> int:
    """What the account owes beyond what the plan has left to charge (a statement that
    came after the plan): the patient adds it to the plan or pays it separately."""
    if plan.kind is not PlanKind.INSTALLMENTS or not is_running(plan):
        return 0
    left = sum(i.amount_cents for i in unsettled(plan))
    owed = account_view(services, plan.account_number).due_cents - processing_cents(plan)
    return max(owed - left, 0)


def propose_addition(services: Services, plan: Plan) -> Proposal:
    """The plan's rest re-spread over its remaining dates with the new balance added, and
    the authorization for it. InvalidInput when nothing new is owed or no date is left."""
    extra = unplanned_cents(services, plan)
    if extra <= 0:
        raise InvalidInput("plan", "Nothing new is owed beyond your plan.")
    left = unsettled(plan)
    if not left:
        raise InvalidInput(
            "plan", "Your plan has no payments left to add it to: pay it separately."
        )
    total = sum(i.amount_cents for i in left) + extra
    renumbered = renumbered_rest(plan, respread(tuple(left), total, plan.day))
    account = services.store.get_account(plan.account_number)
    version = authorization_version(account.guarantor.preferred_language if account else "")
    text = authorization_text(
        services.settings.practice_name, plan.account_number, renumbered, version
    )
    return Proposal(renumbered, plan.day, text, version)


def agree_addition(
    services: Services, plan_id: str, proposal: Proposal, digest: str, address: str
) -> Plan:
    """Replace the plan's rest with the re-spread schedule the patient agreed to (a new
    agreement, kept with the earlier ones; a copy e-mailed)."""
    if digest != text_digest(proposal.text):
        raise InvalidInput(
            "agree", "Your balance changed since the schedule was shown: review it again."
        )
    for _ in range(5):
        plan = services.store.get_plan(plan_id)
        if plan is None:
            raise NotFound(plan_id)
        current = propose_addition(services, plan)
        if current != proposal:
            raise InvalidInput(
                "agree", "Your balance changed since the schedule was shown: review it again."
            )
        now = services.clock.now()
        agreement = Agreement(proposal.version, now, address, digest, proposal.installments)
        open_ids = [
            s.statement.statement_id
            for s in account_view(services, plan.account_number).open_statements
        ]
        saved = services.store.save_plan(
            replace(
                with_rest(plan, proposal.installments),
                agreements=(*plan.agreements, agreement),
                statement_ids=tuple(dict.fromkeys((*plan.statement_ids, *open_ids))),
                next_on=min(
                    d for d in (plan.next_on, proposal.installments[0].due_on) if d is not None
                ),
            )
        )
        if saved is not None:
            send_agreement_copy(services, saved)
            return saved
    raise RuntimeError(f"plan {plan_id} kept changing")
