"""Plain helpers for driving the staff console through the Flask test client (CSRF is on)."""

import html as html_lib
import re

import pyotp

from portal.domain.ledger import EntryKind, balances
from portal.domain.staff import AuditEntry, StaffUser
from portal.ports.ledger import AccountRecords
from portal.services.staff_auth import add_staff_user
from tests.integration.conftest import path_of, token_from

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different long passphrase"
DESK_ADDRESS = "10.1.2.3"
SIGN_IN_FAILED = "The username, password or code is not right."
LOCKED = "locked for 15 minutes"


# -- staff users and sign-in -------------------------------------------------------------


def make_staff(
    services, username: str = "alice", role: str = "associate", password: str = PASSWORD
) -> StaffUser:
    return add_staff_user(services, username, role, password).user


def code_for(services, username: str = "alice") -> str:
    """The code the user's authenticator app shows at the services' clock."""
    user = services.store.get_staff_user(username)
    assert user is not None, username
    return pyotp.TOTP(user.totp_secret).at(services.clock.now())


def wrong_code(services, username: str = "alice") -> str:
    """A 6-digit code that matches none of the steps the portal accepts now."""
    user = services.store.get_staff_user(username)
    totp = pyotp.TOTP(user.totp_secret)
    step = totp.timecode(services.clock.now())
    accepted = {totp.generate_otp(s) for s in (step - 1, step, step + 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted)


def submit_password(client, username: str = "alice", password: str = PASSWORD):
    token = token_from(client, "/staff/login")
    data = {"username": username, "password": password, "csrf_token": token}
    return client.post("/staff/login", data=data)


def submit_code(client, code: str, token: str | None = None):
    token = token or token_from(client, "/staff/login/code")
    return client.post("/staff/login/code", data={"code": code, "csrf_token": token})


def password_step(client, username: str = "alice", password: str = PASSWORD) -> None:
    response = submit_password(client, username, password)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert path_of(response.headers["Location"]) == "/staff/login/code"


def staff_sign_in(client, services, username: str = "alice", password: str = PASSWORD) -> None:
    """Sign in through the real pages: password, then the current TOTP code."""
    password_step(client, username, password)
    response = submit_code(client, code_for(services, username))
    assert response.status_code == 303, response.get_data(as_text=True)
    assert path_of(response.headers["Location"]) == "/staff/"


def sign_out(client):
    token = token_from(client, "/staff/")
    return client.post("/staff/logout", data={"csrf_token": token})


def redirects_to(response, path: str) -> bool:
    return response.status_code in (301, 302, 303) and (
        path_of(response.headers["Location"]) == path
    )


def is_signed_in(client) -> bool:
    """True when the staff dashboard opens (a request: it counts as activity)."""
    response = client.get("/staff/")
    if response.status_code == 200:
        return True
    assert redirects_to(response, "/staff/login"), response.status_code
    return False


def post_form(client, path: str, data: dict, token_page: str = "/staff/"):
    token = token_from(client, token_page)
    return client.post(path, data={**data, "csrf_token": token})


# -- reading pages -------------------------------------------------------------------------


def text(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def flashes(html: str) -> list[str]:
    return [
        text(m) for m in re.findall(r'<p class="notice notice-\w+" role="status">(.*?)</p>', html)
    ]


def sign_in_error(html: str) -> str:
    match = re.search(
        r'<div class="error-summary" role="alert" id="lookup-error"><p>(.*?)</p>', html
    )
    assert match, "no sign-in error on the page"
    return text(match.group(1))


def field_error(html: str, field_id: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', html, re.DOTALL)
    assert match, f"no error for {field_id} on the page"
    return text(match.group(1))


def request_key_of(html: str) -> str:
    tag = re.search(r'<input[^>]*name="request_key"[^>]*>', html)
    assert tag, "no request_key in the page"
    value = re.search(r'value="([^"]*)"', tag.group(0))
    assert value, "the request_key has no value"
    return value.group(1)


def by_testid(html: str, name: str) -> str | None:
    match = re.search(rf'data-testid="{name}">([^<]+)<', html)
    return match.group(1) if match else None


def cents(money: str) -> int:
    """ "$1,234.56" -> 123456, "-$4.50" -> -450."""
    match = re.fullmatch(r"(-?)\$([\d,]+)\.(\d\d)", money.strip())
    assert match, money
    value = int(match.group(2).replace(",", "")) * 100 + int(match.group(3))
    return -value if match.group(1) else value


def ledger_amounts(html: str) -> list[int]:
    """The amounts of the account page's ledger table, row by row."""
    start = html.index('id="ledger-heading"')
    body = html[start : html.index("</tbody>", start)]
    return [cents(a) for a in re.findall(r'<td class="num">([^<]+)</td>\s*</tr>', body)]


# -- the store -----------------------------------------------------------------------------


def records(services, account_number: str = "100234") -> AccountRecords:
    found = services.store.account_records(account_number)
    assert found is not None
    return found


def statement_balances(services, account_number: str = "100234") -> dict[str, int]:
    return balances(records(services, account_number).entries).by_statement


def postings(services, payment_id: str) -> list[tuple[str | None, int]]:
    return [
        (e.statement_id, -e.amount_cents)
        for e in records(services).entries
        if e.payment_id == payment_id and e.kind is EntryKind.PATIENT_PAYMENT
    ]


def last_audit_id(services) -> int:
    entries = services.store.audit_entries(limit=1)
    return entries[0].entry_id if entries else 0


def audit_since(services, entry_id: int) -> list[AuditEntry]:
    """Entries written after `entry_id`, oldest first."""
    return [e for e in reversed(services.store.audit_entries(limit=1000)) if e.entry_id > entry_id]
