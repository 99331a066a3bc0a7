"""Flask-WTF forms: every form carries a CSRF token."""

from flask_wtf import FlaskForm
from wtforms import DateField, StringField
from wtforms.validators import InputRequired, Length, Regexp


class LookupForm(FlaskForm):
    account_number = StringField(
        "Account number",
        validators=[
            InputRequired("Enter the account number printed on your statement."),
            Length(max=32, message="The account number is at most 32 characters."),
        ],
    )
    last_name = StringField(
        "Last name",
        validators=[
            InputRequired("Enter the patient's or the account holder's last name."),
            Length(max=100, message="The last name is at most 100 characters."),
        ],
    )
    date_of_birth = DateField(
        "Date of birth",
        format="%Y-%m-%d",
        validators=[InputRequired("Enter the date of birth.")],
    )


class PaymentForm(FlaskForm):
    amount = StringField(
        "Amount",
        validators=[
            InputRequired("Enter an amount, for example 25.00."),
            Length(max=20, message="Enter the amount in dollars and cents, for example 25.00."),
        ],
    )


class CardForm(FlaskForm):
    card_number = StringField(
        "Card number",
        validators=[
            InputRequired("Enter the card number."),
            Regexp(r"^[\d ]{12,23}$", message="Enter the card number, digits only."),
        ],
    )
    expiry = StringField(
        "Expiry (MM/YY)",
        validators=[
            InputRequired("Enter the expiry date."),
            Regexp(r"^(0[1-9]|1[0-2]) ?/ ?\d{2}$", message="Enter the expiry as MM/YY."),
        ],
    )
    cvc = StringField(
        "CVC",
        validators=[
            InputRequired("Enter the security code."),
            Regexp(r"^\d{3,4}$", message="The security code is 3 or 4 digits."),
        ],
    )
