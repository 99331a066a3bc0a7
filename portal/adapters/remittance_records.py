"""A remittance record as plain data (str, int, bool, None, lists and dicts), the same for
both stores: SQLite keeps it as JSON text, DynamoDB as the item's attributes. Timestamps
are fixed-width UTC text, dates `YYYY-MM-DD`, money integer cents."""

from datetime import date, datetime
from typing import Any

from portal.adapters.plan_records import utc_text
from portal.domain.remittance_posting import RemittanceRecord, WorkItem

Record = dict[str, Any]


def remittance_record(r: RemittanceRecord) -> Record:
    return {
        "remittance_id": r.remittance_id,
        "payer_id": r.payer_id,
        "payer_name": r.payer_name,
        "trace_number": r.trace_number,
        "method": r.method,
        "amount_cents": r.amount_cents,
        "paid_on": r.paid_on.isoformat() if r.paid_on else None,
        "digest": r.digest,
        "imported_at": utc_text(r.imported_at),
        "imported_by": r.imported_by,
        "claims": r.claims,
        "posted_cents": r.posted_cents,
        "adjusted_cents": r.adjusted_cents,
        "unmatched_cents": r.unmatched_cents,
        "provider_adjusted_cents": r.provider_adjusted_cents,
        "finished": r.finished,
        "items": [
            {
                "item_id": i.item_id,
                "kind": i.kind,
                "claim_id": i.claim_id,
                "amount_cents": i.amount_cents,
                "detail": i.detail,
                "resolved_by": i.resolved_by,
                "resolved_at": utc_text(i.resolved_at) if i.resolved_at else None,
                "note": i.note,
                "codes": list(i.codes),
            }
            for i in r.items
        ],
        "version": r.version,
        "interchange": r.interchange,
    }


def remittance_of(data: Record) -> RemittanceRecord:
    return RemittanceRecord(
        remittance_id=data["remittance_id"],
        payer_id=data["payer_id"],
        payer_name=data["payer_name"],
        trace_number=data["trace_number"],
        method=data["method"],
        amount_cents=int(data["amount_cents"]),
        paid_on=date.fromisoformat(data["paid_on"]) if data["paid_on"] else None,
        digest=data["digest"],
        imported_at=datetime.fromisoformat(data["imported_at"]),
        imported_by=data["imported_by"],
        claims=int(data["claims"]),
        posted_cents=int(data["posted_cents"]),
        adjusted_cents=int(data["adjusted_cents"]),
        unmatched_cents=int(data["unmatched_cents"]),
        provider_adjusted_cents=int(data["provider_adjusted_cents"]),
        finished=bool(data["finished"]),
        items=tuple(
            WorkItem(
                item_id=i["item_id"],
                kind=i["kind"],
                claim_id=i["claim_id"],
                amount_cents=int(i["amount_cents"]),
                detail=i["detail"],
                resolved_by=i["resolved_by"],
                resolved_at=datetime.fromisoformat(i["resolved_at"]) if i["resolved_at"] else None,
                note=i["note"],
                codes=tuple(i.get("codes", ())),
            )
            for i in data["items"]
        ),
        version=int(data["version"]),
        interchange=data.get("interchange", ""),
    )
