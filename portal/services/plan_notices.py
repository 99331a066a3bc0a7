"""Payment plan e-mails, each sent once: a charge coming up (3 days before it; 10 for a
bank debit whose amount changed), a try that failed (tried again on a day, the last try,
or the patient's to confirm on the hosted page), and the plan's default.

The daily charge run sends them from the plan as it stands after the day's tries (a run
that looks again sends nothing twice). Each is claimed in the store first, under its kind
and a key naming the plan, installment and try (`<plan>:<installment>:<try>`; the plan's
default: `<plan>`), then sent; a failed send releases the claim and the sweep
(portal/services/sweep.py, FINISHERS) sends it when it is still true, or drops it.
"""

import logging
from datetime import date, timedelta

from portal.domain.catalog import N_
from portal.domain.plans import (
    CHANGED_DEBIT_NOTICE_DAYS,
    TRY_DAYS,
    Attempt,
    Installment,
    Outcome,
    Plan,
    is_paid,
    notices_due,
    plan_notice_leads,
    retry_on,
)
from portal.ports.claims import Claim
from portal.ports.mail import OutgoingMessage, Wording
from portal.services.accounts import account_view
from portal.services.claims import Finish, claim_payload, payload_fields, stale_before
from portal.services.context import Services
from portal.services.notices import (
    Delivery,
    method_label,
    plan_notice_message,
    send_claimed,
    send_once,
    wording_for,
)

log = logging.getLogger(__name__)

UPCOMING_CLAIM = "plan-upcoming"
FAILED_CLAIM = "plan-failed"
DEFAULTED_CLAIM = "plan-defaulted"
FAILED_OUTCOMES = (Outcome.SOFT_DECLINE, Outcome.HARD_DECLINE, Outcome.NEEDS_AUTHENTICATION)
# Why a try failed, as the gateway adapters word it (Attempt.message): in the catalog, so a
# guarantor reads the reason in their language. Another reason is told in English only.
DECLINE_REASONS = (
    N_("Your card was declined."),
    N_("Your card has insufficient funds."),
    N_("Your payment method was declined and cannot be charged again; please choose another."),
    N_("Your bank returned the payment."),
    N_("Your bank returned the payment: the account did not have enough money."),
    N_("Your bank returned the payment: the account is closed."),
    N_(
        "Your bank returned the payment: the account is closed. Please choose another "
        "payment method."
    ),
    N_("Your bank returned the payment: the account was not found."),
    N_("Your bank returned the payment as not authorized."),
)


def reason_words(words: Wording, reason: str) -> str:
    """A failed try's reason in the guarantor's language; "" when it cannot be."""
    if words.language == "en":
        return reason
    return words.gettext(reason) if reason in DECLINE_REASONS else ""


def to_charge(plan: Plan) -> list[Installment]:
    return [i for i in plan.installments if i.number not in plan.skipped]


def notice_key(plan_id: str, installment: int, attempt: int) -> str:
    return f"{plan_id}:{installment}:{attempt}"


def plan_link(services: Services, plan: Plan) -> str:
    return f"{services.settings.base_url}/plans/{plan.plan_id}"


def installment_pay_link(services: Services, plan: Plan, number: int) -> str:
    return f"{services.settings.base_url}/plans/{plan.plan_id}/installments/{number}/pay"


def _position(plan: Plan, installment: Installment) -> tuple[int, int]:
    """Which payment of how many, as the patient counts them (skipped ones left out)."""
    ordered = sorted(to_charge(plan), key=lambda i: (i.due_on, i.number))
    return ordered.index(installment) + 1, len(ordered)


# -- the run's notices ---------------------------------------------------------------------


def send_plan_notices(services: Services, plan_id: str, today: date) -> None:
    """Whatever the plan as stored owes the patient today: the default's notice, or each
    failed last try's and each upcoming charge's. Each once; nothing for a canceled plan."""
    plan = services.store.get_plan(plan_id)
    if plan is None or plan.method is None or plan.canceled_at is not None:
        return
    if plan.defaulted_at is not None:
        send_defaulted(services, plan)
        return
    for installment in to_charge(plan):
        last = _last_try(plan, installment.number)
        if last is not None and last.outcome in FAILED_OUTCOMES:
            send_failed(services, plan, last, today)
    leads = plan_notice_leads(plan)
    for installment in notices_due(to_charge(plan), plan.attempts, leads, today):
        send_upcoming(services, plan, installment)


def _last_try(plan: Plan, number: int) -> Attempt | None:
    tries = [a for a in plan.attempts if a.installment == number]
    return max(tries, key=lambda a: a.number, default=None)


def _account(services: Services, plan: Plan):
    return services.store.get_account(plan.account_number)


# -- an upcoming charge ----------------------------------------------------------------------


def upcoming_message(
    services: Services, plan: Plan, installment: Installment
) -> OutgoingMessage | None:
    account = _account(services, plan)
    if account is None or plan.method is None:
        return None
    position, count = _position(plan, installment)
    leads = plan_notice_leads(plan)
    words = wording_for(services, account)
    charge_on = words.long_date(installment.due_on)
    return plan_notice_message(
        services,
        account,
        UPCOMING_CLAIM,
        words.gettext("Your payment plan: %(amount)s on %(date)s")
        % {"amount": words.money(installment.amount_cents), "date": charge_on},
        amount_cents=installment.amount_cents,
        method_label=method_label(words, plan.method),
        charge_on=charge_on,
        position=position,
        count=count,
        changed=leads.get(installment.number) == CHANGED_DEBIT_NOTICE_DAYS,
        plan_link=plan_link(services, plan),
    )


def send_upcoming(services: Services, plan: Plan, installment: Installment) -> Delivery | None:
    message = upcoming_message(services, plan, installment)
    if message is None:
        return None
    return send_once(
        services,
        UPCOMING_CLAIM,
        notice_key(plan.plan_id, installment.number, 1),
        message,
        plan.account_number,
        claim_payload(plan_id=plan.plan_id, installment=installment.number, attempt=1),
    )


# -- a failed try ----------------------------------------------------------------------------


def failed_message(
    services: Services, plan: Plan, attempt: Attempt, today: date
) -> OutgoingMessage | None:
    account = _account(services, plan)
    installment = next((i for i in plan.installments if i.number == attempt.installment), None)
    if account is None or plan.method is None or installment is None:
        return None
    position, _ = _position(plan, installment)
    authenticate = attempt.outcome is Outcome.NEEDS_AUTHENTICATION
    again = retry_on(installment, plan.attempts, max(today, attempt.on))
    words = wording_for(services, account)
    amount = {"amount": words.money(installment.amount_cents)}
    subject = (
        words.gettext("Please confirm your payment plan payment of %(amount)s") % amount
        if authenticate
        else words.gettext("Your payment plan payment of %(amount)s did not go through") % amount
    )
    return plan_notice_message(
        services,
        account,
        FAILED_CLAIM,
        subject,
        reason="authenticate" if authenticate else "declined",
        reason_text="" if authenticate else reason_words(words, attempt.message),
        amount_cents=installment.amount_cents,
        method_label=method_label(words, plan.method),
        position=position,
        tried_on=words.long_date(attempt.on),
        retry_on=words.long_date(again) if again else "",
        pay_by=words.long_date(installment.due_on + timedelta(days=TRY_DAYS[-1])),
        pay_installment_link=installment_pay_link(services, plan, installment.number),
        plan_link=plan_link(services, plan),
    )


def reserve_failed_notice(services: Services, plan_id: str, attempt: Attempt) -> None:
    """Leave the notice of a failed try claimed and released, before the try's own claim is
    marked done: whoever comes first sends it (the run right after, or the sweep when the
    run died), so no failed try goes untold."""
    if attempt.outcome not in FAILED_OUTCOMES:
        return
    key = notice_key(plan_id, attempt.installment, attempt.number)
    payload = claim_payload(
        plan_id=plan_id, installment=attempt.installment, attempt=attempt.number
    )
    if services.store.claim(FAILED_CLAIM, key, services.clock.now(), None, payload):
        services.store.release_claim(FAILED_CLAIM, key)


def send_failed(services: Services, plan: Plan, attempt: Attempt, today: date) -> Delivery | None:
    message = failed_message(services, plan, attempt, today)
    if message is None:
        return None
    return send_once(
        services,
        FAILED_CLAIM,
        notice_key(plan.plan_id, attempt.installment, attempt.number),
        message,
        plan.account_number,
        claim_payload(
            plan_id=plan.plan_id, installment=attempt.installment, attempt=attempt.number
        ),
    )


# -- the plan's default ----------------------------------------------------------------------


def defaulted_message(services: Services, plan: Plan) -> OutgoingMessage | None:
    account = _account(services, plan)
    if account is None or plan.method is None:
        return None
    due = max(account_view(services, plan.account_number).due_cents, 0)
    words = wording_for(services, account)
    return plan_notice_message(
        services,
        account,
        DEFAULTED_CLAIM,
        words.gettext("Your payment plan with %(practice)s has ended")
        % {"practice": services.settings.practice_name},
        method_label=method_label(words, plan.method),
        due_cents=due,
    )


def claim_default_notice(services: Services, plan: Plan) -> bool:
    """Claim the default's notice before the default is saved, so a run that dies in
    between leaves a claim the sweep finishes (sent once the plan is defaulted, dropped
    when it is not)."""
    now = services.clock.now()
    return services.store.claim(
        DEFAULTED_CLAIM,
        plan.plan_id,
        now,
        stale_before=stale_before(now),
        payload=claim_payload(plan_id=plan.plan_id),
    )


def send_claimed_default_notice(services: Services, plan: Plan) -> Delivery | None:
    """Send the default's notice whose claim the caller holds; the claim is dropped when
    the plan did not default after all."""
    message = defaulted_message(services, plan) if plan.defaulted_at is not None else None
    if message is None:
        services.store.drop_claim(DEFAULTED_CLAIM, plan.plan_id)
        return None
    return send_claimed(services, DEFAULTED_CLAIM, plan.plan_id, message, plan.account_number)


def send_defaulted(services: Services, plan: Plan) -> Delivery | None:
    message = defaulted_message(services, plan) if plan.defaulted_at is not None else None
    if message is None:
        return None
    return send_once(
        services,
        DEFAULTED_CLAIM,
        plan.plan_id,
        message,
        plan.account_number,
        claim_payload(plan_id=plan.plan_id),
    )


# -- the sweep's finishers -------------------------------------------------------------------


def finish_plan_notice(services: Services, claim: Claim, today: date) -> Finish:
    """Send a plan notice whose send failed or whose sender died, when it is still true
    (the charge not made yet; the try still the installment's last, unpaid; the plan
    defaulted); otherwise drop it."""
    fields = payload_fields(claim.payload)
    plan = services.store.get_plan(str(fields.get("plan_id", "")))
    number = int(fields.get("installment", 0) or 0)
    attempt = int(fields.get("attempt", 0) or 0)
    message = None
    if plan is not None and plan.canceled_at is None:
        message = _still_true(services, plan, claim.kind, number, attempt, today)
    if plan is None or message is None:
        return _drop(services, claim)
    outcome = send_once(
        services, claim.kind, claim.key, message, plan.account_number, claim.payload
    )
    if outcome is None:
        done = services.store.claim_completed(claim.kind, claim.key)
        return Finish.DONE if done else Finish.LEFT
    return Finish.LEFT if outcome is Delivery.FAILED else Finish.DONE


def _still_true(
    services: Services, plan: Plan, kind: str, number: int, attempt: int, today: date
) -> OutgoingMessage | None:
    if kind == DEFAULTED_CLAIM:
        return defaulted_message(services, plan) if plan.defaulted_at is not None else None
    if plan.defaulted_at is not None:
        return None
    installment = next((i for i in to_charge(plan) if i.number == number), None)
    if installment is None or is_paid(installment, plan.attempts):
        return None
    last = _last_try(plan, number)
    if kind == UPCOMING_CLAIM:
        if last is not None or today >= installment.due_on:
            return None
        return upcoming_message(services, plan, installment)
    if last is None or last.number != attempt or last.outcome not in FAILED_OUTCOMES:
        return None
    return failed_message(services, plan, last, today)


def _drop(services: Services, claim: Claim) -> Finish:
    """Close a claim with nothing left to send, once taken over (not from a live holder)."""
    now = services.clock.now()
    if not services.store.claim(claim.kind, claim.key, now, stale_before(now)):
        return Finish.LEFT
    services.store.drop_claim(claim.kind, claim.key)
    log.info("plans: %s %s dropped: no longer true", claim.kind, claim.key)
    return Finish.DROPPED
