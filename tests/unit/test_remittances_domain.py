"""The 835's balancing rules and amounts (portal/domain/remittances.py)."""

from dataclasses import replace
from datetime import date

import pytest

from portal.domain.remittances import (
    Adjustment,
    AmountError,
    ClaimPayment,
    ProviderAdjustment,
    Remittance,
    ServiceLine,
    balance_refusals,
    cents,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [("120", 12000), ("62.1", 6210), ("-35.00", -3500), ("0", 0), (".5", 50), ("1e2", 10000)],
)
def test_amounts_are_read_to_the_cent(text, value):
    assert cents(text) == value


@pytest.mark.parametrize("text", ["35.005", "abc", "", "NaN", "Infinity"])
def test_an_amount_finer_than_a_cent_or_not_a_number_is_refused(text):
    with pytest.raises(AmountError):
        cents(text)


def line(charge=18500, paid=15000, *adjustments: Adjustment) -> ServiceLine:
    return ServiceLine(
        segment=15,
        qualifier="HC",
        code="99213",
        charge_cents=charge,
        paid_cents=paid,
        service_date=date(2026, 10, 14),
        adjustments=adjustments or (Adjustment("CO", "45", 3500),),
    )


def claim(**fields) -> ClaimPayment:
    values = dict(
        segment=13,
        claim_id="C-1",
        status="1",
        charge_cents=18500,
        paid_cents=15000,
        patient_cents=0,
        lines=(line(),),
    )
    values.update(fields)
    return ClaimPayment(**values)  # type: ignore[arg-type]


def remittance(*claims: ClaimPayment, amount=15000, plb=()) -> Remittance:
    return Remittance(
        segment=3,
        control_number="0001",
        handling="I",
        amount_cents=amount,
        credit=True,
        method="ACH",
        paid_on=date(2026, 12, 1),
        trace_number="EFT-1",
        payer_id="1512345678",
        payer_name="ACME",
        claims=claims or (claim(),),
        provider_adjustments=plb,
    )


def rules(r: Remittance) -> list[str]:
    return [str(x) for x in balance_refusals(r)]


def test_a_balanced_remittance_has_no_refusals():
    assert rules(remittance()) == []


def test_provider_adjustments_lower_the_payment_and_interest_raises_it():
    plb = (
        ProviderAdjustment(17, "L6", "INT", -235),
        ProviderAdjustment(17, "FB", "FWD", 4000),
    )
    assert rules(remittance(amount=15000 + 235 - 4000, plb=plb)) == []
    assert rules(remittance(amount=15000, plb=plb)) == [
        "Segment 4 (BPR): the payment of $150.00 is not the claims' payments ($150.00) less "
        "the provider adjustments ($37.65): $112.35"
    ]


def test_every_pair_of_a_line_counts_and_patient_responsibility_is_the_pr_pairs():
    split = line(
        24500,
        12050,
        Adjustment("CO", "45", 4450),
        Adjustment("PR", "1", 4000),
        Adjustment("PR", "2", 4000),
    )
    good = claim(charge_cents=24500, paid_cents=12050, patient_cents=8000, lines=(split,))
    assert rules(remittance(good, amount=12050)) == []
    wrong = replace(good, patient_cents=4000)
    assert rules(remittance(wrong, amount=12050)) == [
        "Segment 13 (CLP): claim C-1: the patient responsibility $40.00 is not the sum of its "
        "PR adjustments $80.00"
    ]


def test_a_reversal_carries_negative_amounts_and_any_other_claim_positive_ones():
    back = line(-18500, -15000, Adjustment("CO", "45", -3500))
    reversal = claim(status="22", charge_cents=-18500, paid_cents=-15000, lines=(back,))
    assert rules(remittance(reversal, claim(), amount=0)) == []
    assert rules(remittance(replace(reversal, status="1"), claim(), amount=0)) == [
        "Segment 13 (CLP): claim C-1: the charge cannot be negative (only a reversal's is)",
        "Segment 13 (CLP): claim C-1: the payment cannot be negative (only a reversal's is)",
        "Segment 15 (SVC): claim C-1: line 99213: the charge cannot be negative",
        "Segment 15 (SVC): claim C-1: line 99213: the payment cannot be negative",
    ]


def test_claim_level_adjustments_count_toward_the_claim_but_not_its_lines():
    with_claim_cas = claim(
        charge_cents=18500,
        paid_cents=14000,
        adjustments=(Adjustment("OA", "94", 1000),),
    )
    assert rules(remittance(with_claim_cas, amount=14000)) == []
    assert with_claim_cas.all_adjustments == (
        Adjustment("OA", "94", 1000),
        Adjustment("CO", "45", 3500),
    )
