"""Reading 835 files (portal/services/remittance_reader.py): the corpus's good files read
to what their comments say, and each bad file is refused with exactly its expected
refusals (segment number and rule)."""

import logging
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.services.remittance_reader import RemittanceRefused, read_835
from tests.remittances import BAD, GOOD, corpus_text, expected_refusals

BAD_FILES = sorted(BAD.glob("*.835"))


def test_the_corpus_has_twenty_bad_files_or_more_each_with_its_refusals():
    assert len(BAD_FILES) >= 20
    assert all(expected_refusals(path) for path in BAD_FILES)


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_a_bad_file_is_refused_with_its_segment_and_rule(path):
    with pytest.raises(RemittanceRefused) as refused:
        read_835(corpus_text(path))
    assert [str(r) for r in refused.value.refusals] == expected_refusals(path)


def read(name: str):
    return read_835(corpus_text(GOOD / name)).remittances


def test_partial_payment_reads_every_pair_and_the_service_lines():
    [r] = read("02_deductible_coinsurance_copay.835")
    assert (r.remittance_id, r.method, r.amount_cents, r.paid_on) == (
        "1512345678-CHK-2002",
        "CHK",
        13250,
        date(2026, 12, 1),
    )
    assert r.payer_name == "ACME HEALTH PLAN"
    [c] = r.claims
    assert (c.claim_id, c.status, c.charge_cents, c.paid_cents, c.patient_cents) == (
        "C-1002",
        "1",
        28700,
        13250,
        10000,
    )
    first, second = c.lines
    assert (first.code, first.service_date, first.paid_cents) == (
        "99214",
        date(2026, 10, 6),
        12050,
    )
    assert [(a.group, a.reason, a.amount_cents) for a in first.adjustments] == [
        ("CO", "45", 4450),
        ("PR", "1", 4000),
        ("PR", "2", 4000),
    ]
    assert (second.patient_cents, second.contractual_cents) == (2000, 1000)


def test_a_denial_keeps_its_remark_codes():
    [r] = read("03_denied.835")
    [c] = r.claims
    assert c.denied and r.amount_cents == 0 and r.method == "NON"
    assert c.lines[0].remarks == ("N115",)


def test_reversal_and_correction_are_two_claims_of_one_payment():
    [r] = read("05b_reversal_and_correction.835")
    reversal, correction = r.claims
    assert reversal.reversal and not correction.reversal
    assert (reversal.paid_cents, correction.paid_cents, r.amount_cents) == (-10000, 11000, 1000)


def test_provider_adjustments_are_read_with_their_reason_and_sign():
    [r] = read("06_provider_adjustments.835")
    assert [(p.reason, p.reference, p.amount_cents) for p in r.provider_adjustments] == [
        ("L6", "INT-1006", -235),
        ("FB", "FWD-77", 4000),
    ]


def test_several_transactions_of_one_file_are_each_a_remittance():
    first, second = read("07_several_claims_and_transactions.835")
    assert [c.claim_id for c in first.claims] == ["C-1007", "C-1008"]
    assert (second.remittance_id, second.payer_name) == (
        "1999999999-CHK-7008",
        "BLUE MEADOW MEDICAID",
    )


def test_every_good_file_reads():
    for path in sorted(GOOD.glob("*.835")):
        assert read_835(corpus_text(path)).remittances, path.name


SIX_PAIRS = "CLP*C-1001*1*185*140*0*12*PAYER-C-1001*11*1~\\n"


def test_six_pairs_of_one_cas_segment_are_each_read():
    text = corpus_text(GOOD / "01_paid_in_full.835").replace(
        "CAS*CO*45*35~",
        "CAS*CO*45*10**253*5**94*5**97*5**B7*5**16*5~",
    )
    [r] = read_835(text).remittances
    [line] = r.claims[0].lines
    assert [(a.group, a.reason, a.amount_cents) for a in line.adjustments] == [
        ("CO", "45", 1000),
        ("CO", "253", 500),
        ("CO", "94", 500),
        ("CO", "97", 500),
        ("CO", "B7", 500),
        ("CO", "16", 500),
    ]


def test_reading_logs_nothing_of_the_file(caplog):
    """pyx12 logs what it finds with the file's values (names in an NM1): never kept."""
    caplog.set_level(logging.DEBUG)

    with pytest.raises(RemittanceRefused):
        read_835(corpus_text(BAD / "adjustment_group.835"))
    read_835(corpus_text(GOOD / "02_deductible_coinsurance_copay.835"))

    assert [r.name for r in caplog.records if r.name.startswith("pyx12")] == []


GOOD_TEXTS = [corpus_text(p) for p in sorted(GOOD.glob("*.835"))]


def test_a_file_whose_isa_cannot_be_read_is_refused_at_its_first_segment():
    """Found by the test below: the ISA's end, the GS and the ST cut out; pyx12 then reads
    no segment at all."""
    damaged = corpus_text(GOOD / "08_unmatched.835")
    for length, insert in ((0, "000000"), (22, "000000"), (40, "000"), (40, "0000")):
        at = int(0.125 * len(damaged))
        damaged = damaged[:at] + insert + damaged[at + length :]

    with pytest.raises(RemittanceRefused) as refused:
        read_835(damaged)

    assert [(r.segment, r.segment_id) for r in refused.value.refusals] == [(1, "ISA")]
    assert "the ISA segment cannot be read" in refused.value.refusals[0].rule


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    source=st.sampled_from(GOOD_TEXTS),
    cuts=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 40), st.text(max_size=6)), max_size=4),
)
def test_any_damaged_file_is_read_or_refused_never_an_error(source, cuts):
    """Bytes cut out and text put in anywhere: the file reads, or is refused with a
    segment and rule; nothing else escapes."""
    text = source
    for place, length, insert in cuts:
        at = int(place * len(text))
        text = text[:at] + insert + text[at + length :]
    try:
        read_835(text)
    except RemittanceRefused as refused:
        assert refused.refusals
        assert all(r.segment >= 1 and r.rule for r in refused.refusals)
