"""A payment plan as plain data (str, int, None, lists and dicts), the same for both stores:
SQLite keeps it as JSON text, DynamoDB as the item's attributes. Timestamps are fixed-width
UTC text (text order is time order), dates `YYYY-MM-DD`, money integer cents."""

from datetime import UTC, date, datetime
from typing import Any

from portal.domain.plans import (
    Agreement,
    Attempt,
    Installment,
    Outcome,
    Plan,
    PlanKind,
    SavedMethod,
)

Record = dict[str, Any]


def utc_text(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def plan_record(plan: Plan) -> Record:
    return {
        "plan_id": plan.plan_id,
        "account_number": plan.account_number,
        "kind": plan.kind.value,
        "day": plan.day,
        "created_at": utc_text(plan.created_at),
        "installments": [_installment_record(i) for i in plan.installments],
        "agreements": [
            {
                "version": a.version,
                "accepted_at": utc_text(a.accepted_at),
                "address": a.address,
                "digest": a.digest,
                "installments": [_installment_record(i) for i in a.installments],
            }
            for a in plan.agreements
        ],
        "method": (
            {
                "method_id": plan.method.method_id,
                "customer_id": plan.method.customer_id,
                "kind": plan.method.kind,
                "brand": plan.method.brand,
                "last4": plan.method.last4,
            }
            if plan.method is not None
            else None
        ),
        "attempts": [
            {
                "installment": a.installment,
                "number": a.number,
                "on": a.on.isoformat(),
                "outcome": a.outcome.value,
                "payment_id": a.payment_id,
                "reference": a.reference,
                "message": a.message,
            }
            for a in plan.attempts
        ],
        "skipped": list(plan.skipped),
        "statement_ids": list(plan.statement_ids),
        "canceled_at": utc_text(plan.canceled_at) if plan.canceled_at else None,
        "cancel_reason": plan.cancel_reason,
        "defaulted_at": utc_text(plan.defaulted_at) if plan.defaulted_at else None,
        "next_on": plan.next_on.isoformat() if plan.next_on else None,
        "version": plan.version,
    }


def plan_of(record: Record) -> Plan:
    method = record.get("method")
    return Plan(
        plan_id=record["plan_id"],
        account_number=record["account_number"],
        kind=PlanKind(record["kind"]),
        day=int(record["day"]),
        created_at=datetime.fromisoformat(record["created_at"]),
        installments=tuple(_installment(i) for i in record["installments"]),
        agreements=tuple(
            Agreement(
                version=a["version"],
                accepted_at=datetime.fromisoformat(a["accepted_at"]),
                address=a["address"],
                digest=a["digest"],
                installments=tuple(_installment(i) for i in a["installments"]),
            )
            for a in record["agreements"]
        ),
        method=(
            SavedMethod(
                method_id=method["method_id"],
                customer_id=method["customer_id"],
                kind=method["kind"],
                brand=method["brand"],
                last4=method["last4"],
            )
            if method
            else None
        ),
        attempts=tuple(
            Attempt(
                installment=int(a["installment"]),
                number=int(a["number"]),
                on=date.fromisoformat(a["on"]),
                outcome=Outcome(a["outcome"]),
                payment_id=a["payment_id"],
                reference=a["reference"],
                message=a["message"],
            )
            for a in record["attempts"]
        ),
        skipped=tuple(int(n) for n in record["skipped"]),
        statement_ids=tuple(record["statement_ids"]),
        canceled_at=_moment(record.get("canceled_at")),
        cancel_reason=record["cancel_reason"],
        defaulted_at=_moment(record.get("defaulted_at")),
        next_on=date.fromisoformat(record["next_on"]) if record.get("next_on") else None,
        version=int(record["version"]),
    )


def _installment_record(installment: Installment) -> Record:
    return {
        "number": installment.number,
        "due_on": installment.due_on.isoformat(),
        "amount_cents": installment.amount_cents,
    }


def _installment(record: Record) -> Installment:
    return Installment(
        number=int(record["number"]),
        due_on=date.fromisoformat(record["due_on"]),
        amount_cents=int(record["amount_cents"]),
    )


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
