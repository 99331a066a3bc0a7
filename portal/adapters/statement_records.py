"""A statement as a plain record (JSON-ready) and back: how a version a correction replaced
is kept whole (SQLite's statement_versions, DynamoDB's statement version items)."""

from dataclasses import asdict
from datetime import date

from portal.domain.statements import LineItem, Statement


def statement_record(statement: Statement) -> dict:
    record = asdict(statement)
    record["statement_date"] = statement.statement_date.isoformat()
    record["due_date"] = statement.due_date.isoformat()
    for line, fields in zip(statement.lines, record["lines"], strict=True):
        fields["service_date"] = line.service_date.isoformat()
        fields["diagnosis_codes"] = list(line.diagnosis_codes)
    return record


def statement_from_record(record: dict) -> Statement:
    lines = tuple(
        LineItem(
            **{
                **line,
                "service_date": date.fromisoformat(line["service_date"]),
                "diagnosis_codes": tuple(line["diagnosis_codes"]),
                "charge_cents": int(line["charge_cents"]),
                "insurance_paid_cents": int(line["insurance_paid_cents"]),
                "adjustment_cents": int(line["adjustment_cents"]),
                "patient_responsibility_cents": int(line["patient_responsibility_cents"]),
            }
        )
        for line in record["lines"]
    )
    return Statement(
        statement_id=record["statement_id"],
        account_number=record["account_number"],
        statement_date=date.fromisoformat(record["statement_date"]),
        due_date=date.fromisoformat(record["due_date"]),
        lines=lines,
        version=int(record.get("version", 1)),
    )
