"""The sentences the services, the domain and the payment processor write for patients, in
the page's language. They are written in English where they are made (the services know
nothing of the web): each is listed here once as its English message with %(name)s for what
varies, and a sentence matching one is shown as that message's translation with the same
values. A sentence matching none is shown as it came (in English)."""

import re
from functools import cache

from flask_babel import LazyString
from markupsafe import Markup

from portal.web.language import gettext, page_state


def N_(message: str) -> str:
    """Marks `message` for `make messages` (babel.cfg, keyword N_); translated when shown."""
    return message


SENTENCES = (
    # Amounts (portal/domain/money.py) and the payment's other checks.
    N_("Enter an amount, for example 25.00."),
    N_("The amount cannot be negative."),
    N_("Use at most two digits after the decimal point."),
    N_("Enter the amount in dollars and cents, for example 25.00."),
    N_("There is no balance to pay on this account."),
    N_("The amount is more than your balance of %(amount)s."),
    N_("The smallest payment is %(amount)s."),
    # Payment plans (portal/services/plans.py, portal/domain/plans.py).
    N_("Only the account's guarantor can set up a payment plan."),
    N_("This account already has a payment plan."),
    N_("A payment plan is offered for balances of %(amount)s or more."),
    N_("A plan is offered for balances of %(amount)s or more."),
    N_("Choose a day of the month from 1 to %(day)s."),
    N_("Choose a number of months or a monthly amount, not both."),
    N_("Choose a number of months or a monthly amount."),
    N_("Choose from 2 to %(months)s months."),
    N_("Choose from 2 to %(months)s months for a balance of %(amount)s."),
    N_("The smallest monthly amount is %(amount)s."),
    N_("That pays the whole balance at once: pay it now instead."),
    N_("Your balance changed since the schedule was shown: review it again."),
    N_("The card or bank account is not saved yet: try again."),
    N_("Nothing new is owed beyond your plan."),
    N_("Your plan has no payments left to add it to: pay it separately."),
    N_("This payment is no longer on your plan."),
    N_("This plan has ended: pay from your balance page."),
    N_("This payment is paid already."),
    N_("This payment is not waiting for you to pay it."),
    N_("This payment can no longer be paid here: pay from your balance page."),
    # The payment processor (portal/adapters/*_gateway.py).
    N_("Your card was declined."),
    N_("Your card has insufficient funds."),
    N_("You left the checkout page; nothing was charged."),
    N_(
        "Your card was charged in another currency (%(currency)s), not US dollars, so nothing "
        "is posted to your account yet. Our billing office has been told and will contact you."
    ),
    N_(
        "The card processor is not answering; nothing was charged. "
        "Please try again in a few minutes."
    ),
    N_(
        "Card payments are not available right now; nothing was charged. "
        "Please try again later or call the billing office."
    ),
    N_(
        "This checkout is no longer open. If you did not finish paying, nothing was charged; "
        "please start the payment again."
    ),
    N_("Your bank did not complete the payment, so nothing was taken."),
    N_("The checkout closed before the payment was made; nothing was charged."),
    N_("We could not find this checkout."),
    N_("This is a test page: use one of the test card numbers shown."),
    N_("This is a test page: use the test routing and account numbers shown."),
    N_("We could not find this page for saving a payment method; please start again."),
    N_("This payment method was saved for another plan; please start again."),
    N_(
        "The card processor is not answering, so nothing was saved. "
        "Please try again in a few minutes."
    ),
    N_(
        "Saving a payment method is not available right now. Please try again later or call "
        "the billing office."
    ),
    N_(
        "The page for saving a payment method closed before one was saved; nothing was saved. "
        "Please start again."
    ),
    N_(
        "Your bank account is not verified yet, so it cannot be used. Please start again and "
        "choose another payment method, or verify the account first."
    ),
    N_("That kind of payment method cannot be used here; please choose a card or bank account."),
    N_("The payment from your bank account is on its way; it takes a few business days."),
    N_(
        "Your bank asks you to confirm this payment yourself, so nothing was charged. "
        "Please pay it on the portal."
    ),
    N_("Your payment method was declined and cannot be charged again; please choose another."),
    N_("Your bank returned the payment."),
    N_("Your bank returned the payment: the account did not have enough money."),
    N_("Your bank returned the payment: the account is closed."),
    N_(
        "Your bank returned the payment: the account is closed. Please choose another "
        "payment method."
    ),
    # Whose visit a line is, for a patient who may not see another's (portal/domain/viewers.py).
    N_("Another patient on this account"),
    # What an insurer's remittance did after a statement (portal/domain/insurer_words.py).
    N_("Your insurer paid %(amount)s more after this statement"),
    N_("Your insurer took back %(amount)s it had paid after this statement"),
    N_("%(amount)s of this went to your deductible"),
    N_("%(amount)s of this is your coinsurance"),
    N_("%(amount)s of this is your copay"),
    N_("%(amount)s of this is yours to pay under your plan"),
    N_("Your insurer took back %(amount)s it had paid (statement %(statement)s)"),
    N_("Your insurer took back %(amount)s it had paid"),
    # The account's money events (portal/domain/timeline.py).
    N_("Statement %(statement)s: %(amount)s for you to pay after insurance"),
    N_("Statement %(statement)s: nothing for you to pay after insurance"),
    N_("Payment of %(amount)s received"),
    N_("Refund of %(amount)s, back to how you paid"),
    N_("Refund of %(amount)s: the whole payment, back to how you paid"),
    N_("Refund of %(amount)s: the rest of your %(total)s payment, back to how you paid"),
    N_("Refund of %(amount)s (part of your %(total)s payment), back to how you paid"),
    N_(
        "Payment of %(amount)s reversed: it was taken back by the card company or bank, so it "
        "no longer counts toward your balance"
    ),
    N_("Correction reversed: %(amount)s (statement %(statement)s)"),
    N_("Correction reversed: %(amount)s"),
    N_("%(amount)s written off (statement %(statement)s): you no longer owe it"),
    N_("%(amount)s written off: you no longer owe it"),
    N_("Adjustment lowered your balance by %(amount)s (statement %(statement)s)"),
    N_("Adjustment lowered your balance by %(amount)s"),
    N_("Adjustment raised your balance by %(amount)s (statement %(statement)s)"),
    N_("Adjustment raised your balance by %(amount)s"),
    N_("Insurance paid %(amount)s (statement %(statement)s)"),
    N_("Insurance paid %(amount)s"),
    N_("Your credit of %(amount)s went to statement %(statement)s"),
    N_("%(amount)s of credit taken back from statement %(statement)s"),
    N_("Charge of %(amount)s (statement %(statement)s)"),
    N_("Charge of %(amount)s"),
    # Patients' questions and requests for help (portal/domain/cases.py: the labels patients
    # see; portal/services/cases.py: what a patient's form may be refused for).
    N_("Insurance should have paid"),
    N_("I did not receive this service"),
    N_("I was charged twice"),
    N_("My bill is $400 or more above my good-faith estimate"),
    N_("I need an itemized bill"),
    N_("Other"),
    N_("Help paying (financial assistance)"),
    N_("Waiting for the billing office"),
    N_("Answered"),
    N_("The billing office needs more from you"),
    N_("Resolved"),
    N_("Corrected"),
    N_("Financial-assistance discount"),
    N_("No change"),
    N_("Referred to the insurer"),
    N_("Under $25,000 a year"),
    N_("$25,000 to $49,999"),
    N_("$50,000 to $74,999"),
    N_("$75,000 to $99,999"),
    N_("$100,000 or more"),
    N_("Write a message."),
    N_("Keep the message to %(most)s characters (it has %(count)s)."),
    N_("The message contains a control character; type it as plain text."),
    N_("Choose the reason for your question."),
    N_("Enter the number of people in your household."),
    N_("Enter a household size from 1 to %(most)s."),
    N_("Choose your household's yearly income."),
    N_("The form is out of date; reload the page."),
    N_("Choose a line of this statement."),
    N_("Only the account's guarantor can ask for help."),
    N_("This question is resolved; ask a new one if you need to."),
    N_("This case is resolved."),
    N_("The case kept changing while it was saved; try again."),
)

# Statuses as badges (the |badge filter): the English label is the status capitalized.
BADGES = {
    "due": N_("Due"),
    "past due": N_("Past due"),
    "paid": N_("Paid"),
    "pending": N_("Pending"),
    "processing": N_("Processing"),
    "succeeded": N_("Succeeded"),
    "failed": N_("Failed"),
    "canceled": N_("Canceled"),
    "refunded": N_("Refunded"),
    "disputed": N_("Disputed"),
    "reversed": N_("Reversed"),
    "current": N_("Current"),
    "past-due": N_("Past-due"),
    "defaulted": N_("Defaulted"),
    "paid-off": N_("Paid-off"),
    "will be tried again": N_("Will be tried again"),
    "needs you to pay it": N_("Needs you to pay it"),
    "missed": N_("Missed"),
    "skipped": N_("Skipped"),
    "next": N_("Next"),
    "upcoming": N_("Upcoming"),
}

# How a payment was made, as a sentence names it ("$20.00 by card").
METHODS = {
    "card": N_("card"),
    "us_bank_account": N_("bank account"),
    "check": N_("check"),
    "cash": N_("cash"),
    "card_desk": N_("card at the desk"),
}
# ... and as the receipt names it ("Method: Card").
METHOD_NAMES = {
    "card": N_("Card"),
    "us_bank_account": N_("Bank account"),
    "check": N_("Check"),
    "cash": N_("Cash"),
    "card_desk": N_("Card at the desk"),
}


def _pattern(message: str) -> tuple[str, re.Pattern[str]]:
    """The message's words before its first placeholder, and the whole as a pattern."""
    parts = re.split(r"%\((\w+)\)s", message)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
    )
    return parts[0], re.compile(regex)


@cache
def _patterns() -> tuple[tuple[str, re.Pattern[str], str], ...]:
    return tuple((*_pattern(message), message) for message in SENTENCES)


def _matching(text: str) -> tuple[str, dict[str, str]] | None:
    for start, pattern, message in _patterns():
        if text.startswith(start):
            match = pattern.fullmatch(text)
            if match:
                return message, match.groupdict()
    return None


def in_page_language(text: str | Markup | None) -> str:
    """A sentence from the services in the page's language; unknown ones as they are."""
    if not text:
        return ""
    if page_state().is_source:
        return str(text)  # the services write English
    found = _matching(str(text).strip())
    if found is None:
        return str(text)
    message, values = found
    return gettext(message, **values)


def later_in_page_language(text: str) -> LazyString:
    """`text` (a label from the domain) in the language of the page it is shown on: for a
    form's choices, made once and shown on every page."""
    return LazyString(in_page_language, text)


def badge_label(status: str) -> str:
    label = BADGES.get(status)
    return gettext(label) if label is not None else status.capitalize()


def method_words(method: str) -> str:
    words = METHODS.get(method)
    return gettext(words) if words is not None else method.replace("_", " ")


def method_name(method: str) -> str:
    name = METHOD_NAMES.get(method)
    return gettext(name) if name is not None else method.replace("_", " ").capitalize()


def saved_method_label(method) -> str:
    """A saved card or bank account as the plan's pages name it: "Visa ending in 4242"."""
    if method.kind == "us_bank_account":
        return gettext("Bank account ending in %(last4)s", last4=method.last4)
    return gettext("%(brand)s ending in %(last4)s", brand=method.brand.title(), last4=method.last4)
