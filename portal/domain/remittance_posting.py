"""What a remittance posts to an account, decided on the account's book, and what it leaves
to the associates (work items).

Each claim of a remittance matches the statement lines carrying its claim id; each of its
service lines the one of those lines with the same procedure code and service date (each
statement line once). For a matched line the insurer's payment is posted as an insurance
payment, and the patient responsibility the insurer states becomes what the patient owes
for the line: the difference from what the line asked of them is one adjustment entry
whose memo says why. A reversal (CLP02 22) undoes, entry by entry, what earlier
remittances posted for the claim (entries of the same kinds, opposite amounts); the
corrected claim that follows posts afresh. Money beyond what a statement asks becomes the
account's credit (applied to its other open statements, oldest first).

Every entry carries its `source`: the claim, the line and the posting (remittance, the
claim's and the service line's place in it), so the book knows what was posted, and a
posting is made once however often the file comes in."""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime

from portal.domain.account_book import AccountBook, Change
from portal.domain.ledger import EntryKind, LedgerEntry, apply_credit, balances
from portal.domain.money import format_cents
from portal.domain.remittances import (
    PROVIDER_REASONS,
    ClaimPayment,
    Remittance,
    ServiceLine,
)
from portal.domain.statements import LineItem

PAID = "paid"
ADJUSTED = "adjusted"
REVERSED = "reversed"
# The PR reasons patients are told about by name (CARC 1, 2, 3); any other PR amount is
# "what your plan leaves to you".
DEDUCTIBLE, COINSURANCE, COPAY = "1", "2", "3"


class PostedBefore(Exception):
    """The posting is in the book already: nothing to write."""


class NothingToPost(Exception):
    """The claim posts nothing to this account (a reversal of a claim never posted)."""


class Kind:
    UNMATCHED_CLAIM = "unmatched_claim"
    UNMATCHED_LINE = "unmatched_line"
    DENIED = "denied"
    PROVIDER_ADJUSTMENT = "provider_adjustment"
    REVERSAL_UNMATCHED = "reversal_unmatched"


KIND_LABELS = {
    Kind.UNMATCHED_CLAIM: "Claim matches no statement line",
    Kind.UNMATCHED_LINE: "Service line matches no statement line",
    Kind.DENIED: "Denied",
    Kind.PROVIDER_ADJUSTMENT: "Provider-level adjustment",
    Kind.REVERSAL_UNMATCHED: "Reversal of a claim never posted",
}


@dataclass(frozen=True)
class ClaimLine:
    """A statement line carrying a claim id, with where it is."""

    account_number: str
    statement_id: str
    line: LineItem


@dataclass(frozen=True)
class Source:
    """What a remittance entry belongs to (kept as JSON text in the entry's `source`)."""

    claim_id: str
    line_id: str
    posting: str  # "<remittance id>#<claim's place>#<service line's place>"
    part: str  # PAID, ADJUSTED, REVERSED
    detail: tuple = ()  # ADJUSTED: the PR (reason, cents) pairs; REVERSED: the posting undone

    def text(self) -> str:
        return json.dumps(
            [self.claim_id, self.line_id, self.posting, self.part, list(self.detail)],
            separators=(",", ":"),
        )


def source_of(entry: LedgerEntry) -> Source | None:
    if not entry.source:
        return None
    claim_id, line_id, posting, part, detail = json.loads(entry.source)
    return Source(claim_id, line_id, posting, part, tuple(tuple(d) for d in detail))


def posting_id(remittance: Remittance, claim_place: int, line_place: int) -> str:
    return f"{remittance.remittance_id}#{claim_place}#{line_place}"


@dataclass(frozen=True)
class WorkItem:
    """Something an associate must look at: where it is and the amounts (staff words,
    codes included)."""

    item_id: str  # "<remittance id>#<n>"
    kind: str
    claim_id: str
    amount_cents: int
    detail: str
    resolved_by: str = ""
    resolved_at: datetime | None = None
    note: str = ""
    codes: tuple[str, ...] = ()  # the CARCs ("CO-50") and RARCs ("N115") it came with


@dataclass(frozen=True)
class RemittanceRecord:
    """A remittance as imported: the payment, what was posted and what was left."""

    remittance_id: str
    payer_id: str
    payer_name: str
    trace_number: str
    method: str
    amount_cents: int
    paid_on: date | None
    digest: str  # the transaction's content, to tell a re-import from other content
    imported_at: datetime
    imported_by: str
    claims: int
    posted_cents: int = 0  # insurance payments posted (reversals net)
    adjusted_cents: int = 0  # adjustments posted
    unmatched_cents: int = 0  # payments of claims and lines that matched nothing
    provider_adjusted_cents: int = 0
    finished: bool = False  # every claim posted (a crash leaves it False until re-import)
    items: tuple[WorkItem, ...] = ()
    version: int = 0
    interchange: str = ""  # the file it was first imported from (ISA06 sender, ISA13)

    @property
    def open_items(self) -> int:
        return sum(1 for i in self.items if i.resolved_at is None)


def digest(remittance: Remittance) -> str:
    """The transaction's content, in whatever file it comes (segment numbers and the file's
    interchange left out)."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("segment", "interchange")}
        if isinstance(value, list | tuple):
            return [strip(v) for v in value]
        return value

    payload = json.dumps(strip(asdict(remittance)), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


# -- matching ----------------------------------------------------------------------------


@dataclass
class ClaimMatch:
    claim: ClaimPayment
    place: int
    known: bool = False  # some statement line carries the claim id
    pairs: list[tuple[int, ServiceLine, ClaimLine]] = field(default_factory=list)
    unmatched: list[tuple[int, ServiceLine]] = field(default_factory=list)


def match_claim(claim: ClaimPayment, place: int, candidates: Sequence[ClaimLine]) -> ClaimMatch:
    """Each service line to the first unused statement line of the same code and date; a
    claim without service lines to its one statement line, when it has exactly one. The
    claim's own adjustments go with its first matched line."""
    found = ClaimMatch(claim, place, known=bool(candidates))
    lines = claim.lines
    if not lines and len(candidates) == 1:
        only = candidates[0].line
        lines = (
            ServiceLine(
                segment=claim.segment,
                qualifier="HC",
                code=only.code,
                charge_cents=claim.charge_cents,
                paid_cents=claim.paid_cents,
                service_date=only.service_date,
                adjustments=claim.adjustments,
            ),
        )
    used: set[tuple[str, str]] = set()
    for n, service in enumerate(lines, 1):
        match = next(
            (
                c
                for c in candidates
                if (c.statement_id, c.line.line_id) not in used
                and c.line.code == service.code
                and c.line.service_date == service.service_date
            ),
            None,
        )
        if match is None:
            found.unmatched.append((n, service))
        else:
            used.add((match.statement_id, match.line.line_id))
            found.pairs.append((n, service, match))
    if claim.lines and claim.adjustments and found.pairs:
        # The claim's own CAS (on no line) lowered its payment below its lines': it goes
        # with the first matched line, so what is posted is what the insurer paid.
        n, service, match = found.pairs[0]
        extra = sum(a.amount_cents for a in claim.adjustments)
        service = replace(
            service,
            paid_cents=service.paid_cents - extra,
            adjustments=service.adjustments + claim.adjustments,
        )
        found.pairs[0] = (n, service, match)
    return found


# -- posting -----------------------------------------------------------------------------


def line_owed(book: AccountBook, statement_id: str, line: LineItem) -> int:
    """What the line asks of the patient now: the statement's amount, then every
    remittance entry posted to it since."""
    owed = line.patient_responsibility_cents
    for e in book.entries:
        if e.statement_id == statement_id and e.source:
            s = source_of(e)
            if s is not None and s.line_id == line.line_id:
                owed += e.amount_cents
    return owed


def post_claim(
    book: AccountBook,
    remittance: Remittance,
    found: ClaimMatch,
    at: datetime,
) -> Change:
    """The entries one claim of a remittance posts to this account (its matched lines on
    it); PostedBefore when the book has them already."""
    claim = found.claim
    mine = [(n, s, c) for n, s, c in found.pairs if c.account_number == book.account_number]
    places = [0] if claim.reversal else [n for n, _, _ in mine]
    postings = {posting_id(remittance, found.place, n) for n in places}
    for e in book.entries:
        s = source_of(e)
        if s is not None and s.posting in postings:
            raise PostedBefore()
    entries: list[LedgerEntry] = []
    where = f"{remittance.payer_name} {_method(remittance)} {remittance.trace_number}"
    if claim.reversal:
        entries += _reversal(book, remittance, found, at, where)
    else:
        for n, service, c in mine:
            entries += _line_entries(book, remittance, found.place, n, service, c, at, where)
    if not entries:
        raise NothingToPost()
    entries += _overpaid(book, entries, at)
    return Change(book=book, at=at, entries=tuple(entries))


def _method(remittance: Remittance) -> str:
    return {"CHK": "check", "ACH": "EFT", "FWT": "wire", "NON": "notice"}.get(
        remittance.method, remittance.method
    )


def _line_entries(
    book: AccountBook,
    remittance: Remittance,
    place: int,
    n: int,
    service: ServiceLine,
    c: ClaimLine,
    at: datetime,
    where: str,
) -> list[LedgerEntry]:
    posting = posting_id(remittance, place, n)
    claim_id = c.line.claim_id
    owed = line_owed(book, c.statement_id, c.line)
    patient = service.patient_cents
    entries = []
    if service.paid_cents:
        entries.append(
            LedgerEntry(
                book.account_number,
                EntryKind.INSURANCE_PAYMENT,
                -service.paid_cents,
                at,
                c.statement_id,
                memo=f"Insurance payment, claim {claim_id}, {where}",
                source=Source(claim_id, c.line.line_id, posting, PAID).text(),
            )
        )
    difference = owed - service.paid_cents - patient
    if difference:
        pairs = tuple((a.reason, a.amount_cents) for a in service.adjustments if a.patient)
        entries.append(
            LedgerEntry(
                book.account_number,
                EntryKind.ADJUSTMENT,
                -difference,
                at,
                c.statement_id,
                memo=_adjustment_memo(service, claim_id, owed, patient, where),
                source=Source(claim_id, c.line.line_id, posting, ADJUSTED, pairs).text(),
            )
        )
    return entries


def _adjustment_memo(
    service: ServiceLine, claim_id: str, owed: int, patient: int, where: str
) -> str:
    codes = ", ".join(
        f"{a.group}-{a.reason} {format_cents(a.amount_cents)}" for a in service.adjustments
    )
    return (
        f"Claim {claim_id}: the insurer leaves {format_cents(patient)} to the patient "
        f"(the line asked {format_cents(owed)}); {codes or 'no adjustment codes'}; {where}"
    )


def _reversal(
    book: AccountBook, remittance: Remittance, found: ClaimMatch, at: datetime, where: str
) -> list[LedgerEntry]:
    """Undo every entry earlier remittances posted for the claim and not undone yet."""
    claim_id = found.claim.claim_id
    undone = {
        s.detail[0]
        for e in book.entries
        if (s := source_of(e)) is not None and s.part == REVERSED and s.detail
    }
    posting = posting_id(remittance, found.place, 0)
    entries = []
    for e in book.entries:
        s = source_of(e)
        if s is None or s.claim_id != claim_id or s.part not in (PAID, ADJUSTED):
            continue
        if s.posting in undone:
            continue
        entries.append(
            LedgerEntry(
                book.account_number,
                e.kind,  # of its own kind, so the month's insurance column nets it
                -e.amount_cents,
                at,
                e.statement_id,
                memo=f"Reversal of claim {claim_id} ({e.memo}), {where}",
                source=Source(claim_id, s.line_id, posting, REVERSED, (s.posting,)).text(),
            )
        )
    return entries


def _overpaid(book: AccountBook, entries: list[LedgerEntry], at: datetime) -> list[LedgerEntry]:
    """A statement taken below zero gives the excess to the account as credit, and the
    credit goes to its other open statements."""
    after = balances([*book.entries, *entries])
    moves: list[LedgerEntry] = []
    for statement_id in sorted({e.statement_id for e in entries if e.statement_id}):
        below = -after.by_statement.get(statement_id, 0)
        if below > 0:
            memo = f"Paid beyond statement {statement_id} after insurance: credit"
            moves += [
                LedgerEntry(
                    book.account_number, EntryKind.TRANSFER, below, at, statement_id, memo=memo
                ),
                LedgerEntry(book.account_number, EntryKind.TRANSFER, -below, at, memo=memo),
            ]
    if moves:
        moves += apply_credit(
            book.account_number, [*book.entries, *entries, *moves], book.statements, at
        )
    return moves


# -- work items --------------------------------------------------------------------------


def work_items(
    remittance: Remittance, matches: Sequence[ClaimMatch], unreversed: set[str]
) -> list[WorkItem]:
    """What the associates must look at: claims and lines that matched nothing, denials,
    reversals of claims never posted (`unreversed`: their claim ids), and every
    provider-level adjustment. Ids numbered in the order of the file."""
    found: list[tuple[str, str, int, str, tuple[str, ...]]] = []
    where = f"{remittance.payer_name} trace {remittance.trace_number}"
    for m in matches:
        c = m.claim
        listed = tuple(dict.fromkeys(f"{a.group}-{a.reason}" for a in c.all_adjustments))
        noted = tuple(dict.fromkeys(c.remarks + tuple(r for s in c.lines for r in s.remarks)))
        codes, remarks = ", ".join(listed), ", ".join(noted)
        if c.denied:
            found.append(
                (
                    Kind.DENIED,
                    c.claim_id,
                    c.charge_cents,
                    f"{where}: claim {c.claim_id} denied, charge {format_cents(c.charge_cents)}"
                    f" ({codes}{'; remarks ' + remarks if remarks else ''})",
                    listed + noted,
                )
            )
        elif c.reversal and c.claim_id in unreversed:
            found.append(
                (
                    Kind.REVERSAL_UNMATCHED,
                    c.claim_id,
                    c.paid_cents,
                    f"{where}: reversal of claim {c.claim_id} ({format_cents(c.paid_cents)}),"
                    " which was never posted here",
                    (),
                )
            )
        elif not m.known:
            found.append(
                (
                    Kind.UNMATCHED_CLAIM,
                    c.claim_id,
                    c.paid_cents,
                    f"{where}: claim {c.claim_id} paid {format_cents(c.paid_cents)} "
                    f"(charge {format_cents(c.charge_cents)}); no statement line has this "
                    "claim id",
                    listed + noted,
                )
            )
        else:
            for _, service in m.unmatched:
                found.append(
                    (
                        Kind.UNMATCHED_LINE,
                        c.claim_id,
                        service.paid_cents,
                        f"{where}: claim {c.claim_id}, {service.code} on "
                        f"{service.service_date or 'no date'} paid "
                        f"{format_cents(service.paid_cents)}; no line of the claim has this "
                        "code and date",
                        tuple(f"{a.group}-{a.reason}" for a in service.adjustments),
                    )
                )
    for p in remittance.provider_adjustments:
        name = PROVIDER_REASONS.get(p.reason, "adjustment")
        found.append(
            (
                Kind.PROVIDER_ADJUSTMENT,
                "",
                p.amount_cents,
                f"{where}: provider-level {name} ({p.reason} {p.reference}) "
                f"{format_cents(-p.amount_cents)} to the payment",
                (),
            )
        )
    return [
        WorkItem(f"{remittance.remittance_id}#{n}", kind, claim_id, amount, detail, codes=codes)
        for n, (kind, claim_id, amount, detail, codes) in enumerate(found, 1)
    ]


def resolve_item(
    record: RemittanceRecord, item_id: str, by: str, at: datetime, note: str
) -> RemittanceRecord:
    """The record with the item marked resolved; KeyError for an item not on it."""
    items = []
    hit = False
    for item in record.items:
        if item.item_id == item_id:
            hit = True
            if item.resolved_at is None:
                item = replace(item, resolved_by=by, resolved_at=at, note=note)
        items.append(item)
    if not hit:
        raise KeyError(item_id)
    return replace(record, items=tuple(items))
