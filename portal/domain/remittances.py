"""Insurance remittances (ASC X12 835, 005010X221A1) as the portal reads them: the payment
(BPR, TRN), each claim (CLP) with its service lines (SVC) and adjustments (CAS), and the
provider-level adjustments (PLB); and the balancing rules a remittance must keep before
anything of it is posted.

Amounts are integer cents as the 835 states them: a claim adjustment's amount raises the
adjustment (a positive CAS amount is money the insurer did not pay), a provider
adjustment's amount lowers the payment (PLB: positive takes money back, negative adds,
e.g. interest)."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from portal.domain.money import format_cents

# CAS01: who the adjustment is put on.
GROUPS = {
    "CO": "contractual obligation",
    "CR": "correction and reversal",
    "OA": "other adjustment",
    "PI": "payer-initiated reduction",
    "PR": "patient responsibility",
}
PATIENT_GROUP = "PR"
# CLP02 claim statuses that pay (1-3: as primary, secondary, tertiary; 19-21: the same,
# forwarded to another payer), deny (4), and reverse an earlier payment (22).
PAID_STATUSES = frozenset({"1", "2", "3", "19", "20", "21"})
DENIED = "4"
REVERSAL = "22"
CLAIM_STATUSES = PAID_STATUSES | {DENIED, REVERSAL, "23", "25"}
# PLB03-1 reasons the portal names (others are shown by code to staff).
PROVIDER_REASONS = {
    "L6": "interest",
    "FB": "forward balance",
    "WO": "overpayment recovery",
    "72": "authorized return",
    "CS": "adjustment",
    "J1": "nonreimbursable",
}


class AmountError(ValueError):
    """Text that is not an amount the 835 may carry (at most two decimals)."""


def cents(text: str) -> int:
    """An 835 amount ("120", "62.1", "-35.00") as integer cents; AmountError otherwise."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise AmountError(f"{text!r} is not an amount") from None
    scaled = value * 100
    if not value.is_finite() or scaled != scaled.to_integral_value():
        raise AmountError(f"{text!r} is not an amount in dollars and cents")
    return int(scaled)


@dataclass(frozen=True)
class Adjustment:
    """One reason/amount pair of a CAS segment."""

    group: str  # CAS01
    reason: str  # the CARC (CAS02, 05, 08, 11, 14, 17)
    amount_cents: int
    segment: int = 0

    @property
    def patient(self) -> bool:
        return self.group == PATIENT_GROUP


@dataclass(frozen=True)
class ServiceLine:
    segment: int  # the SVC segment's number in the file
    qualifier: str  # SVC01-1: HC (CPT/HCPCS) and the like
    code: str  # SVC01-2
    charge_cents: int  # SVC02
    paid_cents: int  # SVC03
    service_date: date | None  # DTM*472 (or the claim's, when the line has none)
    adjustments: tuple[Adjustment, ...] = ()
    remarks: tuple[str, ...] = ()  # RARCs (LQ*HE)
    control_number: str = ""  # REF*6B: the line item control number the practice sent

    @property
    def adjusted_cents(self) -> int:
        return sum(a.amount_cents for a in self.adjustments)

    @property
    def patient_cents(self) -> int:
        return sum(a.amount_cents for a in self.adjustments if a.patient)

    @property
    def contractual_cents(self) -> int:
        return sum(a.amount_cents for a in self.adjustments if not a.patient)


@dataclass(frozen=True)
class ClaimPayment:
    segment: int  # the CLP segment's number in the file
    claim_id: str  # CLP01: the patient control number the practice sent
    status: str  # CLP02
    charge_cents: int  # CLP03
    paid_cents: int  # CLP04
    patient_cents: int  # CLP05
    payer_claim_number: str = ""  # CLP07
    adjustments: tuple[Adjustment, ...] = ()  # claim-level CAS
    lines: tuple[ServiceLine, ...] = ()
    remarks: tuple[str, ...] = ()  # MOA/MIA remark codes

    @property
    def reversal(self) -> bool:
        return self.status == REVERSAL

    @property
    def denied(self) -> bool:
        """Nothing paid, for a contractual or payer reason (a denial staff must work)."""
        return (
            not self.reversal
            and self.paid_cents == 0
            and any(a.group in ("CO", "PI") for a in self.all_adjustments)
        ) or self.status == DENIED

    @property
    def all_adjustments(self) -> tuple[Adjustment, ...]:
        return self.adjustments + tuple(a for line in self.lines for a in line.adjustments)


@dataclass(frozen=True)
class ProviderAdjustment:
    segment: int
    reason: str  # PLB03-1 (L6 interest, FB forward balance, WO ...)
    reference: str  # PLB03-2
    amount_cents: int  # lowers the payment (negative: adds to it)


@dataclass(frozen=True)
class Remittance:
    """One 835 transaction (ST to SE): one payment (check or EFT) and what it pays."""

    segment: int  # the ST segment's number in the file
    control_number: str  # ST02
    handling: str  # BPR01
    amount_cents: int  # BPR02
    credit: bool  # BPR03 C (money to the practice) or D
    method: str  # BPR04: CHK, ACH, FWT, BOP, NON
    paid_on: date | None  # BPR16
    trace_number: str  # TRN02: the check or EFT number
    payer_id: str  # TRN03
    payer_name: str  # N1*PR
    claims: tuple[ClaimPayment, ...] = ()
    provider_adjustments: tuple[ProviderAdjustment, ...] = ()
    interchange: str = ""  # the file it came in: ISA06 sender and ISA13 control number

    @property
    def remittance_id(self) -> str:
        """The payment's identity whatever file brings it: payer and trace number."""
        return f"{self.payer_id}-{self.trace_number}"

    @property
    def provider_adjusted_cents(self) -> int:
        return sum(p.amount_cents for p in self.provider_adjustments)


@dataclass(frozen=True)
class Refusal:
    """Why a file is refused: where (the segment's number in the file, 1 for ISA) and the
    rule it breaks."""

    segment: int
    segment_id: str
    rule: str

    def __str__(self) -> str:
        return f"Segment {self.segment} ({self.segment_id}): {self.rule}"


@dataclass(frozen=True)
class RemittanceFile:
    """A file's transactions, once it has passed every check."""

    remittances: tuple[Remittance, ...] = field(default_factory=tuple)


def balance_refusals(remittance: Remittance) -> list[Refusal]:
    """The balancing rules of 005010X221A1 (section 1.10.2) the transaction breaks, and the
    signs each amount may have; empty when it balances."""
    refusals: list[Refusal] = []
    r = remittance
    if r.amount_cents < 0:
        refusals.append(Refusal(r.segment + 1, "BPR", "the payment amount cannot be negative"))
    for claim in r.claims:
        refusals += _claim_refusals(claim)
    paid = sum(c.paid_cents for c in r.claims) - r.provider_adjusted_cents
    stated = r.amount_cents if r.credit else -r.amount_cents
    if paid != stated:
        refusals.append(
            Refusal(
                r.segment + 1,
                "BPR",
                f"the payment of {format_cents(stated)} is not the claims' payments "
                f"({format_cents(sum(c.paid_cents for c in r.claims))}) less the provider "
                f"adjustments ({format_cents(r.provider_adjusted_cents)}): {format_cents(paid)}",
            )
        )
    return refusals


def _claim_refusals(claim: ClaimPayment) -> list[Refusal]:
    refusals: list[Refusal] = []
    c = claim

    def refuse(rule: str, segment: int = c.segment, segment_id: str = "CLP") -> None:
        refusals.append(Refusal(segment, segment_id, f"claim {c.claim_id}: {rule}"))

    if c.status not in CLAIM_STATUSES:
        refuse(f"claim status {c.status!r} is not one the portal posts")
    sign = -1 if c.reversal else 1
    for name, amount in (("charge", c.charge_cents), ("payment", c.paid_cents)):
        if amount * sign < 0:
            refuse(
                f"the {name} cannot be {'positive' if c.reversal else 'negative'}"
                + (" on a reversal (status 22)" if c.reversal else " (only a reversal's is)")
            )
    adjusted = sum(a.amount_cents for a in c.all_adjustments)
    if c.charge_cents - adjusted != c.paid_cents:
        refuse(
            f"the charge {format_cents(c.charge_cents)} less the adjustments "
            f"{format_cents(adjusted)} "
            f"is not the payment {format_cents(c.paid_cents)}"
        )
    patient = sum(a.amount_cents for a in c.all_adjustments if a.patient)
    if patient != c.patient_cents:
        refuse(
            f"the patient responsibility {format_cents(c.patient_cents)} is not the sum of its "
            f"PR adjustments {format_cents(patient)}"
        )
    if c.lines and sum(line.charge_cents for line in c.lines) != c.charge_cents:
        refuse(
            f"the service lines' charges {format_cents(sum(line.charge_cents for line in c.lines))}"
            f" are not the claim's charge {format_cents(c.charge_cents)}"
        )
    for line in c.lines:
        for name, amount in (("charge", line.charge_cents), ("payment", line.paid_cents)):
            if amount * sign < 0:
                refuse(
                    f"line {line.code}: the {name} cannot be "
                    f"{'positive on a reversal' if c.reversal else 'negative'}",
                    line.segment,
                    "SVC",
                )
        if line.charge_cents - line.adjusted_cents != line.paid_cents:
            refuse(
                f"line {line.code}: the charge {format_cents(line.charge_cents)} less the "
                f"adjustments {format_cents(line.adjusted_cents)} is not the payment "
                f"{format_cents(line.paid_cents)}",
                line.segment,
                "SVC",
            )
    return refusals
