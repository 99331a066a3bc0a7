"""Pay links: a signed link to Quick Pay for one account, that stops working after
PORTAL_PAY_LINK_DAYS.

The link names the account number and the last day it works, signed with the portal's
secret key (itsdangerous); nothing else: no name, no amount, nothing about health. Opening
it fills in the account number only: the patient still types the last name and date of
birth, and the look-up lockout counts those attempts as any other Quick Pay's.
"""

from datetime import date, timedelta

from itsdangerous import BadData, URLSafeSerializer

from portal.domain.aging import practice_date
from portal.services.context import Services

SALT = "pay-link"
LINK_PATH = "/pay/"
_EPOCH = date(2000, 1, 1)  # days are written as a count from this one (a short link)


def _serializer(services: Services) -> URLSafeSerializer:
    return URLSafeSerializer(services.settings.secret_key, salt=SALT)


def pay_link_last_day(services: Services) -> date:
    """The last practice day a pay link made now works."""
    today = practice_date(services.clock.now(), services.settings.tz)
    return today + timedelta(days=services.settings.pay_link_days)


def pay_link_token(services: Services, account_number: str) -> str:
    """The signed token for the account's pay link, working through the practice's day
    PORTAL_PAY_LINK_DAYS from today."""
    last_day = pay_link_last_day(services)
    return str(_serializer(services).dumps([account_number, (last_day - _EPOCH).days]))


def pay_link(services: Services, account_number: str) -> str:
    """The whole address of the account's pay link."""
    return services.settings.base_url + LINK_PATH + pay_link_token(services, account_number)


def linked_account(services: Services, token: str) -> str | None:
    """The account number a pay link is for; None when the link is not one the portal
    signed, was changed, or has expired (one answer for all: the page says none of which)."""
    try:
        value = _serializer(services).loads(token)
    except BadData:
        return None
    if not (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    ):
        return None
    number, last_day = value
    today = practice_date(services.clock.now(), services.settings.tz)
    if (today - _EPOCH).days > last_day:
        return None
    return number
