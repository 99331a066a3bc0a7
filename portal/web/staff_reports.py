"""Staff reports: payments, aging, the monthly summary, daily deposits and the audit log,
each also as CSV."""

import csv
import io
import re
import unicodedata
from datetime import date

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from portal.domain.aging import BUCKETS
from portal.domain.money import cents_to_plain
from portal.domain.payments import MANUAL_METHODS, PaymentStatus
from portal.domain.payouts import Unmatched
from portal.domain.staff import AuditAction, Role
from portal.services.audit import audit
from portal.services.errors import InvalidInput, NotFound
from portal.services.payouts import PayoutView, check_payout, month_fees, payout_view
from portal.services.reports import aging_report, deposit_report, last_twelve_months
from portal.services.staff_plans import STATUS_ORDER, plans_in_month
from portal.services.staff_views import list_payments
from portal.web import current_services
from portal.web.charts import bar_chart
from portal.web.staff_session import (
    FIRST_YEAR,
    LAST_YEAR,
    address,
    choice_arg,
    date_arg,
    load_staff_user,
    period_args,
    staff_required,
    today,
)

bp = Blueprint("staff_reports", __name__, url_prefix="/staff")
bp.before_request(load_staff_user)


@bp.get("/payments")
@staff_required()
def payments():
    errors: list[str] = []
    since, until = period_args(7, errors)
    status = choice_arg("status", {s.value for s in PaymentStatus}, errors)
    method = choice_arg("method", {"card", *MANUAL_METHODS}, errors)
    found = list_payments(
        current_services(), since, until, PaymentStatus(status) if status else None, method
    )
    audit(
        current_services(),
        g.staff.username,
        AuditAction.VIEW_PAYMENTS,
        subject=f"{since}..{until} {status or ''} {method or ''}".strip(),
        address=address(),
    )
    return render_template(
        "staff/payments.html",
        found=found,
        errors=errors,
        status=status or "",
        method=method or "",
        statuses=[s.value for s in PaymentStatus],
    ), (400 if errors else 200)


@bp.get("/audit")
@staff_required(Role.ADMIN)
def audit_log():
    actor = request.args.get("actor", "").strip().lower() or None
    account_number = request.args.get("account", "").strip() or None
    entries = current_services().store.audit_entries(
        account_number=account_number, actor=actor, limit=1000
    )
    audit(
        current_services(),
        g.staff.username,
        AuditAction.VIEW_AUDIT_LOG,
        account_number,
        f"actor={actor or '*'}",
        address(),
    )
    if _wants_csv([]):
        return _csv(
            "audit-log.csv",
            ["at", "actor", "action", "account_number", "subject", "address"],
            [
                [
                    e.at.isoformat(),
                    e.actor,
                    e.action.value,
                    e.account_number or "",
                    e.subject,
                    e.address,
                ]
                for e in entries
            ],
        )
    return render_template(
        "staff/audit.html", entries=entries, actor=actor or "", account=account_number or ""
    )


# -- reports -------------------------------------------------------------------------------


@bp.get("/reports/aging")
@staff_required()
def aging():
    errors: list[str] = []
    as_of = date_arg("as_of", today(), errors)
    report = aging_report(current_services(), as_of)
    _audit_report(f"aging as of {as_of}")
    if _wants_csv(errors):
        header = ["account_number", "guarantor", *BUCKETS, "total"]
        rows = [
            [r.account_number, r.guarantor_name, *_plain([*r.buckets.values(), r.total_cents])]
            for r in report.rows
        ]
        rows.append(["total", "", *_plain([*report.totals.values(), report.total_cents])])
        return _csv(f"aging-{as_of}.csv", header, rows)
    chart = bar_chart(
        f"Outstanding balances by days past due, as of {as_of}",
        [name if name == "current" else f"{name} days" for name in BUCKETS],
        {"Balance": list(report.totals.values())},
    )
    number = _page_arg(errors)
    pages = max(1, -(-len(report.rows) // AGING_ROWS_PER_PAGE))
    number = min(number, pages)
    first = (number - 1) * AGING_ROWS_PER_PAGE
    page = render_template(
        "staff/aging.html",
        report=report,
        rows=report.rows[first : first + AGING_ROWS_PER_PAGE],
        first=first,
        page=number,
        pages=pages,
        chart=chart,
        errors=errors,
    )
    return page, (400 if errors else 200)


AGING_ROWS_PER_PAGE = 100  # the oldest balances first; the CSV has every account


def _page_arg(errors: list[str]) -> int:
    text = request.args.get("page", "1").strip()
    if text.isascii() and text.isdigit() and 0 < len(text) < 7 and int(text) > 0:
        return int(text)
    errors.append("page: a page number, like 2.")
    return 1


@bp.get("/reports/monthly")
@staff_required(Role.SUPERVISOR)
def monthly():
    errors: list[str] = []
    month = _month_arg(errors)
    months = last_twelve_months(current_services(), month)
    _audit_report(f"monthly summary {month:%Y-%m}")
    if _wants_csv(errors):
        header = [
            "month",
            "beginning_receivable",
            "charges",
            "insurance_payments",
            "adjustments",
            "patient_payments",
            "refunds",
            "write_offs",
            "ending_receivable",
        ]
        rows = [
            [
                f"{m.month:%Y-%m}",
                *_plain(
                    [
                        m.beginning_cents,
                        m.charges_cents,
                        m.insurance_payments_cents,
                        m.adjustments_cents,
                        m.patient_payments_cents,
                        m.refunds_cents,
                        m.write_offs_cents,
                        m.ending_cents,
                    ]
                ),
            ]
            for m in months
        ]
        return _csv(f"monthly-summary-{month:%Y-%m}.csv", header, rows)
    chart = bar_chart(
        "Charges billed and patient payments, last 12 months",
        [f"{m.month:%b}" for m in months],
        {
            "Charges billed": [m.charges_cents for m in months],
            "Patient payments": [m.patient_payments_cents for m in months],
        },
    )
    page = render_template(
        "staff/monthly.html",
        summary=months[-1],
        months=months,
        chart=chart,
        errors=errors,
        plans=plans_in_month(current_services(), month),
        plan_statuses=STATUS_ORDER,
        fees_cents=month_fees(current_services(), month),
    )
    return page, (400 if errors else 200)


@bp.get("/reports/deposits")
@staff_required()
def deposits():
    errors: list[str] = []
    since, until = period_args(7, errors)
    days = deposit_report(current_services(), since, until)
    _audit_report(f"deposits {since}..{until}")
    methods = ["card", *MANUAL_METHODS]
    if _wants_csv(errors):
        rows = [
            [d.day.isoformat(), *_plain([d.total(m) for m in methods]), cents_to_plain(d.total())]
            for d in days
        ]
        return _csv(f"deposits-{since}-{until}.csv", ["day", *methods, "total"], rows)
    page = render_template(
        "staff/deposits.html",
        days=days,
        since=since,
        until=until,
        methods=methods,
        errors=errors,
        insurance=current_services().store.remittances_paid(since, until),
    )
    return page, (400 if errors else 200)


@bp.get("/reports/payouts")
@staff_required(Role.SUPERVISOR)
def payouts():
    """The deposit report's payout view: each card payout of the period, matched to the
    portal's payments (the kept ones, and any the processor lists not kept yet), and every
    payout kept not reconciled; CSV too."""
    errors: list[str] = []
    since, until = period_args(7, errors)
    view = payout_view(current_services(), since, until)
    if view.problem:
        errors.append(view.problem)
    _audit_report(f"payouts {since}..{until}")
    if _wants_csv(errors):
        return _csv(f"payouts-{since}-{until}.csv", PAYOUT_COLUMNS, _payout_rows(view))
    page = render_template("staff/payouts.html", view=view, since=since, until=until, errors=errors)
    return page, (400 if errors else 200)


@bp.post("/reports/payouts/<payout_id>/checked")
@staff_required(Role.SUPERVISOR)
def payout_checked(payout_id: str):
    """A supervisor marks an unreconciled payout looked into, with a note (audited)."""
    note = request.form.get("note", "")
    try:
        done = check_payout(current_services(), payout_id, note, g.staff.username, address())
    except NotFound:
        flash(f"No payout {payout_id} is kept.", "error")
    except InvalidInput as exc:
        flash(exc.message, "error")
    else:
        if done:
            flash(f"Payout {payout_id} is marked checked.", "info")
        else:
            flash(f"Payout {payout_id} is reconciled or checked already; nothing changed.", "error")
    return redirect(url_for("staff_reports.payouts"), 303)


PAYOUT_COLUMNS = [
    "payout",
    "arrival_date",
    "gross",
    "refunds",
    "disputes",
    "fees",
    "other",
    "net",
    "deposit",
    "reconciled",
    "unmatched",
    "reference",
    "processor_amount",
    "portal_amount",
]


def _payout_rows(view: PayoutView) -> list[list[str]]:
    """One row per payout, then one per unmatched item (under its payout, or none)."""

    def amount(cents: int | None) -> str:
        return "" if cents is None else cents_to_plain(cents)

    def problem(payout_id: str, u: Unmatched) -> list[str]:
        blank = [""] * 9
        cells = [u.problem, u.reference, amount(u.processor_cents), amount(u.portal_cents)]
        return [payout_id, *blank, *cells]

    rows = []
    for r in view.reports:
        sums = [r.gross_cents, r.refunds_cents, r.disputes_cents, r.fees_cents, r.other_cents]
        rows.append(
            [
                r.payout.payout_id,
                r.payout.arrival_date.isoformat(),
                *_plain([*sums, r.net_cents, r.payout.amount_cents]),
                "yes" if r.reconciled else "no",
                "",
                "",
                "",
                "",
            ]
        )
        rows += [problem(r.payout.payout_id, u) for u in r.unmatched]
    rows += [problem("", u) for u in view.not_paid_out]
    return rows


def _audit_report(subject: str) -> None:
    audit(
        current_services(),
        g.staff.username,
        AuditAction.VIEW_REPORT,
        subject=subject,
        address=address(),
    )


def _month_arg(errors: list[str]) -> date:
    text = request.args.get("month", "").strip()
    if text:
        try:
            month = date.fromisoformat(f"{text}-01")
        except ValueError:
            errors.append("month: use a month like 2026-11.")
        else:
            if FIRST_YEAR < month.year <= LAST_YEAR:
                return month
            errors.append(f"month: use a month between {FIRST_YEAR + 1} and {LAST_YEAR}.")
    return today().replace(day=1)


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


_FORMULA_START = ("=", "+", "@", "\t", "\r", "\n")


def _inert(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula (names and subjects come from users).
    Spreadsheets take the full-width signs (U+FF1D, U+FF0B, U+FF0D, U+FF20) and other
    compatibility forms, after leading spaces, as the plain ones: the cell is judged as NFKC."""
    plain = unicodedata.normalize("NFKC", cell)
    lead = plain.lstrip(" ")[:1]
    if lead in _FORMULA_START or (lead == "-" and not _NUMBER.fullmatch(plain)):
        return "'" + cell
    return cell


def _wants_csv(errors: list[str]) -> bool:
    """A CSV download, unless the filters were wrong: then the page says what is wrong."""
    return request.args.get("format") == "csv" and not errors


def _plain(values) -> list[str]:
    return [cents_to_plain(v) for v in values]


def _csv(filename: str, header: list[str], rows: list[list[str]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([_inert(cell) for cell in row] for row in rows)
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
