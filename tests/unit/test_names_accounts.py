"""Matching a typed last name and birth date against an account."""

import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.accounts import Account, Guarantor
from portal.domain.names import name_key
from tests.conftest import lopez_account


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Núñez-O'Neil", "nunez oneil"),
        ("  Núñez-O'Neil ", "NUNEZONEIL"),
        ("O\u2019Brien", "obrien"),
        ("van der Berg", "Vanderberg"),
        ("MÜLLER", "muller"),
        ("Zoë", "zoe"),
        ("Straße", "STRASSE"),
    ],
)
def test_name_key_ignores_case_accents_spaces_and_punctuation(typed, stored):
    assert name_key(typed) == name_key(stored)


def test_name_key_keeps_letters_that_differ():
    assert name_key("Lopez") != name_key("Lopes")
    assert name_key("Smith") != name_key("Smyth")


def test_name_key_of_nothing_is_empty():
    assert name_key("") == ""
    assert name_key(None) == ""
    assert name_key(" -' ") == ""


def test_matches_the_guarantor():
    account = lopez_account()
    assert account.matches("Lopez", date(1984, 3, 12))
    assert account.matches(" lópez ", date(1984, 3, 12))


def test_matches_a_patient_on_the_account():
    account = lopez_account()
    assert account.matches("Nunez Lopez", date(2018, 1, 9))
    assert account.matches("núñez-lópez", date(2018, 1, 9))
    assert account.matches("Lopez", date(2015, 6, 2))


def test_wrong_date_of_birth_does_not_match():
    account = lopez_account()
    assert not account.matches("Lopez", date(1984, 3, 13))
    # The name of one person with the birth date of another is no match either.
    assert not account.matches("Nunez-Lopez", date(1984, 3, 12))


def test_wrong_last_name_does_not_match():
    assert not lopez_account().matches("Garcia", date(1984, 3, 12))


@pytest.mark.parametrize("typed", ["", "   ", "-", "'"])
def test_empty_last_name_never_matches(typed):
    account = Account(
        account_number="1",
        guarantor=Guarantor("Prince", "", date(1958, 6, 7)),
    )
    assert not account.matches(typed, date(1958, 6, 7))


def test_display_names():
    account = lopez_account()
    assert account.patients[1].display_name == "José Núñez-Lopez"
    assert account.guarantor.display_name == "Maria Lopez"


@given(st.text(alphabet=st.characters(max_codepoint=127)) | st.text())
def test_name_key_of_plain_ascii_is_the_decomposed_key(name):
    """The ASCII shortcut answers as decomposing, case-folding and keeping letters does."""
    decomposed = unicodedata.normalize("NFKD", name)
    assert name_key(name) == "".join(ch for ch in decomposed.casefold() if ch.isalnum())
