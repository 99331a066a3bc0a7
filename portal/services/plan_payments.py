"""An installment the patient pays on the hosted checkout page, when the bank asked them to
confirm an off-session charge (the plan-failed e-mail's link, the plan's page).

The checkout's payment id names the plan and installment (`pay_inst_<plan>_<n>_<random>`,
portal/domain/payments.py), so nothing is written before the patient pays and every
checkout opened from the link is its own payment. When one posts (the sandbox page, the
processor's event or the return page: all through services/payments.py), the installment
is kept on the plan as a succeeded try with that payment's id: written once (a try with
that payment id is never added again), so a late or repeated event changes nothing. The
charge run does the same for any such payment posted but not kept yet (a process that died
in between) before it decides the plan's tries, so the installment is not charged again.
"""

import logging
from dataclasses import replace
from datetime import date

from portal.domain.aging import practice_date
from portal.domain.errors import InvalidInput
from portal.domain.payments import Payment, installment_of
from portal.domain.plans import (
    Attempt,
    Installment,
    Outcome,
    Plan,
    is_missed,
    is_paid,
    next_look,
    plan_notice_leads,
)
from portal.services.context import Services

log = logging.getLogger(__name__)
SAVE_TRIES = 5


def _tries(plan: Plan, number: int) -> list[Attempt]:
    return sorted((a for a in plan.attempts if a.installment == number), key=lambda a: a.number)


def payable_installment(services: Services, plan: Plan, number: int) -> Installment:
    """The installment the patient may pay on the hosted page: on a running plan, not paid,
    its last try waiting for the patient to confirm it; InvalidInput saying why not."""
    installment = next((i for i in plan.installments if i.number == number), None)
    if installment is None or number in plan.skipped:
        raise InvalidInput("installment", "This payment is no longer on your plan.")
    if not plan.active:
        raise InvalidInput("installment", "This plan has ended: pay from your balance page.")
    if is_paid(installment, plan.attempts):
        raise InvalidInput("installment", "This payment is paid already.")
    tries = _tries(plan, number)
    today = practice_date(services.clock.now(), services.settings.tz)
    if not tries or tries[-1].outcome is not Outcome.NEEDS_AUTHENTICATION:
        raise InvalidInput("installment", "This payment is not waiting for you to pay it.")
    if is_missed(installment, plan.attempts, today):
        raise InvalidInput(
            "installment", "This payment can no longer be paid here: pay from your balance page."
        )
    return installment


def record_installment_payment(services: Services, payment: Payment) -> Plan | None:
    """Keep a posted checkout payment made for a plan's installment on the plan, as that
    installment's succeeded try (once); None when the payment is not one, or its plan or
    installment is gone (a re-spread: the money is on the account all the same)."""
    found = installment_of(payment.payment_id)
    if found is None or payment.posted_at is None:
        return None
    plan_id, number = found
    for _ in range(SAVE_TRIES):
        plan = services.store.get_plan(plan_id)
        if plan is None or plan.account_number != payment.account_number:
            return None
        if any(a.payment_id == payment.payment_id for a in plan.attempts):
            return plan
        installment = next((i for i in plan.installments if i.number == number), None)
        if installment is None or is_paid(installment, plan.attempts):
            return plan
        today = practice_date(payment.posted_at, services.settings.tz)
        attempt = Attempt(
            installment=number,
            number=len(_tries(plan, number)) + 1,
            on=today,
            outcome=Outcome.SUCCEEDED,
            payment_id=payment.payment_id,
            reference=payment.gateway_reference or "",
        )
        attempts = (*plan.attempts, attempt)
        charged = [i for i in plan.installments if i.number not in plan.skipped]
        next_on = (
            next_look(charged, attempts, today, plan_notice_leads(plan)) if plan.active else None
        )
        saved = services.store.save_plan(replace(plan, attempts=attempts, next_on=next_on))
        if saved is not None:
            log.info(
                "plans: plan %s installment %d paid by %s", plan_id, number, payment.payment_id
            )
            return saved
    raise RuntimeError(f"plan {plan_id} kept changing")


def keep_posted_installment_payments(services: Services, plan: Plan, today: date) -> None:
    """The charge run's check before it decides a plan's tries: a checkout payment for an
    installment that waits for the patient, posted but not kept on the plan yet, is kept."""
    waiting = [
        i.number
        for i in plan.installments
        if (tries := _tries(plan, i.number))
        and tries[-1].outcome is Outcome.NEEDS_AUTHENTICATION
        and not is_paid(i, plan.attempts)
    ]
    if not waiting:
        return
    records = services.store.account_records(plan.account_number)
    for payment in records.payments if records else ():
        found = installment_of(payment.payment_id)
        if found and found[0] == plan.plan_id and found[1] in waiting and payment.posted_at:
            record_installment_payment(services, payment)
