"""Importing an 835 file: the one path of `portal remittances import`, the supervisors'
upload page and `POST /api/v1/remittances`.

The file is read and checked whole (portal/services/remittance_reader.py); a refused file
posts nothing. Each remittance (payer and trace number) is kept first, unfinished; each
claim is then posted to its account's ledger on the account's book (the book knows what
was posted: each posting once, whoever imports the file and however often); last the
remittance is kept finished with its totals and work items. A crash leaves it unfinished
and the next import of the file finishes it; two imports at once post once."""

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace

from portal.domain.account_book import AccountBook, Change
from portal.domain.remittance_posting import (
    ClaimLine,
    ClaimMatch,
    NothingToPost,
    PostedBefore,
    RemittanceRecord,
    digest,
    match_claim,
    post_claim,
    resolve_item,
    work_items,
)
from portal.domain.remittances import Refusal, Remittance
from portal.domain.staff import AuditAction
from portal.services import ledger
from portal.services.audit import audit
from portal.services.context import Services
from portal.services.errors import NotFound
from portal.services.remittance_reader import RemittanceRefused, read_835

log = logging.getLogger(__name__)
SAVE_ATTEMPTS = 20
MAX_FILE_BYTES = 5 * 1024 * 1024


class Outcome:
    IMPORTED = "imported"
    UNCHANGED = "unchanged"  # imported and finished before: nothing posted now
    CHECKED = "checked"  # a dry run


@dataclass(frozen=True)
class TransactionResult:
    remittance_id: str
    payer_name: str
    trace_number: str
    method: str
    amount_cents: int
    outcome: str
    claims: int
    posted_cents: int
    unmatched_cents: int
    provider_adjusted_cents: int
    work_items: int

    def as_json(self) -> dict:
        return dict(vars(self))


@dataclass(frozen=True)
class RemittanceSummary:
    refusals: tuple[Refusal, ...] = ()
    transactions: tuple[TransactionResult, ...] = field(default_factory=tuple)

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    def as_json(self) -> dict:
        return {
            "refused": self.refused,
            "errors": [
                {"segment": r.segment, "segment_id": r.segment_id, "message": r.rule}
                for r in self.refusals
            ],
            "transactions": [t.as_json() for t in self.transactions],
        }

    def lines(self) -> list[str]:
        """The summary as the command line prints it."""
        if self.refused:
            return [
                "Refused: nothing was posted.",
                *(str(r) for r in self.refusals),
            ]
        out = []
        for t in self.transactions:
            out.append(
                f"{t.remittance_id} {t.payer_name} {t.method} {t.trace_number} "
                f"{_dollars(t.amount_cents)}: {t.outcome}, {t.claims} claims, posted "
                f"{_dollars(t.posted_cents)}, unmatched {_dollars(t.unmatched_cents)}, "
                f"provider adjustments {_dollars(t.provider_adjusted_cents)}, "
                f"{t.work_items} work items"
            )
        imported = sum(1 for t in self.transactions if t.outcome == Outcome.IMPORTED)
        unchanged = sum(1 for t in self.transactions if t.outcome == Outcome.UNCHANGED)
        out.append(f"imported={imported} unchanged={unchanged} refused=0")
        return out


def _dollars(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def import_remittance_file(
    services: Services, data: bytes, actor: str, dry_run: bool = False, address: str = ""
) -> RemittanceSummary:
    """`import_remittances` of a file's bytes, which must be text (X12 is ASCII)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RemittanceSummary(
            refusals=(Refusal(1, "ISA", f"not an X12 text file (byte {exc.start + 1})"),)
        )
    return import_remittances(services, text, actor, dry_run, address)


def import_remittances(
    services: Services, text: str, actor: str, dry_run: bool = False, address: str = ""
) -> RemittanceSummary:
    """Read, check and post an 835 file (dry run: read and check, and tell what would be
    posted); a refused file posts nothing."""
    try:
        remittances = read_835(text).remittances
    except RemittanceRefused as refused:
        log.info("835 file refused: %d problems", len(refused.refusals))
        return RemittanceSummary(refusals=tuple(refused.refusals))
    conflicts = [
        Refusal(
            r.segment + 2,
            "TRN",
            f"trace number {r.trace_number} of payer {r.payer_id} was imported before "
            "with other content",
        )
        for r in remittances
        if (kept := services.store.get_remittance(r.remittance_id)) is not None
        and kept.digest != digest(r)
    ]
    if conflicts:
        return RemittanceSummary(refusals=tuple(conflicts))
    results = tuple(_import_one(services, r, actor, dry_run) for r in remittances)
    if not dry_run:
        subject = ", ".join(r.remittance_id for r in remittances)
        audit(services, actor, AuditAction.IMPORT_REMITTANCE, subject=subject, address=address)
    return RemittanceSummary(transactions=results)


def _matches(services: Services, remittance: Remittance) -> list[ClaimMatch]:
    lines: dict[str, list[ClaimLine]] = defaultdict(list)
    claim_ids = {c.claim_id for c in remittance.claims}
    for found in services.store.claim_lines(claim_ids):
        lines[found.line.claim_id].append(found)
    return [
        match_claim(claim, place, lines.get(claim.claim_id, []))
        for place, claim in enumerate(remittance.claims, 1)
    ]


def _import_one(
    services: Services, remittance: Remittance, actor: str, dry_run: bool
) -> TransactionResult:
    now = services.clock.now()
    matches = _matches(services, remittance)
    record = RemittanceRecord(
        remittance_id=remittance.remittance_id,
        payer_id=remittance.payer_id,
        payer_name=remittance.payer_name,
        trace_number=remittance.trace_number,
        method=remittance.method,
        amount_cents=remittance.amount_cents if remittance.credit else -remittance.amount_cents,
        paid_on=remittance.paid_on,
        digest=digest(remittance),
        imported_at=now,
        imported_by=actor,
        claims=len(remittance.claims),
        provider_adjusted_cents=remittance.provider_adjusted_cents,
        interchange=remittance.interchange,
    )
    if dry_run:
        planned = _finished(record, remittance, matches, set())
        return _result(planned, remittance, Outcome.CHECKED)
    if not services.store.add_remittance(record):
        kept = services.store.get_remittance(remittance.remittance_id)
        assert kept is not None
        if kept.finished:
            return _result(kept, remittance, Outcome.UNCHANGED)
        record = kept
    unreversed = _post(services, remittance, matches)
    for _ in range(SAVE_ATTEMPTS):
        saved = services.store.save_remittance(_finished(record, remittance, matches, unreversed))
        if saved is not None:
            log.info("remittance %s posted", remittance.remittance_id)
            return _result(saved, remittance, Outcome.IMPORTED)
        kept = services.store.get_remittance(remittance.remittance_id)
        assert kept is not None
        if kept.finished:  # another import of the file finished it meanwhile
            return _result(kept, remittance, Outcome.IMPORTED)
        record = kept
    raise RuntimeError(f"remittance {remittance.remittance_id} kept changing")


def _post(services: Services, remittance: Remittance, matches: list[ClaimMatch]) -> set[str]:
    """Post each claim to each account its lines are on; the claim ids of reversals with
    nothing to undo."""
    unreversed: set[str] = set()
    for found in matches:
        if found.claim.denied or not found.pairs:
            if found.claim.reversal and not found.pairs:
                unreversed.add(found.claim.claim_id)
            continue
        accounts = sorted({c.account_number for _, _, c in found.pairs})
        nothing = True
        for account_number in accounts:

            def decide(book: AccountBook, found: ClaimMatch = found) -> Change:
                return post_claim(book, remittance, found, services.clock.now())

            try:
                ledger.change_account(services.store, account_number, decide)
                nothing = False
            except PostedBefore:
                nothing = False
            except NothingToPost:
                pass
        if nothing and found.claim.reversal:
            unreversed.add(found.claim.claim_id)
    return unreversed


def _finished(
    record: RemittanceRecord,
    remittance: Remittance,
    matches: list[ClaimMatch],
    unreversed: set[str],
) -> RemittanceRecord:
    posted = adjusted = unmatched = 0
    for m in matches:
        if m.claim.denied:
            continue
        if m.claim.reversal and m.claim.claim_id in unreversed:
            unmatched += m.claim.paid_cents
            continue
        posted += sum(s.paid_cents for _, s, _ in m.pairs)
        adjusted += sum(s.contractual_cents for _, s, _ in m.pairs)
        unmatched += sum(s.paid_cents for _, s in m.unmatched)
    items = record.items if record.finished else tuple(work_items(remittance, matches, unreversed))
    return replace(
        record,
        posted_cents=posted,
        adjusted_cents=adjusted,
        unmatched_cents=unmatched,
        finished=True,
        items=items,
    )


def _result(record: RemittanceRecord, remittance: Remittance, outcome: str) -> TransactionResult:
    return TransactionResult(
        remittance_id=record.remittance_id,
        payer_name=record.payer_name,
        trace_number=record.trace_number,
        method=record.method,
        amount_cents=record.amount_cents,
        outcome=outcome,
        claims=len(remittance.claims),
        posted_cents=record.posted_cents,
        unmatched_cents=record.unmatched_cents,
        provider_adjusted_cents=record.provider_adjusted_cents,
        work_items=len(record.items),
    )


# -- the associates' work items ---------------------------------------------------------


def open_work_items(services: Services, actor: str, address: str = ""):
    """(record, item) for every work item not yet resolved, oldest remittance first."""
    audit(services, actor, AuditAction.VIEW_REMITTANCES, subject="work items", address=address)
    return [
        (record, item)
        for record in services.store.remittances_with_open_items()
        for item in record.items
        if item.resolved_at is None
    ]


def resolve_work_item(
    services: Services, remittance_id: str, item_id: str, actor: str, note: str, address: str = ""
) -> RemittanceRecord:
    for _ in range(SAVE_ATTEMPTS):
        record = services.store.get_remittance(remittance_id)
        if record is None:
            raise NotFound("No such remittance.")
        try:
            changed = resolve_item(record, item_id, actor, services.clock.now(), note)
        except KeyError:
            raise NotFound("No such work item.") from None
        saved = services.store.save_remittance(changed)
        if saved is not None:
            audit(
                services,
                actor,
                AuditAction.RESOLVE_REMITTANCE_ITEM,
                subject=item_id,
                address=address,
            )
            return saved
    raise RuntimeError(f"remittance {remittance_id} kept changing")
