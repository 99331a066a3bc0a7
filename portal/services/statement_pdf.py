"""A statement as a PDF (US letter), for `GET /statements/<id>.pdf` and the billing console.

Pure Python (fpdf2, which subsets the font with fontTools): nothing from the system, so it
runs in Lambda as it runs here. The text is set in DejaVu Sans, embedded from static/fonts/
(its LICENSE is next to it), so any name (José Núñez) prints and the text can be selected
and searched.

What it shows: the practice's name and billing office (services.practice: the same details
the public site and the e-mails use, which bootstrap reads once from
templates/site/_practice.html), the guarantor's name and the account number, the statement
and due dates, every line item (service date, patient, provider, code and plain
description, charge, insurance paid, adjustment, what the patient owes) with the totals,
the aging of the account's balance on the practice's calendar today, what is due on this
statement and on the account, and how to pay online (Quick Pay at <base_url>/pay). It never
prints a date of birth. For a patient signed in with their own details, another patient's
lines show only their date and what is owed (the AccountView's LineView, as on the page).

It is written in the guarantor's preferred language (the `email` catalog, through
services.emails.wording: words, money and dates), whoever opens it: it is the patient's
statement, which staff may print and mail.
"""

import warnings
from collections.abc import Sequence

with warnings.catch_warnings():
    # Pillow is left out of the Lambda zip: fpdf2 needs it only for images, and statements
    # have none.
    warnings.filterwarnings("ignore", message="Pillow could not be imported")
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

from portal.domain.aging import BUCKETS, aging
from portal.domain.catalog import N_
from portal.domain.insurer_words import insurer_notes
from portal.domain.practice import PracticeDetails
from portal.domain.statements import LineItem
from portal.domain.viewers import Viewer
from portal.ports.mail import Wording
from portal.resources import static_dir
from portal.services.accounts import AccountView, StatementView, account_view
from portal.services.context import Services
from portal.services.errors import NotFound

FONT_DIR = static_dir() / "fonts"
FONT = "DejaVuSans"
SOURCE_LANGUAGE = "en"  # the language the statement is written in: no catalog

# US letter in points, half-inch margins.
MARGIN = 36
# Line items: (heading, width in points, alignment); the widths fill 612 - 2 * 36 = 540.
# The headings are looked up in the reader's language (Wording.gettext) when drawn.
COLUMNS = (
    (N_("Date"), 50, "LEFT"),
    (N_("Patient"), 68, "LEFT"),
    (N_("Provider"), 72, "LEFT"),
    (N_("Service"), 142, "LEFT"),
    (N_("Charge"), 52, "RIGHT"),
    (N_("Insurance paid"), 52, "RIGHT"),
    (N_("Adjustment"), 52, "RIGHT"),
    (N_("You owe"), 52, "RIGHT"),
)
GREY = (90, 90, 90)
RULE = (170, 170, 170)
SHADE = (235, 238, 242)
OTHER_LINES_NOTE = N_(
    "For privacy, another patient's visits show only their date and what is owed. "
    "The account's guarantor can see them in full."
)
TABLE_SIZE = 7.5  # points
TABLE_LEADING = 9.5
CELL_PAD = 3


class _StatementPdf(FPDF):
    def __init__(
        self,
        title: str,
        continued: str = "%(title)s (continued)",
        page_of: str = "Page %(page)s of %(pages)s",
    ):
        super().__init__(orientation="portrait", unit="pt", format="letter")
        self.running_title = title
        self.continued = continued  # the running head of a page after the first
        self.page_of = page_of
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=MARGIN + 14)
        self.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_font(FONT, size=9)

    def header(self):
        if self.page_no() > 1:
            self.set_font(FONT, size=8)
            self.set_text_color(*GREY)
            head = self.continued % {"title": self.running_title}
            self.cell(0, 12, head, new_x=XPos.LMARGIN)
            self.set_text_color(0)
            self.set_y(self.t_margin + 18)

    def footer(self):
        self.set_y(-MARGIN - 4)
        self.set_font(FONT, size=8)
        self.set_text_color(*GREY)
        self.cell(0, 10, self.running_title, align="L")
        self.set_x(self.l_margin)
        # fpdf2 writes the page count where "{nb}" is, once every page is drawn.
        self.cell(0, 10, self.page_of % {"page": self.page_no(), "pages": "{nb}"}, align="R")
        self.set_text_color(0)


def render_statement_pdf(
    services: Services, account_number: str, statement_id: str, viewer: Viewer | None = None
) -> bytes:
    """The statement as PDF bytes, as `viewer` may see it (the guarantor, everything, by
    default); NotFound when the account has no such statement."""
    view = account_view(services, account_number, viewer)
    item = next((s for s in view.statements if s.statement.statement_id == statement_id), None)
    if item is None:
        raise NotFound(statement_id)
    pay_url = f"{services.settings.base_url.rstrip('/')}/pay"
    words = services.emails.wording(view.account.guarantor.preferred_language)
    return _render(view, item, services.practice, pay_url, services.clock.now(), words)


def _render(
    view: AccountView,
    item: StatementView,
    practice: PracticeDetails,
    pay_url: str,
    now,
    words: Wording,
) -> bytes:
    st = item.statement
    account = view.account
    _ = words.gettext
    money, on = words.money, words.short_date
    pdf = _StatementPdf(
        _("%(practice)s - statement %(statement)s")
        % {"practice": practice.name, "statement": st.statement_id},
        _("%(title)s (continued)"),
        _("Page %(page)s of %(pages)s"),
    )
    pdf.set_title(_("Statement %(statement)s") % {"statement": st.statement_id})
    pdf.set_author(practice.name)
    pdf.set_creator("Patient billing portal")
    pdf.set_lang(f"{words.language}-US")
    pdf.set_creation_date(now)
    pdf.add_page()
    width = pdf.epw

    # The practice (left) and the statement's facts (right).
    top = pdf.get_y()
    pdf.set_font(FONT, "B", 14)
    pdf.multi_cell(width * 0.55, 17, practice.name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9)
    phone = _("Phone %(phone)s") % {"phone": practice.phone}
    office = [*practice.mailing_address, phone, practice.email]
    pdf.multi_cell(width * 0.55, 12, "\n".join(office), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    left_bottom = pdf.get_y()

    facts = (
        (_("Statement"), st.statement_id),
        (_("Statement date"), on(st.statement_date)),
        (_("Due date"), on(st.due_date)),
        (_("Account number"), account.account_number),
        (_("Amount due"), money(item.balance_cents)),
    )
    pdf.set_xy(MARGIN + width * 0.58, top)
    pdf.set_font(FONT, "B", 14)
    heading = _("Corrected statement") if st.version > 1 else _("Statement")
    pdf.cell(width * 0.42, 17, heading, align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    for label, value in facts:
        pdf.set_x(MARGIN + width * 0.58)
        pdf.set_font(FONT, size=9)
        pdf.cell(width * 0.20, 13, label)
        pdf.set_font(FONT, "B", 9)
        pdf.cell(width * 0.22, 13, value, align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 14)

    # The guarantor: we have a name and the account number (no postal address).
    pdf.set_font(FONT, size=8)
    pdf.set_text_color(*GREY)
    pdf.cell(0, 11, _("Statement for"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0)
    pdf.set_font(FONT, "B", 11)
    guarantor = account.guarantor.display_name
    pdf.multi_cell(width * 0.55, 14, guarantor, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9)
    number = _("Account %(account)s") % {"account": account.account_number}
    pdf.cell(0, 12, number, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(10)

    _line_items(pdf, view, item, words)
    pdf.ln(4)
    pdf.set_font(FONT, size=8)
    notes = _(
        "An adjustment is the discount your insurance plan's contract gives; you do not owe it."
    )
    if item.hides_lines:
        notes += f"\n{_(OTHER_LINES_NOTE)}"
    pdf.multi_cell(0, 10, notes, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _insurer_notes(pdf, view, item, words)
    pdf.ln(8)
    _summary(pdf, view, item, words)
    pdf.ln(8)
    _how_to_pay(pdf, view, practice, pay_url, words)
    return bytes(pdf.output())


def _insurer_notes(
    pdf: _StatementPdf, view: AccountView, item: StatementView, words: Wording
) -> None:
    """What insurers' remittances did since the statement, in plain words (no codes)."""
    _ = words.gettext
    shown = {line.item.line_id for line in item.lines if line.item is not None}
    notes = insurer_notes(view.entries, item.statement.statement_id, shown)
    if not notes:
        return
    pdf.ln(6)
    pdf.set_font(FONT, "B", 9)
    pdf.cell(0, 12, _("From your insurer since this statement"), new_x=XPos.LMARGIN)
    pdf.ln(12)
    pdf.set_font(FONT, size=9)
    text = "\n".join(
        _(phrase) % {k: words.money(v) for k, v in values.items()} for phrase, values in notes
    )
    pdf.multi_cell(0, 12, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _wrap(pdf: _StatementPdf, text: str, width: float, split_words: bool = True) -> list[str]:
    """Greedy word wrap to `width` points in the current font; a word wider than the cell is
    cut, unless `split_words` is false (amounts are never split: they may run into the padding).
    fpdf2's own table does this too, but ten times slower on a long statement."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            candidate = f"{current} {word}" if current else word
            if pdf.get_string_width(candidate) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            current = word
            while split_words and pdf.get_string_width(current) > width and len(current) > 1:
                end = len(current) - 1
                while end > 1 and pdf.get_string_width(current[:end]) > width:
                    end -= 1
                lines.append(current[:end])
                current = current[end:]
        lines.append(current)
    return lines


def _row(
    pdf: _StatementPdf,
    cells: Sequence[str],
    columns: Sequence[tuple[str, float, str]],
    bold: bool = False,
    shade: bool = False,
) -> float:
    """Draw one table row at the current position (cells wrapped, RIGHT cells right-aligned,
    a rule under it) and move below it; returns its height. No page break here."""
    pdf.set_font(FONT, "B" if bold else "", TABLE_SIZE)
    wrapped = [
        _wrap(pdf, text, width - 2 * CELL_PAD, split_words=align != "RIGHT")
        for text, (_, width, align) in zip(cells, columns, strict=True)
    ]
    height = max(len(lines) for lines in wrapped) * TABLE_LEADING + 2 * CELL_PAD
    x, y = pdf.l_margin, pdf.get_y()
    if shade:
        pdf.set_fill_color(*SHADE)
        pdf.rect(x, y, sum(width for _, width, _ in columns), height, style="F")
    for lines, (_, width, align) in zip(wrapped, columns, strict=True):
        baseline = y + CELL_PAD + TABLE_SIZE * 0.85
        for text in lines:
            if align == "RIGHT":
                left = x + width - CELL_PAD - pdf.get_string_width(text)
            else:
                left = x + CELL_PAD
            pdf.text(left, baseline, text)
            baseline += TABLE_LEADING
        x += width
    pdf.set_draw_color(*RULE)
    pdf.line(pdf.l_margin, y + height, x, y + height)
    pdf.set_draw_color(0)
    pdf.set_y(y + height)
    return height


def _line_items(pdf: _StatementPdf, view: AccountView, item: StatementView, words: Wording) -> None:
    st = item.statement
    _ = words.gettext
    money, on = words.money, words.short_date
    headings = [_(heading) for heading, _width, _align in COLUMNS]
    pdf.set_font(FONT, "B", 11)
    pdf.cell(0, 16, _("What each charge was for"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _row(pdf, headings, COLUMNS, bold=True, shade=True)
    rows = []
    for shown in item.lines:
        line = shown.item
        if line is None:  # another patient's: the date and what is owed, nothing else
            rest = ("", "", "", "", "", money(shown.owed_cents))
            rows.append((on(shown.service_date), _(shown.patient_name), *rest))
            continue
        service = f"{line.code_system} {line.code}: {_description(line, words)}"
        if line.diagnosis_codes:
            codes = {"codes": ", ".join(line.diagnosis_codes)}
            service += " " + _("(diagnosis %(codes)s)") % codes
        rows.append(
            (
                on(line.service_date),
                shown.patient_name,
                line.provider,
                service,
                money(line.charge_cents),
                money(line.insurance_paid_cents),
                money(line.adjustment_cents),
                money(line.patient_responsibility_cents),
            )
        )
    totals = (
        _("Totals"),
        "",
        "",
        "",
        money(st.charges_cents),
        money(st.insurance_paid_cents),
        money(st.adjustments_cents),
        money(st.total_cents),
    )
    for i, cells in enumerate([*rows, totals]):
        last = i == len(rows)
        # A row that would cross the bottom margin goes to the next page under the headings.
        needed = (5 if last else 3) * TABLE_LEADING + 2 * CELL_PAD
        if pdf.will_page_break(needed):
            pdf.add_page()
            _row(pdf, headings, COLUMNS, bold=True, shade=True)
        _row(pdf, cells, COLUMNS, bold=last, shade=last)


def _description(line: LineItem, words: Wording) -> str:
    """The line's description in the statement's language: the practice's Spanish one on a
    Spanish statement when it sent one; else the English one, marked as English on a
    statement in another language (as on the statement page)."""
    if words.language == SOURCE_LANGUAGE:
        return line.description
    if words.language == "es" and line.description_es:
        return line.description_es
    return words.gettext("%(description)s (in English)") % {"description": line.description}


def _pairs(pdf: _StatementPdf, rows, width: float, bold_last: bool = False) -> None:
    """Label / amount rows, the amounts right-aligned."""
    for i, (label, value) in enumerate(rows):
        strong = bold_last and i == len(rows) - 1
        pdf.set_font(FONT, "B" if strong else "", 9)
        pdf.cell(width * 0.7, 13, label)
        pdf.cell(width * 0.3, 13, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _summary(pdf: _StatementPdf, view: AccountView, item: StatementView, words: Wording) -> None:
    st = item.statement
    _ = words.gettext
    money, on = words.money, words.short_date
    if pdf.will_page_break(150):
        pdf.add_page()
    pdf.set_font(FONT, "B", 11)
    pdf.cell(0, 16, _("Amount due"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    due_by = _("Due on this statement by %(date)s") % {"date": on(st.due_date)}
    rows = [
        (_("Your share of this statement"), money(st.total_cents)),
        (_("Paid or credited since"), money(st.total_cents - item.balance_cents)),
        (due_by, money(item.balance_cents)),
    ]
    if view.credit_cents:
        rows.append((_("Credit on the account"), money(view.credit_cents)))
    _pairs(pdf, rows, 300)
    pdf.set_font(FONT, "B", 10)
    pdf.cell(210, 15, _("Balance due on the account"))
    pdf.cell(90, 15, money(view.due_cents), align="R", new_x=XPos.LMARGIN)
    pdf.ln(20)

    buckets = aging(((s.statement.due_date, s.balance_cents) for s in view.statements), view.today)
    pdf.set_font(FONT, "B", 10)
    by_age = _("Account balance by age, as of %(date)s") % {"date": on(view.today)}
    pdf.cell(0, 14, by_age, new_x=XPos.LMARGIN)
    pdf.ln(16)
    labels = {
        "current": _("Current"),
        "over 120": _("Over 120 days"),
    }
    past_due = _("%(days)s days past due")
    columns = tuple((name, pdf.epw / len(BUCKETS), "RIGHT") for name in BUCKETS)
    headings = [labels.get(name, past_due % {"days": name}) for name in BUCKETS]
    _row(pdf, headings, columns, True, True)
    _row(pdf, [money(buckets[name]) for name in BUCKETS], columns)


def _how_to_pay(
    pdf: _StatementPdf,
    view: AccountView,
    practice: PracticeDetails,
    pay_url: str,
    words: Wording,
) -> None:
    _ = words.gettext
    if pdf.will_page_break(130):
        pdf.add_page()
    pdf.set_font(FONT, "B", 11)
    pdf.cell(0, 16, _("How to pay"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9)
    online = _(
        "Online: go to %(link)s (Quick Pay, no sign-up needed) and enter your account "
        "number %(account)s, the last name and the date of birth of the guarantor or "
        "patient on the account. You can pay the whole balance or part of it by card."
    )
    by_mail = _(
        "By mail: send a check payable to %(payee)s to %(address)s, with your account number on it."
    )
    questions = _("Questions: call %(phone)s (%(hours)s) or write to %(email)s.")
    text = "\n".join(
        (
            online % {"link": pay_url, "account": view.account.account_number},
            by_mail % {"payee": practice.payee, "address": ", ".join(practice.mailing_address)},
            questions
            % {
                "phone": practice.phone,
                "hours": _(practice.hours),
                "email": practice.email,
            },
        )
    )
    pdf.multi_cell(0, 12, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if practice.examples:
        pdf.ln(4)
        pdf.set_font(FONT, size=7)
        pdf.set_text_color(*GREY)
        examples = _(
            "The phone number, address and e-mail above are examples until %(practice)s "
            "sets its own."
        )
        pdf.multi_cell(
            0,
            9,
            examples % {"practice": practice.name},
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.set_text_color(0)
