"""Abuse: scripted brute force against Quick Pay and staff sign-in (1,000 attempts from one
address and from 50), no hint whether an account or username exists (status, body, timing),
oversize bodies, deep JSON, text that is not UTF-8, and e-mail header injection.

The clock is fixed (tests/conftest.py) and moved by hand to let locks expire. Staff password
hashes are made cheap in the brute-force tests (what is counted there is how many guesses
reach the check, not how long one takes); the timing tests use the real scrypt hashes.
"""

import copy
import csv
import html as html_lib
import io
import json
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path
from statistics import median

import pytest
from flask import has_request_context, request

from portal.adapters import werkzeug_passwords
from portal.adapters.outbox_mailer import OutboxMailer
from portal.adapters.ses_mailer import SesMailer
from portal.adapters.smtp_mailer import SmtpMailer
from portal.config import Settings
from portal.ports.mail import KIND_HEADER, OutgoingMessage, PermanentMailError
from portal.services import lookup as lookup_service
from portal.services import staff_auth
from portal.services.api_keys import create_api_key
from portal.services.imports import (
    CSV_COLUMNS,
    EMAIL_LINE_BREAK,
    EMAIL_SHAPE,
    import_records,
    iter_csv,
)
from portal.services.notices import Delivery, deliver
from portal.web.patient import UNREADABLE
from tests.aws import free_port
from tests.integration.conftest import GUARANTOR, path_of, sign_in, token_from
from tests.integration.staff_helpers import (
    LOCKED,
    PASSWORD,
    SIGN_IN_FAILED,
    code_for,
    make_staff,
    password_step,
    sign_in_error,
    staff_sign_in,
    submit_code,
)
from tests.integration.test_api import STATEMENT

ATTEMPTS = 1_000
CODE_GUESSES = 200
ADDRESSES = [f"198.51.100.{i}" for i in range(1, 51)]
ATTACKER = "203.0.113.66"
BYSTANDER = "192.0.2.200"
WRONG_DOB = "1984-03-13"
WRONG_PASSWORD = "not the password at all"
MAX_QUICK_PAY = lookup_service.MAX_FAILURES
MAX_USER = staff_auth.MAX_ATTEMPTS
MAX_ADDRESS = staff_auth.MAX_ADDRESS_ATTEMPTS
PAUSED = "paused for 15 minutes"


@pytest.fixture
def settings(tmp_path):
    """As in tests/conftest.py, but the SQLite file in memory-backed /dev/shm when there is
    one: the scripts below make thousands of small writes (a lock check, a count, an audit
    entry per attempt), and a disk's flushes would make them slow without testing more."""
    folder = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=folder if folder.is_dir() else tmp_path) as db:
        yield Settings.from_env(
            {
                "PORTAL_SQLITE_PATH": str(Path(db) / "portal.sqlite3"),
                "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
                "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
                "PORTAL_BASE_URL": "http://portal.test",
            }
        )


class Browser:
    """One client at one address, with its CSRF token fetched once (it lasts the session)."""

    def __init__(self, app, address: str, form_page: str):
        self.client = app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = address
        self.token = token_from(self.client, form_page)

    def post(self, path: str, data: dict, **kwargs):
        return self.client.post(path, data={**data, "csrf_token": self.token}, **kwargs)


def quick_pay(browser: Browser, **fields: str):
    return browser.post("/pay", {**GUARANTOR, **fields})


def staff_password(browser: Browser, username: str, password: str = WRONG_PASSWORD):
    return browser.post("/staff/login", {"username": username, "password": password})


def comparable(response, *submitted: str) -> tuple[int, str, str]:
    """Status, content type and page, without what differs on every request (the CSRF
    token, a CSP nonce) and with what was typed in (echoed in the form) blanked out."""
    page = response.get_data(as_text=True)
    page = re.sub(r'(name="csrf_token"[^>]*?value=")[^"]*"', r'\1"', page)
    page = re.sub(r'nonce="[^"]*"', 'nonce=""', page)
    for value in submitted:
        page = page.replace(html_lib.escape(value), "[typed]")
    return response.status_code, response.mimetype, page


# -- counting the guesses that reach a check ------------------------------------------------


@pytest.fixture
def lookups_checked(services, monkeypatch) -> list[tuple[str, str]]:
    """(client address, account number) of every Quick Pay guess that reached the account."""
    seen: list[tuple[str, str]] = []
    real = services.store.get_account

    def spy(number):
        if has_request_context() and request.endpoint == "patient.lookup":
            seen.append((request.remote_addr, number))
        return real(number)

    monkeypatch.setattr(services.store, "get_account", spy)
    return seen


@pytest.fixture
def cheap_hashes(monkeypatch) -> None:
    monkeypatch.setattr(werkzeug_passwords, "METHOD", "pbkdf2:sha256:1")


@pytest.fixture
def passwords_checked(services, monkeypatch) -> list[tuple[str, str]]:
    """(client address, username) of every staff password that was checked against a hash."""
    seen: list[tuple[str, str]] = []
    real = services.passwords.matches

    def spy(stored_hash: str, password: str) -> bool:
        seen.append((request.remote_addr, request.form["username"].strip().lower()))
        return real(stored_hash, password)

    monkeypatch.setattr(services.passwords, "matches", spy)
    return seen


@pytest.fixture
def alice(services, cheap_hashes):
    return make_staff(services, "alice")


# -- Quick Pay under brute force -------------------------------------------------------------


def test_quick_pay_1000_attempts_from_one_address(app, lopez, clock, lookups_checked):
    attacker = Browser(app, ATTACKER, "/pay")
    statuses = []
    for i in range(ATTEMPTS):
        number = "100234" if i == 0 else f"{300000 + i}"  # the real account once, then a spray
        statuses.append(quick_pay(attacker, account_number=number, date_of_birth=WRONG_DOB))

    codes = [r.status_code for r in statuses]
    assert codes == [401] * MAX_QUICK_PAY + [429] * (ATTEMPTS - MAX_QUICK_PAY)
    assert PAUSED in statuses[-1].get_data(as_text=True)
    assert len(lookups_checked) == MAX_QUICK_PAY

    # Locked: even the right details are refused from that address (and not checked) ...
    refused = quick_pay(Browser(app, ATTACKER, "/pay"))
    assert refused.status_code == 429
    assert len(lookups_checked) == MAX_QUICK_PAY
    # ... while the account itself (one failure) opens from elsewhere.
    sign_in(app.test_client(), address=BYSTANDER)

    clock.advance(minutes=16)
    sign_in(app.test_client(), address=ATTACKER)


def test_quick_pay_1000_attempts_from_50_addresses(app, lopez, clock, lookups_checked):
    """Half the addresses hammer the real account, the other half spray account numbers."""
    browsers = [Browser(app, address, "/pay") for address in ADDRESSES]
    responses = []
    for i in range(ATTEMPTS):
        number = "100234" if i % 2 == 0 else f"{300000 + i}"
        browser = browsers[i % len(browsers)]
        responses.append(quick_pay(browser, account_number=number, date_of_birth=WRONG_DOB))

    # The account locks after MAX_QUICK_PAY tries, whichever addresses they came from; each
    # spraying address locks after its own MAX_QUICK_PAY (its first five attempts).
    hammering, spraying = ADDRESSES[0::2], ADDRESSES[1::2]
    sprayed = len(ADDRESSES) * MAX_QUICK_PAY  # each spraying address: its first five
    expected = [
        401 if (i % 2 == 0 and i < 2 * MAX_QUICK_PAY) or (i % 2 and i < sprayed) else 429
        for i in range(ATTEMPTS)
    ]
    assert [r.status_code for r in responses] == expected
    assert PAUSED in responses[-1].get_data(as_text=True)
    per_account = Counter(number for _, number in lookups_checked)
    assert per_account["100234"] == MAX_QUICK_PAY
    assert max(n for number, n in per_account.items() if number != "100234") == 1
    per_address = Counter(address for address, _ in lookups_checked)
    assert {per_address[a] for a in spraying} == {MAX_QUICK_PAY}
    assert sum(per_address[a] for a in hammering) == MAX_QUICK_PAY
    assert len(lookups_checked) == MAX_QUICK_PAY * (1 + len(spraying))

    # Locked: the right details are refused (and not checked), from a fresh address too ...
    checked = len(lookups_checked)
    assert quick_pay(Browser(app, BYSTANDER, "/pay")).status_code == 429
    clock.advance(minutes=14)
    assert quick_pay(Browser(app, spraying[3], "/pay")).status_code == 429
    assert len(lookups_checked) == checked
    # ... until the locks expire.
    clock.advance(minutes=2)
    sign_in(app.test_client(), address=spraying[3])


def test_quick_pay_does_not_trust_x_forwarded_for(app, lopez, lookups_checked):
    """The client address is REMOTE_ADDR (on Lambda, Zappa sets it from API Gateway's
    sourceIp); a header the client writes itself must not choose it."""
    attacker = Browser(app, ATTACKER, "/pay")
    codes = [
        attacker.post(
            "/pay",
            {**GUARANTOR, "account_number": f"{300000 + i}", "date_of_birth": WRONG_DOB},
            headers={"X-Forwarded-For": f"10.9.{i}.1", "X-Real-IP": f"10.8.{i}.1"},
        ).status_code
        for i in range(20)
    ]
    assert codes == [401] * MAX_QUICK_PAY + [429] * (20 - MAX_QUICK_PAY)
    assert {address for address, _ in lookups_checked} == {ATTACKER}

    # Naming a clean address does not lift the lock; naming the locked one locks no one else.
    assert (
        Browser(app, ATTACKER, "/pay")
        .post("/pay", dict(GUARANTOR), headers={"X-Forwarded-For": BYSTANDER})
        .status_code
        == 429
    )
    bystander = app.test_client()
    token = token_from(bystander, "/pay", BYSTANDER)
    opened = bystander.post(
        "/pay",
        data={**GUARANTOR, "csrf_token": token},
        environ_base={"REMOTE_ADDR": BYSTANDER},
        headers={"X-Forwarded-For": ATTACKER},
    )
    assert opened.status_code == 303
    assert path_of(opened.headers["Location"]) == "/account"


# -- staff sign-in under brute force -----------------------------------------------------------


def test_staff_1000_usernames_from_one_address(app, services, alice, passwords_checked):
    attacker = Browser(app, ATTACKER, "/staff/login")
    responses = [
        staff_password(attacker, "alice" if i == 0 else f"user{i}") for i in range(ATTEMPTS)
    ]

    codes = [r.status_code for r in responses]
    assert codes == [401] * MAX_ADDRESS + [429] * (ATTEMPTS - MAX_ADDRESS)
    assert LOCKED in sign_in_error(responses[-1].get_data(as_text=True))
    assert len(passwords_checked) == MAX_ADDRESS
    assert {address for address, _ in passwords_checked} == {ATTACKER}

    # The address is locked, for the right password too (refused before it is checked) ...
    refused = staff_password(Browser(app, ATTACKER, "/staff/login"), "alice", PASSWORD)
    assert refused.status_code == 429
    assert len(passwords_checked) == MAX_ADDRESS
    # ... alice (one failure) signs in from her desk ...
    staff_sign_in(app.test_client(), services)
    # ... and from the locked address once the lock expires.
    services.clock.advance(minutes=16)
    again = app.test_client()
    again.environ_base["REMOTE_ADDR"] = ATTACKER
    staff_sign_in(again, services)


def test_staff_1000_attempts_from_50_addresses(app, services, alice, passwords_checked):
    """Half the addresses hammer alice, the other half spray usernames."""
    browsers = [Browser(app, address, "/staff/login") for address in ADDRESSES]
    codes = []
    for i in range(ATTEMPTS):
        username = "alice" if i % 2 == 0 else f"user{i}"
        codes.append(staff_password(browsers[i % len(browsers)], username).status_code)

    hammering, spraying = ADDRESSES[0::2], ADDRESSES[1::2]
    sprayed = len(ADDRESSES) * MAX_ADDRESS  # each spraying address: its first MAX_ADDRESS
    expected = [
        401 if (i % 2 == 0 and i < 2 * MAX_USER) or (i % 2 and i < sprayed) else 429
        for i in range(ATTEMPTS)
    ]
    assert codes == expected
    per_user = Counter(username for _, username in passwords_checked)
    assert per_user["alice"] == MAX_USER
    assert max(n for username, n in per_user.items() if username != "alice") == 1
    per_address = Counter(address for address, _ in passwords_checked)
    assert {per_address[a] for a in spraying} == {MAX_ADDRESS}
    assert sum(per_address[a] for a in hammering) == MAX_USER
    assert len(passwords_checked) == MAX_USER + MAX_ADDRESS * len(spraying)

    checked = len(passwords_checked)
    fresh = Browser(app, BYSTANDER, "/staff/login")
    assert staff_password(fresh, "alice", PASSWORD).status_code == 429
    services.clock.advance(minutes=14)
    assert staff_password(fresh, "alice", PASSWORD).status_code == 429
    assert staff_password(browsers[1], "alice", PASSWORD).status_code == 429
    assert len(passwords_checked) == checked

    services.clock.advance(minutes=2)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = spraying[0]
    staff_sign_in(client, services)


def test_staff_code_guesses_after_a_stolen_password(app, services, alice, monkeypatch):
    """The password is known: the TOTP code step still allows only MAX_USER guesses."""
    checked = []
    real = staff_auth._matching_step
    monkeypatch.setattr(
        staff_auth, "_matching_step", lambda *args: checked.append(1) or real(*args)
    )
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ATTACKER
    password_step(client)
    token = token_from(client, "/staff/login/code")
    accepted = set(_accepted_codes(services))
    guesses = [c for c in (f"{i:06d}" for i in range(CODE_GUESSES + 3)) if c not in accepted]
    guesses = guesses[:CODE_GUESSES]
    codes = [submit_code(client, guess, token=token).status_code for guess in guesses]

    assert codes == [401] * MAX_USER + [429] * (CODE_GUESSES - MAX_USER)
    assert len(checked) == MAX_USER
    assert submit_code(client, code_for(services), token=token).status_code == 429
    assert len(checked) == MAX_USER


def _accepted_codes(services) -> list[str]:
    """The codes the portal takes now: this step's and one either side."""
    totp = staff_auth._totp(services.store.get_staff_user("alice"))
    step = totp.timecode(services.clock.now())
    return [totp.generate_otp(s) for s in (step - 1, step, step + 1)]


def test_staff_sign_in_does_not_trust_x_forwarded_for(app, services, alice, passwords_checked):
    attacker = Browser(app, ATTACKER, "/staff/login")
    codes = [
        attacker.post(
            "/staff/login",
            {"username": f"user{i}", "password": WRONG_PASSWORD},
            headers={"X-Forwarded-For": f"10.9.{i}.1"},
        ).status_code
        for i in range(30)
    ]
    assert codes == [401] * MAX_ADDRESS + [429] * (30 - MAX_ADDRESS)
    assert {address for address, _ in passwords_checked} == {ATTACKER}
    audited = {
        e.address for e in services.store.audit_entries(limit=1000) if e.actor.startswith("user")
    }
    assert audited == {ATTACKER}

    bystander = Browser(app, BYSTANDER, "/staff/login")
    response = bystander.post(
        "/staff/login",
        {"username": "alice", "password": PASSWORD},
        headers={"X-Forwarded-For": ATTACKER},
    )
    assert response.status_code == 303


# -- no hint whether an account or a username exists ----------------------------------------


def test_quick_pay_answers_alike_for_a_real_and_an_unknown_account(app, lopez):
    browser = Browser(app, ATTACKER, "/pay")
    real = quick_pay(browser, last_name="Smith")
    unknown = quick_pay(browser, account_number="999999", last_name="Smith")

    assert real.status_code == 401
    assert comparable(real, "100234") == comparable(unknown, "999999")


def test_quick_pay_locks_a_real_and_an_unknown_account_alike(app, lopez):
    answers = {}
    for number in ("100234", "999999"):
        for i in range(MAX_QUICK_PAY):
            browser = Browser(app, f"10.{number[0]}.0.{i}", "/pay")
            assert quick_pay(browser, account_number=number, last_name="Smith").status_code == 401
        answers[number] = quick_pay(
            Browser(app, BYSTANDER, "/pay"), account_number=number, last_name="Smith"
        )

    assert answers["100234"].status_code == 429
    assert comparable(answers["100234"], "100234") == comparable(answers["999999"], "999999")


def test_staff_sign_in_answers_alike_for_a_real_and_an_unknown_user(app, alice):
    browser = Browser(app, ATTACKER, "/staff/login")
    real = staff_password(browser, "alice")
    unknown = staff_password(browser, "mallory")

    assert real.status_code == 401
    assert sign_in_error(real.get_data(as_text=True)) == SIGN_IN_FAILED
    assert comparable(real, "alice") == comparable(unknown, "mallory")


def test_staff_sign_in_locks_a_real_and_an_unknown_user_alike(app, alice):
    answers = {}
    for username in ("alice", "mallory"):
        for i in range(MAX_USER):
            browser = Browser(app, f"10.{len(username)}.0.{i}", "/staff/login")
            assert staff_password(browser, username).status_code == 401
        answers[username] = staff_password(Browser(app, BYSTANDER, "/staff/login"), username)

    assert answers["alice"].status_code == 429
    assert comparable(answers["alice"], "alice") == comparable(answers["mallory"], "mallory")


@pytest.mark.real_password_hashing
def test_an_unknown_username_is_checked_against_a_real_hash(services, monkeypatch):
    make_staff(services, "alice")
    checked: list[str] = []
    real = services.passwords.matches
    monkeypatch.setattr(services.passwords, "matches", lambda h, p: checked.append(h) or real(h, p))

    with pytest.raises(staff_auth.SignInFailed):
        staff_auth.check_password_step(services, "mallory", PASSWORD, ATTACKER)

    assert checked == [staff_auth._dummy_hash(services.passwords)]
    method = services.passwords.hash("x").split("$", 1)[0]
    assert checked[0].split("$", 1)[0] == method  # as costly as a real user's hash


# -- timing ----------------------------------------------------------------------------------


def interleaved_medians(
    first: Callable[[], float], second: Callable[[], float], rounds: int
) -> tuple[float, float]:
    """Medians of `rounds` timings each, taken in turns (ABBA...) so that a slow spell on a
    shared machine falls on both."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(rounds):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for which in order:
            times[which].append((first, second)[which]())
    return median(times[0]), median(times[1])


def timed(call: Callable[[], object], status: int) -> float:
    start = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - start
    assert response.status_code == status
    return elapsed


def staff_timings(app, services, rounds: int) -> tuple[float, float]:
    """Median seconds of a wrong password for alice and for an unknown user (locks cleared
    by moving the clock on between rounds)."""
    browser = Browser(app, ATTACKER, "/staff/login")

    def attempt(username: str) -> float:
        services.clock.advance(minutes=8)
        return timed(lambda: staff_password(browser, username), 401)

    attempt("alice")  # warm up: templates, the cached dummy hash
    attempt("mallory")
    return interleaved_medians(lambda: attempt("alice"), lambda: attempt("mallory"), rounds)


LOW, HIGH = 0.5, 2.0


@pytest.mark.real_password_hashing
def test_a_wrong_password_takes_as_long_for_an_unknown_user(app, services, capsys):
    make_staff(services, "alice")  # the real (slow) hash
    known, unknown = staff_timings(app, services, rounds=11)
    ratio = known / unknown
    with capsys.disabled():
        print(f"\nstaff sign-in: known {known * 1000:.1f} ms, unknown {unknown * 1000:.1f} ms")
    assert LOW <= ratio <= HIGH, (known, unknown)


@pytest.mark.real_password_hashing
def test_the_timing_check_would_see_a_skipped_hash(app, services, monkeypatch, capsys):
    """The control for the test above: with the dummy hash made free (an unknown user not
    hashed at all), the same measurement falls outside the bound."""
    make_staff(services, "alice")
    monkeypatch.setattr(staff_auth, "_dummy_hash", lambda passwords: "no-hash")
    known, unknown = staff_timings(app, services, rounds=5)
    with capsys.disabled():
        print(f"\nno dummy hash: known {known * 1000:.1f} ms, unknown {unknown * 1000:.1f} ms")
    assert known / unknown > HIGH, (known, unknown)


def test_quick_pay_takes_as_long_for_a_real_and_an_unknown_account(app, lopez, clock, capsys):
    browser = Browser(app, ATTACKER, "/pay")

    def attempt(number: str) -> float:
        clock.advance(minutes=8)
        return timed(lambda: quick_pay(browser, account_number=number, last_name="Smith"), 401)

    attempt("100234")  # warm up
    attempt("999999")
    real, unknown = interleaved_medians(lambda: attempt("100234"), lambda: attempt("999999"), 41)
    with capsys.disabled():
        print(f"\nquick pay: real {real * 1000:.2f} ms, unknown {unknown * 1000:.2f} ms")
    assert LOW <= real / unknown <= HIGH, (real, unknown)


# -- oversize bodies -------------------------------------------------------------------------

TOO_BIG = 5 * 1024 * 1024 + 1


def assert_too_large(response) -> None:
    """413 with the portal's own page (not werkzeug's bare default), with its headers."""
    assert response.status_code == 413
    assert "the limit is 5 MB" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_an_oversize_quick_pay_post_gets_413(app, lopez, lookups_checked):
    browser = Browser(app, ATTACKER, "/pay")
    response = browser.post("/pay", {"last_name": "x" * TOO_BIG})

    assert_too_large(response)
    assert lookups_checked == []


def test_an_oversize_staff_sign_in_gets_413(app, alice, passwords_checked):
    browser = Browser(app, ATTACKER, "/staff/login")
    assert_too_large(staff_password(browser, "alice", "x" * TOO_BIG))
    big_field = browser.post(
        "/staff/login",
        {"username": "alice", "password": "x" * 600_000},
        content_type="multipart/form-data",
    )
    assert_too_large(big_field)  # a form field over Flask's MAX_FORM_MEMORY_SIZE
    assert passwords_checked == []


def test_an_oversize_import_upload_gets_413(app, services):
    make_staff(services, "sue", "supervisor")
    client = app.test_client()
    staff_sign_in(client, services, "sue")
    token = token_from(client, "/staff/import")
    audited = len(services.store.audit_entries(limit=1000))
    response = client.post(
        "/staff/import",
        data={"csrf_token": token, "file": (io.BytesIO(b"x" * TOO_BIG), "statements.csv")},
        content_type="multipart/form-data",
    )

    assert_too_large(response)
    assert len(services.store.audit_entries(limit=1000)) == audited  # no import was run


@pytest.fixture
def api_key(services) -> str:
    return create_api_key(services, "ehr", actor="test").key


def post_api(client, key: str, body: bytes):
    return client.post(
        "/api/v1/statements",
        data=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )


def test_an_oversize_api_import_gets_413_as_json(client, services, api_key):
    response = post_api(client, api_key, b" " * TOO_BIG)

    assert response.status_code == 413
    assert response.is_json
    assert "5 MB" in response.get_json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"statements": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"statements": [{"guarantor": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001 + b"]}",
    ],
    ids=["arrays", "arrays in statements", "objects in a statement"],
)
def test_deeply_nested_json_is_refused_with_400(client, services, api_key, body):
    response = post_api(client, api_key, body)

    assert response.status_code == 400
    assert response.is_json
    assert "nested" in response.get_json()["error"]


# -- text that is not UTF-8 ------------------------------------------------------------------


def api_statement(**guarantor: str) -> dict:
    record = copy.deepcopy(STATEMENT)
    record["guarantor"].update(guarantor)
    return record


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"statements": [api_statement()]}).encode().replace(b"Rosa", b"R\xffsa"),
        json.dumps({"statements": [api_statement()]}).encode().replace(b"Rosa", b"R\xc3sa"),
        json.dumps({"statements": [api_statement(first_name="R\ud800sa")]}).encode(),
    ],
    ids=["byte ff", "cut sequence", "lone surrogate escape"],
)
def test_json_that_is_not_utf8_is_refused_with_400_and_changes_nothing(
    client, services, api_key, body
):
    response = post_api(client, api_key, body)

    assert response.status_code == 400
    assert response.is_json
    assert "UTF" in response.get_json()["error"] or "text" in response.get_json()["error"]
    assert services.store.get_account("100900") is None


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"last_name=L%FFpez", "application/x-www-form-urlencoded"),
        (b"last_name=L%C3pez", "application/x-www-form-urlencoded"),
        (b"account_number=100%ED%A0%80234", "application/x-www-form-urlencoded"),
        (None, "multipart/form-data"),
    ],
    ids=["percent ff", "cut sequence", "encoded surrogate", "multipart byte ff"],
)
def test_quick_pay_refuses_a_form_that_is_not_utf8(app, lopez, lookups_checked, raw, content_type):
    browser = Browser(app, ATTACKER, "/pay")
    fields = {**GUARANTOR, "csrf_token": browser.token}
    if raw is None:
        boundary = "b0undary"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + (value.encode() if name != "last_name" else b"L\xffpez")
            + b"\r\n"
            for name, value in fields.items()
        ]
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        content_type = f"multipart/form-data; boundary={boundary}"
    else:
        name = raw.split(b"=")[0].decode()
        others = "&".join(f"{k}={v}" for k, v in fields.items() if k != name)
        body = raw + b"&" + others.encode()
    response = browser.client.post("/pay", data=body, content_type=content_type)

    assert response.status_code == 400
    expected = UNREADABLE if raw is None else "What was sent is not UTF-8 text."
    assert html_lib.escape(expected, quote=False) in response.get_data(as_text=True)
    assert lookups_checked == []
    # Nothing was counted: five wrong answers are still allowed before the lock.
    for _ in range(MAX_QUICK_PAY - 1):
        assert quick_pay(browser, last_name="Smith").status_code == 401
    sign_in(browser.client)


def test_a_staff_sign_in_that_is_not_utf8_signs_no_one_in(app, services, alice):
    browser = Browser(app, ATTACKER, "/staff/login")
    body = f"username=al%FFice&password=x&csrf_token={browser.token}".encode()
    response = browser.client.post(
        "/staff/login", data=body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 400
    assert "not UTF-8 text" in response.get_data(as_text=True)
    with browser.client.session_transaction() as session:
        assert "staff_pending" not in session and "staff_user" not in session


# -- e-mail header injection -------------------------------------------------------------------

INJECTED = [
    "maria@example.com\r\nBcc: x@y.com",
    "maria@example.com\nBcc: x@y.com",
    "maria@example.com\rBcc: x@y.com",
    "maria@example.com\u2028Bcc: x@y.com",
    "maria@example.com\x00",
]
NOT_ONE_ADDRESS = [
    "maria@example.com, x@y.com",
    "maria@example.com Bcc: x@y.com",
    "Maria <maria@example.com>",
    "maria@example.com;x@y.com",
    "bcc:x@y.com",
]


@pytest.mark.parametrize(
    ("email", "message"),
    [(e, EMAIL_LINE_BREAK) for e in INJECTED] + [(e, EMAIL_SHAPE) for e in NOT_ONE_ADDRESS],
)
def test_an_imported_email_with_header_text_is_rejected_naming_the_field(
    services, outbox, email, message
):
    summary = import_records(services, [api_statement(email=email)], "tester")

    assert (summary.imported, summary.unchanged) == (0, 0)
    assert [(r.statement_id, r.errors) for r in summary.rejected] == [
        ("S-2026-000900", [("guarantor.email", message)])
    ]
    assert services.store.get_account("100900") is None
    assert not (outbox.exists() and list(outbox.glob("*.eml")))


def test_a_csv_email_with_header_text_is_rejected(services):
    record = api_statement()
    g, line, patient = record["guarantor"], record["lines"][0], record["patients"][0]
    row = {
        **{k: record[k] for k in ("statement_id", "account_number", "statement_date", "due_date")},
        **{f"guarantor_{k}": v for k, v in g.items()},
        **{f"patient_{k}": v for k, v in patient.items() if k != "patient_id"},
        **{k: line[k] for k in ("line_id", "service_date", "provider", "code_system", "code")},
        "patient_id": patient["patient_id"],
        "description": line["description"],
        "diagnosis_codes": "J06.9",
        "charge": "185.00",
        "insurance_paid": "120.00",
        "adjustment": "35.00",
        "patient_responsibility": "30.00",
        "guarantor_email": "rosa@example.com\r\nBcc: x@y.com",  # a quoted cell may hold one
    }
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerow(row)
    data = text.getvalue().encode()
    assert b'"rosa@example.com\r\nBcc: x@y.com"' in data

    summary = import_records(services, iter_csv(io.BytesIO(data)), "tester")

    assert [(r.statement_id, r.errors) for r in summary.rejected] == [
        ("S-2026-000900", [("guarantor.email", EMAIL_LINE_BREAK)])
    ]
    assert services.store.get_account("100900") is None


def test_the_api_rejects_an_email_with_header_text(client, services, api_key):
    body = json.dumps({"statements": [api_statement(email=INJECTED[0])]}).encode()
    response = post_api(client, api_key, body)

    assert response.status_code == 200
    assert response.get_json()["rejected"] == [
        {
            "statement_id": "S-2026-000900",
            "errors": [{"field": "guarantor.email", "message": EMAIL_LINE_BREAK}],
        }
    ]
    assert services.store.get_account("100900") is None


@pytest.mark.parametrize("email_policy", [policy.default, policy.SMTP], ids=["default", "SMTP"])
def test_pythons_email_package_refuses_line_breaks_in_values_but_not_in_names(email_policy):
    """What the mail layer's own check adds to: the email package raises ValueError for a
    CR or LF in a header value, but takes a header *name* with one."""
    message = EmailMessage(policy=email_policy)
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        message["To"] = INJECTED[0]
    message["X-A\r\nBcc"] = "x@y.com"
    assert b"\nBcc: x@y.com" in message.as_bytes()


def message_with(**fields) -> OutgoingMessage:
    values = dict(kind="receipt", to="maria@example.com", subject="Receipt", text="t", html="h")
    values.update(fields)
    return OutgoingMessage(**values)


BAD_MESSAGES = {
    **{f"to {i}": message_with(to=e) for i, e in enumerate(INJECTED)},
    "subject": message_with(subject="Receipt\r\nBcc: x@y.com"),
    "kind": message_with(kind="receipt\nBcc: x@y.com"),
    "header value": message_with(headers={"List-Unsubscribe": "<mailto:a@b.c>\r\nBcc: x@y.com"}),
    "header name": message_with(headers={"X-A\r\nBcc": "x@y.com"}),
    "header name with a colon": message_with(headers={"Bcc: x@y.com\r\nX-A": "1"}),
}


@pytest.mark.parametrize("message", BAD_MESSAGES.values(), ids=BAD_MESSAGES.keys())
def test_every_mailer_refuses_a_header_with_a_line_break(tmp_path, message):
    outbox = OutboxMailer(tmp_path / "outbox", "billing@example.com")
    with pytest.raises(PermanentMailError, match="header"):
        outbox.send(message)
    assert not list((tmp_path / "outbox").glob("*.eml"))

    def no_sleep(seconds: float) -> None:
        raise AssertionError("a refused message is not tried again")

    # Nothing listens on the port: an attempt to connect would be a TransientMailError.
    smtp = SmtpMailer(
        "127.0.0.1", free_port(), "", "", False, "billing@example.com", sleep=no_sleep
    )
    with pytest.raises(PermanentMailError, match="header"):
        smtp.send(message)

    class NoClient:
        def __getattr__(self, name):
            raise AssertionError(f"SES was called ({name})")

    ses = SesMailer("billing@example.com", client=NoClient(), sleep=no_sleep)
    with pytest.raises(PermanentMailError, match="header"):
        ses.send(message)


def test_a_good_message_still_goes(tmp_path):
    outbox = OutboxMailer(tmp_path, "billing@example.com")
    name = outbox.send(message_with(headers={"List-Unsubscribe": "<mailto:a@b.c>"}))
    sent = (tmp_path / name).read_bytes()
    assert b"To: maria@example.com" in sent
    assert f"{KIND_HEADER}: receipt".encode() in sent


def test_a_stored_address_with_a_line_break_is_refused_not_retried(services, lopez):
    """Data imported before the check: the send is a permanent refusal, noted for staff."""
    outcome = deliver(services, message_with(to=INJECTED[0]), "100234")
    assert outcome is Delivery.REFUSED
