"""Payment plans: what the practice offers for a balance, the schedule of installments,
and which tries the daily charge run makes.

Installments are interest-free and add up to the plan's amount exactly: every installment
is the amount divided by the number of months, rounded down to the cent, and the cents left
over go to the last one. Each falls on the chosen day of the month, or on the month's last
day when the month is shorter (a plan on the 31st pays on February 28th or 29th). Dates are
days on the practice's calendar; which instant a day starts is the charge run's concern.
"""

from calendar import monthrange
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from portal.domain.errors import InvalidInput
from portal.domain.money import format_cents

MAX_DAY_OF_MONTH = 31


@dataclass(frozen=True)
class PlanTier:
    """Plans up to `max_months` long for balances below `below_cents` (None: any balance)."""

    below_cents: int | None
    max_months: int


@dataclass(frozen=True)
class PlanPolicy:
    """What the practice offers: the smallest balance a plan can carry, the smallest
    installment, and the longest plan for each balance tier (tiers in increasing order,
    the last for any balance)."""

    min_balance_cents: int = 10_000
    min_installment_cents: int = 2_500
    tiers: tuple[PlanTier, ...] = (
        PlanTier(50_000, 6),
        PlanTier(200_000, 12),
        PlanTier(None, 24),
    )

    def __post_init__(self) -> None:
        """InvalidInput naming the part of the policy that makes no sense."""
        if self.min_installment_cents < 100:
            raise InvalidInput("min_installment", "The smallest installment is at least $1.00.")
        if self.min_balance_cents < 2 * self.min_installment_cents:
            raise InvalidInput(
                "min_balance", "The smallest balance on a plan must allow two installments."
            )
        if not self.tiers or self.tiers[-1].below_cents is not None:
            raise InvalidInput("tiers", "The last tier must be for any balance.")
        bounds = [t.below_cents for t in self.tiers[:-1]]
        limits = [b for b in bounds if b is not None]
        if len(limits) != len(bounds) or limits != sorted(set(limits)):
            raise InvalidInput("tiers", "Tiers go by increasing balance.")
        if any(t.max_months < 2 for t in self.tiers):
            raise InvalidInput("tiers", "A plan has at least two installments.")

    def longest(self, balance_cents: int) -> int:
        """The most months a plan for this balance may run, by tier and by the smallest
        installment; below 2 when no plan is offered."""
        if balance_cents < self.min_balance_cents:
            return 0
        tier = next(t for t in self.tiers if t.below_cents is None or balance_cents < t.below_cents)
        return min(tier.max_months, balance_cents // self.min_installment_cents)

    def check_months(self, balance_cents: int, months: int) -> None:
        """InvalidInput naming what is wrong when a plan of `months` is not offered."""
        if balance_cents < self.min_balance_cents:
            raise InvalidInput(
                "balance",
                f"A plan is offered for balances of {format_cents(self.min_balance_cents)}"
                " or more.",
            )
        longest = self.longest(balance_cents)
        if not 2 <= months <= longest:
            raise InvalidInput(
                "months",
                f"Choose from 2 to {longest} months for a balance of "
                f"{format_cents(balance_cents)}.",
            )

    def months_for_installment(self, balance_cents: int, installment_cents: int) -> int:
        """The months a plan takes when the patient names a monthly amount: the fewest whose
        installments are no larger than it (the last may be larger by the leftover cents).
        InvalidInput when that plan is not offered."""
        if installment_cents < self.min_installment_cents:
            raise InvalidInput(
                "installment",
                f"The smallest monthly amount is {format_cents(self.min_installment_cents)}.",
            )
        months = -(-balance_cents // installment_cents)
        if months < 2:
            raise InvalidInput(
                "installment", "That pays the whole balance at once: pay it now instead."
            )
        if months > self.longest(balance_cents):
            self.check_months(balance_cents, months)  # says why, with the longest offered
        return months


@dataclass(frozen=True)
class Installment:
    number: int  # 1 for the first
    due_on: date
    amount_cents: int


def split(amount_cents: int, months: int) -> tuple[int, ...]:
    """`months` installments adding up to `amount_cents`; the leftover cents go last."""
    if months < 1 or amount_cents < months:
        raise ValueError(f"cannot split {amount_cents} cents into {months} installments")
    each, left = divmod(amount_cents, months)
    return (each,) * (months - 1) + (each + left,)


def on_day(year: int, month: int, day: int) -> date:
    """The `day` of the month, or the month's last day when it is shorter."""
    return date(year, month, min(day, monthrange(year, month)[1]))


def month_after(when: date, months: int, day: int) -> date:
    """The `day` of the month `months` after `when`'s month."""
    index = when.year * 12 + when.month - 1 + months
    return on_day(index // 12, index % 12 + 1, day)


def first_due(start: date, day: int) -> date:
    """The first date on the chosen day of the month that is on or after `start`."""
    check_day(day)
    this_month = on_day(start.year, start.month, day)
    return this_month if this_month >= start else month_after(start, 1, day)


def check_day(day: int) -> None:
    if not 1 <= day <= MAX_DAY_OF_MONTH:
        raise InvalidInput("day", f"Choose a day of the month from 1 to {MAX_DAY_OF_MONTH}.")


def schedule(amount_cents: int, months: int, day: int, start: date) -> tuple[Installment, ...]:
    """The installments of a plan of `amount_cents` over `months`, on `day` of each month,
    the first on or after `start`."""
    first = first_due(start, day)
    return tuple(
        Installment(n + 1, month_after(first, n, day), cents)
        for n, cents in enumerate(split(amount_cents, months))
    )


def respread(
    remaining: tuple[Installment, ...], balance_cents: int, day: int
) -> tuple[Installment, ...]:
    """The rest of a plan after its balance changed (an insurance adjustment, a statement
    added), from its next installment on.

    A lower balance shortens the plan: as few of the same dates as installments no larger
    than the next one need (each as large but for the leftover cents on the last). A higher
    one keeps the dates and raises the installments (the patient agrees again first).
    Numbers go on from the next installment's; nothing is left when nothing is owed."""
    if not remaining:
        raise ValueError("no installments left to re-spread")
    if balance_cents <= 0:
        return ()
    owed = sum(i.amount_cents for i in remaining)
    months = len(remaining)
    if balance_cents < owed:
        months = min(months, -(-balance_cents // remaining[0].amount_cents))
    months = min(months, balance_cents)  # at least a cent each
    first = remaining[0]
    return tuple(
        Installment(first.number + n, month_after(first.due_on, n, day), cents)
        for n, cents in enumerate(split(balance_cents, months))
    )


# -- charging: which installment is tried when, and what the plan's state is -------------

# Tries of an installment after a soft decline: on its due day, then 3 and 7 days later.
TRY_DAYS = (0, 3, 7)
# Missed installments after which a plan defaults.
MISSED_TO_DEFAULT = 2


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    PROCESSING = "processing"  # a bank debit, until the processor says how it ended
    SOFT_DECLINE = "soft-decline"  # may work later (insufficient funds, try again)
    HARD_DECLINE = "hard-decline"  # will not work (closed account, stolen card)
    NEEDS_AUTHENTICATION = "needs-authentication"  # the patient pays it on the hosted page


class PlanStatus(StrEnum):
    CURRENT = "current"
    PAST_DUE = "past-due"
    DEFAULTED = "defaulted"
    PAID_OFF = "paid-off"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Attempt:
    installment: int  # its number
    number: int  # 1 for the first try
    on: date  # the practice day it was made
    outcome: Outcome
    payment_id: str = ""  # the portal payment the try was made as
    reference: str = ""  # the processor's id of the charge ("" when none was made)
    message: str = ""  # the processor's reason, fit to show the patient and staff


@dataclass(frozen=True)
class ChargeDue:
    installment: Installment
    attempt: int  # the try's number: with the plan, the processor's idempotency key

    def idempotency_key(self, plan_id: str) -> str:
        return f"plan-{plan_id}-{self.installment.number}-{self.attempt}"


def _tries(attempts: Iterable[Attempt], number: int) -> list[Attempt]:
    return sorted((a for a in attempts if a.installment == number), key=lambda a: a.number)


def is_paid(installment: Installment, attempts: Iterable[Attempt]) -> bool:
    return any(a.outcome is Outcome.SUCCEEDED for a in _tries(attempts, installment.number))


def is_missed(installment: Installment, attempts: Iterable[Attempt], today: date) -> bool:
    """Missed for good: every try declined, a hard decline, or a charge the patient had to
    authenticate and did not pay within the last try's days."""
    tries = _tries(attempts, installment.number)
    if any(a.outcome in (Outcome.SUCCEEDED, Outcome.PROCESSING) for a in tries[-1:]):
        return False
    if any(a.outcome is Outcome.HARD_DECLINE for a in tries):
        return True
    if any(a.outcome is Outcome.NEEDS_AUTHENTICATION for a in tries):
        return (today - installment.due_on).days > TRY_DAYS[-1]
    return len(tries) >= len(TRY_DAYS) and all(a.outcome is Outcome.SOFT_DECLINE for a in tries)


def charges_due(
    installments: Iterable[Installment], attempts: Iterable[Attempt], today: date
) -> list[ChargeDue]:
    """The tries to make today: each installment's next try once its day has come (a day
    the run did not run is made up once, late), none for one paid, in processing, missed,
    or waiting for the patient to authenticate."""
    attempts = list(attempts)
    due = []
    for installment in installments:
        tries = _tries(attempts, installment.number)
        if len(tries) >= len(TRY_DAYS) or is_missed(installment, attempts, today):
            continue
        if any(a.outcome is not Outcome.SOFT_DECLINE for a in tries):
            continue  # paid, processing, or the patient's to authenticate
        if today >= installment.due_on + timedelta(days=TRY_DAYS[len(tries)]) and not any(
            a.on == today for a in tries
        ):
            due.append(ChargeDue(installment, len(tries) + 1))
    return due


def plan_status(
    installments: Iterable[Installment],
    attempts: Iterable[Attempt],
    today: date,
    canceled: bool = False,
) -> PlanStatus:
    """Current while no installment is behind; past due while one is being tried again,
    waits for the patient, or was missed; defaulted after two missed."""
    installments, attempts = list(installments), list(attempts)
    if canceled:
        return PlanStatus.CANCELED
    unpaid = [i for i in installments if not is_paid(i, attempts)]
    if not unpaid:
        return PlanStatus.PAID_OFF
    missed = [i for i in unpaid if is_missed(i, attempts, today)]
    if len(missed) >= MISSED_TO_DEFAULT:
        return PlanStatus.DEFAULTED
    # Behind: a missed installment, or one whose try failed (retried, or the patient's to
    # authenticate); a bank debit still processing is not.
    tried_and_failed = any(
        a.outcome is not Outcome.PROCESSING for i in unpaid for a in _tries(attempts, i.number)
    )
    return PlanStatus.PAST_DUE if missed or tried_and_failed else PlanStatus.CURRENT


# -- the plan as stored ------------------------------------------------------------------


class PlanKind(StrEnum):
    INSTALLMENTS = "installments"  # a balance paid over months
    AUTOPAY = "autopay"  # each new statement paid in full on its due date


@dataclass(frozen=True)
class SavedMethod:
    """A card or US bank account the processor keeps for off-session charges. The portal
    keeps only the processor's ids and what may be shown: the brand and the last four."""

    method_id: str  # the processor's payment method (pm_...)
    customer_id: str  # the processor's customer, which carries nothing about the patient
    kind: str  # "card" | "us_bank_account"
    brand: str  # "visa", "mastercard", ... or the bank's name for an account
    last4: str

    @property
    def label(self) -> str:
        name = "Bank account" if self.kind == "us_bank_account" else self.brand.title()
        return f"{name} ending in {self.last4}"


@dataclass(frozen=True)
class Agreement:
    """One authorization the patient gave: which text (its version and the SHA-256 of the
    exact words shown), when, and from which address."""

    version: str
    accepted_at: datetime  # UTC
    address: str  # the patient's IP address
    digest: str  # hex SHA-256 of the text agreed to
    installments: tuple[Installment, ...] = ()  # the schedule agreed to (autopay: none)


@dataclass(frozen=True)
class Plan:
    """A payment plan or an autopay, with every try the charge run made.

    `version` is the store's: a change is written only over the version it was read at.
    `next_on` is the practice day the charge run next looks at the plan (a charge, a retry,
    a notice); None when nothing more is to be done (canceled, paid off, defaulted)."""

    plan_id: str
    account_number: str
    kind: PlanKind
    day: int  # the day of the month installments fall on (autopay: unused, 0)
    created_at: datetime  # UTC
    installments: tuple[Installment, ...] = ()
    agreements: tuple[Agreement, ...] = ()  # every authorization, oldest first
    method: SavedMethod | None = None  # None until the processor's page saved one
    attempts: tuple[Attempt, ...] = ()
    skipped: tuple[int, ...] = ()  # installment numbers a supervisor skipped
    statement_ids: tuple[str, ...] = ()  # the statements the plan pays
    canceled_at: datetime | None = None
    cancel_reason: str = ""
    defaulted_at: datetime | None = None
    next_on: date | None = None
    version: int = 0

    @property
    def amount_cents(self) -> int:
        return sum(i.amount_cents for i in self.installments)

    @property
    def active(self) -> bool:
        return self.canceled_at is None and self.defaulted_at is None


# Notices of an upcoming charge: this many days before it (on the practice's calendar), and
# earlier for a bank debit whose amount differs from the one before it or from the amount
# agreed for that day (Reg E: written notice 10 days before such a debit).
UPCOMING_NOTICE_DAYS = 3
CHANGED_DEBIT_NOTICE_DAYS = 10


def notice_leads(
    installments: Iterable[Installment], agreed: Iterable[Installment], bank_debit: bool
) -> dict[int, int]:
    """Days before each installment's charge the patient is told of it, by installment
    number: UPCOMING_NOTICE_DAYS; CHANGED_DEBIT_NOTICE_DAYS for a bank debit whose amount
    is not the amount of the installment before it, or not the amount agreed for its day
    (after a re-spread)."""
    ordered = sorted(installments, key=lambda i: (i.due_on, i.number))
    agreed_on = {i.due_on: i.amount_cents for i in agreed}
    leads = {}
    for before, installment in zip([None, *ordered], ordered, strict=False):
        changed = (
            before is not None and before.amount_cents != installment.amount_cents
        ) or agreed_on.get(installment.due_on) != installment.amount_cents
        long_notice = bank_debit and changed
        leads[installment.number] = (
            CHANGED_DEBIT_NOTICE_DAYS if long_notice else UPCOMING_NOTICE_DAYS
        )
    return leads


def notice_day(installment: Installment, leads: Mapping[int, int]) -> date:
    """The practice day the notice of the installment's charge goes."""
    return installment.due_on - timedelta(days=leads.get(installment.number, 0))


def notices_due(
    installments: Iterable[Installment],
    attempts: Iterable[Attempt],
    leads: Mapping[int, int],
    today: date,
) -> list[Installment]:
    """The installments whose upcoming-charge notice is due today: not tried yet, charged
    after today, and their notice day come (a day the run did not run is made up, late,
    while the charge is still ahead)."""
    attempts = list(attempts)
    return [
        i
        for i in installments
        if not _tries(attempts, i.number) and notice_day(i, leads) <= today < i.due_on
    ]


def retry_on(installment: Installment, attempts: Iterable[Attempt], today: date) -> date | None:
    """The day an installment whose last try was declined (softly) is tried again, after
    `today`'s run; None when no try is left (that was the last, or a hard decline)."""
    attempts = list(attempts)
    tries = _tries(attempts, installment.number)
    if (
        not tries
        or tries[-1].outcome is not Outcome.SOFT_DECLINE
        or is_missed(installment, attempts, today)
        or len(tries) >= len(TRY_DAYS)
    ):
        return None
    return max(installment.due_on + timedelta(days=TRY_DAYS[len(tries)]), today + timedelta(days=1))


def plan_notice_leads(plan: Plan) -> dict[int, int]:
    """notice_leads for the plan's installments, against its latest agreement."""
    agreed = plan.agreements[-1].installments if plan.agreements else ()
    bank_debit = plan.method is not None and plan.method.kind == "us_bank_account"
    return notice_leads(plan.installments, agreed, bank_debit)


def next_look(
    installments: Iterable[Installment],
    attempts: Iterable[Attempt],
    today: date,
    leads: Mapping[int, int] | None = None,
) -> date | None:
    """The next practice day the charge run has something to do for these installments,
    after `today`'s run: an installment's notice day (`leads`: days before its charge, by
    number, see notice_leads; none without), its day, a retry's day, the day one that
    waits for the patient is missed, or tomorrow while a bank debit is processing; None
    when none is left to try."""
    attempts = list(attempts)
    days = []
    for installment in installments:
        tries = _tries(attempts, installment.number)
        if is_paid(installment, attempts) or is_missed(installment, attempts, today):
            continue
        last = tries[-1].outcome if tries else None
        if last is Outcome.PROCESSING:
            days.append(today + timedelta(days=1))
        elif last is Outcome.NEEDS_AUTHENTICATION:
            days.append(installment.due_on + timedelta(days=TRY_DAYS[-1] + 1))
        elif len(tries) < len(TRY_DAYS):
            days.append(installment.due_on + timedelta(days=TRY_DAYS[len(tries)]))
        if not tries and leads and notice_day(installment, leads) > today:
            days.append(notice_day(installment, leads))
    later = [max(day, today + timedelta(days=1)) for day in days]
    return min(later, default=None)


# -- the rest of a plan: what is still to charge, and re-spreading it ---------------------


def is_processing(plan: Plan, number: int) -> bool:
    """The installment's last try is a bank debit still on its way."""
    tries = _tries(plan.attempts, number)
    return bool(tries) and tries[-1].outcome is Outcome.PROCESSING


def unsettled(plan: Plan) -> list[Installment]:
    """The installments still to charge: not skipped, not paid, not a debit processing."""
    return [
        i
        for i in plan.installments
        if i.number not in plan.skipped
        and not is_paid(i, plan.attempts)
        and not is_processing(plan, i.number)
    ]


def processing_cents(plan: Plan) -> int:
    """What the plan's debits still processing will take (not in the balance yet)."""
    return sum(
        i.amount_cents
        for i in plan.installments
        if not is_paid(i, plan.attempts) and is_processing(plan, i.number)
    )


def renumbered_rest(plan: Plan, rest: Iterable[Installment]) -> tuple[Installment, ...]:
    """A new rest of the plan numbered on after every number used so far (tries of the
    installments it replaces stay on the plan under theirs): an idempotency key is never
    used again for another amount."""
    used = {i.number for i in plan.installments} | {a.installment for a in plan.attempts}
    first = max(used, default=0) + 1
    return tuple(replace(i, number=first + n) for n, i in enumerate(rest))


def with_rest(plan: Plan, rest: Iterable[Installment]) -> Plan:
    """The plan with its unsettled installments replaced by `rest` (numbered already)."""
    left = {i.number for i in unsettled(plan)}
    kept = [i for i in plan.installments if i.number not in left]
    installments = tuple(sorted((*kept, *rest), key=lambda i: (i.due_on, i.number)))
    return replace(plan, installments=installments)
