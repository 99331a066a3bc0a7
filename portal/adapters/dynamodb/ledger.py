"""The DynamoDB store's ledger port: accounts, statements, payments, entries; books loaded
and changes committed."""

import dataclasses
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from portal.adapters.dynamodb.access import session_subject
from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.items import (
    Partition,
    account_from,
    account_pk,
    entry_item,
    name_items,
    payment_from,
    payment_item,
    pending_entries,
    pending_item,
    profile_fields,
    statement_from,
    statement_item,
)
from portal.adapters.dynamodb.money_events import queue_put
from portal.adapters.dynamodb.records import (
    FAILED,
    PENDING,
    TRANSACTION_ITEMS,
    _claim_order,
    _claim_shard,
    _message_pk,
    _months,
    _Retry,
)
from portal.adapters.dynamodb.remittances import claim_index_items
from portal.adapters.dynamodb.shards import RECEIVABLE, TOTALS, shard_key
from portal.adapters.dynamodb.table import (
    MAX_ATTEMPTS,
    Item,
    key_condition,
    month_of,
    seq,
    ts,
)
from portal.adapters.statement_records import statement_from_record, statement_record
from portal.domain.account_book import AccountBook, Change, ClaimedKey, KeyKind
from portal.domain.accounts import Account
from portal.domain.corrections import as_stored, correction_entries, is_correction, transfers
from portal.domain.ledger import LedgerEntry, apply_credit, balances, statement_entries
from portal.domain.money_events import change_events, entry_events
from portal.domain.names import name_key
from portal.domain.payments import OPEN_STATUSES, Payment, PaymentStatus
from portal.domain.statements import Statement
from portal.ports.claims import Claim, ClaimMark
from portal.ports.ledger import (
    COMMITTED,
    STALE,
    AccountRecords,
    CommitOutcome,
    CommitResult,
    ImportOutcome,
    ImportResult,
    ImportState,
    PatientPage,
    StatementImport,
)
from portal.ports.mail_feedback import normal_address
from portal.ports.store import StoreError

# An item holds 400 KB; the account item (with any entries waiting on it) stays well below.
MAX_ACCOUNT_ITEM_BYTES = 300_000

log = logging.getLogger(__name__)


class DynamoDbLedger(DynamoDbTable):
    """The Ledger port on DynamoDB."""

    def _commit(
        self,
        part: Partition,
        entries: list[LedgerEntry],
        at: datetime,
        actions: Sequence[Item] = (),
        account: Account | None = None,
        new_statement: Statement | None = None,
    ) -> list[str] | None:
        """Post `actions`, the entries and the account's new state in one transaction.

        The transaction holds the account item, the caller's actions, the month totals of
        every new entry and as many entry items as fit; entries beyond that wait on the
        account item (`pending_entries`, read as part of the ledger) and are moved to items
        of their own right after, by `_flush`. Entries an earlier change left waiting go
        first. Returns None when it committed, else the cancellation codes (the caller's
        actions come first, so codes[0] is about its first action). A changed account
        raises _Retry.
        """
        item = dict(part.account or {})
        version = item.get("version", 0)
        if account is not None:
            item.update(profile_fields(account, item.get("patients", [])))
            item.setdefault("created_at", ts(at))
        item.update(PK=account_pk(part.account_number), SK="ACCOUNT")
        first = item.get("ledger_seq", 0) + 1
        numbered = [dataclasses.replace(e, entry_id=n) for n, e in enumerate(entries, start=first)]
        totals = _month_totals(entries, shard_key(TOTALS, part.account_number, self.shards))
        room = max(0, TRANSACTION_ITEMS - len(actions) - 1 - len(totals))
        unwritten = part.pending + numbered
        now, later = unwritten[:room], unwritten[room:]
        statements = part.statements + ([new_statement] if new_statement else [])
        item.update(
            version=version + 1,
            ledger_seq=first - 1 + len(entries),
            **_receivable(
                item, part.account_number, part.entries + entries, statements, at, self.shards
            ),
        )
        _set_pending(item, later)
        condition = (
            {"ConditionExpression": "attribute_not_exists(PK)"}
            if part.account is None
            else {
                "ConditionExpression": "#version = :version",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":version": version},
            }
        )
        writes = [*actions, {"Put": {"Item": item, **condition}}, *map(_new_entry, now), *totals]
        codes = self.db.transact(writes)
        if codes is not None and codes[len(actions)] == FAILED:
            raise _Retry()
        if codes is None and later:
            from botocore.exceptions import BotoCoreError, ClientError  # loaded by the call

            try:
                self._flush(part.account_number, version + 1, later)
            except (StoreError, BotoCoreError, ClientError) as exc:
                # Committed and complete as read: the entries wait on the account item
                # until the account's next change moves them.
                log.warning("account %s: entries left waiting: %s", part.account_number, exc)
        return codes

    def _flush(self, account_number: str, version: int, pending: list[LedgerEntry]) -> None:
        """Move waiting entries to items of their own, a transaction per chunk, each
        conditional on the account's version (another writer first: read it again)."""
        key = {"PK": account_pk(account_number), "SK": "ACCOUNT"}
        for _ in range(MAX_ATTEMPTS * 4):
            if not pending:
                return
            chunk, rest = pending[: TRANSACTION_ITEMS - 1], pending[TRANSACTION_ITEMS - 1 :]
            values: Item = {":version": version, ":next": version + 1}
            if rest:
                expression = "SET #version = :next, pending_entries = :rest"
                values[":rest"] = [pending_item(e) for e in rest]
            else:
                expression = "SET #version = :next REMOVE pending_entries, GSI3PK, GSI3SK"
            account_update = {
                "Update": {
                    "Key": key,
                    "UpdateExpression": expression,
                    "ConditionExpression": "#version = :version",
                    "ExpressionAttributeNames": {"#version": "version"},
                    "ExpressionAttributeValues": values,
                }
            }
            if self.db.transact([account_update, *map(_new_entry, chunk)]) is None:
                version, pending = version + 1, rest
                continue
            current = self.db.get(key["PK"], key["SK"]) or {}
            version, pending = current.get("version", 0), pending_entries(current)
        raise StoreError(f"account {account_number} kept changing while its entries were moved")

    def import_statement(
        self, account: Account, statement: Statement, at: datetime, notice: Claim | None = None
    ) -> ImportOutcome:
        return self.import_statements([StatementImport(account, statement, notice)], at)[0].outcome

    def import_statements(
        self, items: Sequence[StatementImport], at: datetime
    ) -> list[ImportResult]:
        """One BatchGetItem for the batch's statement pointers and account items, then a
        TransactWriteItems per statement (its pointer, statement, names, ledger entries,
        account and notice claim). An account that did not exist is not queried: its
        transaction requires it still not to (and a pointer still missing), else that
        statement is read again and decided again."""
        keys = {(f"STATEMENT#{i.statement.statement_id}", "STATEMENT") for i in items}
        keys |= {(account_pk(i.statement.account_number), "ACCOUNT") for i in items}
        found = {(item["PK"], item["SK"]): item for item in self.db.get_many(sorted(keys))}
        pointers = {
            pk.removeprefix("STATEMENT#"): item["fingerprint"]
            for (pk, sk), item in found.items()
            if sk == "STATEMENT"
        }
        existing = {item["account_number"] for (_, sk), item in found.items() if sk == "ACCOUNT"}
        results = []
        for item in items:
            number = item.statement.account_number
            result = self._import_one(item, at, pointers, number in existing)
            if result.outcome is ImportOutcome.IMPORTED:
                pointers[item.statement.statement_id] = item.statement.fingerprint()
                existing.add(number)
            results.append(result)
        return results

    def _import_one(
        self, item: StatementImport, at: datetime, pointers: dict[str, str], exists: bool
    ) -> ImportResult:
        account, statement, notice = item.account, item.statement, item.notice
        fingerprint = statement.fingerprint()
        attempts = iter(range(MAX_ATTEMPTS))

        def stored_fingerprint(first: bool) -> str | None:
            if first:  # the first attempt goes by the batch's read
                return pointers.get(statement.statement_id)
            pointer = self.db.get(f"STATEMENT#{statement.statement_id}", "STATEMENT")
            return pointer["fingerprint"] if pointer else None

        def attempt() -> ImportResult:
            first = next(attempts) == 0
            stored = stored_fingerprint(first)
            if stored == fingerprint:
                return ImportResult(ImportOutcome.UNCHANGED)
            if stored is not None:
                return self._correct(item, at)
            if first and not exists:
                part = Partition(statement.account_number)  # new: nothing to read
            else:
                part = self._partition(statement.account_number)
            header = dataclasses.replace(statement, lines=())
            entries = statement_entries(statement, at)
            transfers = apply_credit(
                statement.account_number, part.entries + entries, [*part.statements, header], at
            )
            entries += transfers
            profile = profile_fields(account, (part.account or {}).get("patients", []))
            pointer = {
                "PK": f"STATEMENT#{statement.statement_id}",
                "SK": "STATEMENT",
                "account_number": statement.account_number,
                "fingerprint": fingerprint,
                "version": statement.version,
            }
            actions: list[Item] = [
                {"Put": {"Item": pointer, "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Put": {"Item": statement_item(statement, at)}},
                *({"Put": {"Item": n}} for n in name_items(account.account_number, profile)),
                *({"Put": {"Item": c}} for c in claim_index_items(statement)),
            ]
            if notice is not None:
                # New with the statement (its pointer is new): nothing to overwrite.
                actions.append({"Put": {"Item": released_claim_item(notice)}})
            actions += queue_put(
                entry_events(transfers), (part.account or {}).get("version", 0), self.shards
            )
            codes = self._commit(part, entries, at, actions, account, header)
            if codes is not None:
                raise _Retry()  # the pointer or the account appeared meanwhile: read again
            after = balances(part.entries + entries)
            return ImportResult(
                ImportOutcome.IMPORTED,
                after.by_statement.get(statement.statement_id, 0),
                after.due_cents,
            )

        return self._with_retries(attempt)

    def _correct(self, item: StatementImport, at: datetime) -> ImportResult:
        """Replace a stored statement by a higher version of it (else CONFLICT): the version
        replaced kept whole, the lines replaced, the ledger moved from the old lines to the
        new, all in the account's one transaction (conditional on the pointer as read)."""
        sent, notice = item.statement, item.notice
        pointer = self.db.get(f"STATEMENT#{sent.statement_id}", "STATEMENT")
        if pointer is None:
            raise _Retry()
        stored_version = int(pointer.get("version", 1))
        if pointer["fingerprint"] == sent.fingerprint():
            return ImportResult(ImportOutcome.UNCHANGED)
        if pointer["account_number"] != sent.account_number or not is_correction(
            stored_version, sent
        ):
            return ImportResult(ImportOutcome.CONFLICT)
        part = self._partition(sent.account_number)
        old = next((s for s in part.statements if s.statement_id == sent.statement_id), None)
        if old is None or old.version != stored_version:
            raise _Retry()
        new = as_stored(old, sent, item.new_due_date)
        header = dataclasses.replace(new, lines=())
        headers = [header if s.statement_id == new.statement_id else s for s in part.statements]
        entries = correction_entries(old, new, part.entries, headers, at)
        condition = "fingerprint = :old" + (
            " AND version = :version"
            if "version" in pointer
            else " AND attribute_not_exists(version)"
        )
        values: Item = {
            ":old": pointer["fingerprint"],
            ":new": sent.fingerprint(),  # as sent: the same file again is unchanged
            ":v": new.version,
        }
        if "version" in pointer:
            values[":version"] = stored_version
        actions: list[Item] = [
            {
                "Update": {
                    "Key": {"PK": pointer["PK"], "SK": pointer["SK"]},
                    "UpdateExpression": "SET fingerprint = :new, version = :v",
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": values,
                }
            },
            {"Put": {"Item": statement_item(new, at)}},
            *({"Put": {"Item": c}} for c in claim_index_items(new)),
            {
                "Put": {
                    "Item": {
                        "PK": f"STATEMENTV#{old.statement_id}",
                        "SK": seq(old.version),
                        "statement": statement_record(old),
                        "replaced_at": ts(at),
                    },
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
        ]
        if notice is not None:
            actions.append({"Put": {"Item": released_claim_item(notice)}})
        actions += queue_put(
            entry_events(transfers(entries)), (part.account or {}).get("version", 0), self.shards
        )
        corrected = dataclasses.replace(part, statements=headers)
        if self._commit(corrected, entries, at, actions) is not None:
            raise _Retry()
        after = balances(part.entries + entries)
        return ImportResult(
            ImportOutcome.CORRECTED,
            after.by_statement.get(new.statement_id, 0),
            after.due_cents,
        )

    def statement_versions(self, statement_id: str) -> list[Statement]:
        """The versions corrections replaced, oldest first."""
        found = self.db.query(**key_condition("PK", f"STATEMENTV#{statement_id}"))
        return [statement_from_record(i["statement"]) for i in found]

    def import_state(
        self, account_numbers: Iterable[str], statement_ids: Iterable[str]
    ) -> ImportState:
        keys = {(account_pk(n), "ACCOUNT") for n in account_numbers}
        keys |= {(f"STATEMENT#{i}", "STATEMENT") for i in statement_ids}
        accounts: dict[str, Account] = {}
        fingerprints: dict[str, str] = {}
        for item in self.db.get_many(sorted(keys)):
            if item["SK"] == "ACCOUNT":
                accounts[item["account_number"]] = account_from(item)
            else:
                fingerprints[item["PK"].removeprefix("STATEMENT#")] = item["fingerprint"]
        return ImportState(accounts, fingerprints)

    def get_account(self, account_number: str) -> Account | None:
        item = self.db.get(account_pk(account_number), "ACCOUNT")
        return account_from(item) if item else None

    def account_records(self, account_number: str) -> AccountRecords | None:
        part = self._partition(account_number)
        if part.account is None:
            return None
        return AccountRecords(
            account=account_from(part.account),
            statements=tuple(part.statements),
            entries=tuple(part.entries),
            payments=tuple(
                sorted(part.payments.values(), key=lambda p: (p.created_at, p.payment_id))
            ),
        )

    def patient_page(
        self, session_id: str, now: datetime, account_number: str, statement_id: str | None = None
    ) -> PatientPage:
        subject = session_subject(self.db, session_id, now)
        if subject is None:
            return PatientPage(None, None)
        query = key_condition("PK", account_pk(account_number))
        if statement_id is not None:
            # The other statements (their lines) and the payments stay on the server.
            query["FilterExpression"] = (
                "NOT (begins_with(SK, :statements) OR begins_with(SK, :payments)) OR SK = :shown"
            )
            query["ExpressionAttributeValues"].update(
                {
                    ":statements": "STATEMENT#",
                    ":payments": "PAYMENT#",
                    ":shown": f"STATEMENT#{statement_id}",
                }
            )
        part = Partition(account_number)
        for item in self.db.query(**query):
            part.add(item)
        if part.account is None:
            return PatientPage(subject, None)
        statements = sorted(part.statements, key=lambda s: (s.statement_date, s.statement_id))
        records = AccountRecords(
            account=account_from(part.account),
            statements=tuple(
                dataclasses.replace(s, lines=()) if statement_id is None else s for s in statements
            ),
            entries=tuple(sorted(part.entries, key=lambda e: e.entry_id or 0)),
            payments=tuple(
                sorted(part.payments.values(), key=lambda p: (p.created_at, p.payment_id))
            ),
        )
        email = normal_address(records.account.guarantor.email)
        return PatientPage(subject, records, bool(email) and email in part.undeliverable)

    def get_statement(self, statement_id: str) -> Statement | None:
        account_number = self._account_of("STATEMENT", statement_id)
        if account_number is None:
            return None
        item = self.db.get(account_pk(account_number), f"STATEMENT#{statement_id}")
        return statement_from(item) if item else None

    def create_payment(self, payment: Payment) -> bool:
        pointer = {
            "PK": f"PAYMENT#{payment.payment_id}",
            "SK": "PAYMENT",
            "account_number": payment.account_number,
        }
        codes = self.db.transact(
            [
                {"Put": {"Item": pointer, "ConditionExpression": "attribute_not_exists(PK)"}},
                {
                    "Put": {
                        "Item": payment_item(payment),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                {
                    "ConditionCheck": {
                        "Key": {"PK": account_pk(payment.account_number), "SK": "ACCOUNT"},
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
            ]
        )
        if codes is None:
            return True
        if codes[2] == FAILED:
            raise KeyError(payment.account_number)
        return False

    def _payment_item_key(self, payment_id: str) -> tuple[str, str]:
        account_number = self._account_of("PAYMENT", payment_id)
        if account_number is None:
            raise KeyError(payment_id)
        return account_pk(account_number), f"PAYMENT#{payment_id}"

    def _payment_item(self, pk: str, sk: str) -> Item:
        item = self.db.get(pk, sk)
        if item is None:
            raise KeyError(sk.removeprefix("PAYMENT#"))
        return item

    def get_payment(self, payment_id: str) -> Payment | None:
        try:
            pk, sk = self._payment_item_key(payment_id)
        except KeyError:
            return None
        item = self.db.get(pk, sk)
        return payment_from(item) if item else None

    def attach_checkout(self, payment_id: str, session_id: str) -> None:
        pk, sk = self._payment_item_key(payment_id)
        self.db.update(
            pk,
            sk,
            "SET checkout_session_id = :session",
            ExpressionAttributeValues={":session": session_id},
        )

    def payment_by_reference(self, reference: str) -> Payment | None:
        claim = self.db.get(f"REFERENCE#{reference}", "REFERENCE")
        return self.get_payment(claim["payment_id"]) if claim else None

    def set_dispute(self, payment_id: str, disputed: bool) -> Payment:
        before, after = (
            (PaymentStatus.SUCCEEDED, PaymentStatus.DISPUTED)
            if disputed
            else (PaymentStatus.DISPUTED, PaymentStatus.SUCCEEDED)
        )
        pk, sk = self._payment_item_key(payment_id)
        updated = self.db.update(
            pk,
            sk,
            "SET #status = :after",
            ConditionExpression="#status = :before",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":after": after.value, ":before": before.value},
        )
        return payment_from(updated or self._payment_item(pk, sk))

    def close_payment(
        self, payment_id: str, status: PaymentStatus, message: str, at: datetime
    ) -> Payment:
        pk, sk = self._payment_item_key(payment_id)
        updated = self.db.update(
            pk,
            sk,
            "SET #status = :status, failure_message = :message",
            ConditionExpression="#status IN (:open1, :open2)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":status": status.value,
                ":message": message,
                **{f":open{i}": s.value for i, s in enumerate(sorted(OPEN_STATUSES), start=1)},
            },
        )
        if updated is None:
            updated = self._payment_item(pk, sk)
        return payment_from(updated)

    def list_payments(
        self,
        since: datetime,
        until: datetime,
        status: PaymentStatus | None = None,
        method: str | None = None,
    ) -> list[Payment]:
        found = []
        for month in _months(since, until):
            for item in self.db.query(
                IndexName="GSI3",
                **key_condition(
                    "GSI3PK", f"PAYMENTS#{month}", "GSI3SK", "between", ts(since), ts(until)
                ),
            ):
                payment = payment_from(item)
                if status is not None and payment.status is not status:
                    continue
                if method is not None and payment.method != method:
                    continue
                found.append(payment)
        return sorted(found, key=lambda p: (p.posted_at or p.created_at, p.payment_id))

    def load_book(
        self, account_number: str, keys: Iterable[tuple[KeyKind, str]] = ()
    ) -> AccountBook:
        part = self._partition(account_number)
        owners = {}
        for kind, value in keys:  # read after the partition: a key taken meanwhile is seen
            claim = self.db.get(*_key_item_key(kind, value))
            if claim is not None:
                owners[kind, value] = claim["payment_id"]
        return AccountBook(
            account_number=account_number,
            version=(part.account or {}).get("version", 0),
            statements=tuple(dataclasses.replace(s, lines=()) for s in part.statements),
            entries=tuple(part.entries),
            payments=dict(part.payments),
            owners=owners,
            account=account_from(part.account) if part.account else None,
            stored=part,
        )

    def commit(self, change: Change, marks: Sequence[ClaimMark] = ()) -> CommitResult:
        part = change.book.stored
        if not isinstance(part, Partition):  # a book this store did not read
            raise ValueError("commit a change decided on a book this store loaded")
        actions = [_claim_put(claim, change.at) for claim in change.claims]
        if change.payment is not None:
            actions.append(_payment_change(change))
        actions += queue_put(change_events(change), change.version, self.shards)
        actions += [claim_mark_update(mark, change.at) for mark in marks]
        try:
            codes = self._commit(part, list(change.entries), change.at, actions)
        except _Retry:
            return STALE
        if codes is None:
            return COMMITTED
        if FAILED in codes[len(actions) - len(marks) : len(actions)]:
            return CommitResult(CommitOutcome.CLAIMED)
        for claim, code in zip(change.claims, codes, strict=False):
            if code == FAILED:
                owner = self.db.get(*_key_item_key(claim.kind, claim.value))
                if owner is not None:
                    key = (claim.kind, claim.value)
                    return CommitResult(CommitOutcome.TAKEN, key, owner["payment_id"])
        return STALE

    def search_accounts(self, query: str, limit: int = 25) -> list[Account]:
        text = query.strip()
        key = name_key(text)
        numbers: list[str] = []
        if text:
            if self.db.get(account_pk(text), "ACCOUNT") is not None:
                numbers.append(text)
            for kind in ("STATEMENT", "PAYMENT"):
                if (owner := self._account_of(kind, text)) is not None:
                    numbers.append(owner)
        if len(key) >= 2:
            named = {
                item["account_number"]
                for item in self.db.query(
                    IndexName="GSI1",
                    **key_condition("GSI1PK", f"NAME#{key[:2]}", "GSI1SK", "begins_with", key),
                )
            }
            numbers += sorted(named)[:limit]
        unique = list(dict.fromkeys(numbers))[:limit]
        items = {
            i["account_number"]: i
            for i in self.db.get_many([(account_pk(n), "ACCOUNT") for n in unique])
        }
        return [account_from(items[n]) for n in unique if n in items]


def _payment_update(payment: Payment, expression: str, condition: str, values: Item) -> Item:
    return {
        "Update": {
            "Key": {
                "PK": account_pk(payment.account_number),
                "SK": f"PAYMENT#{payment.payment_id}",
            },
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":status": payment.status.value, **values},
        }
    }


def _key_item_key(kind: KeyKind, value: str) -> tuple[str, str]:
    """Where a unique key's claim lives: REFERENCE#<reference>, REFUND#<refund id>."""
    name = {KeyKind.REFERENCE: "REFERENCE", KeyKind.REFUND: "REFUND"}[kind]
    return f"{name}#{value}", name


def _claim_put(claim: ClaimedKey, at: datetime) -> Item:
    pk, sk = _key_item_key(claim.kind, claim.value)
    item: Item = {"PK": pk, "SK": sk, "payment_id": claim.payment_id, "posted_at": ts(at)}
    if claim.kind is KeyKind.REFUND:
        item["amount_cents"] = claim.amount_cents
    return {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(PK)"}}


def _payment_change(change: Change) -> Item:
    """Update the change's payment fields, if the payment is still as the book read it."""
    before, after = change.payment_before, change.payment
    assert before is not None and after is not None
    item = payment_item(after)
    names = [name for name in change.fields if name != "status"]
    if "posted_at" in names:
        names += ["GSI3PK", "GSI3SK"]  # its place in the by-month index moves with it
    values: Item = {f":{name}": item.get(name) for name in names}
    values.update({":before": before.status.value, ":refunded": before.refunded_cents})
    posted = "attribute_exists" if before.posted_at else "attribute_not_exists"
    return _payment_update(
        after,
        "SET " + ", ".join(["#status = :status", *(f"{n} = :{n}" for n in names)]),
        f"#status = :before AND refunded_cents = :refunded AND {posted}(posted_at)",
        values,
    )


def _new_entry(entry: LedgerEntry) -> Item:
    assert entry.entry_id is not None
    item = entry_item(entry, entry.entry_id)
    return {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(PK)"}}


def _set_pending(item: Item, pending: list[LedgerEntry]) -> None:
    """Entries waiting on the account item, which is in GSI3 `LEDGER_PENDING` meanwhile
    (so reports by month find them); refused when they would make the item too large."""
    if not pending:
        for name in ("pending_entries", "GSI3PK", "GSI3SK"):
            item.pop(name, None)
        return
    item.update(
        pending_entries=[pending_item(e) for e in pending],
        GSI3PK=PENDING,
        GSI3SK=item["account_number"],
    )
    size = len(json.dumps(item, default=str).encode())
    if size > MAX_ACCOUNT_ITEM_BYTES:
        raise StoreError(
            f"this change posts too many ledger entries at once for account "
            f"{item['account_number']} ({len(pending)} beyond one transaction, "
            f"{size:,} bytes on the account item); nothing was changed"
        )


def _receivable(
    item: Item,
    account_number: str,
    entries: list[LedgerEntry],
    statements: list[Statement],
    at: datetime,
    shards: int,
) -> Item:
    """The account's balances and its place in the receivables index (GSI2, its shard)."""
    by_statement = balances(entries).by_statement
    due = {s.statement_id: s.due_date for s in statements}
    open_now: dict[str, Item] = {
        sid: {"due_date": due[sid].isoformat(), "balance_cents": cents}
        for sid, cents in by_statement.items()
        if cents > 0
    }
    latest = max((e.posted_at for e in entries), default=at)
    fields: Item = {
        "balance_cents": sum(e.amount_cents for e in entries),
        "open_statements": open_now,
        "last_entry_at": max(item.get("last_entry_at", ""), ts(latest)),
        "GSI2PK": shard_key(RECEIVABLE, account_number, shards),
    }
    if open_now:
        oldest = min(s["due_date"] for s in open_now.values())
        fields["settled_at"] = ""
        fields["GSI2SK"] = f"OPEN#{oldest}#{account_number}"
    else:
        settled = item.get("settled_at") or ts(at)
        fields["settled_at"] = settled
        fields["GSI2SK"] = f"SETTLED#{settled}#{account_number}"
    return fields


def _month_totals(entries: list[LedgerEntry], pk: str) -> list[Item]:
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for entry in entries:
        sums[month_of(entry.posted_at)][entry.kind.value] += entry.amount_cents
    return [
        {
            "Update": {
                "Key": {"PK": pk, "SK": month},
                "UpdateExpression": "ADD " + ", ".join(f"#k{i} :v{i}" for i in range(len(kinds))),
                "ExpressionAttributeNames": {f"#k{i}": k for i, k in enumerate(kinds)},
                "ExpressionAttributeValues": {f":v{i}": v for i, v in enumerate(kinds.values())},
            }
        }
        for month, kinds in sums.items()
    ]


def released_claim_item(claim: Claim) -> Item:
    """A claim nobody holds yet, listed for the sweep: the first attempt takes it over. One
    with `claimed_at` is held from then on, as `claim` leaves it."""
    held = ts(claim.claimed_at) if claim.claimed_at else ""
    return {
        "PK": _message_pk(claim.kind, claim.key),
        "SK": "MESSAGE",
        "kind": claim.kind,
        "key": claim.key,
        "payload": claim.payload,
        "GSI2PK": _claim_shard(claim.kind, claim.key),
        "GSI2SK": _claim_order(claim.kind, claim.key, held),
        **({"claimed_at": held} if held else {}),
    }


def claim_mark_update(mark: ClaimMark, at: datetime) -> Item:
    """A claim written with a commit (TransactWriteItems Update): marked sent at `at`
    (a sent_at written before is kept), or held from `at` and listed for the sweep; with
    `stale_before`, on condition that no other live holder has it."""
    values: Item = {":at": ts(at), ":kind": mark.kind, ":key": mark.key, ":payload": mark.payload}
    expression = "SET claimed_at = :at, #kind = :kind, #key = :key, #payload = :payload"
    if mark.done:
        expression += ", sent_at = if_not_exists(sent_at, :at) REMOVE GSI2PK, GSI2SK"
    else:
        expression += ", GSI2PK = :shard, GSI2SK = :order"
        values[":shard"] = _claim_shard(mark.kind, mark.key)
        values[":order"] = _claim_order(mark.kind, mark.key, ts(at))
    update: Item = {
        "Key": {"PK": _message_pk(mark.kind, mark.key), "SK": "MESSAGE"},
        "UpdateExpression": expression,
        "ExpressionAttributeNames": {"#kind": "kind", "#key": "key", "#payload": "payload"},
        "ExpressionAttributeValues": values,
    }
    if mark.stale_before is not None:
        update["ConditionExpression"] = (
            "attribute_not_exists(PK) OR attribute_exists(sent_at)"
            " OR attribute_not_exists(claimed_at) OR claimed_at < :stale"
        )
        values[":stale"] = ts(mark.stale_before)
    return {"Update": update}
