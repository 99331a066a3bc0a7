"""The plan authorization in the guarantor's language: each language's text is its own
version, hashed into the agreement; the English versions' words never change."""

from datetime import date

import pytest

from portal.domain.plan_terms import (
    AUTHORIZATION_VERSION,
    AUTHORIZATION_VERSION_ES,
    AUTOPAY_VERSION,
    AUTOPAY_VERSION_ES,
    agreement_text,
    authorization_text,
    authorization_version,
    autopay_text,
    autopay_version,
    spanish_date,
    text_digest,
)
from portal.domain.plans import Installment

SCHEDULE = (
    Installment(1, date(2027, 1, 15), 33334),
    Installment(2, date(2027, 2, 15), 33333),
    Installment(3, date(2027, 3, 15), 33333),
)
PRACTICE = "Demo Family Practice"
# The SHA-256 of the English texts for this schedule as agreements before the Spanish
# versions recorded them: the English words may never change under their version.
ENGLISH_PLAN_DIGEST = "c6e4c3eb779a0079254071946e6e9d428193569fb548e6740ca730a98516c56f"
ENGLISH_AUTOPAY_DIGEST = "3dd70a5c29d48fe9fa25a8e702c50002a04a5bb4463d5da44f9e3b5a055c7bff"


def test_the_english_versions_are_unchanged():
    assert text_digest(authorization_text(PRACTICE, "100234", SCHEDULE)) == ENGLISH_PLAN_DIGEST
    assert text_digest(autopay_text(PRACTICE, "100234")) == ENGLISH_AUTOPAY_DIGEST
    assert (
        text_digest(authorization_text(PRACTICE, "100234", SCHEDULE, AUTHORIZATION_VERSION))
        == ENGLISH_PLAN_DIGEST
    )


@pytest.mark.parametrize("tag", ["es", "es-MX", "es_US", "ES"])
def test_a_spanish_guarantor_gets_the_spanish_versions(tag):
    assert authorization_version(tag) == AUTHORIZATION_VERSION_ES == "plan-2026-12-es"
    assert autopay_version(tag) == AUTOPAY_VERSION_ES == "autopay-2026-12-es"


@pytest.mark.parametrize("tag", ["en", "", "fr", "en-US", "eo"])
def test_any_other_language_gets_english(tag):
    assert authorization_version(tag) == AUTHORIZATION_VERSION
    assert autopay_version(tag) == AUTOPAY_VERSION


def test_the_spanish_plan_text_names_the_schedule_in_spanish():
    text = authorization_text(PRACTICE, "100234", SCHEDULE, AUTHORIZATION_VERSION_ES)
    assert text.startswith(f"Autorizo a {PRACTICE} a cobrar")
    assert "para la cuenta 100234, 3 pagos que suman $1,000.00, en estas fechas:" in text
    assert "  1. 15 de enero de 2027: $333.34" in text
    assert "  3. 15 de marzo de 2027: $333.33" in text
    assert "No hay intereses ni cargos." in text
    assert "January" not in text and "installments" not in text
    assert text_digest(text) != ENGLISH_PLAN_DIGEST


def test_the_spanish_autopay_text():
    text = autopay_text(PRACTICE, "100234", AUTOPAY_VERSION_ES)
    assert text.startswith(f"Autorizo a {PRACTICE} a cobrar")
    assert "pago automático" in text and "estado de cuenta" in text


def test_an_agreement_is_shown_again_in_the_words_of_its_version():
    for version in (AUTHORIZATION_VERSION, AUTHORIZATION_VERSION_ES):
        assert agreement_text(version, PRACTICE, "100234", SCHEDULE) == authorization_text(
            PRACTICE, "100234", SCHEDULE, version
        )
    for version in (AUTOPAY_VERSION, AUTOPAY_VERSION_ES):
        assert agreement_text(version, PRACTICE, "100234") == autopay_text(
            PRACTICE, "100234", version
        )
    with pytest.raises(ValueError):
        agreement_text("plan-1999-01", PRACTICE, "100234", SCHEDULE)
    with pytest.raises(ValueError):
        autopay_text(PRACTICE, "100234", AUTHORIZATION_VERSION_ES)


def test_spanish_dates_are_written_out_not_from_locale_data():
    assert spanish_date(date(2027, 1, 1)) == "1 de enero de 2027"
    assert spanish_date(date(2026, 9, 30)) == "30 de septiembre de 2026"
    assert spanish_date(date(2026, 12, 31)) == "31 de diciembre de 2026"
