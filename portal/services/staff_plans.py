"""Payment plans as billing staff see and handle them: an account's plans with every try,
the plan link e-mailed to a guarantor on the phone, a supervisor's skip of one installment
or cancel of a plan, the list of every plan by status, and the plans of a month.

Staff never take card or bank numbers: the guarantor sets a plan up on the portal's own
pages from the link. Every change is audited here (cancel_plan audits its own).
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta, tzinfo

from portal.domain.aging import practice_date, practice_midnight
from portal.domain.errors import InvalidInput
from portal.domain.money import format_cents
from portal.domain.payments import Payment
from portal.domain.plans import Attempt, Plan, PlanStatus, plan_status
from portal.domain.staff import AuditAction
from portal.domain.viewers import Viewer
from portal.ports.plans import plan_cursor
from portal.services.accounts import AccountView
from portal.services.audit import audit
from portal.services.context import Services
from portal.services.errors import NotFound
from portal.services.notices import Delivery, deliver, plan_link_message
from portal.services.plans import PlanView, cancel_plan, is_running, plan_offer, plan_view
from portal.services.reports import RECEIVED, first_of_next_month

SAVE_TRIES = 5  # a skip saved over a lost race is read and checked again, this often
MAX_REASON = 200
STATUS_ORDER = (
    PlanStatus.CURRENT,
    PlanStatus.PAST_DUE,
    PlanStatus.DEFAULTED,
    PlanStatus.PAID_OFF,
    PlanStatus.CANCELED,
)
# The installments a supervisor may skip: not paid, not skipped, no bank debit in flight.
SKIPPABLE = ("next", "upcoming", "failed", "needs-you", "missed")


# -- the account page --------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptRow:
    attempt: Attempt
    amount_cents: int | None  # its payment's, else its installment's; None when neither is known


@dataclass(frozen=True)
class StaffPlanView:
    view: PlanView
    attempts: tuple[AttemptRow, ...]  # every try, oldest first

    @property
    def plan(self) -> Plan:
        return self.view.plan

    @property
    def skippable(self) -> tuple[int, ...]:
        """The installment numbers a supervisor may skip now (none on a finished plan)."""
        if not can_change(self.view):
            return ()
        return tuple(i.installment.number for i in self.view.installments if i.state in SKIPPABLE)

    @property
    def cancelable(self) -> bool:
        return can_change(self.view)


def can_change(view: PlanView) -> bool:
    return view.plan.active and view.status is not PlanStatus.PAID_OFF


def staff_plan_views(
    services: Services, plans: Iterable[Plan], payments: Sequence[Payment]
) -> list[StaffPlanView]:
    """The account's plans as the account page shows them (newest first, as given), each
    try with the amount of the payment it was made as: `payments` are the account's, read
    with the account, so the page reads nothing more."""
    amounts = {p.payment_id: p.amount_cents for p in payments}
    shown = []
    for plan in plans:
        installments = {i.number: i.amount_cents for i in plan.installments}
        tries = sorted(plan.attempts, key=lambda a: (a.on, a.installment, a.number))
        rows = tuple(
            AttemptRow(a, amounts.get(a.payment_id, installments.get(a.installment))) for a in tries
        )
        shown.append(StaffPlanView(plan_view(services, plan), rows))
    return shown


# -- sending the plan link ---------------------------------------------------------------------


def plan_link_refusal(services: Services, view: AccountView, plans: Sequence[Plan]) -> str:
    """Why the account page offers no plan link (empty when it does), from what the page
    read: the same reasons send_plan_link gives."""
    if not view.account.guarantor.email:
        return "The account has no e-mail address."
    if any(is_running(p) for p in plans):
        return "This account already has a payment plan."
    policy = services.settings.plan_policy
    if policy.longest(view.due_cents) < 2:
        least = format_cents(policy.min_balance_cents)
        return f"A payment plan is offered for balances of {least} or more."
    return ""


def send_plan_link(services: Services, actor: str, account_number: str, address: str) -> str:
    """E-mail the guarantor the way to set up a plan on the portal (Quick Pay, then "Pay
    over time"), once per call; returns the address it went to. InvalidInput when there is
    no address, or when no plan is offered for the account (the offer's reason)."""
    account = services.store.get_account(account_number)
    if account is None:
        raise NotFound(account_number)
    if not account.guarantor.email:
        raise InvalidInput(
            "email",
            f"Account {account_number} has no e-mail address: add one to the statement"
            " data, or tell the guarantor the steps on the phone.",
        )
    offer = plan_offer(services, account_number, Viewer.guarantor())
    if not offer.offered:
        raise InvalidInput("plan", f"No plan link sent: {offer.reason}")
    message = plan_link_message(services, account, offer.balance_cents)
    audit(services, actor, AuditAction.SEND_PLAN_LINK, account_number, message.to, address)
    outcome = deliver(services, message, account_number)
    if outcome is Delivery.REFUSED:
        raise InvalidInput("email", "The mail server refused the plan link; see the mail log.")
    if outcome is Delivery.FAILED:
        raise InvalidInput("email", "The plan link could not be sent just now; try again later.")
    return message.to


# -- a supervisor's changes --------------------------------------------------------------------


def _reason(text: str | None, what: str) -> str:
    reason = (text or "").strip()
    if not reason:
        raise InvalidInput("reason", f"Give the reason for {what}.")
    return reason[:MAX_REASON]


def _account_plan(services: Services, account_number: str, plan_id: str) -> Plan:
    """The account's plan; InvalidInput naming it when the account has no such plan."""
    if services.store.get_account(account_number) is None:
        raise NotFound(account_number)
    plan = services.store.get_plan(plan_id[:64]) if plan_id else None
    if plan is None or plan.account_number != account_number:
        raise InvalidInput("plan", f"Account {account_number} has no plan {plan_id[:64]!r}.")
    return plan


def _check_open(services: Services, view: PlanView, doing: str) -> None:
    plan, tz = view.plan, services.settings.tz
    if plan.canceled_at is not None:
        on = practice_date(plan.canceled_at, tz)
        raise InvalidInput("plan", f"Plan {plan.plan_id} was canceled on {on}: {doing}.")
    if plan.defaulted_at is not None:
        on = practice_date(plan.defaulted_at, tz)
        raise InvalidInput("plan", f"Plan {plan.plan_id} defaulted on {on}: {doing}.")
    if view.status is PlanStatus.PAID_OFF:
        raise InvalidInput("plan", f"Plan {plan.plan_id} is paid off: {doing}.")


def _installment_number(text: str | None) -> int:
    value = (text or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 4:
        raise InvalidInput("installment", "Choose the installment to skip by its number.")
    return int(value)


def skip_installment(
    services: Services,
    actor: str,
    account_number: str,
    plan_id: str,
    installment: str,
    reason: str,
    address: str,
) -> Plan:
    """Skip one installment: it is not charged and not counted as missed (what it would have
    paid stays owed on the statements). A supervisor's action, audited with the reason."""
    why = _reason(reason, "skipping the installment")
    number = _installment_number(installment)
    for _ in range(SAVE_TRIES):
        plan = _account_plan(services, account_number, plan_id)
        view = plan_view(services, plan)
        _check_open(services, view, "nothing is left to skip")
        shown = next((i for i in view.installments if i.installment.number == number), None)
        if shown is None:
            numbers = ", ".join(str(i.installment.number) for i in view.installments)
            raise InvalidInput(
                "installment",
                f"Plan {plan.plan_id} has no installment {number} (it has {numbers}).",
            )
        if shown.state == "skipped":
            raise InvalidInput("installment", f"Installment {number} is already skipped.")
        if shown.state == "paid":
            raise InvalidInput("installment", f"Installment {number} is already paid.")
        if shown.state not in SKIPPABLE:
            raise InvalidInput(
                "installment",
                f"Installment {number} is being paid by a bank debit still processing.",
            )
        skipped = tuple(sorted({*plan.skipped, number}))
        saved = services.store.save_plan(replace(plan, skipped=skipped))
        if saved is not None:
            subject = f"{plan.plan_id} installment {number}: {why}"
            audit(services, actor, AuditAction.SKIP_INSTALLMENT, account_number, subject, address)
            return saved
    raise InvalidInput("plan", "The plan kept changing while it was saved; try again.")


def cancel_plan_for_staff(
    services: Services,
    actor: str,
    account_number: str,
    plan_id: str,
    reason: str,
    address: str,
) -> Plan:
    """Stop the plan's future charges (services.plans.cancel_plan, audited there with the
    staff user); the reason is kept on the plan."""
    why = _reason(reason, "canceling the plan")
    plan = _account_plan(services, account_number, plan_id)
    _check_open(services, plan_view(services, plan), "there is nothing to cancel")
    return cancel_plan(services, plan.plan_id, actor, why, address)


# -- every plan --------------------------------------------------------------------------------

LIST_BATCH = 500


def every_plan(services: Services) -> Iterator[Plan]:
    """Every plan, newest first, read a batch at a time with list_plans' cursor."""
    before = None
    while True:
        batch = services.store.list_plans(limit=LIST_BATCH, before=before)
        yield from batch
        if len(batch) < LIST_BATCH:
            return
        before = plan_cursor(batch[-1])


@dataclass
class StatusTotal:
    count: int = 0
    scheduled_cents: int = 0
    paid_cents: int = 0
    remaining_cents: int = 0

    def add(self, view: PlanView) -> None:
        self.count += 1
        self.scheduled_cents += view.plan.amount_cents
        self.paid_cents += view.paid_cents
        self.remaining_cents += view.remaining_cents


@dataclass(frozen=True)
class PlanList:
    status: PlanStatus | None  # the filter, None for every status
    totals: dict[PlanStatus, StatusTotal]  # every plan, by status (the filter aside)
    rows: tuple[PlanView, ...]  # this page, newest first
    next_before: str | None  # the cursor of the next page, None on the last
    first_page: bool = True

    @property
    def total(self) -> StatusTotal:
        return StatusTotal(
            sum(t.count for t in self.totals.values()),
            sum(t.scheduled_cents for t in self.totals.values()),
            sum(t.paid_cents for t in self.totals.values()),
            sum(t.remaining_cents for t in self.totals.values()),
        )


def plan_list(
    services: Services,
    status: PlanStatus | None = None,
    before: str | None = None,
    page_size: int = 50,
) -> PlanList:
    """The plans of `status` (every one by default) a page at a time, newest first, after
    the plan whose list_plans cursor is `before`; with counts and totals per status of every
    plan (so every plan is read once: the totals need them all)."""
    totals = {s: StatusTotal() for s in STATUS_ORDER}
    rows: list[PlanView] = []
    more = False
    for plan in every_plan(services):
        view = plan_view(services, plan)
        totals[view.status].add(view)
        if status not in (None, view.status) or (before and plan_cursor(plan) >= before):
            continue
        if len(rows) < page_size:
            rows.append(view)
        else:
            more = True
    next_before = plan_cursor(rows[-1].plan) if more and rows else None
    return PlanList(status, totals, tuple(rows), next_before, first_page=not before)


# -- the monthly summary -----------------------------------------------------------------------


@dataclass(frozen=True)
class MonthPlans:
    month: date
    as_of: date  # the month's last day, or today while the month is not over
    by_status: dict[PlanStatus, int] = field(default_factory=dict)
    installments_count: int = 0
    installments_cents: int = 0  # plan tries whose payment posted in the month

    @property
    def plans(self) -> int:
        return sum(self.by_status.values())


def status_on(plan: Plan, day: date, tz: tzinfo) -> PlanStatus:
    """The plan's status at the end of `day`, from the tries made by then (its schedule and
    skips as they are now)."""
    canceled = plan.canceled_at is not None and practice_date(plan.canceled_at, tz) <= day
    return plan_status(
        [i for i in plan.installments if i.number not in plan.skipped],
        [a for a in plan.attempts if a.on <= day],
        day,
        canceled=canceled,
    )


def plans_in_month(services: Services, month: date) -> MonthPlans:
    """The plans that existed at the month's end (or today, in the current month) by their
    status then, and the installments charged in the month: the payments the plans' tries
    were made as, counted when the payment posted in the month (a bank debit when it
    settled), whatever happened to it later, as the deposits report counts money in."""
    tz = services.settings.tz
    month = month.replace(day=1)
    today = practice_date(services.clock.now(), tz)
    as_of = min(first_of_next_month(month) - timedelta(days=1), today)
    by_status = dict.fromkeys(STATUS_ORDER, 0)
    tried: set[str] = set()
    for plan in every_plan(services):
        tried.update(a.payment_id for a in plan.attempts if a.payment_id)
        if month <= as_of and practice_date(plan.created_at, tz) <= as_of:
            by_status[status_on(plan, as_of, tz)] += 1
    start = practice_midnight(month, tz)
    end = practice_midnight(first_of_next_month(month), tz)
    charged = [
        p
        for p in services.store.list_payments(start, end)
        if p.payment_id in tried and p.status in RECEIVED and p.posted_at is not None
    ]
    return MonthPlans(
        month,
        as_of,
        by_status,
        len(charged),
        sum(p.amount_cents for p in charged),
    )
