"""A payout record as plain data (str, int, bool, None, lists and dicts), the same for both
stores: SQLite keeps it as JSON text, DynamoDB as the item's attributes. Timestamps are
fixed-width UTC text, dates `YYYY-MM-DD`, money integer cents."""

from datetime import date, datetime
from typing import Any

from portal.adapters.plan_records import utc_text
from portal.domain.payouts import Payout, PayoutRecord, PayoutReport, Unmatched

Record = dict[str, Any]


def payout_data(r: PayoutRecord) -> Record:
    report = r.report
    return {
        "payout_id": r.payout_id,
        "arrival_date": r.payout.arrival_date.isoformat(),
        "deposit_cents": r.payout.amount_cents,
        "status": r.payout.status,
        "gross_cents": report.gross_cents,
        "refunds_cents": report.refunds_cents,
        "disputes_cents": report.disputes_cents,
        "fees_cents": report.fees_cents,
        "other_cents": report.other_cents,
        "net_cents": report.net_cents,
        "reconciled": r.reconciled,
        "fees_by_payment": dict(sorted(report.fees_by_payment.items())),
        "unmatched": [
            {
                "problem": u.problem,
                "reference": u.reference,
                "processor_cents": u.processor_cents,
                "portal_cents": u.portal_cents,
                "transaction_id": u.transaction_id,
            }
            for u in report.unmatched
        ],
        "references": list(r.references),
        "recorded_at": utc_text(r.recorded_at) if r.recorded_at else None,
        "reconciled_at": utc_text(r.reconciled_at) if r.reconciled_at else None,
        "version": r.version,
        "checked_by": r.checked_by,
        "checked_at": utc_text(r.checked_at) if r.checked_at else None,
        "check_note": r.check_note,
    }


def payout_of(data: Record) -> PayoutRecord:
    payout = Payout(
        data["payout_id"],
        int(data["deposit_cents"]),
        date.fromisoformat(data["arrival_date"]),
        data["status"],
    )
    report = PayoutReport(
        payout,
        gross_cents=int(data["gross_cents"]),
        refunds_cents=int(data["refunds_cents"]),
        disputes_cents=int(data["disputes_cents"]),
        fees_cents=int(data["fees_cents"]),
        other_cents=int(data["other_cents"]),
        fees_by_payment={k: int(v) for k, v in data["fees_by_payment"].items()},
        unmatched=tuple(
            Unmatched(
                u["problem"],
                u["reference"],
                _cents(u["processor_cents"]),
                _cents(u["portal_cents"]),
                u["transaction_id"],
            )
            for u in data["unmatched"]
        ),
    )
    return PayoutRecord(
        report,
        tuple(data["references"]),
        _moment(data["recorded_at"]),
        _moment(data["reconciled_at"]),
        int(data["version"]),
        data.get("checked_by", ""),
        _moment(data.get("checked_at")),
        data.get("check_note", ""),
    )


def _cents(value: Any) -> int | None:
    return None if value is None else int(value)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
