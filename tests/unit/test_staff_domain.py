"""Staff roles, usernames and passwords, and reversal entries."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.errors import InvalidInput
from portal.domain.ledger import EntryKind, LedgerEntry, balances, reversal_entries
from portal.domain.staff import (
    MIN_PASSWORD_LENGTH,
    Role,
    check_password,
    check_username,
    normalize_username,
)
from tests.examples import examples

AT = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)

# -- roles -----------------------------------------------------------------------------

ORDER = [Role.ASSOCIATE, Role.SUPERVISOR, Role.ADMIN]


@pytest.mark.parametrize("role", ORDER)
def test_every_role_allows_itself(role: Role):
    assert role.allows(role) is True


@pytest.mark.parametrize(
    ("role", "needed", "allowed"),
    [
        (Role.ASSOCIATE, Role.SUPERVISOR, False),
        (Role.ASSOCIATE, Role.ADMIN, False),
        (Role.SUPERVISOR, Role.ASSOCIATE, True),
        (Role.SUPERVISOR, Role.ADMIN, False),
        (Role.ADMIN, Role.ASSOCIATE, True),
        (Role.ADMIN, Role.SUPERVISOR, True),
    ],
)
def test_roles_are_ordered_associate_supervisor_admin(role: Role, needed: Role, allowed: bool):
    assert role.allows(needed) is allowed


def test_role_allows_matches_the_order_for_every_pair():
    for i, role in enumerate(ORDER):
        for j, needed in enumerate(ORDER):
            assert role.allows(needed) is (i >= j), (role, needed)


def test_roles_are_read_from_their_stored_values():
    assert Role("associate") is Role.ASSOCIATE
    assert Role("supervisor") is Role.SUPERVISOR
    assert Role("admin") is Role.ADMIN


# -- usernames -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        ("maria.lopez", "maria.lopez"),
        ("  Maria.Lopez  ", "maria.lopez"),
        ("SAM_ADMIN\n", "sam_admin"),
        ("\tann-1 ", "ann-1"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_normalize_username(typed: str, normalized: str):
    assert normalize_username(typed) == normalized


def test_normalize_username_of_none_is_empty():
    assert normalize_username(None) == ""  # type: ignore[arg-type]


def test_a_normalized_username_passes_the_check():
    check_username(normalize_username("  Maria.Lopez "))


@pytest.mark.parametrize(
    "username",
    ["maria.lopez", "a1", "ab", "sam_admin", "ann-2", "x" * 32, "a" + "9" * 31, "j.d-e_f"],
)
def test_check_username_accepts(username: str):
    assert check_username(username) is None


@pytest.mark.parametrize(
    "username",
    [
        "",
        "a",  # too short
        "1abc",  # starts with a digit
        ".abc",
        "_abc",
        "UPPER",  # not normalized: upper case is refused
        "Maria.lopez",
        "has space",
        " maria",
        "maria ",
        "maria\n",
        "x" * 33,
        "maría",
        "maria@lopez",
        "maria/lopez",
    ],
)
def test_check_username_refuses(username: str):
    with pytest.raises(InvalidInput) as raised:
        check_username(username)
    assert raised.value.field == "username"


# -- passwords -------------------------------------------------------------------------


def test_the_minimum_password_length_is_twelve():
    assert MIN_PASSWORD_LENGTH == 12


def test_check_password_refuses_eleven_characters():
    with pytest.raises(InvalidInput) as raised:
        check_password("a" * 11)
    assert raised.value.field == "password"
    assert "12" in raised.value.message


@pytest.mark.parametrize("password", ["", "short", "correct hor"])
def test_check_password_refuses_short_passwords(password: str):
    with pytest.raises(InvalidInput):
        check_password(password)


@pytest.mark.parametrize("password", ["a" * 12, "correct hors", "correct horse battery staple"])
def test_check_password_accepts_twelve_or_more(password: str):
    assert check_password(password) is None


# -- reversal entries ------------------------------------------------------------------


def test_reversal_entries_undo_a_payment_entry_by_entry():
    paid = [
        LedgerEntry("100234", EntryKind.PATIENT_PAYMENT, -3000, AT, "S-1", "pay_1", "Payment"),
        LedgerEntry("100234", EntryKind.PATIENT_PAYMENT, -1000, AT, "S-2", "pay_1", "Payment"),
        LedgerEntry("100234", EntryKind.PATIENT_PAYMENT, -500, AT, None, "pay_1", "credit"),
    ]

    reversed_ = reversal_entries(paid, "Check bounced", LATER)

    assert [(e.statement_id, e.payment_id, e.amount_cents) for e in reversed_] == [
        ("S-1", "pay_1", 3000),
        ("S-2", "pay_1", 1000),
        (None, "pay_1", 500),
    ]
    for e in reversed_:
        assert e.kind is EntryKind.REVERSAL
        assert e.account_number == "100234"
        assert e.posted_at == LATER
        assert "Check bounced" in e.memo
        assert e.entry_id is None
    assert sum(e.amount_cents for e in paid + reversed_) == 0


def test_reversal_entries_of_nothing_is_nothing():
    assert reversal_entries([], "why", AT) == []


def test_reversal_entries_accept_any_iterable():
    paid = (
        LedgerEntry("100234", EntryKind.PATIENT_PAYMENT, -100, AT, "S-1", "pay_1") for _ in range(2)
    )
    assert [e.amount_cents for e in reversal_entries(paid, "why", AT)] == [100, 100]


entry_strategy = st.builds(
    LedgerEntry,
    account_number=st.sampled_from(["100234", "200555"]),
    kind=st.sampled_from(list(EntryKind)),
    amount_cents=st.integers(min_value=-10_000_000, max_value=10_000_000),
    # Hypothesis takes naive bounds; `timezones` makes the values it draws aware.
    posted_at=st.datetimes(
        min_value=datetime(2020, 1, 1),  # noqa: DTZ001
        max_value=datetime(2030, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    statement_id=st.one_of(st.none(), st.sampled_from(["S-1", "S-2", "S-3"])),
    payment_id=st.one_of(st.none(), st.sampled_from(["pay_1", "pay_2"])),
    memo=st.text(max_size=20),
    entry_id=st.one_of(st.none(), st.integers(min_value=1, max_value=10_000)),
)


@settings(max_examples=examples(200), deadline=None)
@given(
    entries=st.lists(entry_strategy, max_size=20),
    reason=st.text(min_size=1, max_size=40),
)
def test_reversal_entries_cancel_any_entries_exactly(entries: list[LedgerEntry], reason: str):
    reversed_ = reversal_entries(entries, reason, LATER)

    assert len(reversed_) == len(entries)
    for original, reversal in zip(entries, reversed_, strict=True):
        assert reversal.amount_cents == -original.amount_cents
        assert reversal.statement_id == original.statement_id
        assert reversal.payment_id == original.payment_id
        assert reversal.account_number == original.account_number
        assert reversal.kind is EntryKind.REVERSAL
        assert reversal.posted_at == LATER
        assert reason in reversal.memo
    assert sum(e.amount_cents for e in entries + reversed_) == 0
    together = balances(entries + reversed_)
    assert together.unapplied_cents == 0
    assert all(cents == 0 for cents in together.by_statement.values())
    assert together.account_balance_cents == 0
