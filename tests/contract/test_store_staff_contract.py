"""The Store contract for the staff operations: users, TOTP steps, audit log, notes, search,
payment lists and reversals. Runs against every adapter (see conftest.py)."""

import sqlite3
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from portal.adapters.sqlite.store import SqliteStore
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.ledger import EntryKind
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.staff import AuditAction, AuditEntry, Note, Role, StaffUser
from portal.ports.ledger import ImportOutcome
from portal.ports.store import Store
from portal.services import ledger as posting
from tests.conftest import NOW, lopez_account, statement
from tests.contract.test_store_contract import (
    ACCOUNT,
    DUE,
    NEWER,
    OLDER,
    THREADS,
    ledger,
    pending,
    records,
    run_together,
    seed,
    totals,
)
from tests.store_copies import Copy, put, store_kind, take

NEW_YORK = ZoneInfo("America/New_York")


# -- helpers ---------------------------------------------------------------------------


def staff_user(username: str = "maria.lopez", **overrides) -> StaffUser:
    values = dict(
        username=username,
        role=Role.SUPERVISOR,
        password_hash="scrypt$16384$8$1$c2FsdA$aGFzaA",
        totp_secret="JBSWY3DPEHPK3PXP",
        created_at=NOW,
        session_epoch=0,
        totp_last_step=0,
    )
    values.update(overrides)
    return StaffUser(**values)


def add_account(
    store: Store,
    account_number: str,
    first_name: str,
    last_name: str,
    patients: tuple[Patient, ...] = (),
    statement_id: str | None = None,
) -> Account:
    """Import a one-line statement for a new account, which creates the account."""
    account = Account(
        account_number=account_number,
        guarantor=Guarantor(first_name, last_name, date(1970, 1, 1)),
        patients=patients,
    )
    stmt = statement(statement_id or f"S-2026-{account_number}", account_number=account_number)
    assert store.import_statement(account, stmt, NOW) is ImportOutcome.IMPORTED
    return account


def numbers(found: list[Account]) -> list[str]:
    return [a.account_number for a in found]


def posted_payment(
    store: Store, payment_id: str, amount_cents: int, at: datetime = NOW, **fields
) -> Payment:
    store.create_payment(replace(pending(payment_id, amount_cents), **fields))
    result = posting.post_payment(store, payment_id, f"ref-{payment_id}", amount_cents, at)
    assert result.posted
    return result.payment


def entries_of(store: Store, payment_id: str, kind: EntryKind) -> list[tuple]:
    return [
        (e.statement_id, e.amount_cents)
        for e in records(store).entries
        if e.payment_id == payment_id and e.kind is kind
    ]


# -- staff users -----------------------------------------------------------------------


def test_create_staff_user_once_then_the_username_is_taken(store: Store):
    user = staff_user()

    assert store.create_staff_user(user) is True
    other = staff_user(
        role=Role.ADMIN,
        password_hash="other-hash",
        totp_secret="KRUGS4ZANFZSAYJA",
        created_at=NOW + timedelta(days=1),
        session_epoch=7,
        totp_last_step=99,
    )
    assert store.create_staff_user(other) is False

    assert store.get_staff_user("maria.lopez") == user


def test_get_staff_user_round_trips_every_field(store: Store):
    created = datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=NEW_YORK)
    user = staff_user(
        username="sam_admin-2",
        role=Role.ADMIN,
        created_at=created,
        session_epoch=3,
        totp_last_step=58_000_123,
    )
    store.create_staff_user(user)
    store.create_staff_user(staff_user("ann.associate", role=Role.ASSOCIATE))

    found = store.get_staff_user("sam_admin-2")

    assert found == user
    assert isinstance(found.role, Role)
    assert found.role is Role.ADMIN
    assert found.created_at.utcoffset() is not None
    assert found.created_at == created
    assert found.session_epoch == 3
    assert found.totp_last_step == 58_000_123
    associate = store.get_staff_user("ann.associate")
    assert associate is not None
    assert associate.role is Role.ASSOCIATE


def test_an_unknown_staff_user_is_none(store: Store):
    store.create_staff_user(staff_user())

    assert store.get_staff_user("nobody") is None
    assert store.get_staff_user("") is None


def test_set_staff_password_replaces_the_hash_and_raises_the_epoch_each_time(store: Store):
    user = staff_user(session_epoch=2, totp_last_step=5)
    store.create_staff_user(user)
    store.create_staff_user(staff_user("bystander"))

    first = store.set_staff_password("maria.lopez", "hash-1")
    assert first == replace(user, password_hash="hash-1", session_epoch=3)
    assert store.get_staff_user("maria.lopez") == first

    second = store.set_staff_password("maria.lopez", "hash-2")
    assert second == replace(user, password_hash="hash-2", session_epoch=4)
    assert store.get_staff_user("maria.lopez") == second

    assert store.get_staff_user("bystander") == staff_user("bystander")


def test_set_staff_password_of_an_unknown_user_is_a_key_error(store: Store):
    store.create_staff_user(staff_user())

    with pytest.raises(KeyError):
        store.set_staff_password("nobody", "hash-1")

    assert store.get_staff_user("nobody") is None
    assert store.get_staff_user("maria.lopez") == staff_user()


def test_end_staff_sessions_raises_only_that_users_epoch(store: Store):
    user = staff_user(session_epoch=2)
    store.create_staff_user(user)
    store.create_staff_user(staff_user("bystander"))

    store.end_staff_sessions("maria.lopez")
    store.end_staff_sessions("nobody")  # no such user: nothing happens

    assert store.get_staff_user("maria.lopez") == replace(user, session_epoch=3)
    assert store.get_staff_user("bystander") == staff_user("bystander")
    assert store.get_staff_user("nobody") is None


def test_use_totp_step_only_for_a_later_step(store: Store):
    store.create_staff_user(staff_user())

    assert store.use_totp_step("maria.lopez", 1000) is True
    assert store.use_totp_step("maria.lopez", 1000) is False  # the same code again
    assert store.use_totp_step("maria.lopez", 999) is False  # an older code
    assert store.use_totp_step("maria.lopez", 1) is False
    assert store.get_staff_user("maria.lopez").totp_last_step == 1000

    assert store.use_totp_step("maria.lopez", 1001) is True
    assert store.use_totp_step("maria.lopez", 1000) is False
    assert store.get_staff_user("maria.lopez").totp_last_step == 1001


def test_use_totp_step_is_per_user(store: Store):
    store.create_staff_user(staff_user("first"))
    store.create_staff_user(staff_user("second"))

    assert store.use_totp_step("first", 500) is True
    assert store.use_totp_step("second", 500) is True
    assert store.get_staff_user("first").totp_last_step == 500
    assert store.get_staff_user("second").totp_last_step == 500


def test_concurrent_uses_of_one_totp_step_succeed_once(store: Store):
    store.create_staff_user(staff_user())

    results = run_together([lambda: store.use_totp_step("maria.lopez", 2000)] * THREADS)

    assert results.count(True) == 1
    assert results.count(False) == THREADS - 1
    assert store.get_staff_user("maria.lopez").totp_last_step == 2000


# -- audit log -------------------------------------------------------------------------


def audit_trail() -> list[AuditEntry]:
    """Oldest first, as appended."""
    return [
        AuditEntry(NOW, "maria.lopez", AuditAction.SIGN_IN, None, "", "10.0.0.1"),
        AuditEntry(
            NOW + timedelta(minutes=1),
            "maria.lopez",
            AuditAction.VIEW_ACCOUNT,
            "100234",
            "",
            "10.0.0.1",
        ),
        AuditEntry(
            NOW + timedelta(minutes=2),
            "sam.super",
            AuditAction.VIEW_STATEMENT,
            "100234",
            "S-2026-000123",
            "2001:db8::7",
        ),
        AuditEntry(
            NOW + timedelta(minutes=3),
            "maria.lopez",
            AuditAction.SEARCH,
            None,
            "núñez",
            "10.0.0.1",
        ),
        AuditEntry(
            datetime(2026, 11, 28, 10, 4, tzinfo=NEW_YORK),
            "maria.lopez",
            AuditAction.POST_PAYMENT,
            "200555",
            "pay_abc",
            "10.0.0.2",
        ),
        AuditEntry(
            NOW + timedelta(minutes=5),
            "sam.super",
            AuditAction.REVERSE_PAYMENT,
            "100234",
            "pay_1",
            "",
        ),
    ]


def without_ids(entries: list[AuditEntry]) -> list[AuditEntry]:
    return [replace(e, entry_id=None) for e in entries]


def test_audit_entries_newest_first_with_every_field(store: Store):
    trail = audit_trail()
    for entry in trail:
        store.append_audit(entry)

    found = store.audit_entries()

    assert without_ids(found) == list(reversed(trail))
    ids = [e.entry_id for e in found]
    assert all(isinstance(i, int) for i in ids)
    assert len(set(ids)) == len(ids)
    assert all(isinstance(e.action, AuditAction) for e in found)
    assert all(e.at.utcoffset() is not None for e in found)
    assert [e.at for e in found] == sorted((e.at for e in trail), reverse=True)


def test_audit_entries_for_one_account_or_one_actor(store: Store):
    trail = audit_trail()
    for entry in trail:
        store.append_audit(entry)
    newest_first = list(reversed(trail))

    by_account = store.audit_entries(account_number="100234")
    assert without_ids(by_account) == [e for e in newest_first if e.account_number == "100234"]
    assert len(by_account) == 3

    by_actor = store.audit_entries(actor="maria.lopez")
    assert without_ids(by_actor) == [e for e in newest_first if e.actor == "maria.lopez"]
    assert len(by_actor) == 4

    both = store.audit_entries(account_number="100234", actor="sam.super")
    assert without_ids(both) == [
        e for e in newest_first if e.account_number == "100234" and e.actor == "sam.super"
    ]
    assert len(both) == 2

    assert store.audit_entries(account_number="999999") == []
    assert store.audit_entries(actor="nobody") == []


def test_audit_entries_limit_keeps_the_newest(store: Store):
    trail = audit_trail()
    for entry in trail:
        store.append_audit(entry)
    newest_first = list(reversed(trail))

    assert without_ids(store.audit_entries(limit=2)) == newest_first[:2]
    assert (
        without_ids(store.audit_entries(actor="maria.lopez", limit=1))
        == [e for e in newest_first if e.actor == "maria.lopez"][:1]
    )
    assert without_ids(store.audit_entries(limit=100)) == newest_first


def test_audit_entries_empty_log(store: Store):
    assert store.audit_entries() == []


# -- notes -----------------------------------------------------------------------------


def test_notes_newest_first_with_and_without_a_promise_to_pay(store: Store):
    seed(store)
    add_account(store, "200555", "Carmen", "Núñez")
    first = Note(ACCOUNT, "maria.lopez", "Called, left a voicemail.", NOW)
    second = Note(
        ACCOUNT,
        "sam.super",
        "Promised to pay the older statement.",
        NOW + timedelta(hours=1),
        promise_to_pay_on=date(2026, 12, 15),
    )
    third = Note(
        ACCOUNT,
        "maria.lopez",
        "Asked about CPT 99213 on line 1 — explained.",
        datetime(2026, 11, 28, 12, 30, tzinfo=NEW_YORK),
        promise_to_pay_on=None,
    )
    elsewhere = Note("200555", "maria.lopez", "Other account.", NOW)
    for note in (first, second, elsewhere, third):
        store.add_note(note)

    found = store.notes(ACCOUNT)

    assert [replace(n, note_id=None) for n in found] == [third, second, first]
    assert all(isinstance(n.note_id, int) for n in found)
    assert len({n.note_id for n in found}) == 3
    assert found[1].promise_to_pay_on == date(2026, 12, 15)
    assert found[0].promise_to_pay_on is None
    assert found[2].promise_to_pay_on is None
    assert all(n.created_at.utcoffset() is not None for n in found)
    assert [replace(n, note_id=None) for n in store.notes("200555")] == [elsewhere]
    assert store.notes("999999") == []


# -- search ----------------------------------------------------------------------------


_search_worlds: dict[str, Copy] = {}


def search_world(store: Store) -> None:
    """100234 Maria Lopez (patients Ana Lopez, José Núñez-Lopez); 200555 Carmen Núñez;
    300777 Robert Smith with patient Ana Okafor. Made by the first search test on each store,
    copied into the empty store of the others."""
    kind = store_kind(store)
    if kind in _search_worlds:
        put(_search_worlds[kind], store)
        return
    seed(store)
    add_account(
        store,
        "200555",
        "Carmen",
        "Núñez",
        (Patient("P1", "Luis", "Núñez", date(2012, 5, 5)),),
    )
    add_account(
        store,
        "300777",
        "Robert",
        "Smith",
        (Patient("P1", "Ana", "Okafor", date(2016, 2, 2)),),
    )
    store.create_payment(pending("pay_abc123", 1500, account_number="300777"))
    _search_worlds[kind] = take(store)


def test_search_by_account_number_statement_id_and_payment_id(store: Store):
    search_world(store)

    assert numbers(store.search_accounts("100234")) == ["100234"]
    assert numbers(store.search_accounts("  200555 ")) == ["200555"]
    assert numbers(store.search_accounts(NEWER)) == [ACCOUNT]
    assert numbers(store.search_accounts(OLDER)) == [ACCOUNT]
    assert numbers(store.search_accounts("S-2026-300777")) == ["300777"]
    assert numbers(store.search_accounts("pay_abc123")) == ["300777"]


def test_search_returns_the_whole_account(store: Store):
    search_world(store)

    found = store.search_accounts("okafor")

    assert found == [store.get_account("300777")]
    assert found[0].guarantor.last_name == "Smith"


def test_search_by_guarantor_last_name_prefix(store: Store):
    search_world(store)

    assert numbers(store.search_accounts("Lopez")) == [ACCOUNT]
    assert numbers(store.search_accounts("lop")) == [ACCOUNT]
    assert numbers(store.search_accounts("Smi")) == ["300777"]


def test_search_by_patient_name(store: Store):
    search_world(store)

    assert numbers(store.search_accounts("Okafor")) == ["300777"]
    assert numbers(store.search_accounts("ana okafor")) == ["300777"]
    assert sorted(numbers(store.search_accounts("Luis Núñez"))) == ["200555"]
    assert numbers(store.search_accounts("jose nunez")) == [ACCOUNT]
    assert sorted(numbers(store.search_accounts("ana"))) == [ACCOUNT, "300777"]


@pytest.mark.parametrize(
    "query",
    ["maria lopez", "Maria Lopez", "MARIA LOPEZ", "María López", "  maria   lopez ", "Maria-Lopez"],
)
def test_search_by_first_and_last_name(store: Store, query: str):
    search_world(store)

    assert numbers(store.search_accounts(query)) == [ACCOUNT]


@pytest.mark.parametrize("query", ["nunez", "Núñez", "NUÑEZ", "nu ñez", "Nú-ñez.", "núñ"])
def test_search_ignores_case_accents_spaces_and_punctuation(store: Store, query: str):
    search_world(store)

    # Carmen Núñez's account, and José Núñez-Lopez's (a patient on 100234).
    assert sorted(numbers(store.search_accounts(query))) == [ACCOUNT, "200555"]


def test_search_lists_an_account_once_when_several_of_its_people_match(store: Store):
    search_world(store)

    # Guarantor Maria Lopez and patient Ana Lopez both match; an exact id matches too.
    assert numbers(store.search_accounts("lopez")) == [ACCOUNT]
    found = store.search_accounts("nunez")
    assert len(numbers(found)) == len(set(numbers(found))) == 2


def test_search_lists_an_account_once_when_an_id_and_a_name_both_match(store: Store):
    # A practice that numbers each first statement with the account number.
    add_account(store, "700001", "Li", "Wong", statement_id="700001")
    store.create_payment(pending("700001-1", 1500, account_number="700001"))
    add_account(store, "wong", "Wong", "Wong", statement_id="S-2026-wong")

    assert numbers(store.search_accounts("700001")) == ["700001"]
    found = numbers(store.search_accounts("wong"))
    assert sorted(found) == ["700001", "wong"]


def test_search_respects_the_limit(store: Store):
    for i in range(6):
        add_account(
            store,
            f"50000{i}",
            "Pat",
            "Garcia",
            (Patient("P1", "Kim", "Garcia", date(2010, 1, 1)),),
        )

    assert len(store.search_accounts("garcia")) == 6
    limited = store.search_accounts("garcia", limit=3)
    assert len(limited) == 3
    assert len(set(numbers(limited))) == 3
    assert set(numbers(limited)) <= {f"50000{i}" for i in range(6)}
    assert len(store.search_accounts("garcia", limit=1)) == 1


@pytest.mark.parametrize("query", ["l", "L", "n", "ñ", " o ", "a.", ""])
def test_search_by_one_letter_finds_nothing(store: Store, query: str):
    search_world(store)

    assert store.search_accounts(query) == []


@pytest.mark.parametrize("query", ["zzz", "999999", "S-0000-000000", "pay_missing", "lopezz"])
def test_search_for_something_unknown_finds_nothing(store: Store, query: str):
    search_world(store)

    assert store.search_accounts(query) == []


# -- list payments ---------------------------------------------------------------------

SINCE = NOW - timedelta(days=1)
UNTIL = NOW + timedelta(days=1)


def payments_world(store: Store) -> None:
    seed(store)
    # Pending, created inside the window: counted at created_at.
    store.create_payment(pending("pay_pending_in", 500, NOW - timedelta(hours=2)))
    # Created long before, posted inside the window: counted at posted_at.
    store.create_payment(pending("pay_posted_in", 600, NOW - timedelta(days=5)))
    posting.post_payment(store, "pay_posted_in", "ref-a", 600, NOW - timedelta(hours=1))
    # Created inside, posted after the window: counted at posted_at, so outside.
    store.create_payment(pending("pay_posted_after", 700, NOW - timedelta(hours=3)))
    posting.post_payment(store, "pay_posted_after", "ref-b", 700, UNTIL + timedelta(minutes=1))
    # Created before the window, never posted: outside.
    store.create_payment(pending("pay_old", 800, SINCE - timedelta(microseconds=1)))
    # Exactly at `since`: inside; exactly at `until`: outside.
    store.create_payment(pending("pay_at_since", 900, SINCE))
    store.create_payment(pending("pay_at_until", 1000, UNTIL))
    # A failed check payment inside the window.
    store.create_payment(
        replace(pending("pay_check", 1100, NOW + timedelta(hours=3)), method="check")
    )
    store.close_payment("pay_check", PaymentStatus.FAILED, "Bounced.", NOW)
    # A posted check payment inside the window.
    store.create_payment(
        replace(
            pending("pay_check_ok", 1200, NOW - timedelta(hours=6)),
            method="check",
            gateway="manual",
            method_detail="1042",
        )
    )
    posting.post_payment(store, "pay_check_ok", "manual:1", 1200, NOW + timedelta(hours=4))


def ids(payments: list[Payment]) -> list[str]:
    return [p.payment_id for p in payments]


def test_list_payments_in_the_window_oldest_first(store: Store):
    payments_world(store)

    found = store.list_payments(SINCE, UNTIL)

    assert ids(found) == [
        "pay_at_since",
        "pay_pending_in",
        "pay_posted_in",
        "pay_check",
        "pay_check_ok",
    ]
    assert found[2] == store.get_payment("pay_posted_in")
    assert found[2].status is PaymentStatus.SUCCEEDED


def test_list_payments_window_in_another_time_zone(store: Store):
    payments_world(store)

    found = store.list_payments(SINCE.astimezone(NEW_YORK), UNTIL.astimezone(NEW_YORK))

    assert ids(found) == ids(store.list_payments(SINCE, UNTIL))


def test_list_payments_by_status(store: Store):
    payments_world(store)

    assert ids(store.list_payments(SINCE, UNTIL, status=PaymentStatus.SUCCEEDED)) == [
        "pay_posted_in",
        "pay_check_ok",
    ]
    assert ids(store.list_payments(SINCE, UNTIL, status=PaymentStatus.PENDING)) == [
        "pay_at_since",
        "pay_pending_in",
    ]
    assert ids(store.list_payments(SINCE, UNTIL, status=PaymentStatus.FAILED)) == ["pay_check"]
    assert store.list_payments(SINCE, UNTIL, status=PaymentStatus.REFUNDED) == []


def test_list_payments_by_method(store: Store):
    payments_world(store)

    assert ids(store.list_payments(SINCE, UNTIL, method="check")) == [
        "pay_check",
        "pay_check_ok",
    ]
    assert ids(store.list_payments(SINCE, UNTIL, method="card")) == [
        "pay_at_since",
        "pay_pending_in",
        "pay_posted_in",
    ]
    assert ids(
        store.list_payments(SINCE, UNTIL, status=PaymentStatus.SUCCEEDED, method="check")
    ) == ["pay_check_ok"]
    assert store.list_payments(SINCE, UNTIL, method="cash") == []


def test_list_payments_an_empty_window(store: Store):
    payments_world(store)

    assert store.list_payments(NOW + timedelta(days=30), NOW + timedelta(days=31)) == []
    assert store.list_payments(NOW, NOW) == []


# -- create payment --------------------------------------------------------------------


def test_create_payment_true_for_a_new_id_false_for_an_existing_one(store: Store):
    seed(store)
    original = pending("pay_1", 2500)

    assert store.create_payment(original) is True
    again = replace(
        original,
        amount_cents=9999,
        method="check",
        gateway="manual",
        created_at=NOW + timedelta(days=1),
        checkout_session_id="cs_other",
        method_detail="77",
    )
    assert store.create_payment(again) is False

    assert store.get_payment("pay_1") == original
    assert [p.payment_id for p in records(store).payments] == ["pay_1"]


def test_create_payment_with_the_id_of_a_posted_payment_changes_nothing(store: Store):
    seed(store)
    posted = posted_payment(store, "pay_1", 2500)
    before = records(store)

    assert store.create_payment(pending("pay_1", 100)) is False

    assert store.get_payment("pay_1") == posted
    assert records(store) == before


# -- reverse payment -------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    [
        1000,  # part of the older statement
        4000,  # the older statement and part of the newer
        DUE + 500,  # everything, and a credit
    ],
)
def test_reverse_payment_cancels_its_entries_exactly(store: Store, amount: int):
    seed(store)
    before = totals(store)
    posted_payment(store, "pay_1", amount)
    paid = entries_of(store, "pay_1", EntryKind.PATIENT_PAYMENT)
    assert sum(cents for _, cents in paid) == -amount
    at = NOW + timedelta(hours=2)

    result = posting.reverse_payment(store, "pay_1", "Check bounced (NSF)", at)

    assert result.posted is True
    assert result.payment.status is PaymentStatus.REVERSED
    assert result.payment == store.get_payment("pay_1")
    assert [(e.statement_id, e.amount_cents) for e in result.entries] == [
        (sid, -cents) for sid, cents in paid
    ]
    for e in result.entries:
        assert e.kind is EntryKind.REVERSAL
        assert e.payment_id == "pay_1"
        assert e.account_number == ACCOUNT
        assert e.posted_at == at
        assert "Check bounced (NSF)" in e.memo
    reversals = [
        e
        for e in records(store).entries
        if e.payment_id == "pay_1" and e.kind is EntryKind.REVERSAL
    ]
    assert sorted(((e.statement_id, e.amount_cents) for e in reversals), key=str) == sorted(
        ((sid, -cents) for sid, cents in paid), key=str
    )
    assert all("Check bounced (NSF)" in e.memo for e in reversals)
    after = totals(store)
    assert after.account_balance_cents == before.account_balance_cents == DUE
    assert after.due_cents == before.due_cents
    assert after.credit_cents == before.credit_cents == 0
    assert {k: v for k, v in after.by_statement.items() if v} == before.by_statement
    assert after.unapplied_cents == 0


def test_reverse_a_payment_whose_credit_went_to_a_later_statement(store: Store):
    """An overpayment leaves a credit; the next statement takes it. When the payment is
    reversed, the later statement owes its full amount again: nothing owed is left off the
    statements (a positive unapplied amount shows on no statement and cannot be paid)."""
    seed(store)
    posted_payment(store, "pay_1", DUE + 500)
    later = statement("S-2026-000200", (3000,), date(2026, 12, 1), date(2026, 12, 31))
    store.import_statement(lopez_account(), later, NOW + timedelta(days=3))
    assert totals(store).by_statement["S-2026-000200"] == 2500  # the $5.00 credit applied

    result = posting.reverse_payment(store, "pay_1", "Check bounced", NOW + timedelta(days=4))

    assert result.posted is True
    after = totals(store)
    assert after.account_balance_cents == DUE + 3000
    assert after.due_cents == DUE + 3000
    assert after.by_statement == {OLDER: 3000, NEWER: 6550, "S-2026-000200": 3000}
    assert after.unapplied_cents == 0


def test_reverse_payment_twice_posts_once(store: Store):
    seed(store)
    posted_payment(store, "pay_1", 4000)
    first = posting.reverse_payment(store, "pay_1", "Wrong account", NOW + timedelta(hours=1))
    assert first.posted is True
    before = records(store)

    second = posting.reverse_payment(store, "pay_1", "Again", NOW + timedelta(hours=2))

    assert second.posted is False
    assert second.entries == ()
    assert second.payment.status is PaymentStatus.REVERSED
    assert records(store) == before
    assert totals(store).account_balance_cents == DUE


def test_reverse_a_pending_payment_is_refused_and_changes_nothing(store: Store):
    seed(store)
    store.create_payment(pending("pay_1", 4000))
    before = records(store)

    with pytest.raises(ValueError):
        posting.reverse_payment(store, "pay_1", "Never arrived", NOW)

    assert store.get_payment("pay_1").status is PaymentStatus.PENDING
    assert records(store) == before


def test_reverse_a_failed_payment_is_refused_and_changes_nothing(store: Store):
    seed(store)
    store.create_payment(pending("pay_1", 4000))
    store.close_payment("pay_1", PaymentStatus.FAILED, "Declined.", NOW)
    before = records(store)

    with pytest.raises(ValueError):
        posting.reverse_payment(store, "pay_1", "Never arrived", NOW)

    assert records(store) == before


def test_reverse_payment_leaves_other_payments_alone(store: Store):
    seed(store)
    posted_payment(store, "pay_1", 1000)
    posted_payment(store, "pay_2", 2500)
    pay_2_rows = entries_of(store, "pay_2", EntryKind.PATIENT_PAYMENT)

    posting.reverse_payment(store, "pay_1", "Duplicate entry", NOW + timedelta(hours=1))

    assert store.get_payment("pay_2").status is PaymentStatus.SUCCEEDED
    assert entries_of(store, "pay_2", EntryKind.PATIENT_PAYMENT) == pay_2_rows
    assert entries_of(store, "pay_2", EntryKind.REVERSAL) == []
    assert totals(store).account_balance_cents == DUE - 2500


def test_concurrent_reversals_of_one_payment_post_once(store: Store):
    seed(store)
    posted_payment(store, "pay_1", 4000)
    at = NOW + timedelta(hours=1)

    results = run_together(
        [lambda: posting.reverse_payment(store, "pay_1", "Bounced", at) for _ in range(THREADS)]
    )

    assert sum(r.posted for r in results) == 1
    assert all(r.payment.status is PaymentStatus.REVERSED for r in results)
    assert sorted(entries_of(store, "pay_1", EntryKind.REVERSAL), key=str) == sorted(
        [(OLDER, 3000), (NEWER, 1000)], key=str
    )
    assert totals(store).account_balance_cents == DUE
    kinds = [row[0] for row in ledger(store)]
    assert kinds.count(EntryKind.REVERSAL) == 2


# -- SQLite only -----------------------------------------------------------------------


@pytest.fixture
def audited_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "audit-only.sqlite3"
    sqlite_store = SqliteStore(path)
    sqlite_store.migrate()
    for entry in audit_trail():
        sqlite_store.append_audit(entry)
    return path


def audit_rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return conn.execute("SELECT * FROM audit_log ORDER BY entry_id").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET actor = 'someone.else'",
        "UPDATE audit_log SET at = '2000-01-01T00:00:00.000000+00:00' WHERE entry_id = 1",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE entry_id = 1",
    ],
)
def test_sqlite_audit_log_is_append_only(audited_sqlite: Path, sql: str):
    before = audit_rows(audited_sqlite)
    assert len(before) == len(audit_trail())

    conn = sqlite3.connect(audited_sqlite, isolation_level=None)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    finally:
        conn.close()

    assert audit_rows(audited_sqlite) == before


def test_sqlite_audit_timestamps_are_stored_in_utc(audited_sqlite: Path):
    stored = [row[1] for row in audit_rows(audited_sqlite)]

    assert all(at.endswith("+00:00") for at in stored)
    assert stored == sorted(stored)
    assert datetime.fromisoformat(stored[4]) == datetime(2026, 11, 28, 15, 4, tzinfo=UTC)


def test_a_reversal_that_reopens_a_statement_uses_the_credit_standing_beside_it(store: Store):
    seed(store)  # $30.00 older statement, then $65.50
    store.create_payment(pending("pay_a", DUE))
    posting.post_payment(store, "pay_a", "ref-a", DUE, NOW)  # pays both statements
    store.create_payment(pending("pay_b", 5000))
    posting.post_payment(
        store, "pay_b", "ref-b", 5000, NOW + timedelta(minutes=1)
    )  # a $50.00 credit

    posting.reverse_payment(store, "pay_a", "Check bounced", NOW + timedelta(days=1))

    after = totals(store)
    # $95.50 owed again, $50.00 of it met by the credit: the oldest statement first.
    assert after.account_balance_cents == DUE - 5000
    assert after.credit_cents == 0
    assert after.due_cents == DUE - 5000
    assert after.by_statement["S-2026-000100"] == 0
    assert after.by_statement["S-2026-000123"] == 6550 - 2000


def test_two_reversals_put_back_only_the_credit_each_statement_still_holds(store: Store):
    """Credit from two payments pays two later statements; reversing both payments must
    leave each statement owing exactly its own total, never more."""
    account = lopez_account()
    store.import_statement(
        account, statement("S-1", (1000,), date(2026, 9, 1), date(2026, 9, 30)), NOW
    )
    for n, cents in ((1, 6000), (2, 5000)):
        store.create_payment(pending(f"pay_{n}", cents))
        posting.post_payment(store, f"pay_{n}", f"ref-{n}", cents, NOW + timedelta(minutes=n))
    store.import_statement(
        account,
        statement("S-2", (5000,), date(2026, 10, 1), date(2026, 10, 31)),
        NOW + timedelta(minutes=3),
    )
    store.import_statement(
        account,
        statement("S-3", (3000,), date(2026, 11, 1), date(2026, 11, 30)),
        NOW + timedelta(minutes=4),
    )

    posting.reverse_payment(store, "pay_2", "Check bounced", NOW + timedelta(minutes=5))
    posting.reverse_payment(store, "pay_1", "Check bounced", NOW + timedelta(minutes=6))

    after = totals(store)
    assert after.by_statement == {"S-1": 1000, "S-2": 5000, "S-3": 3000}
    assert after.unapplied_cents == 0


def test_an_escalation_opens_with_its_audit_entry_in_one_write(store: Store):
    """The audit entry of an opening is written with it; a second opening of the same
    matter (its key still open) changes nothing and audits nothing."""
    from portal.domain.staff import Escalation, EscalationKind

    store.import_statement(lopez_account(), statement(), NOW)
    item = Escalation("dispute:100234", "100234", EscalationKind.DISPUTE, "Disputed", NOW, "sam")
    entry = AuditEntry(NOW, "sam", AuditAction.OPEN_ESCALATION, "100234", "dispute", "10.0.0.1")

    opened = store.open_escalation(item, entry)
    again = store.open_escalation(replace(item, reason="Again"), entry)

    assert opened is not None and again is None
    audited = store.audit_entries(account_number="100234")
    assert [(e.action, e.actor, e.subject, e.address) for e in audited] == [
        (AuditAction.OPEN_ESCALATION, "sam", "dispute", "10.0.0.1")
    ]
    assert [e.reason for e in store.escalations(account_number="100234")] == ["Disputed"]
