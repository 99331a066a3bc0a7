"""Payment plans in tests: set up the patient's way (a schedule, the authorization agreed,
a method saved on the sandbox's page) and the charge run on a practice day."""

from datetime import date, timedelta

from portal.adapters.sandbox_gateway import TEST_ROUTING_NUMBER
from portal.domain.aging import practice_midnight
from portal.domain.plan_terms import text_digest
from portal.domain.plans import Plan
from portal.domain.viewers import Viewer
from portal.services.plan_charges import ChargeSummary, run_plan_charges
from portal.services.plans import agree, finish_method_setup, propose, start_method_setup

GOOD_CARD = "4242424242424242"


def set_up_plan(
    services,
    account_number: str,
    *,
    card: str = GOOD_CARD,
    bank_account: str = "",
    months: str = "3",
    day: int = 1,
) -> Plan:
    viewer = Viewer.guarantor()
    proposal = propose(services, account_number, viewer, months=months, day=str(day))
    plan = agree(services, account_number, viewer, proposal, text_digest(proposal.text), "10.0.0.9")
    session_id = start_method_setup(services, plan).rsplit("/", 1)[1]
    gateway = services.payments
    setup = gateway.open_setup(session_id)
    if bank_account:
        done = gateway.save_bank_account(setup, TEST_ROUTING_NUMBER, bank_account)
    else:
        done = gateway.save_card(setup, card)
    return finish_method_setup(services, plan.plan_id, done)


def noon(services, day: date):
    """Noon of the practice day; the services' clock is set there, so the run's own writes
    carry the day's time."""
    at = practice_midnight(day, services.settings.tz) + timedelta(hours=12)
    services.clock._at = at
    return at


def run_on(services, day: date, **kwargs) -> ChargeSummary:
    return run_plan_charges(services, noon(services, day), **kwargs)


def counts(summary: ChargeSummary) -> tuple[int, int, int, int]:
    return summary.charged, summary.failed, summary.skipped, summary.defaulted
