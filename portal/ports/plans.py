"""The plans port: payment plans and autopays, each kept whole (installments, agreements,
saved method and every try) as one record, written only over the version it was read at."""

from datetime import UTC, date
from typing import Protocol

from portal.domain.plans import Plan


def plan_cursor(plan: Plan) -> str:
    """Where `list_plans` goes on after this plan: its creation time (fixed-width UTC text)
    and id, which is also the order of the list (newest first)."""
    return (
        f"{plan.created_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%f+00:00')}#{plan.plan_id}"
    )


class Plans(Protocol):
    def add_plan(self, plan: Plan) -> bool:
        """Store a new plan as given (its version too); False, and nothing written, when a
        plan with its id exists."""

    def get_plan(self, plan_id: str) -> Plan | None:
        """The plan as stored, None when there is none with this id."""

    def account_plans(self, account_number: str) -> list[Plan]:
        """The account's plans, every state, newest first (created_at, then plan_id)."""

    def save_plan(self, plan: Plan) -> Plan | None:
        """Write the plan over the stored version `plan.version` and return it as written,
        at version + 1. None, and nothing written, when the stored plan is at another
        version (someone saved it since it was read: read it again and decide again) or
        there is no such plan. A plan's id and account are what it is stored under: a save
        that changes the account finds no such plan."""

    def plans_due(self, on: date, limit: int = 500) -> list[Plan]:
        """Up to `limit` plans whose `next_on` is set and on or before `on`, by next_on then
        plan_id (the daily charge run's work list), read from an index of such plans only.
        An index may lag a write by a moment (DynamoDB): a plan listed as it was before its
        last save is refused by `save_plan`, and read again with `get_plan`."""

    def list_plans(self, limit: int = 100, before: str | None = None) -> list[Plan]:
        """Up to `limit` plans, newest first (created_at, then plan_id), every state; the
        next page: `before` = `plan_cursor` of the last plan of this one. Read from an index
        (on DynamoDB a moment behind the latest writes)."""
