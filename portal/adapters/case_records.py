"""A case as plain data (str, int, None, lists and dicts), the same for both stores: SQLite
keeps it as JSON text, DynamoDB as the item's attributes. Timestamps are fixed-width UTC
text (text order is time order), dates `YYYY-MM-DD`, money integer cents."""

from datetime import date, datetime
from typing import Any

from portal.adapters.plan_records import utc_text
from portal.domain.cases import (
    Assistance,
    Case,
    CaseMessage,
    MessageKind,
    Outcome,
    Reason,
    Status,
)

Record = dict[str, Any]


def case_record(case: Case) -> Record:
    return {
        "case_id": case.case_id,
        "account_number": case.account_number,
        "reason": case.reason.value,
        "opened_at": utc_text(case.opened_at),
        "due_on": case.due_on.isoformat(),
        "statement_id": case.statement_id,
        "line_id": case.line_id,
        "status": case.status.value,
        "owner": case.owner,
        "messages": [
            {
                "kind": m.kind.value,
                "author": m.author,
                "text": m.text,
                "at": utc_text(m.at),
                "request_key": m.request_key,
            }
            for m in case.messages
        ],
        "assistance": (
            {
                "household_size": case.assistance.household_size,
                "income_band": case.assistance.income_band,
            }
            if case.assistance
            else None
        ),
        "hold_until": _text(case.hold_until),
        "first_answer_at": _text(case.first_answer_at),
        "resolved_at": _text(case.resolved_at),
        "resolved_by": case.resolved_by,
        "outcome": case.outcome.value if case.outcome else None,
        "outcome_cents": case.outcome_cents,
        "asked_by": case.asked_by,
        "version": case.version,
    }


def case_of(record: Record) -> Case:
    assistance = record.get("assistance")
    return Case(
        case_id=record["case_id"],
        account_number=record["account_number"],
        reason=Reason(record["reason"]),
        opened_at=datetime.fromisoformat(record["opened_at"]),
        due_on=date.fromisoformat(record["due_on"]),
        statement_id=record.get("statement_id"),
        line_id=record.get("line_id"),
        status=Status(record["status"]),
        owner=record.get("owner") or "",
        messages=tuple(
            CaseMessage(
                kind=MessageKind(m["kind"]),
                author=m["author"],
                text=m["text"],
                at=datetime.fromisoformat(m["at"]),
                request_key=m.get("request_key") or "",
            )
            for m in record["messages"]
        ),
        assistance=(
            Assistance(int(assistance["household_size"]), assistance["income_band"])
            if assistance
            else None
        ),
        hold_until=_moment(record.get("hold_until")),
        first_answer_at=_moment(record.get("first_answer_at")),
        resolved_at=_moment(record.get("resolved_at")),
        resolved_by=record.get("resolved_by") or "",
        outcome=Outcome(record["outcome"]) if record.get("outcome") else None,
        outcome_cents=int(record.get("outcome_cents") or 0),
        asked_by=record.get("asked_by") or "guarantor",
        version=int(record["version"]),
    )


def _text(at: datetime | None) -> str | None:
    return utc_text(at) if at is not None else None


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
