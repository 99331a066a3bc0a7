"""Forms: Flask-WTF forms, and a plain one where a form library costs more than it gives.
Every form carries a CSRF token (CSRFProtect checks it on every POST before any view)."""

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs lag 3.3
from wtforms.validators import EqualTo, InputRequired, Length, Optional, Regexp

from portal.domain.cases import (
    INCOME_BANDS,
    MAX_HOUSEHOLD,
    MAX_MESSAGE_LENGTH,
    OUTCOME_LABELS,
    QUESTION_REASONS,
    REASON_LABELS,
    Outcome,
)
from portal.domain.payments import MANUAL_METHODS
from portal.web.service_words import later_in_page_language


class LookupForm(FlaskForm):
    """Quick Pay (patient-facing: its words are in the page's language)."""

    account_number = StringField(
        _l("Account number"),
        validators=[
            InputRequired(_l("Enter the account number printed on your statement.")),
            Length(max=32, message=_l("The account number is at most 32 characters.")),
        ],
    )
    last_name = StringField(
        _l("Last name"),
        validators=[
            InputRequired(_l("Enter the patient's or the account holder's last name.")),
            Length(max=100, message=_l("The last name is at most 100 characters.")),
        ],
    )
    date_of_birth = DateField(
        _l("Date of birth"),
        format="%Y-%m-%d",
        validators=[InputRequired(_l("Enter the date of birth."))],
    )


# The time zones a patient may pick for texts (the practice's when none is picked).
TEXT_TIME_ZONES = (
    ("", _l("The billing office's time zone")),
    ("America/New_York", _l("Eastern")),
    ("America/Chicago", _l("Central")),
    ("America/Denver", _l("Mountain")),
    ("America/Phoenix", _l("Arizona")),
    ("America/Los_Angeles", _l("Pacific")),
    ("America/Anchorage", _l("Alaska")),
    ("Pacific/Honolulu", _l("Hawaii")),
    ("America/Puerto_Rico", _l("Atlantic (Puerto Rico)")),
)


class TextsForm(FlaskForm):
    """The guarantor's agreement to billing texts (patient-facing)."""

    phone = StringField(
        _l("Mobile number"),
        validators=[
            InputRequired(_l("Enter your mobile number.")),
            Length(max=32, message=_l("The mobile number is at most 32 characters.")),
        ],
    )
    time_zone = SelectField(
        _l("Your time zone"),
        choices=[SelectChoice(value, label) for value, label in TEXT_TIME_ZONES],
        default="",
    )
    agree = BooleanField(
        _l("I agree to get billing texts from the billing office at this number."),
        validators=[InputRequired(_l("Tick the box to agree to billing texts."))],
    )


AMOUNT_MAX_LENGTH = 20


@dataclass
class AmountForm:
    """The patient's payment amount (POST /payments), on the account and statement pages as
    plain HTML (templates/_macros.html, pay_forms): building and rendering a Flask-WTF
    form cost those pages more than the whole store read. The amount itself is checked by
    the payment service."""

    amount: str = ""
    error: str | None = None

    @classmethod
    def from_form(cls, form: MultiDict[str, str]) -> "AmountForm":
        amount = form.get("amount", "")
        if not amount:
            return cls(amount, _("Enter an amount, for example 25.00."))
        if len(amount) > AMOUNT_MAX_LENGTH:
            return cls(amount, _("Enter the amount in dollars and cents, for example 25.00."))
        return cls(amount)


class CardForm(FlaskForm):
    card_number = StringField(
        _l("Card number"),
        validators=[
            InputRequired(_l("Enter the card number.")),
            Regexp(r"^[0-9 ]{12,23}$", message=_l("Enter the card number, digits only.")),
        ],
    )
    expiry = StringField(
        _l("Expiry (MM/YY)"),
        validators=[
            InputRequired(_l("Enter the expiry date.")),
            Regexp(r"^(0[1-9]|1[0-2]) ?/ ?[0-9]{2}$", message=_l("Enter the expiry as MM/YY.")),
        ],
    )
    cvc = StringField(
        _l("CVC"),
        validators=[
            InputRequired(_l("Enter the security code.")),
            Regexp(r"^[0-9]{3,4}$", message=_l("The security code is 3 or 4 digits.")),
        ],
    )


class BankAccountForm(FlaskForm):
    """A US bank account on the sandbox's setup page (the processor's page in production)."""

    routing_number = StringField(
        _l("Routing number"),
        validators=[
            InputRequired(_l("Enter the routing number.")),
            Regexp(r"^ *[0-9]{9} *$", message=_l("The routing number is 9 digits.")),
        ],
    )
    account_number = StringField(
        _l("Account number"),
        validators=[
            InputRequired(_l("Enter the account number.")),
            Regexp(r"^ *[0-9]{4,17} *$", message=_l("The account number is 4 to 17 digits.")),
        ],
    )


class StaffLoginForm(FlaskForm):
    username = StringField(
        "Username", validators=[InputRequired("Enter your username."), Length(max=32)]
    )
    password = PasswordField(
        "Password", validators=[InputRequired("Enter your password."), Length(max=200)]
    )


class StaffCodeForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app",
        validators=[
            InputRequired("Enter the 6-digit code."),
            Regexp(r"^ *[0-9]{3} ?[0-9]{3} *$", message="The code is 6 digits."),
        ],
    )


class ManualPaymentForm(FlaskForm):
    method = SelectField(
        "Method",
        choices=[SelectChoice(value, label) for value, label in MANUAL_METHODS.items()],
    )
    amount = StringField(
        "Amount",
        validators=[InputRequired("Enter the amount, for example 25.00."), Length(max=20)],
    )
    check_number = StringField("Check number", validators=[Length(max=20)])
    request_key = HiddenField()


class ReverseForm(FlaskForm):
    reason = StringField(
        "Reason",
        validators=[InputRequired("Say why the payment is reversed."), Length(max=200)],
    )


class RefundForm(FlaskForm):
    amount = StringField(
        "Amount to refund",
        validators=[
            InputRequired("Enter the amount to refund, for example 25.00."),
            Length(max=20),
        ],
    )
    request_key = HiddenField()


class NoteForm(FlaskForm):
    text = TextAreaField("Note", validators=[InputRequired("Write the note."), Length(max=2000)])
    promise_to_pay_on = DateField("Promise to pay by (optional)", validators=[Optional()])


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[InputRequired("Enter your current password.")]
    )
    new_password = PasswordField(
        "New password", validators=[InputRequired("Enter a new password."), Length(max=200)]
    )
    confirm = PasswordField(
        "New password again",
        validators=[EqualTo("new_password", message="The two new passwords differ.")],
    )


class AdjustmentForm(FlaskForm):
    statement_id = SelectField("Statement", choices=[], id="adjustment-statement_id")
    kind = SelectField(
        "Kind",
        choices=[
            SelectChoice("adjustment", "Adjustment"),
            SelectChoice("write_off", "Write-off (bad debt, charity, small balance)"),
        ],
        id="adjustment-kind",
    )
    amount = StringField(
        "Amount",
        validators=[InputRequired("Enter the amount, for example 25.00."), Length(max=20)],
        id="adjustment-amount",
    )
    reason = StringField("Reason", validators=[InputRequired("Give the reason."), Length(max=200)])


class EscalateForm(FlaskForm):
    kind = SelectField(
        "What is it",
        choices=[
            SelectChoice("other", "Needs a supervisor"),
            SelectChoice("dispute", "The patient disputes the balance"),
            SelectChoice("refund_request", "The patient asks for a refund"),
        ],
        id="escalate-kind",
    )
    reason = TextAreaField(
        "Details",
        validators=[InputRequired("Say what needs attention."), Length(max=500)],
        id="escalate-reason",
    )


class EscalationUpdateForm(FlaskForm):
    owner = StringField("Owner (username)", validators=[Length(max=32)])
    promise_to_pay_on = DateField("Promise to pay by", validators=[Optional()])


class ResolveForm(FlaskForm):
    resolution = StringField(
        "Resolution", validators=[InputRequired("Say how it was resolved."), Length(max=500)]
    )


class StaffUserForm(FlaskForm):
    username = StringField(
        "Username", validators=[InputRequired("Enter a username."), Length(max=32)]
    )
    role = SelectField(
        "Role",
        choices=[
            SelectChoice("associate", "Associate"),
            SelectChoice("supervisor", "Supervisor"),
            SelectChoice("admin", "Admin"),
        ],
    )
    password = PasswordField(
        "Password", validators=[InputRequired("Enter a password."), Length(max=200)]
    )


class AddressCorrectedForm(FlaskForm):
    """Mark an undeliverable address corrected (the address in a hidden field, never in
    the URL)."""

    address = HiddenField("Address", validators=[InputRequired("Which address?"), Length(max=320)])


# -- patients' questions and requests for help (issue 17) ---------------------------------

MESSAGE_TOO_LONG = "Keep the message to 2,000 characters."  # staff pages: English
PATIENT_MESSAGE_TOO_LONG = _l("Keep the message to 2,000 characters.")


class QuestionForm(FlaskForm):
    reason = RadioField(
        _l("Why are you asking?"),
        choices=[
            SelectChoice(r.value, later_in_page_language(REASON_LABELS[r]))
            for r in QUESTION_REASONS
        ],
        validators=[InputRequired(_l("Choose the reason for your question."))],
    )
    message = TextAreaField(
        _l("Anything you want us to know (optional)"),
        validators=[Optional(), Length(max=MAX_MESSAGE_LENGTH, message=PATIENT_MESSAGE_TOO_LONG)],
    )
    line_id = HiddenField()
    request_key = HiddenField()


class AssistanceForm(FlaskForm):
    household_size = StringField(
        _l("How many people live in your household?"),
        validators=[
            InputRequired(_l("Enter the number of people in your household.")),
            Regexp(
                r"^\s*([1-9]|1[0-9]|20)\s*$",
                message=_l("Enter a household size from 1 to %(most)s.", most=MAX_HOUSEHOLD),
            ),
        ],
    )
    income_band = RadioField(
        _l("Your household's income before taxes, per year"),
        choices=[
            SelectChoice(value, later_in_page_language(label))
            for value, label in INCOME_BANDS.items()
        ],
        validators=[InputRequired(_l("Choose your household's yearly income."))],
    )
    what_happened = TextAreaField(
        _l("What happened (optional)"),
        validators=[Optional(), Length(max=MAX_MESSAGE_LENGTH, message=PATIENT_MESSAGE_TOO_LONG)],
    )
    request_key = HiddenField()


class CaseReplyForm(FlaskForm):
    message = TextAreaField(
        _l("Your reply"),
        validators=[
            InputRequired(_l("Write your reply.")),
            Length(max=MAX_MESSAGE_LENGTH, message=PATIENT_MESSAGE_TOO_LONG),
        ],
    )
    request_key = HiddenField()


class StaffCaseReplyForm(FlaskForm):
    kind = SelectField(
        "Send as",
        choices=[
            SelectChoice("reply", "A reply"),
            SelectChoice("more_info", "A request for more information"),
        ],
        id="reply-kind",
    )
    text = TextAreaField(
        "Message to the patient",
        validators=[
            InputRequired("Write the message."),
            Length(max=MAX_MESSAGE_LENGTH, message=MESSAGE_TOO_LONG),
        ],
        id="reply-text",
    )
    request_key = HiddenField(id="reply-request_key")


class CaseAssignForm(FlaskForm):
    owner = StringField("Owner (username)", validators=[Length(max=32)], id="assign-owner")


class CaseResolveForm(FlaskForm):
    outcome = SelectField(
        "Outcome",
        choices=[SelectChoice(o.value, OUTCOME_LABELS[o]) for o in Outcome],
        id="resolve-outcome",
    )
    explanation = TextAreaField(
        "Explanation the patient sees",
        validators=[
            InputRequired("Write the explanation the patient sees."),
            Length(max=MAX_MESSAGE_LENGTH, message=MESSAGE_TOO_LONG),
        ],
        id="resolve-explanation",
    )
    amount = StringField(
        "Amount (correction or discount)", validators=[Length(max=20)], id="resolve-amount"
    )
    ledger_reason = StringField(
        "Reason in the ledger (correction or discount)",
        validators=[Length(max=200)],
        id="resolve-ledger_reason",
    )
    statement_id = SelectField("Statement", choices=[], id="resolve-statement_id")
    request_key = HiddenField(id="resolve-request_key")
