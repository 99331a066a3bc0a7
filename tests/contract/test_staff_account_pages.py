"""The staff account page shows an account's statements and ledger a page at a time, newest
first, with the balance still of the whole account: an account with thousands of statements
is a page of a sensible size. On both stores, through the Flask app."""

import dataclasses
import json
import re
from datetime import date, timedelta

import pytest

from portal import create_app
from portal.adapters.dynamodb import ledger as dynamodb_ledger
from portal.adapters.dynamodb.items import entry_item, statement_item
from portal.adapters.dynamodb.store import DynamoDbStore
from portal.adapters.sqlite import ledger as sqlite_ledger
from portal.adapters.sqlite import records as sqlite_records
from portal.adapters.sqlite.store import SqliteStore
from portal.bootstrap import build_services
from portal.domain.ledger import statement_entries
from portal.domain.money import format_cents
from portal.domain.staff import AuditAction
from portal.domain.statements import Statement
from portal.ports.store import Store
from tests.conftest import NOW, line, lopez_account
from tests.integration.staff_helpers import by_testid, ledger_amounts, make_staff, staff_sign_in

ACCOUNT = "100234"
PAGE = "/staff/accounts/100234"
FIRST_DAY = date(2018, 1, 1)


def statement_id(n: int) -> str:
    return f"S-2018-{n:06d}"


def numbered(n: int) -> Statement:
    """Statement n of the account: dated n days after FIRST_DAY, owing $1.00 + n cents."""
    day = FIRST_DAY + timedelta(days=n)
    return Statement(statement_id(n), ACCOUNT, day, day + timedelta(days=30), (line(owed=100 + n),))


def many_statements(store: Store, count: int) -> int:
    """Statements 1..count on the account; what they owe. The first goes through the store's
    import; on SQLite the rest are written in one transaction, as the import writes them
    and on DynamoDB in batches (importing one by one re-reads the growing ledger every time:
    minutes)."""
    account = lopez_account()
    store.import_statement(account, numbered(1), NOW)
    rest = [numbered(n) for n in range(2, count + 1)]
    if isinstance(store, SqliteStore):
        bulk_sqlite(store, rest)
    else:
        bulk_dynamodb(store, rest)
    return sum(100 + n for n in range(1, count + 1))


def bulk_dynamodb(store: DynamoDbStore, statements: list[Statement]) -> None:
    """The items the import writes, and the account item's balances, in batches."""
    part = store._partition(ACCOUNT)
    account = dict(part.account)
    entries = [e for s in statements for e in statement_entries(s, NOW)]
    first = account["ledger_seq"] + 1
    with store.db.table.batch_writer() as batch:
        for s in statements:
            batch.put_item(Item=statement_item(s, NOW))
            pointer = {"PK": f"STATEMENT#{s.statement_id}", "SK": "STATEMENT"}
            batch.put_item(
                Item={**pointer, "account_number": ACCOUNT, "fingerprint": s.fingerprint()}
            )
        for n, e in enumerate(entries, start=first):
            batch.put_item(Item=entry_item(e, n))
    headers = part.statements + [dataclasses.replace(s, lines=()) for s in statements]
    account.update(
        version=account["version"] + 1,
        ledger_seq=first - 1 + len(entries),
        **dynamodb_ledger._receivable(
            account, ACCOUNT, part.entries + entries, headers, NOW, store.shards
        ),
    )
    assert store.db.put(account)


def bulk_sqlite(store: SqliteStore, statements: list[Statement]) -> None:
    with store._write() as conn:
        conn.executemany(
            "INSERT INTO statements (statement_id, account_number, statement_date, due_date,"
            " fingerprint, imported_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    s.statement_id,
                    s.account_number,
                    s.statement_date.isoformat(),
                    s.due_date.isoformat(),
                    s.fingerprint(),
                    sqlite_records._ts(NOW),
                )
                for s in statements
            ],
        )
        conn.executemany(
            "INSERT INTO statement_lines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    s.statement_id,
                    position,
                    ln.line_id,
                    ln.patient_id,
                    ln.service_date.isoformat(),
                    ln.provider,
                    ln.code_system,
                    ln.code,
                    ln.description,
                    json.dumps(list(ln.diagnosis_codes)),
                    ln.charge_cents,
                    ln.insurance_paid_cents,
                    ln.adjustment_cents,
                    ln.patient_responsibility_cents,
                    ln.description_es,
                    ln.claim_id,
                )
                for s in statements
                for position, ln in enumerate(s.lines)
            ],
        )
        sqlite_ledger._insert_entries(
            conn, [e for s in statements for e in statement_entries(s, NOW)]
        )


@pytest.fixture
def big_account(store, settings, clock):
    """A signed-in associate and an account with many statements: 3,000 on SQLite, fewer
    (still several pages) on DynamoDB, where moto over HTTP is slow to fill."""
    count = 3000 if isinstance(store, SqliteStore) else 120
    services = dataclasses.replace(build_services(settings, clock=clock), store=store)
    owed = many_statements(store, count)
    make_staff(services, "alice", "associate")
    app = create_app(services=services)
    app.config["TESTING"] = True
    client = app.test_client()
    staff_sign_in(client, services)
    return services, client, count, owed


def statements_section(html: str) -> str:
    start = html.index('id="statements-heading"')
    return html[start : html.index('id="payments-heading"', start)]


def shown_statements(html: str) -> list[str]:
    return re.findall(r"<summary><strong>(S-2018-\d{6})</strong>", statements_section(html))


def views_audited(services) -> int:
    entries = services.store.audit_entries(account_number=ACCOUNT, limit=500)
    return sum(1 for e in entries if e.action is AuditAction.VIEW_ACCOUNT)


def get(client, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, path
    return response.get_data(as_text=True)


def test_a_long_account_is_shown_a_page_at_a_time_newest_first(big_account):
    services, client, count, owed = big_account

    first = get(client, PAGE)

    assert len(first.encode()) < 300_000, len(first.encode())
    assert shown_statements(first) == [statement_id(n) for n in range(count, count - 50, -1)]
    # The balance and the ledger's total are the whole account's.
    assert by_testid(first, "balance-due") == format_cents(owed)
    assert by_testid(first, "ledger-total") == format_cents(owed)
    assert len(ledger_amounts(first)) == 100
    assert f"Statements 1 to 50 of {count}, newest first" in first
    assert 'rel="next" href="/staff/accounts/100234?statements_page=2#statements-heading"' in first
    assert 'aria-label="Pages of statements"' in first
    assert 'rel="prev"' not in statements_section(first)

    second = get(client, f"{PAGE}?statements_page=2")
    assert len(second.encode()) < 300_000
    assert shown_statements(second) == [statement_id(n) for n in range(count - 50, count - 100, -1)]
    assert by_testid(second, "balance-due") == format_cents(owed)
    assert 'rel="prev" href="/staff/accounts/100234#statements-heading"' in second
    assert "?statements_page=3#statements-heading" in second

    assert views_audited(services) == 2


def test_the_ledger_pages_newest_first_and_keeps_the_statements_page(big_account):
    services, client, count, owed = big_account
    entries = services.store.account_records(ACCOUNT).entries
    newest = sorted(entries, key=lambda e: e.entry_id, reverse=True)

    page = get(client, f"{PAGE}?ledger_page=2&statements_page=2")

    assert ledger_amounts(page) == [e.amount_cents for e in newest[100:200]]
    assert by_testid(page, "ledger-total") == format_cents(owed)
    assert shown_statements(page)[0] == statement_id(count - 50)
    # Paging one list keeps the page of the other.
    assert "?statements_page=2&amp;ledger_page=3#ledger-heading" in page
    assert "?statements_page=2#ledger-heading" in page  # ledger page 1
    assert "?statements_page=3&amp;ledger_page=2#statements-heading" in page
    assert views_audited(services) == 1


def test_a_page_past_the_end_shows_the_last_and_a_bad_one_says_what_is_wrong(big_account):
    services, client, count, _ = big_account
    last = -(-count // 50)

    beyond = get(client, f"{PAGE}?statements_page=999999")
    assert shown_statements(beyond)[-1] == statement_id(1)
    assert f"page {last} of {last}" in beyond

    for bad in ("abc", "0", "-1", "2.5", "9" * 40):
        html = get(client, f"{PAGE}?statements_page={bad}", status=400)
        assert "statements_page: a page number, like 2." in html
        assert shown_statements(html)[0] == statement_id(count)
    html = get(client, f"{PAGE}?ledger_page=x", status=400)
    assert "ledger_page: a page number, like 2." in html
    assert services.store.get_account(ACCOUNT) is not None
