"""Staff sign-in (password + TOTP), lockout, idle logoff, password change, sign-out, the
separation of patient and staff sessions, the role check on every staff route, and the
`portal staff` commands."""

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from click.testing import CliRunner
from werkzeug.security import check_password_hash

from portal.bootstrap import build_services
from portal.cli import cli
from portal.config import Settings
from portal.domain.staff import AuditAction, Role
from portal.services.staff_actions import post_manual_payment
from tests.integration.conftest import path_of, sign_in, token_from
from tests.integration.staff_helpers import (
    LOCKED,
    NEW_PASSWORD,
    PASSWORD,
    SIGN_IN_FAILED,
    audit_since,
    code_for,
    field_error,
    flashes,
    is_signed_in,
    last_audit_id,
    make_staff,
    password_step,
    post_form,
    redirects_to,
    sign_in_error,
    sign_out,
    staff_sign_in,
    submit_code,
    submit_password,
    text,
    wrong_code,
)


@pytest.fixture
def alice(services):
    return make_staff(services, "alice", "associate")


@pytest.fixture
def new_client(app):
    """Another browser."""
    return app.test_client


# -- signing in ------------------------------------------------------------------------


def test_full_sign_in_through_password_and_code(client, services, alice):
    page = client.get("/staff/login")
    assert page.status_code == 200
    assert "Billing staff sign-in" in page.get_data(as_text=True)

    first = submit_password(client, "alice", PASSWORD)
    assert first.status_code == 303
    assert path_of(first.headers["Location"]) == "/staff/login/code"
    # Half-way is not signed in.
    assert redirects_to(client.get("/staff/"), "/staff/login")

    code_page = client.get("/staff/login/code")
    assert code_page.status_code == 200
    assert "Enter your sign-in code" in code_page.get_data(as_text=True)

    second = submit_code(client, code_for(services, "alice"))
    assert second.status_code == 303
    assert path_of(second.headers["Location"]) == "/staff/"

    dashboard = client.get("/staff/")
    assert dashboard.status_code == 200
    html = dashboard.get_data(as_text=True)
    assert "Sign out alice" in html
    assert 'data-testid="today-total"' in html
    with client.session_transaction() as session:
        assert session["staff_user"] == "alice"
        assert "staff_pending" not in session


def test_username_is_not_case_or_space_sensitive(client, services, alice):
    response = submit_password(client, "  Alice ", PASSWORD)
    assert redirects_to(response, "/staff/login/code")
    assert redirects_to(submit_code(client, code_for(services)), "/staff/")


@pytest.mark.parametrize("mistake", ["wrong password", "unknown user", "wrong code"])
def test_wrong_password_unknown_user_and_wrong_code_get_the_same_message(
    client, services, alice, mistake
):
    if mistake == "wrong password":
        response = submit_password(client, "alice", "not the password at all")
    elif mistake == "unknown user":
        response = submit_password(client, "mallory", PASSWORD)
    else:
        password_step(client)
        response = submit_code(client, wrong_code(services))

    assert response.status_code == 401
    assert sign_in_error(response.get_data(as_text=True)) == SIGN_IN_FAILED
    assert not is_signed_in(client)


def test_five_failures_lock_the_user_for_15_minutes(client, services, alice, new_client):
    for _ in range(5):
        response = submit_password(client, "alice", "not the password at all")
        assert response.status_code == 401
        assert sign_in_error(response.get_data(as_text=True)) == SIGN_IN_FAILED

    refused = submit_password(client, "alice", PASSWORD)
    assert refused.status_code == 429
    assert LOCKED in sign_in_error(refused.get_data(as_text=True))
    assert not is_signed_in(client)

    # Another user is not affected.
    make_staff(services, "bob")
    staff_sign_in(new_client(), services, "bob")

    services.clock.advance(minutes=14)
    still = submit_password(client, "alice", PASSWORD)
    assert still.status_code == 429
    assert LOCKED in sign_in_error(still.get_data(as_text=True))

    services.clock.advance(minutes=2)
    staff_sign_in(client, services, "alice")
    assert is_signed_in(client)


def test_wrong_codes_count_toward_the_lock_and_a_locked_code_step_is_refused(
    client, services, alice, new_client
):
    other = new_client()
    password_step(other)  # this browser passed the password step before the lock

    password_step(client)
    for _ in range(4):
        assert submit_code(client, wrong_code(services)).status_code == 401
    fifth = submit_password(client, "alice", "not the password at all")
    assert fifth.status_code == 401

    password_refused = submit_password(client, "alice", PASSWORD)
    assert password_refused.status_code == 429

    refused = submit_code(other, code_for(services))
    assert refused.status_code == 429
    assert LOCKED in sign_in_error(refused.get_data(as_text=True))
    assert not is_signed_in(other)


def test_attempts_while_locked_are_audited(client, services, alice):
    """Log-in monitoring: an attempt refused because the user is locked is a failed
    sign-in too, and must leave a trace in the audit log (who, from where)."""
    client.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    for _ in range(5):
        submit_password(client, "alice", "not the password at all")
    start = last_audit_id(services)

    refused = submit_password(client, "alice", PASSWORD)

    assert refused.status_code == 429
    found = [(e.actor, e.action, e.address) for e in audit_since(services, start)]
    assert found == [("alice", AuditAction.SIGN_IN_FAILED, "10.9.9.9")]


def test_a_replayed_code_is_refused(client, services, alice):
    code = code_for(services)
    password_step(client)
    assert redirects_to(submit_code(client, code), "/staff/")
    assert redirects_to(sign_out(client), "/staff/login")

    services.clock.advance(seconds=5)  # same 30 s step, the same code on the phone
    assert code_for(services) == code
    password_step(client)
    replayed = submit_code(client, code)
    assert replayed.status_code == 401
    assert sign_in_error(replayed.get_data(as_text=True)) == SIGN_IN_FAILED
    assert not is_signed_in(client)

    services.clock.advance(seconds=30)
    staff_sign_in(client, services)
    assert is_signed_in(client)


def test_the_code_step_expires_after_5_minutes(client, services, alice):
    password_step(client)
    token = token_from(client, "/staff/login/code")

    services.clock.advance(minutes=5, seconds=1)

    assert redirects_to(client.get("/staff/login/code"), "/staff/login")
    late = submit_code(client, code_for(services), token=token)
    assert redirects_to(late, "/staff/login")
    assert not is_signed_in(client)
    with client.session_transaction() as session:
        assert "staff_pending" not in session
    assert not [
        e for e in services.store.audit_entries(actor="alice") if e.action is AuditAction.SIGN_IN
    ]


def test_the_code_step_still_works_just_inside_5_minutes(client, services, alice):
    password_step(client)
    token = token_from(client, "/staff/login/code")
    services.clock.advance(minutes=4, seconds=59)
    assert redirects_to(submit_code(client, code_for(services), token=token), "/staff/")


# -- idle logoff ---------------------------------------------------------------------------


def test_idle_logoff_after_15_minutes_without_requests(client, services, alice):
    staff_sign_in(client, services)
    services.clock.advance(minutes=15, seconds=1)

    response = client.get("/staff/accounts/100234")
    assert redirects_to(response, "/staff/login")
    login = client.get("/staff/login").get_data(as_text=True)
    assert "Your staff session ended. Please sign in again." in flashes(login)
    assert not is_signed_in(client)


def test_a_request_every_10_minutes_keeps_the_session(client, services, alice):
    staff_sign_in(client, services)
    for _ in range(6):  # an hour in all
        services.clock.advance(minutes=10)
        assert client.get("/staff/").status_code == 200


# -- changing the password ---------------------------------------------------------------


def test_a_too_short_new_password_is_shown_on_the_new_password_field(client, services, alice):
    """Like every other refusal on this form, the message belongs to its field (so the
    error summary links to it and the field is marked invalid), not to a loose notice."""
    staff_sign_in(client, services)
    response = change_password(client, PASSWORD, "short")

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "at least 12 characters" in field_error(html, "new_password")
    assert 'href="#new_password"' in html


def change_password(client, current: str, new: str, confirm: str | None = None):
    data = {
        "current_password": current,
        "new_password": new,
        "confirm": new if confirm is None else confirm,
    }
    return post_form(client, "/staff/password", data, token_page="/staff/password")


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field", "message"),
    [
        ("not the password at all", NEW_PASSWORD, None, "current_password", "not right"),
        (PASSWORD, "short", None, None, "at least 12 characters"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "confirm", "The two new passwords differ."),
        (PASSWORD, PASSWORD, None, "new_password", "different from the current one"),
    ],
    ids=["wrong current", "too short", "confirm differs", "same as before"],
)
def test_a_refused_password_change_says_why_and_changes_nothing(
    client, services, alice, current, new, confirm, field, message
):
    staff_sign_in(client, services)
    before = services.store.get_staff_user("alice")

    response = change_password(client, current, new, confirm)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    if field is None:  # anywhere on the page (see the test above for where it belongs)
        assert message in text(html)
    else:
        assert message in field_error(html, field)
    assert services.store.get_staff_user("alice") == before
    assert check_password_hash(before.password_hash, PASSWORD)
    assert is_signed_in(client)


def test_a_password_change_keeps_this_session_and_ends_the_others(
    client, services, alice, new_client
):
    staff_sign_in(client, services)
    services.clock.advance(seconds=30)
    other = new_client()
    staff_sign_in(other, services)
    assert is_signed_in(other)

    changed = change_password(client, PASSWORD, NEW_PASSWORD)

    assert redirects_to(changed, "/staff/")
    page = client.get("/staff/")
    assert page.status_code == 200
    assert any("Password changed" in m for m in flashes(page.get_data(as_text=True)))
    assert client.get("/staff/payments").status_code == 200
    assert is_signed_in(client)

    assert redirects_to(other.get("/staff/payments"), "/staff/login")
    assert not is_signed_in(other)

    services.clock.advance(seconds=30)
    third = new_client()
    old = submit_password(third, "alice", PASSWORD)
    assert old.status_code == 401
    staff_sign_in(third, services, password=NEW_PASSWORD)
    assert [e.action for e in services.store.audit_entries(actor="alice")].count(
        AuditAction.CHANGE_PASSWORD
    ) == 1


# -- signing out ---------------------------------------------------------------------------


def test_sign_out_ends_the_session(client, services, alice):
    staff_sign_in(client, services)
    response = sign_out(client)

    assert redirects_to(response, "/staff/login")
    login = client.get("/staff/login").get_data(as_text=True)
    assert "You are signed out." in flashes(login)
    assert not is_signed_in(client)
    with client.session_transaction() as session:
        assert "staff_user" not in session


def test_a_copy_of_the_session_cookie_does_not_work_after_sign_out(
    client, services, alice, new_client
):
    """Sign-out must end the session itself, not only this browser's copy of the cookie
    (OWASP ASVS 3.3.1): a cookie copied before sign-out is refused afterwards."""
    staff_sign_in(client, services)
    cookie = client.get_cookie("portal_session")
    assert cookie is not None
    assert redirects_to(sign_out(client), "/staff/login")

    copy = new_client()
    copy.set_cookie("portal_session", cookie.value)
    assert redirects_to(copy.get("/staff/"), "/staff/login")


# -- patient and staff sessions stay apart -----------------------------------------------


def test_a_patient_session_gets_403_on_staff_pages(patient, lopez):
    for path in ("/staff/", "/staff/search?q=Lopez", "/staff/accounts/100234"):
        response = patient.get(path)
        assert response.status_code == 403, path
        assert "Maria Lopez" not in response.get_data(as_text=True)


def test_a_staff_session_does_not_open_patient_pages(client, services, lopez, alice):
    staff_sign_in(client, services)
    for path in ("/account", "/statements/S-2026-000123", "/statements/S-2026-000123.pdf"):
        assert redirects_to(client.get(path), "/pay"), path
    token = token_from(client, "/staff/")
    started = client.post("/payments", data={"amount": "10.00", "csrf_token": token})
    assert redirects_to(started, "/pay")
    assert services.store.account_records("100234").payments == ()


def test_a_staff_sign_in_drops_the_previous_patient_session(client, services, lopez, alice):
    sign_in(client)  # a patient on this browser
    assert client.get("/account").status_code == 200

    staff_sign_in(client, services)

    with client.session_transaction() as session:
        assert "account_number" not in session
        assert "seen_at" not in session
    assert redirects_to(client.get("/account"), "/pay")
    assert client.get("/staff/").status_code == 200


def test_a_patient_sign_in_drops_the_previous_staff_session(client, services, lopez, alice):
    staff_sign_in(client, services)
    sign_in(client)
    assert client.get("/staff/").status_code == 403
    with client.session_transaction() as session:
        assert "staff_user" not in session


# -- every staff route checks who is asking ----------------------------------------------

REQUEST_KEY = "0123456789abcdef0123456789abcdef"
SEED_KEY = "fedcba9876543210fedcba9876543210"

ASSOCIATE, SUPERVISOR, ADMIN = Role.ASSOCIATE, Role.SUPERVISOR, Role.ADMIN
ROUTES = [  # method, path, form data, the least role that may use it
    ("GET", "/staff/", None, ASSOCIATE),
    ("GET", "/staff/search?q=Lopez", None, ASSOCIATE),
    ("GET", "/staff/accounts/100234", None, ASSOCIATE),
    ("GET", "/staff/accounts/100234/statements/S-2026-000123.pdf", None, ASSOCIATE),
    ("GET", "/staff/payments", None, ASSOCIATE),
    ("GET", "/staff/password", None, ASSOCIATE),
    (
        "POST",
        "/staff/password",
        {"current_password": "wrong", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        ASSOCIATE,
    ),
    (
        "POST",
        "/staff/accounts/100234/payments",
        {"method": "cash", "amount": "1.00", "check_number": "", "request_key": REQUEST_KEY},
        ASSOCIATE,
    ),
    ("POST", "/staff/payments/{payment_id}/reverse", {"reason": "Role test"}, ASSOCIATE),
    (
        "POST",
        "/staff/accounts/100234/notes",
        {"text": "Role test", "promise_to_pay_on": ""},
        ASSOCIATE,
    ),
    ("GET", "/staff/reports/aging", None, ASSOCIATE),
    ("GET", "/staff/reports/monthly", None, SUPERVISOR),
    ("GET", "/staff/reports/deposits", None, ASSOCIATE),
    ("GET", "/staff/users", None, ADMIN),
    (
        "POST",
        "/staff/users",
        {"username": "role.test", "role": "associate", "password": "x"},
        ADMIN,
    ),
    ("POST", "/staff/accounts/100234/adjustments", {"reason": "Role test"}, SUPERVISOR),
    ("POST", "/staff/payments/{payment_id}/resend", {}, ASSOCIATE),
    ("POST", "/staff/payments/{payment_id}/refund", {"amount": "0.01"}, SUPERVISOR),
    ("POST", "/staff/accounts/100234/escalations", {"reason": "Role test"}, ASSOCIATE),
    ("GET", "/staff/escalations", None, ASSOCIATE),
    ("POST", "/staff/escalations/1", {"owner": "alice"}, ASSOCIATE),
    ("POST", "/staff/escalations/1/resolve", {"resolution": "Role test"}, ASSOCIATE),
    ("GET", "/staff/cases", None, ASSOCIATE),
    ("GET", "/staff/cases/Q-0000000000000000", None, ASSOCIATE),
    ("POST", "/staff/cases/Q-0000000000000000/assign", {"owner": "alice"}, ASSOCIATE),
    ("POST", "/staff/cases/Q-0000000000000000/reply", {"kind": "reply", "text": "x"}, ASSOCIATE),
    ("POST", "/staff/cases/Q-0000000000000000/resolve", {"outcome": "no_change"}, ASSOCIATE),
    ("GET", "/staff/reports/cases", None, ASSOCIATE),
    ("GET", "/staff/audit", None, ADMIN),
    ("GET", "/staff/import", None, SUPERVISOR),
    ("POST", "/staff/import", {}, SUPERVISOR),
    ("GET", "/staff/remittances", None, ASSOCIATE),
    ("GET", "/staff/remittances/work", None, ASSOCIATE),
    ("POST", "/staff/remittances/work/P-T/P-T%231", {"note": "x"}, ASSOCIATE),
    ("GET", "/staff/remittances/import", None, SUPERVISOR),
    ("POST", "/staff/remittances/import", {}, SUPERVISOR),
    ("GET", "/staff/api-keys", None, ADMIN),
    ("POST", "/staff/api-keys/role-test/revoke", {}, ADMIN),
    ("GET", "/staff/plans", None, ASSOCIATE),
    ("POST", "/staff/accounts/100234/plan-link", {}, ASSOCIATE),
    ("GET", "/staff/mail/undeliverable", None, ASSOCIATE),
    ("POST", "/staff/mail/undeliverable/corrected", {"address": "gone@example.net"}, ASSOCIATE),
    (
        "POST",
        "/staff/accounts/100234/credit-refund",
        {"amount": "1.00", "check_number": "42"},
        SUPERVISOR,
    ),
    ("POST", "/staff/accounts/100234/plans/plan_role/skip", {"installment": "1"}, SUPERVISOR),
    ("POST", "/staff/accounts/100234/plans/plan_role/cancel", {"reason": "Role test"}, SUPERVISOR),
    ("GET", "/staff/accounts/100234/statements/S-2026-000123/versions", None, ASSOCIATE),
    ("POST", "/staff/accounts/100234/pay-link", {"channel": "none"}, ASSOCIATE),
    ("GET", "/staff/reports/payouts", None, SUPERVISOR),
    ("POST", "/staff/reports/payouts/po_role_test/checked", {"note": "Role test"}, SUPERVISOR),
    ("GET", "/staff/webhooks", None, SUPERVISOR),
    ("POST", "/staff/webhooks/evt_role_test/retry", {}, SUPERVISOR),
    ("POST", "/staff/logout", {}, ASSOCIATE),
]
UNGUARDED = {"staff.login", "staff.code", "staff.logout"}


@pytest.fixture
def seeded_payment(services, lopez) -> str:
    """A posted manual payment, so the reverse route has something to act on."""
    result = post_manual_payment(
        services, "setup", "100234", "cash", "5.00", "", SEED_KEY, "127.0.0.1"
    )
    assert result.posted
    return result.payment.payment_id


def snapshot(services) -> tuple:
    """What the POST routes could change."""
    found = services.store.account_records("100234")
    alice = services.store.get_staff_user("alice")
    return (
        tuple((p.payment_id, p.status) for p in found.payments),
        len(found.entries),
        len(services.store.notes("100234")),
        alice.password_hash,
        alice.session_epoch,
        len(list(Path(services.settings.outbox_dir).glob("*.eml"))),
    )


def request_route(client, method: str, path: str, data, token: str | None):
    if method == "GET":
        return client.get(path)
    return client.post(path, data={**data, "csrf_token": token})


@pytest.mark.parametrize(
    ("method", "path", "data", "needs"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES]
)
@pytest.mark.parametrize("who", ["anonymous", "patient", "associate", "supervisor", "admin"])
def test_every_staff_route_checks_the_session(
    client, services, lopez, alice, seeded_payment, who, method, path, data, needs
):
    path = path.format(payment_id=seeded_payment)
    if who == "anonymous":
        token = token_from(client, "/staff/login")
    elif who == "patient":
        sign_in(client)
        token = token_from(client, "/account")
    else:
        if who != "associate":
            make_staff(services, who, who)
        staff_sign_in(client, services, "alice" if who == "associate" else who)
        token = token_from(client, "/staff/")
    before = snapshot(services)

    response = request_route(client, method, path, data, token)

    if who == "anonymous":
        assert redirects_to(response, "/staff/login"), response.status_code
        assert snapshot(services) == before
    elif who == "patient":
        assert response.status_code == 403, response.status_code
        assert snapshot(services) == before
        with client.session_transaction() as session:
            assert session.get("account_number") == "100234"  # the patient's session stays
    elif not Role(who).allows(needs):
        assert response.status_code == 403, response.status_code
        assert snapshot(services) == before
        assert is_signed_in(client)
    elif path == "/staff/logout":
        assert redirects_to(response, "/staff/login")
    else:
        assert not redirects_to(response, "/staff/login"), (method, path)
        assert response.status_code in (200, 303, 404, 422), response.status_code


def test_the_role_test_covers_every_staff_route(app):
    adapter = app.url_map.bind("portal.test")
    covered = set()
    for method, path, _, _ in ROUTES:
        endpoint, _ = adapter.match(urlsplit(path).path, method=method)
        covered.add((endpoint, method))
    expected = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0].startswith("staff") and rule.endpoint not in UNGUARDED
        for method in rule.methods & {"GET", "POST", "PUT", "PATCH", "DELETE"}
    }
    assert expected, "no staff routes found"
    missing = expected - covered
    assert not missing, f"staff routes without a role test: {sorted(missing)}"


# -- sign-in is audited --------------------------------------------------------------------


def test_sign_in_failed_sign_in_and_sign_out_are_audited(client, services, alice):
    client.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    start = last_audit_id(services)

    submit_password(client, "alice", "not the password at all")
    password_step(client)
    submit_code(client, wrong_code(services))
    submit_code(client, code_for(services))
    sign_out(client)

    found = [(e.actor, e.action, e.subject, e.address) for e in audit_since(services, start)]
    assert found == [
        ("alice", AuditAction.SIGN_IN_FAILED, "password", "10.1.2.3"),
        ("alice", AuditAction.SIGN_IN_FAILED, "code", "10.1.2.3"),
        ("alice", AuditAction.SIGN_IN, "", "10.1.2.3"),
        ("alice", AuditAction.VIEW_PAYMENTS, "dashboard", "10.1.2.3"),  # the page signed out from
        ("alice", AuditAction.SIGN_OUT, "", "10.1.2.3"),
    ]


# -- the `portal staff` commands -------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {
        "PORTAL_SQLITE_PATH": str(tmp_path / "cli.sqlite3"),
        "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "PORTAL_SECRET_KEY": "cli-test-secret-key-0123456789",
    }
    assert run(env, "migrate").exit_code == 0
    return env


def run(env: dict[str, str], *args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


def stored_user(env: dict[str, str], username: str):
    return build_services(Settings.from_env(env)).store.get_staff_user(username)


def add(env, username: str, password: str, role: str = "associate"):
    return run(
        env, "staff", "add", username, "--role", role, "--password-stdin", input=password + "\n"
    )


def test_staff_add_prints_an_otpauth_uri_and_creates_the_user(cli_env):
    result = add(cli_env, "carol", PASSWORD, role="supervisor")

    assert result.exit_code == 0, result.output
    assert "Created supervisor carol." in result.stdout
    uri = re.search(r"otpauth://\S+", result.stdout)
    assert uri, result.stdout
    parts = urlsplit(uri.group(0))
    assert parts.netloc == "totp"
    assert "carol" in unquote(parts.path)
    secret = parse_qs(parts.query)["secret"][0]

    user = stored_user(cli_env, "carol")
    assert user is not None
    assert user.role is Role.SUPERVISOR
    assert user.totp_secret == secret
    assert check_password_hash(user.password_hash, PASSWORD)
    assert PASSWORD not in result.output


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [
        ("dave", "short", "password"),
        ("9dave", PASSWORD, "username"),
    ],
    ids=["short password", "bad username"],
)
def test_staff_add_refuses_bad_input_naming_the_field(cli_env, username, password, field):
    result = add(cli_env, username, password)

    assert result.exit_code == 1
    assert result.stderr.startswith(f"portal: {field}: ")
    assert stored_user(cli_env, username) is None


def test_staff_add_refuses_an_existing_username(cli_env):
    assert add(cli_env, "erin", PASSWORD).exit_code == 0
    first = stored_user(cli_env, "erin")

    again = add(cli_env, "Erin", "another long password", role="admin")

    assert again.exit_code == 1
    assert again.stderr.startswith("portal: username: ")
    assert "erin" in again.stderr
    assert stored_user(cli_env, "erin") == first


def test_staff_code_prints_the_current_code(cli_env):
    assert add(cli_env, "frank", PASSWORD).exit_code == 0
    totp = pyotp.TOTP(stored_user(cli_env, "frank").totp_secret)

    before = totp.at(time.time())
    result = run(cli_env, "staff", "code", "frank")
    after = totp.at(time.time())

    assert result.exit_code == 0, result.output
    code = result.stdout.strip()
    assert re.fullmatch(r"\d{6}", code), code
    assert code in {before, after}


def test_staff_code_for_an_unknown_user_exits_1(cli_env):
    result = run(cli_env, "staff", "code", "nobody")
    assert result.exit_code == 1
    assert "nobody" in result.stderr


# -- the lock per client address -----------------------------------------------------------


def test_one_address_is_locked_after_ten_failures_whatever_the_usernames(
    client, services, alice, new_client
):
    """One address cannot spray passwords over many usernames; signing in to one's own
    account takes back only that attempt, not the address's failures on other names."""
    client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for i in range(9):
        assert submit_password(client, f"guess{i}", PASSWORD).status_code == 401
    staff_sign_in(client, services)  # alice, from the same address: her attempts taken back
    assert redirects_to(sign_out(client), "/staff/login")
    assert submit_password(client, "guess9", PASSWORD).status_code == 401  # the tenth

    refused = submit_password(client, "alice", PASSWORD)
    assert refused.status_code == 429
    assert LOCKED in sign_in_error(refused.get_data(as_text=True))

    services.clock.advance(seconds=30)  # a new code (each is accepted once)
    elsewhere = new_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    staff_sign_in(elsewhere, services)  # alice herself is not locked

    services.clock.advance(minutes=16)
    staff_sign_in(client, services)


def test_the_staff_cookie_is_set_again_only_once_a_minute(client, services, alice):
    staff_sign_in(client, services)
    client.get("/staff/")  # the first page's forms put the CSRF secret in the session
    assert "Set-Cookie" not in client.get("/staff/").headers
    services.clock.advance(seconds=60)
    assert "Set-Cookie" in client.get("/staff/").headers
    services.clock.advance(seconds=30)
    assert "Set-Cookie" not in client.get("/staff/").headers
