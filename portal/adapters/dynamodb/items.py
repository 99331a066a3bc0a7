"""Items of the account partition <-> domain records (key layout: docs/dynamodb.md)."""

from dataclasses import dataclass, field
from datetime import date, datetime

from portal.adapters.dynamodb.table import Item, month_of, parse_ts, seq, ts
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.ledger import EntryKind, LedgerEntry
from portal.domain.names import name_key
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.statements import LineItem, Statement


def account_pk(account_number: str) -> str:
    return f"ACCOUNT#{account_number}"


@dataclass
class Partition:
    """One account's partition as read: what every money-changing write starts from."""

    account_number: str
    account: Item | None = None
    statements: list[Statement] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)
    payments: dict[str, Payment] = field(default_factory=dict)
    # Entries a large change posted that are not yet items of their own (they ride on the
    # account item until they are moved): part of the ledger all the same, also in `entries`.
    pending: list[LedgerEntry] = field(default_factory=list)
    # Addresses of this account SES reported as undeliverable (portal/adapters/dynamodb/
    # mail_feedback.py keeps a marker in the partition, so the patient's page reads it free).
    undeliverable: set[str] = field(default_factory=set)

    def add(self, item: Item) -> None:
        kind = item["SK"].split("#", 1)[0]
        if kind == "ACCOUNT":
            self.account = item
            self.pending = pending_entries(item)
            self.entries += self.pending
        elif kind == "STATEMENT":
            self.statements.append(statement_from(item))
        elif kind == "LEDGER":
            self.entries.append(entry_from(item))
        elif kind == "PAYMENT":
            payment = payment_from(item)
            self.payments[payment.payment_id] = payment
        elif kind == "UNDELIVERABLE":
            self.undeliverable.add(item["address"])


# -- accounts ---------------------------------------------------------------------------


def account_from(item: Item) -> Account:
    guarantor = Guarantor(
        first_name=item["first_name"],
        last_name=item["last_name"],
        date_of_birth=date.fromisoformat(item["date_of_birth"]),
        email=item.get("email", ""),
        phone=item.get("phone", ""),
        preferred_language=item.get("preferred_language", "en"),
    )
    patients = tuple(
        Patient(
            patient_id=p["patient_id"],
            first_name=p["first_name"],
            last_name=p["last_name"],
            date_of_birth=date.fromisoformat(p["date_of_birth"]),
        )
        for p in sorted(item.get("patients", []), key=lambda p: p["patient_id"])
    )
    return Account(
        item["account_number"],
        guarantor,
        patients,
        reminders_opted_out_at=parse_ts(item.get("reminders_opted_out_at")),
    )


def profile_fields(account: Account, known_patients: list[Item]) -> Item:
    """The account item's profile; patients the import does not mention are kept."""
    g = account.guarantor
    patients = {p["patient_id"]: p for p in known_patients}
    for p in account.patients:
        patients[p.patient_id] = {
            "patient_id": p.patient_id,
            "first_name": p.first_name,
            "last_name": p.last_name,
            "date_of_birth": p.date_of_birth.isoformat(),
        }
    return {
        "account_number": account.account_number,
        "first_name": g.first_name,
        "last_name": g.last_name,
        "date_of_birth": g.date_of_birth.isoformat(),
        "email": g.email,
        "phone": g.phone,
        "preferred_language": g.preferred_language,
        "patients": [patients[pid] for pid in sorted(patients)],
    }


def name_items(account_number: str, profile: Item) -> list[Item]:
    """Search keys for the guarantor and each patient: last name, and first + last."""
    people = [("G", profile)] + [(p["patient_id"], p) for p in profile["patients"]]
    items = []
    for who, person in people:
        for part, key in (
            ("last", name_key(person["last_name"])),
            ("full", name_key(person["first_name"] + person["last_name"])),
        ):
            items.append(
                {
                    "PK": account_pk(account_number),
                    "SK": f"NAME#{who}#{part}",
                    "GSI1PK": f"NAME#{key[:2]}",
                    "GSI1SK": f"{key}#{account_number}",
                    "account_number": account_number,
                }
            )
    return items


# -- statements -------------------------------------------------------------------------


def statement_item(statement: Statement, at: datetime) -> Item:
    return {
        "PK": account_pk(statement.account_number),
        "SK": f"STATEMENT#{statement.statement_id}",
        "statement_id": statement.statement_id,
        "account_number": statement.account_number,
        "statement_date": statement.statement_date.isoformat(),
        "due_date": statement.due_date.isoformat(),
        "fingerprint": statement.fingerprint(),
        "imported_at": ts(at),
        "version": statement.version,
        "lines": [
            {
                "line_id": line.line_id,
                "patient_id": line.patient_id,
                "service_date": line.service_date.isoformat(),
                "provider": line.provider,
                "code_system": line.code_system,
                "code": line.code,
                "description": line.description,
                "diagnosis_codes": list(line.diagnosis_codes),
                "charge_cents": line.charge_cents,
                "insurance_paid_cents": line.insurance_paid_cents,
                "adjustment_cents": line.adjustment_cents,
                "patient_responsibility_cents": line.patient_responsibility_cents,
                **({"description_es": line.description_es} if line.description_es else {}),
                **({"claim_id": line.claim_id} if line.claim_id else {}),
            }
            for line in statement.lines
        ],
    }


def statement_from(item: Item) -> Statement:
    return Statement(
        statement_id=item["statement_id"],
        account_number=item["account_number"],
        statement_date=date.fromisoformat(item["statement_date"]),
        due_date=date.fromisoformat(item["due_date"]),
        lines=tuple(
            LineItem(
                line_id=line["line_id"],
                patient_id=line["patient_id"],
                service_date=date.fromisoformat(line["service_date"]),
                provider=line["provider"],
                code_system=line["code_system"],
                code=line["code"],
                description=line["description"],
                diagnosis_codes=tuple(line["diagnosis_codes"]),
                charge_cents=line["charge_cents"],
                insurance_paid_cents=line["insurance_paid_cents"],
                adjustment_cents=line["adjustment_cents"],
                patient_responsibility_cents=line["patient_responsibility_cents"],
                description_es=line.get("description_es", ""),
                claim_id=line.get("claim_id", ""),
            )
            for line in item["lines"]
        ),
        version=int(item.get("version", 1)),
    )


# -- ledger -------------------------------------------------------------------------------


def entry_item(entry: LedgerEntry, number: int) -> Item:
    stamp = ts(entry.posted_at)
    item = {
        "PK": account_pk(entry.account_number),
        "SK": f"LEDGER#{seq(number)}",
        "GSI3PK": f"LEDGER#{month_of(entry.posted_at)}",
        "GSI3SK": f"{stamp}#{entry.account_number}#{seq(number)}",
        "entry_id": number,
        "account_number": entry.account_number,
        "kind": entry.kind.value,
        "amount_cents": entry.amount_cents,
        "posted_at": stamp,
        "memo": entry.memo,
    }
    if entry.statement_id is not None:
        item["statement_id"] = entry.statement_id
    if entry.payment_id is not None:
        item["payment_id"] = entry.payment_id
    if entry.source:
        item["source"] = entry.source
    return item


def pending_item(entry: LedgerEntry) -> Item:
    """An entry (numbered) as the account item's `pending_entries` holds it: no keys."""
    assert entry.entry_id is not None
    item = entry_item(entry, entry.entry_id)
    for key in ("PK", "SK", "GSI3PK", "GSI3SK", "account_number"):
        del item[key]
    return item


def pending_entries(account: Item) -> list[LedgerEntry]:
    """The entries waiting on an account item to become items of their own."""
    number = account["account_number"]
    return [
        entry_from({**item, "account_number": number})
        for item in account.get("pending_entries", [])
    ]


def entry_from(item: Item) -> LedgerEntry:
    return LedgerEntry(
        entry_id=item["entry_id"],
        account_number=item["account_number"],
        kind=EntryKind(item["kind"]),
        amount_cents=item["amount_cents"],
        posted_at=datetime.fromisoformat(item["posted_at"]),
        statement_id=item.get("statement_id"),
        payment_id=item.get("payment_id"),
        memo=item.get("memo", ""),
        source=item.get("source", ""),
    )


# -- payments -----------------------------------------------------------------------------


def payment_keys(payment: Payment) -> Item:
    """The payment's place in the by-month index: when posted, else when created."""
    at = payment.posted_at or payment.created_at
    return {
        "GSI3PK": f"PAYMENTS#{month_of(at)}",
        "GSI3SK": f"{ts(at)}#{payment.payment_id}",
    }


def payment_item(payment: Payment) -> Item:
    item = {
        "PK": account_pk(payment.account_number),
        "SK": f"PAYMENT#{payment.payment_id}",
        **payment_keys(payment),
        "payment_id": payment.payment_id,
        "account_number": payment.account_number,
        "amount_cents": payment.amount_cents,
        "status": payment.status.value,
        "method": payment.method,
        "gateway": payment.gateway,
        "created_at": ts(payment.created_at),
        "failure_message": payment.failure_message,
        "refunded_cents": payment.refunded_cents,
        "method_detail": payment.method_detail,
    }
    for name in ("checkout_session_id", "gateway_reference", "requested_cents"):
        if getattr(payment, name) is not None:
            item[name] = getattr(payment, name)
    if payment.posted_at is not None:
        item["posted_at"] = ts(payment.posted_at)
    return item


def payment_from(item: Item) -> Payment:
    return Payment(
        payment_id=item["payment_id"],
        account_number=item["account_number"],
        amount_cents=item["amount_cents"],
        status=PaymentStatus(item["status"]),
        method=item["method"],
        gateway=item["gateway"],
        created_at=datetime.fromisoformat(item["created_at"]),
        checkout_session_id=item.get("checkout_session_id"),
        gateway_reference=item.get("gateway_reference"),
        posted_at=parse_ts(item.get("posted_at")),
        failure_message=item.get("failure_message", ""),
        refunded_cents=item.get("refunded_cents", 0),
        method_detail=item.get("method_detail", ""),
        requested_cents=item.get("requested_cents"),
    )
