"""Remittance codes in plain words. Patients are told what an insurer's remittance did to a
statement in sentences (never the codes); staff see the codes with the portal's own
wording of each (the CARC and RARC lists are X12's; these are the codes the corpus uses and
the most common ones)."""

from collections.abc import Collection, Iterable

from portal.domain.catalog import N_
from portal.domain.ledger import EntryKind, LedgerEntry
from portal.domain.remittance_posting import ADJUSTED, REVERSED, source_of

PAID_MORE = N_("Your insurer paid %(amount)s more after this statement")
TOOK_BACK = N_("Your insurer took back %(amount)s it had paid after this statement")
# What the insurer left to the patient, by its claim adjustment reason (CAS group PR).
PATIENT_SHARE = {
    "1": N_("%(amount)s of this went to your deductible"),
    "2": N_("%(amount)s of this is your coinsurance"),
    "3": N_("%(amount)s of this is your copay"),
}
OTHER_SHARE = N_("%(amount)s of this is yours to pay under your plan")
SENTENCES = (PAID_MORE, TOOK_BACK, *PATIENT_SHARE.values(), OTHER_SHARE)

# Claim adjustment reason codes (CARC), for staff.
CARC = {
    "1": "Deductible: the patient pays it",
    "2": "Coinsurance: the patient's share",
    "3": "Copay: the patient's fixed share",
    "4": "The procedure code does not fit the modifier used, or a modifier is missing",
    "16": "The claim lacks information needed to decide it (see the remark codes)",
    "18": "Duplicate of a claim already processed",
    "22": "Another payer may cover this (coordination of benefits)",
    "23": "What the earlier payer paid or adjusted (secondary and later payers)",
    "27": "Coverage had ended before the service",
    "29": "Filed after the payer's time limit",
    "45": "Charge above the fee the practice's contract allows",
    "50": "Not medically necessary in the payer's judgment",
    "94": "Processed in excess of charges",
    "96": "Not covered by the patient's plan",
    "97": "Paid as part of another service on the claim",
    "109": "Not covered by this payer: bill the right one",
    "119": "The plan's benefit maximum for the period is reached",
    "197": "Authorization or referral was missing",
    "204": "Not covered under the patient's current benefit plan",
    "242": "Out-of-network provider",
    "253": "Sequestration: the federal reduction of Medicare payments",
}
# Remittance advice remark codes (RARC), for staff.
RARC = {
    "M15": "Separately billed services were bundled as part of another service",
    "MA130": "The claim cannot be appealed as it is: correct and resubmit it",
    "N115": "Decided by a local coverage determination (LCD)",
    "N130": "Check the plan's benefit documents for what is covered",
    "N381": "The practice's contract with the payer decides this amount",
    "N4": "The prior payer's explanation of benefits is missing or wrong",
}


def code_words(code: str) -> str:
    """A CARC or RARC in plain words, for staff ("" for one the table does not have)."""
    return CARC.get(code) or RARC.get(code) or ""


def insurer_notes(
    entries: Iterable[LedgerEntry], statement_id: str, lines: Collection[str]
) -> list[tuple[str, dict[str, int]]]:
    """What remittances did to a statement after it was issued, as (phrase, values) for
    the patient's language: what the insurer paid (or took back) since, then the patient's
    share by reason, of the lines the viewer may see in full (`lines`: their ids)."""
    mine = [e for e in entries if e.statement_id == statement_id and e.source]
    undone = {
        s.detail[0]
        for e in mine
        if (s := source_of(e)) is not None and s.part == REVERSED and s.detail
    }
    paid = -sum(e.amount_cents for e in mine if e.kind is EntryKind.INSURANCE_PAYMENT)
    notes: list[tuple[str, dict[str, int]]] = []
    if paid > 0:
        notes.append((PAID_MORE, {"amount": paid}))
    elif paid < 0:
        notes.append((TOOK_BACK, {"amount": -paid}))
    shares: dict[str, int] = {}
    for e in mine:
        s = source_of(e)
        if s is None or s.part != ADJUSTED or s.posting in undone or s.line_id not in lines:
            continue
        for reason, cents in s.detail:
            key = reason if reason in PATIENT_SHARE else ""
            shares[key] = shares.get(key, 0) + int(cents)
    for reason in (*PATIENT_SHARE, ""):
        if shares.get(reason, 0) > 0:
            notes.append((PATIENT_SHARE.get(reason, OTHER_SHARE), {"amount": shares[reason]}))
    return notes
