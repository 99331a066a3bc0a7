"""An account with many open statements, set up quickly on either store.

On SQLite each statement is imported as the portal imports it. On DynamoDB importing
hundreds of statements one by one takes minutes on moto (every transaction copies the
table), so the statements and their pointers are written in batches and their charges are
posted in a few changes to the account (each smaller than one transaction): the same items
the imports would leave.
"""

from datetime import date, datetime, timedelta

from portal.adapters.dynamodb.items import name_items, profile_fields, statement_item
from portal.adapters.dynamodb.store import DynamoDbStore
from portal.domain.accounts import Account
from portal.domain.ledger import statement_entries
from portal.domain.statements import Statement
from portal.ports.ledger import ImportOutcome
from portal.ports.store import Store
from tests.conftest import line

FIRST_DATE = date(2024, 1, 1)
CHARGES_AT_ONCE = 80


def many_statements(account_number: str, count: int) -> list[Statement]:
    """`count` statements a week apart, the oldest first, owing $10.01, $10.02, ..."""
    found = []
    for i in range(count):
        day = FIRST_DATE + timedelta(days=7 * i)
        owed = 1001 + i
        found.append(
            Statement(
                statement_id=f"S-{account_number}-{i:04d}",
                account_number=account_number,
                statement_date=day,
                due_date=day + timedelta(days=30),
                lines=(
                    line(
                        "1",
                        owed=owed,
                        service_date=day - timedelta(days=10),
                        charge_cents=owed,
                        insurance_paid_cents=0,
                        adjustment_cents=0,
                    ),
                ),
            )
        )
    return found


def owed_on(statements: list[Statement]) -> int:
    return sum(s.total_cents for s in statements)


def add_statements(
    store: Store, account: Account, statements: list[Statement], at: datetime
) -> None:
    """Put `statements` on a new account, as importing them one by one would."""
    if not isinstance(store, DynamoDbStore):
        for st in statements:
            assert store.import_statement(account, st, at) is ImportOutcome.IMPORTED
        return
    with store.db.table.batch_writer() as batch:
        for st in statements:
            batch.put_item(Item=statement_item(st, at))
            batch.put_item(
                Item={
                    "PK": f"STATEMENT#{st.statement_id}",
                    "SK": "STATEMENT",
                    "account_number": st.account_number,
                    "fingerprint": st.fingerprint(),
                }
            )
    names = name_items(account.account_number, profile_fields(account, []))
    actions = [{"Put": {"Item": n}} for n in names]
    for start in range(0, len(statements), CHARGES_AT_ONCE):
        part = store._partition(account.account_number)
        assert (part.account is None) == (start == 0), "add_statements sets up a new account"
        group = statements[start : start + CHARGES_AT_ONCE]
        entries = [e for st in group for e in statement_entries(st, at)]
        assert store._commit(part, entries, at, actions if start == 0 else [], account) is None
