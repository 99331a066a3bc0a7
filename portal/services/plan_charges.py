"""The daily charge run of payment plans: each installment's try made exactly once.

A try is claimed in the store first (kind `plan-charge`, key the processor's idempotency
key `plan-<plan>-<installment>-<try>`), then made as a portal payment (its id derived from
the key, so a rerun finds the same payment), charged on the saved method with that key (so
the processor charges it once however often it is asked), applied as the processor's
event (posted with its receipt, processing, or failed: exactly once, by the event's own
claim), and kept on the plan; then the claim is marked done. A run killed anywhere in
between leaves a claim that the next run (once stale) or the sweep finishes by the same
steps, which each do nothing the second time.
"""

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta

from portal.domain.aging import practice_date
from portal.domain.ledger import EntryKind
from portal.domain.payments import (
    PLAN_CHARGE_PREFIX,
    Payment,
    PaymentStatus,
    installment_line,
)
from portal.domain.plans import (
    CHANGED_DEBIT_NOTICE_DAYS,
    UPCOMING_NOTICE_DAYS,
    Attempt,
    ChargeDue,
    Installment,
    Outcome,
    Plan,
    PlanKind,
    PlanStatus,
    charges_due,
    next_look,
    plan_notice_leads,
    plan_status,
    processing_cents,
    renumbered_rest,
    respread,
    unsettled,
    with_rest,
)
from portal.domain.staff import EscalationKind
from portal.ports.claims import Claim
from portal.ports.payments import EventKind, GatewayError, GatewayEvent, OffSessionCharge
from portal.services.accounts import account_view
from portal.services.claims import Finish, claim_payload, payload_fields, stale_before
from portal.services.context import Services
from portal.services.plan_notices import (
    claim_default_notice,
    reserve_failed_notice,
    send_claimed_default_notice,
    send_plan_notices,
)
from portal.services.plan_payments import keep_posted_installment_payments
from portal.services.staff_actions import open_escalation
from portal.services.webhooks import apply_event_once

log = logging.getLogger(__name__)

PLAN_CHARGE_CLAIM = "plan-charge"
SYSTEM = "system"
SAVE_TRIES = 5
DUE_PAGE = 500  # a plan saved over a lost race is read and changed again, this often

EVENT_OF = {
    Outcome.SUCCEEDED: EventKind.PAYMENT_SUCCEEDED,
    Outcome.PROCESSING: EventKind.PAYMENT_PROCESSING,
}


@dataclass
class ChargeSummary:
    charged: int = 0
    failed: int = 0
    skipped: int = 0
    defaulted: int = 0
    dry_run: bool = False

    @property
    def line(self) -> str:
        return (
            f"charged={self.charged} failed={self.failed} skipped={self.skipped}"
            f" defaulted={self.defaulted}"
        )

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "dry_run"}


def run_plan_charges(services: Services, as_of: datetime, dry_run: bool = False) -> ChargeSummary:
    """Charge what is due on the practice's calendar day of `as_of`: every try due on the
    plans whose next day has come, each once; plans two installments behind default."""
    today = practice_date(as_of, services.settings.tz)
    summary = ChargeSummary(dry_run=dry_run)
    seen: set[str] = set()
    while True:
        # A page of the due plans at a time; a plan run moves its day on, so the next page
        # holds the rest (and any plan whose run failed, seen already: then it ends).
        page = [p for p in services.store.plans_due(today, DUE_PAGE) if p.plan_id not in seen]
        if not page:
            break
        for plan in page:
            seen.add(plan.plan_id)
            _run_guarded(services, plan, today, summary)
        if dry_run:
            break  # a dry run moves no plan on
    log.info("plan charges for %s: %s", today, summary.line)
    return summary


def charge_plans(
    services: Services, plan_ids: Sequence[str], today: date, summary: ChargeSummary
) -> int:
    """Run the plans named (a batch of the fanned-out run, portal/services/fanout.py), each
    read afresh: one no longer due today (run already by an earlier delivery of the batch,
    or changed since it was queued) is skipped. Returns how many plans raised (counted as
    failed too): worth another delivery, which each claimed try survives."""
    raised = 0
    for plan_id in plan_ids:
        plan = services.store.get_plan(plan_id)
        if plan is None or plan.next_on is None or plan.next_on > today:
            summary.skipped += 1
            continue
        if not _run_guarded(services, plan, today, summary):
            raised += 1
    return raised


def _run_guarded(services: Services, plan: Plan, today: date, summary: ChargeSummary) -> bool:
    """One plan's run; its trouble must not stop everyone else's installments."""
    try:
        _run_plan(services, plan, today, summary)
    except Exception:
        log.exception("plans: plan %s failed", plan.plan_id)
        summary.failed += 1
        return False
    return True


def _run_plan(services: Services, plan: Plan, today: date, summary: ChargeSummary) -> None:
    if not plan.active or plan.method is None:
        summary.skipped += 1
        return
    if plan.kind is PlanKind.AUTOPAY:
        taken: Plan | None = _with_due_statements(services, plan, today)
        if taken != plan and not summary.dry_run:
            taken = _change_plan(
                services, plan.plan_id, lambda p: _with_due_statements(services, p, today)
            )
        plan = taken or plan
    if not summary.dry_run:
        keep_posted_installment_payments(services, plan, today)
        _settle_processing(services, plan, today)
        plan = _fit_to_balance(services, plan.plan_id) or plan
    for due in charges_due(_to_charge(plan), plan.attempts, today):
        if summary.dry_run:
            summary.charged += 1
            continue
        outcome = charge_once(services, plan.plan_id, due, today)
        if outcome is None:
            summary.skipped += 1
        elif outcome in (Outcome.SUCCEEDED, Outcome.PROCESSING):
            summary.charged += 1
        else:
            summary.failed += 1
    if summary.dry_run:
        return
    if _settle(services, plan.plan_id, today):
        summary.defaulted += 1
    send_plan_notices(services, plan.plan_id, today)


def _with_due_statements(services: Services, plan: Plan, today: date) -> Plan:
    """Autopay: each statement imported after autopay began (not one already open when the
    patient agreed) becomes an installment of its balance on its due date, taken on (into
    `statement_ids`) as soon as its notice is due (3 days before; 10 for a bank debit, whose
    amount changes from statement to statement)."""
    bank = plan.method is not None and plan.method.kind == "us_bank_account"
    ahead = today + timedelta(days=CHANGED_DEBIT_NOTICE_DAYS if bank else UPCOMING_NOTICE_DAYS)
    view = account_view(services, plan.account_number)
    imported: dict[str, datetime] = {}
    for entry in view.entries:
        if entry.kind is EntryKind.CHARGE and entry.statement_id:
            earliest = imported.get(entry.statement_id, entry.posted_at)
            imported[entry.statement_id] = min(earliest, entry.posted_at)
    new = [
        s
        for s in view.open_statements
        if s.statement.statement_id not in plan.statement_ids
        and s.statement.due_date <= ahead
        and imported.get(s.statement.statement_id, plan.created_at) > plan.created_at
    ]
    if not new:
        return plan
    first = max((i.number for i in plan.installments), default=0) + 1
    added = tuple(
        Installment(first + n, s.statement.due_date, s.balance_cents) for n, s in enumerate(new)
    )
    return replace(
        plan,
        installments=(*plan.installments, *added),
        statement_ids=(*plan.statement_ids, *(s.statement.statement_id for s in new)),
    )


def _settle_processing(services: Services, plan: Plan, today: date) -> None:
    """Ask the processor what each bank debit still processing came to, and apply it."""
    for attempt in plan.attempts:
        if attempt.outcome is not Outcome.PROCESSING or not attempt.reference:
            continue
        try:
            result = services.payments.charge_status(attempt.reference)
        except GatewayError as exc:
            log.warning("plans: %s not asked about: %s", attempt.reference, exc.message)
            continue
        if result.outcome is Outcome.PROCESSING:
            continue
        apply_event_once(
            services,
            GatewayEvent(
                kind=EVENT_OF.get(result.outcome, EventKind.PAYMENT_FAILED),
                payment_id=attempt.payment_id,
                reference=result.reference,
                amount_cents=result.amount_cents,
                message=result.message,
                event_id=f"plan:{attempt.payment_id}:settled",
            ),
        )
        settled = replace(attempt, outcome=result.outcome, message=result.message)
        _change_plan(
            services, plan.plan_id, lambda p, old=attempt, new=settled: _replaced(p, old, new)
        )


def _replaced(plan: Plan, old: Attempt, new: Attempt) -> Plan:
    key = (old.installment, old.number)
    attempts = tuple(
        new if (a.installment, a.number) == key and a.outcome is Outcome.PROCESSING else a
        for a in plan.attempts
    )
    return replace(plan, attempts=attempts)


def _fit_to_balance(services: Services, plan_id: str) -> Plan | None:
    """A plan never charges more than the account owes: when the balance fell below what
    the plan has left to charge (an insurance adjustment, a payment made early or in full),
    the rest of the schedule is re-spread over fewer or smaller installments."""
    plan = services.store.get_plan(plan_id)
    if plan is None:
        return None
    left = unsettled(plan)
    if not left:
        return plan
    processing = processing_cents(plan)
    owed = max(account_view(services, plan.account_number).due_cents - processing, 0)
    if owed >= sum(i.amount_cents for i in left) or _try_in_flight(services, plan, left):
        return plan
    return _change_plan(services, plan_id, lambda p: _respread(p, owed))


def _try_in_flight(services: Services, plan: Plan, left: list[Installment]) -> bool:
    """Whether a try of one of these installments was begun and not kept on the plan (a
    run died after making its payment): its key is bound to its amount, so the plan is
    not re-spread until that try is finished (by the rerun or the sweep)."""
    for installment in left:
        tries = sum(1 for a in plan.attempts if a.installment == installment.number)
        key = charge_key(plan.plan_id, ChargeDue(installment, tries + 1))
        if services.store.get_payment(payment_id_for(key)) is not None:
            return True
    return False


def _respread(plan: Plan, owed: int) -> Plan:
    left = unsettled(plan)
    if not left:
        return plan
    spread = respread(tuple(left), owed, plan.day) if owed else ()
    return with_rest(plan, renumbered_rest(plan, spread))


def _to_charge(plan: Plan):
    return [i for i in plan.installments if i.number not in plan.skipped]


def charge_key(plan_id: str, due: ChargeDue) -> str:
    return due.idempotency_key(plan_id)


def payment_id_for(key: str) -> str:
    """The portal payment a try is made as: the same for every run that makes the try."""
    return PLAN_CHARGE_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:24]


def charge_once(services: Services, plan_id: str, due: ChargeDue, today: date) -> Outcome | None:
    """Make one try of an installment unless another run holds or made it (None then)."""
    store, now = services.store, services.clock.now()
    key = charge_key(plan_id, due)
    payload = claim_payload(
        plan_id=plan_id,
        installment=due.installment.number,
        attempt=due.attempt,
        on=today.isoformat(),
    )
    if not store.claim(PLAN_CHARGE_CLAIM, key, now, stale_before(now), payload):
        return None
    try:
        outcome = _charge_claimed(services, plan_id, due, today)
    except BaseException:
        store.release_claim(PLAN_CHARGE_CLAIM, key)
        raise
    if outcome is None:
        store.release_claim(PLAN_CHARGE_CLAIM, key)
        return None
    store.complete_claim(PLAN_CHARGE_CLAIM, key, services.clock.now())
    return outcome


def _charge_claimed(
    services: Services, plan_id: str, due: ChargeDue, today: date
) -> Outcome | None:
    """The try's steps, each doing nothing when done before; None when the processor could
    not be asked (the try is made again by the next run or the sweep)."""
    store = services.store
    plan = store.get_plan(plan_id)
    if plan is None or plan.method is None:
        return None
    key = charge_key(plan_id, due)
    done = next(
        (
            a
            for a in plan.attempts
            if (a.installment, a.number) == (due.installment.number, due.attempt)
        ),
        None,
    )
    if done is not None:
        return done.outcome
    payment_id = payment_id_for(key)
    cents = due.installment.amount_cents
    store.create_payment(
        Payment(
            payment_id=payment_id,
            account_number=plan.account_number,
            amount_cents=cents,
            status=PaymentStatus.PENDING,
            method=plan.method.kind,
            gateway=services.payments.name,
            created_at=services.clock.now(),
            method_detail=plan.method.label,
        )
    )
    try:
        result = services.payments.charge_saved(
            OffSessionCharge(
                payment_id=payment_id,
                method=plan.method,
                amount_cents=cents,
                description=installment_line(
                    due.installment.number, len(plan.installments), _words(services, plan)
                ),
                key=key,
            )
        )
    except GatewayError as exc:
        log.warning("plans: plan %s, %s not made: %s", plan_id, key, exc.message)
        return None
    apply_event_once(
        services,
        GatewayEvent(
            kind=EVENT_OF.get(result.outcome, EventKind.PAYMENT_FAILED),
            payment_id=payment_id,
            reference=result.reference,
            amount_cents=result.amount_cents,
            message=result.message,
            event_id=f"plan:{key}",
        ),
    )
    attempt = Attempt(
        installment=due.installment.number,
        number=due.attempt,
        on=today,
        outcome=result.outcome,
        payment_id=payment_id,
        reference=result.reference,
        message=result.message,
    )
    _change_plan(services, plan_id, lambda p: _with_attempt(p, attempt, today))
    reserve_failed_notice(services, plan_id, attempt)
    return result.outcome


def _words(services: Services, plan: Plan):
    """The gettext of the plan's guarantor's language (the `email` catalog)."""
    account = services.store.get_account(plan.account_number)
    language = account.guarantor.preferred_language if account else "en"
    return services.emails.wording(language).gettext


def _with_attempt(plan: Plan, attempt: Attempt, today: date) -> Plan:
    made = {(a.installment, a.number) for a in plan.attempts}
    if (attempt.installment, attempt.number) in made:
        return plan
    attempts = (*plan.attempts, attempt)
    next_on = next_look(_to_charge(plan), attempts, today, plan_notice_leads(plan))
    return replace(plan, attempts=attempts, next_on=next_on)


def _change_plan(services: Services, plan_id: str, change) -> Plan | None:
    """Apply `change` to the plan as stored, again over a lost race."""
    for _ in range(SAVE_TRIES):
        plan = services.store.get_plan(plan_id)
        if plan is None:
            return None
        changed = change(plan)
        if changed == plan:
            return plan
        saved = services.store.save_plan(changed)
        if saved is not None:
            return saved
    raise RuntimeError(f"plan {plan_id} kept changing under the charge run")


def _settle(services: Services, plan_id: str, today: date) -> bool:
    """After a plan's tries: its next day, and its default when two installments are
    missed (the patient is told, an escalation opens, reminders resume); True when it
    defaulted now."""
    defaulted_now = False

    def settle(plan: Plan) -> Plan:
        nonlocal defaulted_now
        status = plan_status(_to_charge(plan), plan.attempts, today)
        if status is PlanStatus.DEFAULTED and plan.defaulted_at is None:
            defaulted_now = True
            return replace(plan, defaulted_at=services.clock.now(), next_on=None)
        if plan.kind is PlanKind.AUTOPAY:  # looked at every day for statements coming due
            tomorrow = today + timedelta(days=1)
            later = next_look(_to_charge(plan), plan.attempts, today) or tomorrow
            return replace(plan, next_on=min(later, tomorrow))
        if status is PlanStatus.PAID_OFF:
            return replace(plan, next_on=None)
        leads = plan_notice_leads(plan)
        return replace(plan, next_on=next_look(_to_charge(plan), plan.attempts, today, leads))

    # The default's notice is claimed before the default is saved: a run that dies in
    # between leaves it to the sweep.
    before = services.store.get_plan(plan_id)
    notice = (
        before is not None
        and before.defaulted_at is None
        and plan_status(_to_charge(before), before.attempts, today) is PlanStatus.DEFAULTED
        and claim_default_notice(services, before)
    )
    plan = _change_plan(services, plan_id, settle)
    if notice and plan is not None:
        send_claimed_default_notice(services, plan)
    if defaulted_now and plan is not None:
        open_escalation(
            services,
            SYSTEM,
            plan.account_number,
            EscalationKind.FAILED_PAYMENT,
            f"Payment plan {plan.plan_id} defaulted: two installments were missed.",
            key=f"plan-defaulted:{plan.plan_id}",
        )
    return defaulted_now


def finish_plan_charge(services: Services, claim: Claim, today: date) -> Finish:
    """The sweep's way to finish a try whose run died: made again with the same key (the
    processor answers with the charge it made, if it made one)."""
    fields = payload_fields(claim.payload)
    plan = services.store.get_plan(str(fields.get("plan_id", "")))
    number = int(fields.get("installment", 0) or 0)
    installment = next((i for i in plan.installments if i.number == number), None) if plan else None
    if plan is None or installment is None:
        services.store.drop_claim(claim.kind, claim.key)
        return Finish.DROPPED
    due = ChargeDue(installment, int(fields.get("attempt", 1) or 1))
    on = date.fromisoformat(str(fields.get("on") or today.isoformat()))
    outcome = charge_once(services, plan.plan_id, due, on)
    if outcome is None:
        return Finish.LEFT
    send_plan_notices(services, plan.plan_id, today)
    return Finish.DONE


def summary_json(summary: ChargeSummary) -> str:
    return json.dumps({"job": "plans", **summary.counts()}, sort_keys=True)
