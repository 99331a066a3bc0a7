"""Card payouts: each one the processor reports (its webhooks) reconciled against the
portal's payments (portal/domain/payouts.py) and kept; the deposit report's payout view of
a period (the kept ones, and any the processor lists that are not kept yet), and the card
payments posted that no payout holds."""

import contextvars
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo

from portal.domain.aging import practice_date
from portal.domain.payments import Payment
from portal.domain.payouts import (
    BalanceTransaction,
    Payout,
    PayoutRecord,
    PayoutReport,
    Unmatched,
    not_paid_out,
    payout_record,
    reconcile,
    simulated_payout,
)
from portal.domain.staff import AuditAction
from portal.ports.payments import GatewayError
from portal.services.audit import audit
from portal.services.context import Services
from portal.services.errors import InvalidInput, NotFound
from portal.services.reports import first_of_next_month

# A payout's record is written at the version read: two deliveries at once (or its two
# events) recompute and find it written, or write it again, at most this many times.
WRITE_TRIES = 5
LOOKUPS_AT_ONCE = 8

# Card money reaches the bank a few days after the payment: the payments a period's
# payouts should hold were posted this long before their arrival dates.
PAYOUT_DELAY = timedelta(days=3)
LATE_PAYOUT = timedelta(days=31)


@dataclass(frozen=True)
class PayoutView:
    reports: list[PayoutReport]
    not_paid_out: list[Unmatched]
    paid_out: bool = True  # False: the gateway is a stand-in that pays nothing out itself
    unreconciled: list[PayoutRecord] = field(default_factory=list)  # kept, any day
    asked: int = 0  # payouts not kept yet, asked of the processor when the page opened
    problem: str = ""  # the processor could not be asked: only the kept payouts are shown

    @property
    def reconciled(self) -> bool:
        return not self.not_paid_out and all(r.reconciled for r in self.reports)


def payout_view(services: Services, arrived_from: date, arrived_to: date) -> PayoutView:
    """The payouts arriving on days from `arrived_from` to `arrived_to` (inclusive): the
    kept ones (their webhooks came), and those the processor lists that are not kept yet,
    reconciled now (nothing is written); the card payments no payout holds."""
    period = _period(services, arrived_from, arrived_to)
    return PayoutView(
        period.reports,
        _not_paid_out(services, arrived_from, arrived_to, period.references),
        paid_out=services.payments.pays_out,
        unreconciled=services.store.unreconciled_payouts(),
        asked=period.asked,
        problem=period.problem,
    )


@dataclass(frozen=True)
class _Period:
    reports: list[PayoutReport]
    references: set[str]  # every payment reference the period's payouts hold
    asked: int
    problem: str


def _period(services: Services, arrived_from: date, arrived_to: date) -> _Period:
    store, gateway = services.store, services.payments
    kept = {r.payout_id: r for r in store.payouts_arriving(arrived_from, arrived_to)}
    reports = {payout_id: r.report for payout_id, r in kept.items()}
    references = {ref for r in kept.values() for ref in r.references}
    problem, asked = "", 0
    if gateway.pays_out:
        try:
            for payout in gateway.payouts(arrived_from, arrived_to + timedelta(days=1)):
                if payout.payout_id in kept:
                    continue
                lines = gateway.payout_transactions(payout.payout_id)
                reports[payout.payout_id] = reconcile(payout, lines, _payments_of(services, lines))
                references |= {line.reference for line in lines if line.reference}
                asked += 1
        except GatewayError as exc:
            problem = exc.message
    ordered = sorted(reports.values(), key=lambda r: (r.payout.arrival_date, r.payout.payout_id))
    return _Period(ordered, references, asked, problem)


def _not_paid_out(
    services: Services, arrived_from: date, arrived_to: date, references: set[str]
) -> list[Unmatched]:
    """Card payments expected to arrive in the period (posted PAYOUT_DELAY before it), by
    yesterday at the latest, that no payout holds: neither one of the period nor one kept
    arriving up to a month after it (a payout can come later than expected)."""
    tz = services.settings.tz
    today = practice_date(services.clock.now(), tz)
    last = min(arrived_to, today - timedelta(days=1))
    if last < arrived_from:
        return []
    later = services.store.payouts_arriving(
        arrived_from - PAYOUT_DELAY, min(today, last + LATE_PAYOUT)
    )
    held = references | {ref for r in later for ref in r.references}
    posted = services.store.list_payments(
        _start(arrived_from - PAYOUT_DELAY, tz), _start(last + timedelta(days=1) - PAYOUT_DELAY, tz)
    )
    card = [
        p
        for p in posted
        if p.gateway == services.payments.name and p.posted_at is not None and p.gateway_reference
    ]
    return not_paid_out(card, held)


def _start(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def month_fees(services: Services, month: date) -> int | None:
    """The processing fees of the card payouts arriving in the month (its first day given):
    the kept ones, and those the processor lists that are not kept yet; None when the
    processor cannot be asked about those."""
    period = _period(services, month, first_of_next_month(month) - timedelta(days=1))
    return None if period.problem else sum(r.fees_cents for r in period.reports)


def record_payout(services: Services, payout: Payout) -> bool | None:
    """List the payout's lines (every page), match them to the portal's payments and keep
    the result (reconciled or not): True when that wrote the record, False when it was kept
    so already (a replay), None when other writers kept changing it. GatewayError when the
    processor cannot be asked: nothing is written then."""
    return keep_payout(services, payout, services.payments.payout_transactions(payout.payout_id))


def keep_payout(services: Services, payout: Payout, lines: list[BalanceTransaction]) -> bool | None:
    """Match a payout's lines to the portal's payments and keep the result, once: as
    record_payout, for lines in hand."""
    report = reconcile(payout, lines, _payments_of(services, lines))
    store = services.store
    for _ in range(WRITE_TRIES):
        before = store.get_payout(payout.payout_id)
        record = payout_record(report, lines, services.clock.now(), before)
        if record == before:
            return False
        if before is None and store.add_payout(record):
            return True
        if before is not None and store.save_payout(record) is not None:
            return True
    return None


def _payments_of(services: Services, lines: list[BalanceTransaction]) -> dict[str, Payment]:
    """The portal's payments the lines name, looked up LOOKUPS_AT_ONCE at a time (a payout
    of a busy day names hundreds: one at a time would keep Stripe's webhook waiting)."""
    held = sorted({line.reference for line in lines if line.reference})
    if len(held) < 2:
        found = [services.store.payment_by_reference(ref) for ref in held]
    else:
        with ThreadPoolExecutor(max_workers=min(len(held), LOOKUPS_AT_ONCE)) as pool:
            look = services.store.payment_by_reference
            futures = [pool.submit(contextvars.copy_context().run, look, ref) for ref in held]
            found = [future.result() for future in futures]
    return {ref: p for ref, p in zip(held, found, strict=True) if p is not None}


NOTE_LIMIT = 500


def check_payout(
    services: Services, payout_id: str, note: str, actor: str, address: str = ""
) -> bool:
    """A supervisor marks an unreconciled payout looked into, saying what they found: it
    leaves the dashboard's count (and comes back if the processor reports it otherwise).
    False, nothing changed, when it is reconciled or checked already (or changed
    meanwhile); NotFound for a payout not kept; InvalidInput for an empty or long note."""
    note = " ".join(note.split())
    if not note:
        raise InvalidInput("note", "Say what you found when you checked the payout.")
    if len(note) > NOTE_LIMIT:
        raise InvalidInput("note", f"Keep the note to {NOTE_LIMIT} characters.")
    store = services.store
    record = store.get_payout(payout_id)
    if record is None:
        raise NotFound(f"No payout {payout_id} is kept.")
    if not record.needs_attention:
        return False
    checked = replace(record, checked_by=actor, checked_at=services.clock.now(), check_note=note)
    if store.save_payout(checked) is None:
        return False
    audit(services, actor, AuditAction.CHECK_PAYOUT, subject=payout_id, address=address)
    return True


# The sandbox's daily payouts: each practice day's card payments, paid out this many days
# later; days this far back are looked at (a local portal left off for a while).
SANDBOX_ARRIVAL = timedelta(days=2)
SANDBOX_DAYS = 30


class NotSandbox(Exception):
    """Only the sandbox card processor's payouts are made by the portal."""


def sandbox_payouts(services: Services, today: date) -> list[PayoutRecord]:
    """On the sandbox gateway only: one payout per practice day (its id
    `po_sandbox_<YYYYMMDD>`), arriving SANDBOX_ARRIVAL later, by today at the latest, of the
    sandbox card payments posted that day that no kept payout holds, each less a simulated
    fee (portal/domain/payouts.py); kept reconciled through keep_payout, as a webhook's
    payout is. The payouts this run kept; running it again makes nothing new."""
    gateway, store, tz = services.payments, services.store, services.settings.tz
    if gateway.name != "sandbox":
        raise NotSandbox("Payouts are made by the card processor itself, not by the portal.")
    last = today - SANDBOX_ARRIVAL
    first = last - timedelta(days=SANDBOX_DAYS - 1)
    held = {ref for r in store.payouts_arriving(first, today) for ref in r.references}
    by_day: dict[date, list[Payment]] = {}
    for p in store.list_payments(_start(first, tz), _start(last + timedelta(days=1), tz)):
        if p.gateway != gateway.name or p.posted_at is None or not p.gateway_reference:
            continue
        if p.gateway_reference not in held:
            by_day.setdefault(practice_date(p.posted_at, tz), []).append(p)
    kept = []
    for day, payments in sorted(by_day.items()):
        payout_id = f"po_sandbox_{day:%Y%m%d}"
        if store.get_payout(payout_id) is not None:
            continue
        payments.sort(key=lambda p: (p.posted_at or p.created_at, p.payment_id))
        payout, lines = simulated_payout(payout_id, day + SANDBOX_ARRIVAL, payments)
        if keep_payout(services, payout, lines) and (record := store.get_payout(payout_id)):
            kept.append(record)
    return kept
