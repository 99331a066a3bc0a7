"""Posting 835 remittances on every store (issue 20): the corpus's cases post what their
comments say, through the ledger (entries only); each trace number, claim and line posts
once under re-import, two imports at once, and an import that died half way; a refused
file posts nothing; the work items; the store's own remittance records."""

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

import pytest

from portal.bootstrap import build_services
from portal.domain.ledger import EntryKind, balances
from portal.domain.remittance_posting import Kind, PostedBefore
from portal.ports.store import Store
from portal.services import remittances as service
from portal.services.imports import import_records
from portal.services.reminders import run_reminders
from portal.services.remittances import import_remittances, open_work_items, resolve_work_item
from portal.services.reports import monthly_summary
from portal.services.staff_actions import post_manual_payment
from tests.conftest import NOW
from tests.contract.test_store_contract import run_together
from tests.remittances import BAD, GOOD, HERE, corpus_text
from tests.store_copies import Copy, put, store_kind, take


@pytest.fixture(scope="module")
def imported() -> dict[str, Copy]:
    """Store kind -> the records and mail after statements.json's import."""
    return {}


@pytest.fixture
def services(store, settings, clock, imported):
    """statements.json imported: by the first test on each store, copied for the others."""
    built = dataclasses.replace(build_services(settings, clock=clock), store=store)
    kind = store_kind(store)
    if kind in imported:
        put(imported[kind], store, settings)
        return built
    records = json.loads((HERE / "statements.json").read_text())["statements"]
    summary = import_records(built, records, "tester")
    assert (summary.imported, summary.rejected) == (len(records), [])
    imported[kind] = take(store, settings)
    return built


def post(services, name: str, dry_run: bool = False):
    return import_remittances(services, corpus_text(GOOD / name), "tester", dry_run=dry_run)


def owed(services, account: str) -> dict:
    return balances(services.store.load_book(account).entries).by_statement


def kinds(services, account: str) -> list[tuple[str, int]]:
    book = services.store.load_book(account)
    return [(e.kind.value, e.amount_cents) for e in book.entries if e.kind != EntryKind.CHARGE]


def test_paid_in_full_posts_the_payment_and_the_contractual_adjustment(services):
    summary = post(services, "01_paid_in_full.835")

    assert not summary.refused
    [t] = summary.transactions
    assert (t.outcome, t.posted_cents, t.unmatched_cents, t.work_items) == ("imported", 15000, 0, 0)
    assert kinds(services, "300100") == [("insurance_payment", -15000), ("adjustment", -3500)]
    assert owed(services, "300100") == {"S-R-100": 0}


def test_deductible_coinsurance_and_copay_become_what_the_patient_owes(services):
    post(services, "02_deductible_coinsurance_copay.835")

    assert owed(services, "300200") == {"S-R-200": 10000}
    book = services.store.load_book("300200")
    [first, second] = [e for e in book.entries if e.kind is EntryKind.ADJUSTMENT]
    assert first.amount_cents == -4450 and "PR-1 $40.00" in first.memo
    assert second.amount_cents == -1000 and "PR-3 $20.00" in second.memo


def test_a_secondary_payment_after_the_statement_pays_off_what_was_left(services):
    post(services, "04_secondary_after_statement.835")

    assert kinds(services, "300400")[-1] == ("insurance_payment", -6210)
    assert owed(services, "300400") == {"S-R-400": 0}


def test_a_reversal_undoes_the_first_payment_and_the_correction_posts_afresh(services):
    post(services, "05a_original_payment.835")
    assert owed(services, "300500") == {"S-R-500": 3000}

    post(services, "05b_reversal_and_correction.835")

    assert kinds(services, "300500") == [
        ("insurance_payment", -10000),
        ("adjustment", -2000),
        ("insurance_payment", 10000),
        ("adjustment", 2000),
        ("insurance_payment", -11000),
        ("adjustment", -2000),
    ]
    assert owed(services, "300500") == {"S-R-500": 2000}


def test_a_reversal_of_a_claim_never_posted_posts_nothing_and_asks_an_associate(services):
    summary = post(services, "05b_reversal_and_correction.835")

    [t] = summary.transactions
    items = [i for _, i in open_work_items(services, "tester")]
    assert [i.kind for i in items] == [Kind.REVERSAL_UNMATCHED]
    assert t.unmatched_cents == -10000
    # The corrected claim still posts: the patient owes the $20.00 coinsurance.
    assert owed(services, "300500") == {"S-R-500": 2000}


def test_denials_unmatched_claims_and_lines_and_provider_adjustments_open_work_items(services):
    for name in ("03_denied.835", "06_provider_adjustments.835", "08_unmatched.835"):
        post(services, name)

    items = [(i.kind, i.claim_id, i.amount_cents) for _, i in open_work_items(services, "t")]
    assert sorted(items) == sorted(
        [
            (Kind.DENIED, "C-1003", 3800),
            (Kind.PROVIDER_ADJUSTMENT, "", -235),
            (Kind.PROVIDER_ADJUSTMENT, "", 4000),
            (Kind.UNMATCHED_CLAIM, "C-9999", 8000),
            (Kind.UNMATCHED_LINE, "C-1010", 15000),
        ]
    )
    assert owed(services, "300300") == {"S-R-300": 3800}  # a denial posts nothing
    assert owed(services, "300900") == {"S-R-900": 20000}


def test_a_resolved_work_item_leaves_the_queue(services):
    post(services, "03_denied.835")
    [(record, item)] = open_work_items(services, "tester")

    resolve_work_item(services, record.remittance_id, item.item_id, "sam", "appealed")

    assert open_work_items(services, "tester") == []
    kept = services.store.get_remittance(record.remittance_id)
    assert kept is not None and kept.items[0].resolved_by == "sam"
    assert kept.items[0].note == "appealed"


def test_several_transactions_and_claims_of_one_file_each_post(services):
    summary = post(services, "07_several_claims_and_transactions.835")

    assert [t.outcome for t in summary.transactions] == ["imported", "imported"]
    assert owed(services, "300700") == {"S-R-700": 800}
    assert owed(services, "300800") == {"S-R-800": 0}


def test_the_same_file_again_posts_nothing_more(services):
    first = post(services, "02_deductible_coinsurance_copay.835")
    before = services.store.load_book("300200").entries

    again = post(services, "02_deductible_coinsurance_copay.835")

    assert [t.outcome for t in again.transactions] == ["unchanged"]
    assert again.transactions[0].posted_cents == first.transactions[0].posted_cents
    assert services.store.load_book("300200").entries == before


def test_two_imports_of_one_file_at_once_post_once(services):
    results = run_together([lambda: post(services, "07_several_claims_and_transactions.835")] * 2)

    assert all(not r.refused for r in results)
    assert owed(services, "300700") == {"S-R-700": 800}
    assert owed(services, "300800") == {"S-R-800": 0}
    insurance = [e for e in services.store.load_book("300700").entries if e.source]
    assert len(insurance) == 3


def test_an_import_that_died_after_some_claims_is_finished_by_the_next(services, monkeypatch):
    calls = []
    real = service.post_claim

    def dies_on_the_second(book, remittance, found, at):
        calls.append(found.claim.claim_id)
        if len(calls) == 2:
            raise SystemExit("killed")
        return real(book, remittance, found, at)

    monkeypatch.setattr(service, "post_claim", dies_on_the_second)
    with pytest.raises(SystemExit):
        post(services, "07_several_claims_and_transactions.835")
    kept = services.store.get_remittance("1512345678-EFT-7007")
    assert kept is not None and not kept.finished
    monkeypatch.setattr(service, "post_claim", real)

    summary = post(services, "07_several_claims_and_transactions.835")

    assert [t.outcome for t in summary.transactions] == ["imported", "imported"]
    assert owed(services, "300700") == {"S-R-700": 800}
    assert len([e for e in services.store.load_book("300700").entries if e.source]) == 3
    kept = services.store.get_remittance("1512345678-EFT-7007")
    assert kept is not None and kept.finished


def test_a_claim_posted_before_is_not_posted_again(services):
    post(services, "01_paid_in_full.835")
    [remittance] = service.read_835(corpus_text(GOOD / "01_paid_in_full.835")).remittances
    [found] = service._matches(services, remittance)

    with pytest.raises(PostedBefore):
        service.post_claim(services.store.load_book("300100"), remittance, found, NOW)


def test_a_dry_run_posts_nothing(services):
    summary = post(services, "01_paid_in_full.835", dry_run=True)

    assert [t.outcome for t in summary.transactions] == ["checked"]
    assert summary.transactions[0].posted_cents == 15000
    assert owed(services, "300100") == {"S-R-100": 18500}
    assert services.store.get_remittance("1512345678-EFT-1001") is None


@pytest.mark.parametrize(
    "name", ["claim_unbalanced", "payment_unbalanced", "se_count", "trace_twice", "iea_missing"]
)
def test_a_refused_file_posts_nothing(services, name):
    before = {a: services.store.load_book(a).entries for a in ("300100",)}

    summary = import_remittances(services, corpus_text(BAD / f"{name}.835"), "tester")

    assert summary.refused and summary.transactions == ()
    assert {a: services.store.load_book(a).entries for a in before} == before
    assert services.store.get_remittance("1512345678-EFT-1001") is None


def test_the_same_trace_number_with_other_content_is_refused(services):
    post(services, "01_paid_in_full.835")
    other = corpus_text(GOOD / "01_paid_in_full.835").replace("CAS*CO*45*35", "CAS*CO*45*34.99")
    other = other.replace("SVC*HC:99213*185*150", "SVC*HC:99213*185*150.01")
    other = other.replace("CLP*C-1001*1*185*150", "CLP*C-1001*1*185*150.01")
    other = other.replace("BPR*I*150*", "BPR*I*150.01*")

    summary = import_remittances(services, other, "tester")

    assert [str(r) for r in summary.refusals] == [
        "Segment 5 (TRN): trace number EFT-1001 of payer 1512345678 was imported before "
        "with other content"
    ]
    assert owed(services, "300100") == {"S-R-100": 0}


def test_records_are_listed_by_import_time_and_kept_at_their_version(services, store: Store):
    post(services, "01_paid_in_full.835")
    record = store.get_remittance("1512345678-EFT-1001")
    assert record is not None and record.version == 1

    assert store.save_remittance(dataclasses.replace(record, version=0)) is None
    assert store.add_remittance(record) is False
    listed = store.remittances_imported(NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert [r.remittance_id for r in listed] == ["1512345678-EFT-1001"]
    assert store.remittances_imported(NOW + timedelta(seconds=1), NOW + timedelta(days=1)) == []


def test_claim_lines_are_found_by_claim_id(store: Store, services):
    found = store.claim_lines(["C-1002", "C-1007", "C-404"])

    assert [(c.account_number, c.statement_id, c.line.line_id) for c in found] == [
        ("300200", "S-R-200", "1"),
        ("300200", "S-R-200", "2"),
        ("300700", "S-R-700", "1"),
    ]


def test_remittances_are_listed_by_the_day_paid(services, store: Store):
    post(services, "07_several_claims_and_transactions.835")

    paid = store.remittances_paid(date(2026, 12, 1), date(2026, 12, 1))

    assert [r.remittance_id for r in paid] == ["1512345678-EFT-7007", "1999999999-CHK-7008"]
    assert store.remittances_paid(date(2026, 12, 2), date(2026, 12, 31)) == []


@pytest.mark.parametrize("step", ["add_remittance", "save_remittance"])
def test_an_import_killed_at_each_write_of_its_record_is_finished_by_the_next(
    services, monkeypatch, step
):
    """Killed right after the record is first kept (nothing posted yet), or after every
    posting but before the record is kept finished: the next import posts what is left,
    each posting once."""
    real = getattr(services.store, step)

    def killed(record):
        if step == "add_remittance":
            real(record)
        raise SystemExit("killed")

    monkeypatch.setattr(services.store, step, killed)
    with pytest.raises(SystemExit):
        post(services, "02_deductible_coinsurance_copay.835")
    monkeypatch.setattr(services.store, step, real)

    summary = post(services, "02_deductible_coinsurance_copay.835")
    again = post(services, "02_deductible_coinsurance_copay.835")

    assert [t.outcome for t in summary.transactions] == ["imported"]
    assert [t.outcome for t in again.transactions] == ["unchanged"]
    assert owed(services, "300200") == {"S-R-200": 10000}
    assert len([e for e in services.store.load_book("300200").entries if e.source]) == 4


def test_a_patient_who_paid_before_the_insurer_has_a_credit(services):
    post_manual_payment(services, "sam", "300100", "cash", "50.00", "", "c" * 32, "127.0.0.1")
    assert owed(services, "300100") == {"S-R-100": 13500}

    post(services, "01_paid_in_full.835")

    book = services.store.load_book("300100")
    after = balances(book.entries)
    assert after.by_statement == {"S-R-100": 0}
    assert after.credit_cents == 5000
    transfers = [e for e in book.entries if e.kind is EntryKind.TRANSFER]
    assert [(e.amount_cents, e.statement_id) for e in transfers] == [
        (5000, "S-R-100"),
        (-5000, None),
    ]


def test_the_credit_goes_to_the_accounts_other_open_statement(services):
    second = {
        **json.loads((HERE / "statements.json").read_text())["statements"][0],
        "statement_id": "S-R-101",
        "statement_date": "2026-11-15",
        "due_date": "2026-12-15",
    }
    second["lines"] = [{**second["lines"][0], "claim_id": "C-1101", "service_date": "2026-11-02"}]
    assert import_records(services, [second], "tester").imported == 1
    post_manual_payment(services, "sam", "300100", "cash", "185.00", "", "d" * 32, "127.0.0.1")
    assert owed(services, "300100") == {"S-R-100": 0, "S-R-101": 18500}

    post(services, "01_paid_in_full.835")

    after = balances(services.store.load_book("300100").entries)
    assert after.by_statement == {"S-R-100": 0, "S-R-101": 0}
    assert after.credit_cents == 0


def test_the_months_insurance_column_is_what_the_remittances_posted(services, store: Store):
    before = monthly_summary(services, date(2026, 11, 1))
    for name in (
        "01_paid_in_full.835",
        "02_deductible_coinsurance_copay.835",
        "04_secondary_after_statement.835",
        "05a_original_payment.835",
        "05b_reversal_and_correction.835",
        "06_provider_adjustments.835",
        "07_several_claims_and_transactions.835",
        "08_unmatched.835",
    ):
        post(services, name)
    records = store.remittances_imported(NOW - timedelta(days=30), NOW + timedelta(days=1))

    after = monthly_summary(services, date(2026, 11, 1))

    posted = sum(r.posted_cents for r in records)
    assert posted == 15000 + 13250 + 6210 + 10000 + 1000 + 9000 + 10200 + 10000
    assert after.insurance_payments_cents - before.insurance_payments_cents == posted
    adjusted = after.adjustments_cents - before.adjustments_cents
    assert after.ending_cents - before.ending_cents == -posted - adjusted


def test_a_claim_level_adjustment_goes_with_the_first_line_so_what_is_posted_was_paid(
    services,
):
    text = corpus_text(GOOD / "01_paid_in_full.835")
    text = text.replace(
        "CLP*C-1001*1*185*150*0*12*PAYER-C-1001*11*1~",
        "CLP*C-1001*1*185*130*0*12*PAYER-C-1001*11*1~\nCAS*OA*94*10**B7*10~",
    )
    text = text.replace("SE*16*0001", "SE*17*0001").replace("BPR*I*150*", "BPR*I*130*")

    summary = import_remittances(services, text, "tester")

    assert not summary.refused, summary.refusals
    assert summary.transactions[0].posted_cents == 13000
    assert kinds(services, "300100") == [("insurance_payment", -13000), ("adjustment", -5500)]
    assert owed(services, "300100") == {"S-R-100": 0}


def test_a_statement_paid_off_by_a_remittance_gets_no_reminders(services, outbox):
    post(services, "01_paid_in_full.835")

    summary = run_reminders(services, datetime(2026, 12, 20, 15, 0, tzinfo=UTC))

    messages = [message_from_bytes(p.read_bytes()) for p in Path(outbox).glob("*.eml")]
    reminded = {
        m["To"]
        for m in messages
        if m["X-Portal-Message-Kind"] in ("reminder", "final-notice", "escalation")
    }
    assert summary.sent > 0
    assert "ingrid@example.com" in reminded  # the denied claim's statement: still owed
    assert "maria@example.com" not in reminded  # paid off by the remittance


def test_the_same_payment_in_another_file_is_unchanged(services):
    post(services, "01_paid_in_full.835")
    resent = corpus_text(GOOD / "01_paid_in_full.835").replace("000000101", "000000777")

    summary = import_remittances(services, resent, "tester")

    assert [t.outcome for t in summary.transactions] == ["unchanged"]
    kept = services.store.get_remittance("1512345678-EFT-1001")
    assert kept is not None and kept.interchange == "ACMEHEALTH-000000101"
    assert owed(services, "300100") == {"S-R-100": 0}
