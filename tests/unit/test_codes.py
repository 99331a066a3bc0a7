"""Procedure/diagnosis code formats and statement validation."""

from dataclasses import replace
from datetime import date

import pytest

from portal.domain.codes import diagnosis_code_error, diagnosis_code_key, procedure_code_error
from portal.domain.statements import Statement, statement_errors
from tests.conftest import line, statement

PATIENTS = {"P1", "P2"}


@pytest.mark.parametrize("code", ["99213", "0001F", "0042T", "0001U", "81002", "00100"])
def test_cpt_codes_accepted(code):
    assert procedure_code_error("CPT", code) is None


@pytest.mark.parametrize("code", ["9921", "992134", "9921X", "J1100", "99213 ", "", "0001f"])
def test_cpt_codes_refused(code):
    message = procedure_code_error("CPT", code)
    assert message is not None
    assert "CPT" in message
    assert repr(code) not in message  # never repeats the code: it is health information


def test_cpt_code_81002u_as_written_in_the_brief_is_six_characters():
    # CPT codes are 5 characters; "81002U" is not one (PLA codes look like 0001U).
    assert procedure_code_error("CPT", "0001U") is None
    assert procedure_code_error("CPT", "81002U") is not None


@pytest.mark.parametrize("code", ["J1100", "A0428", "V2020", "G0008"])
def test_hcpcs_codes_accepted(code):
    assert procedure_code_error("HCPCS", code) is None


@pytest.mark.parametrize("code", ["W1234", "Z1234", "J110", "J11000", "j1100", "99213"])
def test_hcpcs_codes_refused(code):
    message = procedure_code_error("HCPCS", code)
    assert message is not None
    assert "HCPCS" in message


def test_unknown_code_system_refused():
    message = procedure_code_error("ICD", "99213")
    assert message is not None
    assert "CPT or HCPCS" in message


@pytest.mark.parametrize("code", ["J06.9", "E11.65", "S52.521A", "I10", "Z23", "J069"])
def test_icd10_codes_accepted(code):
    assert diagnosis_code_error(code) is None


@pytest.mark.parametrize("code", ["250.00", "E880.9", "401.9", "250"])
def test_icd9_codes_refused_by_name(code):
    message = diagnosis_code_error(code)
    assert message is not None
    assert "ICD-9" in message


@pytest.mark.parametrize("code", ["", "J0", "J06.", "J06.12345", "j06.9", "JJ6.9", "hello"])
def test_malformed_diagnosis_codes_refused(code):
    message = diagnosis_code_error(code)
    assert message is not None
    assert "ICD-10-CM" in message
    assert "ICD-9" not in message


def test_diagnosis_code_key_drops_the_dot():
    assert diagnosis_code_key("E11.65") == diagnosis_code_key("e1165") == "E1165"


def fields(st: Statement) -> list[str]:
    return [f for f, _ in statement_errors(st, PATIENTS)]


def with_lines(*lines) -> Statement:
    return replace(statement(), lines=tuple(lines))


def test_a_sound_statement_has_no_errors():
    assert statement_errors(statement(owed=(3000, 0, 4550)), PATIENTS) == []


def test_charge_must_equal_insurance_adjustment_and_responsibility():
    st = with_lines(line("1"), line("2", charge_cents=10))
    errors = statement_errors(st, PATIENTS)
    assert [f for f, _ in errors] == ["lines[1].charge_cents"]
    assert "insurance paid + adjustment + patient responsibility" in errors[0][1]


@pytest.mark.parametrize(
    "name",
    ["charge_cents", "insurance_paid_cents", "adjustment_cents", "patient_responsibility_cents"],
)
def test_negative_amounts_refused(name):
    bad = line("1", **{name: -1})
    errors = statement_errors(with_lines(bad), PATIENTS)
    assert (f"lines[0].{name}", "The amount cannot be negative.") in errors


def test_negative_amounts_refused_even_when_the_line_balances():
    # 100 = 150 + 0 + (-50): the sum holds, the negative responsibility is still refused.
    bad = line(
        "1",
        charge_cents=100,
        insurance_paid_cents=150,
        adjustment_cents=0,
        patient_responsibility_cents=-50,
    )
    assert fields(with_lines(bad)) == ["lines[0].patient_responsibility_cents"]


def test_unknown_patient():
    errors = statement_errors(with_lines(line("1"), line("2", patient_id="P7")), PATIENTS)
    assert errors == [("lines[1].patient_id", "No patient 'P7' on the account.")]


def test_due_date_before_statement_date():
    st = statement(statement_date=date(2026, 11, 1), due_date=date(2026, 10, 31))
    assert fields(st) == ["due_date"]


def test_due_date_on_statement_date_is_fine():
    st = statement(statement_date=date(2026, 11, 1), due_date=date(2026, 11, 1))
    assert fields(st) == []


def test_service_date_after_statement_date():
    st = with_lines(line("1", service_date=date(2026, 11, 2)))
    assert fields(st) == ["lines[0].service_date"]


def test_duplicate_line_ids():
    errors = statement_errors(with_lines(line("A"), line("B"), line("A")), PATIENTS)
    assert errors == [("lines[2].line_id", "Line id 'A' appears twice.")]


def test_bad_procedure_code():
    errors = statement_errors(with_lines(line("1"), line("2", code="9921")), PATIENTS)
    assert [f for f, _ in errors] == ["lines[1].code"]
    assert "CPT" in errors[0][1]


def test_bad_hcpcs_code():
    st = with_lines(line("1", code_system="HCPCS", code="W1234"))
    assert fields(st) == ["lines[0].code"]


def test_bad_diagnosis_codes_point_at_the_code():
    st = with_lines(line("1", diagnosis_codes=("J06.9", "250.00", "nope")))
    errors = statement_errors(st, PATIENTS)
    assert [f for f, _ in errors] == ["lines[0].diagnosis_codes[1]", "lines[0].diagnosis_codes[2]"]
    assert "ICD-9" in errors[0][1]


def test_empty_lines():
    assert fields(with_lines()) == ["lines"]


def test_blank_statement_id():
    assert fields(replace(statement(), statement_id="  ")) == ["statement_id"]


def test_every_problem_is_reported_at_once():
    st = Statement(
        statement_id="S-1",
        account_number="100234",
        statement_date=date(2026, 11, 1),
        due_date=date(2026, 10, 1),
        lines=(
            line("1", code="ABCDE"),
            line("1", patient_id="P9", adjustment_cents=-1),
        ),
    )
    assert fields(st) == [
        "due_date",
        "lines[0].code",
        "lines[1].line_id",
        "lines[1].patient_id",
        "lines[1].adjustment_cents",
        "lines[1].charge_cents",
    ]


def test_statement_totals():
    st = statement(owed=(4550, 2000))
    assert st.total_cents == 6550
    assert st.insurance_paid_cents == 24000
    assert st.adjustments_cents == 7000
    assert st.charges_cents == st.total_cents + st.insurance_paid_cents + st.adjustments_cents


def test_fingerprint_tells_content_apart():
    assert statement().fingerprint() == statement().fingerprint()
    assert statement(owed=(3000,)).fingerprint() != statement(owed=(3001,)).fingerprint()
