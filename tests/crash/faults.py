"""Fault injection for tests only: count the write steps a process makes through its store,
mailer and card gateway, and kill the process just before or just after step N.

What counts as a write: every public method of the component that is NOT in its explicit
READS set below. A store method added later (a listing of unfinished claims, a refund by
its processor id ...) is therefore a write, and gets kill points, until someone adds it to
STORE_READS: a read wrongly counted as a write costs two redundant kill points, a write
wrongly counted as a read would hide a crash window. `test_crash.py` checks that every
name in the READS sets still exists, so a rename cannot silently turn a write into a read.

The kill is `os._exit(137)`: no `finally`, no `atexit`, no flush, no rollback beyond what
the store's own transaction gives; the process is simply gone, as after SIGKILL or a
Lambda timeout.
"""

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from portal.services.context import Services

KILLED = 137  # the exit status of a process killed by SIGKILL (128 + 9)
BEFORE, AFTER = "before", "after"

STORE_READS = frozenset(
    {
        "account_of_opt_out_token",
        "account_plans",
        "account_records",
        "accounts_due",
        "api_key_by_hash",
        "api_keys",
        "audit_entries",
        "claim_lines",
        "escalations",
        "get_account",
        "get_escalation",
        "get_payment",
        "get_payout",
        "get_plan",
        "get_remittance",
        "get_staff_user",
        "get_statement",
        "import_state",
        "ledger_totals",
        "list_payments",
        "list_plans",
        "load_book",
        "lookup_locked_until",
        "mail_log",
        "claim_completed",
        "notes",
        "open_balances",
        "payment_by_reference",
        "payouts_arriving",
        "ping",
        "plans_due",
        "receivable_at",
        "remittances_imported",
        "remittances_paid",
        "remittances_with_open_items",
        "search_accounts",
        "sms_consent",
        "sms_consents",
        "sms_consents_for_phone",
        "staff_users",
        "undeliverable",
        "undeliverable_addresses",
        "unfinished_claims",
        "unreconciled_payouts",
        "web_session_subject",
    }
)
MAILER_READS: frozenset[str] = frozenset()  # `send` is the mailer's one write
GATEWAY_READS = frozenset(
    {"parse_webhook", "checkout_outcome", "list_refunds", "payouts", "payout_transactions"}
)
# For these, the first argument (the claim's kind) goes into the step's label.
LABELLED_BY_KIND = frozenset({"claim", "complete_claim", "release_claim"})


@dataclass(frozen=True)
class KillPoint:
    step: int  # 1-based number of the write step
    when: str  # BEFORE or AFTER

    def __post_init__(self) -> None:
        if self.step < 1 or self.when not in (BEFORE, AFTER):
            raise ValueError(f"not a kill point: {self}")


@dataclass
class Recorder:
    """One process's write steps; kills the process at `kill`. The steps made so far are
    written to `report` (JSON) just before the process dies, so the parent can say where."""

    kill: KillPoint | None = None
    report: Path | None = None
    steps: list[str] = field(default_factory=list)

    def around(self, label: str, call: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        self.steps.append(label)
        number = len(self.steps)
        if self.kill == KillPoint(number, BEFORE):
            self.die()
        result = call(*args, **kwargs)
        if self.kill == KillPoint(number, AFTER):
            self.die()
        return result

    def save(self, **extra: Any) -> None:
        if self.report is not None:
            self.report.write_text(json.dumps({"steps": self.steps, **extra}, default=str))

    def die(self) -> None:
        self.save(killed=True)
        os._exit(KILLED)


class Faulty:
    """A proxy for a store, mailer or gateway: every method not in `reads` is a write step."""

    def __init__(self, target: Any, component: str, reads: frozenset[str], recorder: Recorder):
        self._target = target
        self._component = component
        self._reads = reads
        self._recorder = recorder

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name.startswith("_") or name in self._reads or not callable(value):
            return value

        @functools.wraps(value)
        def write_step(*args: Any, **kwargs: Any) -> Any:
            return self._recorder.around(self._label(name, args), value, args, kwargs)

        return write_step

    def _label(self, name: str, args: tuple) -> str:
        detail = ""
        if name in LABELLED_BY_KIND and args:
            detail = f"({args[0]})"
        elif name == "send" and args and hasattr(args[0], "kind"):
            detail = f"({args[0].kind} to {args[0].to})"
        return f"{self._component}.{name}{detail}"


def with_faults(services: Services, recorder: Recorder) -> Services:
    """The same services with the store, mailer, text sender and card gateway counted (and
    killable)."""
    return replace(
        services,
        store=Faulty(services.store, "store", STORE_READS, recorder),
        mailer=Faulty(services.mailer, "mailer", MAILER_READS, recorder),
        payments=Faulty(services.payments, "gateway", GATEWAY_READS, recorder),
        texts=Faulty(services.texts, "texts", MAILER_READS, recorder) if services.texts else None,
    )
