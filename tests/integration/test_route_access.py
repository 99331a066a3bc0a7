"""Every route of the portal, requested by every kind of caller, from one table.

The table holds, for each (URL rule, method) of app.url_map, the request to make and the
outcome each caller must get: anonymous, patient A (account 100234, also asking for
patient B's statements, PDFs and receipts), each staff role, and API callers with a bad,
a revoked or a good key (to every other route they are anonymous). Every response must
carry the security headers; a refusal must change nothing. Every POST that takes a form is
refused (400) without its CSRF token and changes nothing; with the token the same request
goes through. Both app configurations are swept: the sandbox gateway over http (local),
Stripe over https (production-like: Secure `__Host-` cookie, HSTS). A route that is not in
the table fails test_the_table_has_an_entry_for_every_route.
"""

import io
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from portal.domain.outbound import DeliveryState
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.payouts import Payout, PayoutRecord, PayoutReport, Unmatched
from portal.domain.plans import Installment, Plan, PlanKind
from portal.domain.staff import EscalationKind, Role
from portal.domain.texting import SmsConsent
from portal.domain.viewers import Viewer
from portal.ports.payments import EventKind, GatewayEvent, SetupRequest
from portal.services.api_keys import create_api_key, revoke_api_key
from portal.services.cases import ask_question
from portal.services.mail_feedback import apply_ses_event
from portal.services.notices import opt_out_url
from portal.services.pay_links import pay_link_token
from portal.services.payments import apply_gateway_event, start_payment
from portal.services.remittances import import_remittances
from portal.services.staff_actions import open_escalation, post_manual_payment
from portal.services.statements import import_statement
from tests.conftest import NOW, statement
from tests.integration.conftest import GOOD_CARD, GUARANTOR, path_of, sign_in, token_from
from tests.integration.staff_helpers import NEW_PASSWORD, PASSWORD, make_staff, staff_sign_in
from tests.integration.test_security_headers import header_problems, inline_problems
from tests.remittances import GOOD, corpus_text
from tests.ses_events import bounce
from tests.stripe_fixtures import event, signed

EXAMPLE_STATEMENTS = (Path(__file__).resolve().parents[2] / "examples/statements.json").read_bytes()
CONFIGS = ("sandbox", "stripe")
STAFF = ("associate", "supervisor", "admin")
SESSIONS = ("anonymous", "patient", *STAFF)
KEYS = ("bad key", "revoked key", "good key")
ACTORS = SESSIONS + KEYS


# -- outcomes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    status: int
    location: str | None = None  # a regex for the redirect's path (and query)
    refused: bool = False  # nothing may change
    hides: tuple[str, ...] = ()  # text the page must not show

    def problems(self, response) -> list[str]:
        if response.status_code != self.status:
            return [f"status {response.status_code}, expected {self.status}"]
        target = path_of(response.headers.get("Location", ""))
        if self.location is not None and not re.fullmatch(self.location, target):
            return [f"redirected to {target!r}, expected {self.location!r}"]
        body = response.get_data(as_text=True) if self.hides else ""
        return [f"shows {text!r}" for text in self.hides if text in body]


OK = Expect(200)
TO_LOOKUP = Expect(302, "/pay", refused=True)
TO_STAFF_LOGIN = Expect(302, "/staff/login", refused=True)
BAD_REQUEST = Expect(400, refused=True)
NO_KEY = Expect(401, refused=True)
FORBIDDEN = Expect(403, refused=True)
NOT_FOUND = Expect(404, refused=True)
TO_CHECKOUT = Expect(303, r"/sandbox/checkout/cs_sbx_[\w.\-]+|/pay/cs_test_\w+")  # sandbox|stub
TO_A_ACCOUNT = Expect(303, "/staff/accounts/100234")
RECEIPT_ONLY = Expect(200, hides=("100234", "Applied to", "Balance"))


def see_other(location: str) -> Expect:
    return Expect(303, location)


def everyone(outcome: Expect = OK) -> dict[str, Expect]:
    return dict.fromkeys(SESSIONS, outcome)


def patients_only(outcome: Expect) -> dict[str, Expect]:
    """A page of the signed-in patient's own account: staff sessions do not open it."""
    return {**everyone(TO_LOOKUP), "patient": outcome}


def staff_only(needs: Role, outcome: Expect) -> dict[str, Expect]:
    return {
        "anonymous": TO_STAFF_LOGIN,
        "patient": FORBIDDEN,
        **{s: outcome if Role(s).allows(needs) else FORBIDDEN for s in STAFF},
    }


def key_only(outcome: Expect) -> dict[str, Expect]:
    """An API route: a cookie (patient or staff) is no key."""
    return {**everyone(NO_KEY), "bad key": NO_KEY, "revoked key": NO_KEY, "good key": outcome}


# -- the table ------------------------------------------------------------------------------


@dataclass
class World:
    """The records every sweep starts from; `ids` fill the paths' {placeholders}."""

    app: object
    services: object
    ids: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # actor -> Authorization header

    def staff(self, username: str) -> str:
        """A staff user named after its role, created when first needed."""
        if self.services.store.get_staff_user(username) is None:
            make_staff(self.services, username, username)
        return username


@dataclass(frozen=True)
class Route:
    method: str
    rule: str  # as app.url_map spells it
    path: str  # the request, with {placeholders} from World.ids
    expect: dict[str, Expect]  # by actor; the key actors default to "anonymous"
    form: Callable[[World], dict] | None = None  # sent with the actor's CSRF token
    exempt: Callable[[World], dict] | None = None  # client.open() arguments, no CSRF token
    csrf_actor: str = "anonymous"  # who makes the CSRF test's requests
    changes: bool = False  # with its token, the CSRF actor's request changes something
    public: bool = False  # the same for everyone: may be cached
    config: str | None = None  # registered only with PORTAL_PAYMENTS=<config>
    ends_session: int = 0  # requested after the others, in this order
    variant: str = ""  # another request to a route that already has its main entry

    def expected(self, actor: str) -> Expect:
        return self.expect.get(actor) or self.expect["anonymous"]

    @property
    def takes_csrf(self) -> bool:
        return self.method != "GET" and self.exempt is None

    def label(self) -> str:
        where = f" [{self.config}]" if self.config else ""
        return f"{self.method} {self.path}{where}" + (f" ({self.variant})" if self.variant else "")


def site(path: str) -> Route:
    return Route("GET", path, path, everyone(), public=True)


def import_file(world: World) -> dict:
    return {"file": (io.BytesIO(EXAMPLE_STATEMENTS), "statements.json")}


def remittance_file(world: World) -> dict:
    return {"file": (io.BytesIO(UNMATCHED_835.encode()), "payer.835")}


def signed_foreign_event(world: World) -> dict:
    body, headers = signed(event("customer.created", {"id": "cus_1", "object": "customer"}))
    return {"data": body, "headers": headers}


ADMIN, SUPERVISOR, ASSOCIATE = Role.ADMIN, Role.SUPERVISOR, Role.ASSOCIATE
UNMATCHED_835 = corpus_text(GOOD / "08_unmatched.835")
UNMATCHED = "1512345678-EFT-8008"
ROUTE_PLAN = (Installment(1, NOW.date(), 5_000), Installment(2, NOW.date(), 4_550))
TABLE = [
    # The public site, static files, the health check and the API's description.
    site("/"),
    site("/how-to-pay"),
    site("/faq"),
    site("/contact"),
    site("/privacy"),
    *(
        Route(
            "GET", f"/<string(minlength=2,maxlength=3):lang>{p}", f"/es{p}", everyone(), public=True
        )
        for p in ("/", "/how-to-pay", "/faq", "/contact", "/privacy")
    ),
    Route("GET", "/static/<path:filename>", "/static/portal.css", everyone(), public=True),
    Route(
        "GET",
        "/static/<path:filename>",
        "/static/no-such-file.css",
        everyone(NOT_FOUND),
        variant="missing",
    ),
    Route("GET", "/healthz", "/healthz", everyone()),
    Route("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", everyone(), public=True),
    # Quick Pay and the patient's own pages.
    Route("GET", "/pay", "/pay", everyone()),
    # The language switch: keeps the choice in the session, back to a page of this site.
    Route("GET", "/language/<code>", "/language/es?next=/pay", everyone(see_other("/pay"))),
    # A pay link (issue 22): Quick Pay with the account number filled in, for anyone.
    Route("GET", "/pay/<token>", "/pay/{pay_link}", everyone()),
    Route("GET", "/pay/<token>", "/pay/not-a-link", everyone(NOT_FOUND), variant="not valid"),
    Route("POST", "/pay", "/pay", everyone(see_other("/account")), form=lambda w: dict(GUARANTOR)),
    Route("GET", "/account", "/account", patients_only(OK)),
    Route("GET", "/statements/<statement_id>", "/statements/S-2026-000123", patients_only(OK)),
    Route(
        "GET",
        "/statements/<statement_id>",
        "/statements/S-2026-000200",
        patients_only(NOT_FOUND),
        variant="patient B's",
    ),
    Route(
        "GET",
        "/statements/<statement_id>.pdf",
        "/statements/S-2026-000123.pdf",
        patients_only(OK),
    ),
    Route(
        "GET",
        "/statements/<statement_id>.pdf",
        "/statements/S-2026-000200.pdf",
        patients_only(NOT_FOUND),
        variant="patient B's",
    ),
    Route(
        "POST",
        "/payments",
        "/payments",
        patients_only(TO_CHECKOUT),
        form=lambda w: {"amount": "10.00"},
        csrf_actor="patient",
        changes=True,
    ),
    # The receipt and return page: its unguessable id is the key (the checkout comes back
    # to it, the receipt e-mail links it). Without the account's own session it shows the
    # amount and status only, never the account, statement or balance.
    Route(
        "GET",
        "/payments/<payment_id>",
        "/payments/{card_a}",
        {**everyone(RECEIPT_ONLY), "patient": OK},
    ),
    Route(
        "GET",
        "/payments/<payment_id>",
        "/payments/{card_b}",
        everyone(Expect(200, hides=("100777", "Applied to", "Balance"))),
        variant="patient B's receipt",
    ),
    Route(
        "GET",
        "/payments/<payment_id>",
        "/payments/pay_0123456789abcdef01234567",
        everyone(NOT_FOUND),
        variant="unknown",
    ),
    Route(
        "POST",
        "/signout",
        "/signout",
        everyone(see_other("/pay")),
        form=lambda w: {},
        csrf_actor="patient",
        ends_session=3,
    ),
    # Payment plans: the signed-in guarantor's own plans only.
    Route("GET", "/plans/new", "/plans/new", patients_only(OK)),
    Route(
        "POST",
        "/plans/new",
        "/plans/new",
        patients_only(OK),  # a balance under the plan minimum: the offer's reason, nothing kept
        form=lambda w: {"months": "3", "day": "1", "step": "review"},
        csrf_actor="patient",
    ),
    Route("GET", "/plans/<plan_id>", "/plans/{plan_a}", patients_only(OK)),
    Route(
        "GET",
        "/plans/<plan_id>",
        "/plans/{plan_b}",
        patients_only(NOT_FOUND),
        variant="patient B's",
    ),
    Route(
        "GET",
        "/plans/<plan_id>/saved",
        "/plans/{plan_a}/saved?session_id=cs_sbx_setup_unknown",
        patients_only(see_other(r"/plans/plan_route_a")),
    ),
    Route(
        "GET",
        "/plans/<plan_id>/saved",
        "/plans/{plan_b}/saved?session_id=cs_sbx_setup_unknown",
        patients_only(NOT_FOUND),
        variant="patient B's",
    ),
    Route(
        "POST",
        "/plans/<plan_id>/method",
        "/plans/{plan_a}/method",
        patients_only(Expect(303, r"/sandbox/setup/cs_sbx_setup_[\w.\-]+|/setup/cs_test_\w+")),
        form=lambda w: {},
        csrf_actor="patient",
    ),
    Route(
        "POST",
        "/plans/<plan_id>/method",
        "/plans/{plan_b}/method",
        patients_only(NOT_FOUND),
        form=lambda w: {},
        csrf_actor="patient",
        variant="patient B's",
    ),
    # An installment's hosted payment: only while the bank asks the patient to confirm it
    # (plan A's is not waiting: back to the plan's page).
    Route(
        "GET",
        "/plans/<plan_id>/installments/<int:number>/pay",
        "/plans/{plan_a}/installments/1/pay",
        patients_only(see_other(r"/plans/plan_route_a")),
    ),
    Route(
        "GET",
        "/plans/<plan_id>/installments/<int:number>/pay",
        "/plans/{plan_b}/installments/1/pay",
        patients_only(NOT_FOUND),
        variant="patient B's",
    ),
    Route(
        "POST",
        "/plans/<plan_id>/installments/<int:number>/pay",
        "/plans/{plan_a}/installments/1/pay",
        patients_only(see_other(r"/plans/plan_route_a")),
        form=lambda w: {},
        csrf_actor="patient",
    ),
    Route(
        "POST",
        "/plans/<plan_id>/installments/<int:number>/pay",
        "/plans/{plan_b}/installments/1/pay",
        patients_only(NOT_FOUND),
        form=lambda w: {},
        csrf_actor="patient",
        variant="patient B's",
    ),
    # Adding a new balance to a plan: plan A has no saved method (not running), so there is
    # nothing to add it to: back to the plan's page, nothing changed.
    Route(
        "GET",
        "/plans/<plan_id>/add",
        "/plans/{plan_a}/add",
        patients_only(see_other(r"/plans/plan_route_a")),
    ),
    Route(
        "GET",
        "/plans/<plan_id>/add",
        "/plans/{plan_b}/add",
        patients_only(NOT_FOUND),
        variant="patient B's",
    ),
    Route(
        "POST",
        "/plans/<plan_id>/add",
        "/plans/{plan_a}/add",
        patients_only(see_other(r"/plans/plan_route_a")),
        form=lambda w: {"agree": "yes", "digest": "0" * 64},
        csrf_actor="patient",
    ),
    Route(
        "POST",
        "/plans/<plan_id>/add",
        "/plans/{plan_b}/add",
        patients_only(NOT_FOUND),
        form=lambda w: {"agree": "yes", "digest": "0" * 64},
        csrf_actor="patient",
        variant="patient B's",
    ),
    Route(
        "POST",
        "/plans/<plan_id>/cancel",
        "/plans/{plan_b}/cancel",
        patients_only(NOT_FOUND),
        form=lambda w: {"confirm": "yes"},
        csrf_actor="patient",
        variant="patient B's",
    ),
    Route(
        "POST",
        "/plans/<plan_id>/cancel",
        "/plans/{plan_a}/cancel",
        patients_only(see_other(r"/plans/plan_route_a")),
        form=lambda w: {"confirm": "yes"},
        csrf_actor="patient",
        changes=True,
        ends_session=1,
    ),
    # Questions and requests for help (issue 17): only whoever asked sees or answers a case.
    Route(
        "GET",
        "/statements/<statement_id>/question",
        "/statements/S-2026-000123/question?line=1",
        patients_only(OK),
    ),
    Route(
        "GET",
        "/statements/<statement_id>/question",
        "/statements/S-2026-000200/question",
        patients_only(NOT_FOUND),
        variant="patient B's",
    ),
    Route(
        "POST",
        "/statements/<statement_id>/question",
        "/statements/S-2026-000123/question",
        patients_only(see_other(r"/account/cases/Q-[0-9A-F]{16}")),
        form=lambda w: {"reason": "other", "message": "Route test", "request_key": "a" * 32},
        csrf_actor="patient",
        changes=True,
    ),
    Route(
        "POST",
        "/statements/<statement_id>/question",
        "/statements/S-2026-000200/question",
        patients_only(NOT_FOUND),
        form=lambda w: {"reason": "other", "message": "Route test", "request_key": "b" * 32},
        csrf_actor="patient",
        variant="patient B's",
    ),
    Route("GET", "/account/help", "/account/help", patients_only(OK)),
    Route(
        "POST",
        "/account/help",
        "/account/help",
        patients_only(see_other(r"/account/cases/Q-[0-9A-F]{16}")),
        form=lambda w: {"household_size": "3", "income_band": "under_25k", "request_key": "c" * 32},
        csrf_actor="patient",
        changes=True,
    ),
    # Billing texts (issue 22): the guarantor's own.
    Route("GET", "/account/texts", "/account/texts", patients_only(OK)),
    Route(
        "POST",
        "/account/texts",
        "/account/texts",
        patients_only(see_other("/account/texts")),
        form=lambda w: {"phone": "555-555-0123", "time_zone": "", "agree": "y"},
        csrf_actor="patient",
        changes=True,
    ),
    Route(
        "POST",
        "/account/texts/stop",
        "/account/texts/stop",
        patients_only(see_other("/account/texts")),
        form=lambda w: {},
        csrf_actor="patient",
        changes=True,
    ),
    Route("GET", "/account/cases/<case_id>", "/account/cases/{case_a}", patients_only(OK)),
    Route(
        "GET",
        "/account/cases/<case_id>",
        "/account/cases/{case_b}",
        patients_only(Expect(404, refused=True, hides=("Route test B",))),
        variant="patient B's",
    ),
    Route(
        "POST",
        "/account/cases/<case_id>/reply",
        "/account/cases/{case_a}/reply",
        patients_only(see_other(r"/account/cases/Q-[0-9A-F]{16}")),
        form=lambda w: {"message": "Route reply", "request_key": "d" * 32},
        csrf_actor="patient",
        changes=True,
    ),
    Route(
        "POST",
        "/account/cases/<case_id>/reply",
        "/account/cases/{case_b}/reply",
        patients_only(NOT_FOUND),
        form=lambda w: {"message": "Route reply", "request_key": "e" * 32},
        csrf_actor="patient",
        variant="patient B's",
    ),
    # One-click opt-out: the signed token in the address is the authority (no CSRF token).
    Route("GET", "/reminders/stop/<token>", "/reminders/stop/{optout}", everyone()),
    Route(
        "GET",
        "/reminders/stop/<token>",
        "/reminders/stop/not-a-token",
        everyone(NOT_FOUND),
        variant="bad token",
    ),
    Route(
        "POST",
        "/reminders/stop/<token>",
        "/reminders/stop/{optout}",
        everyone(),
        exempt=lambda w: {},
    ),
    Route(
        "POST",
        "/reminders/stop/<token>",
        "/reminders/stop/not-a-token",
        everyone(NOT_FOUND),
        exempt=lambda w: {},
        variant="bad token",
    ),
    # The sandbox's stand-in for the hosted checkout page: its session id is the key.
    Route(
        "GET",
        "/sandbox/checkout/<session_id>",
        "/sandbox/checkout/{checkout}",
        everyone(),
        config="sandbox",
    ),
    Route(
        "GET",
        "/sandbox/checkout/<session_id>",
        "/sandbox/checkout/cs_sbx_unknown",
        everyone(NOT_FOUND),
        config="sandbox",
        variant="unknown",
    ),
    Route(
        "POST",
        "/sandbox/checkout/<session_id>",
        "/sandbox/checkout/{checkout}",
        everyone(see_other(r"/payments/pay_\w+")),
        form=lambda w: {"card_number": GOOD_CARD, "expiry": "12/30", "cvc": "123"},
        csrf_actor="patient",
        changes=True,
        config="sandbox",
    ),
    Route(
        "POST",
        "/sandbox/checkout/<session_id>/cancel",
        "/sandbox/checkout/{checkout_cancel}/cancel",
        everyone(see_other(r"/payments/pay_\w+\?canceled=1")),
        form=lambda w: {},
        csrf_actor="patient",
        changes=True,
        config="sandbox",
    ),
    # The sandbox's stand-in for the page that saves a payment method: stateless, its
    # signed session id is the key.
    Route(
        "GET", "/sandbox/setup/<session_id>", "/sandbox/setup/{setup}", everyone(), config="sandbox"
    ),
    Route(
        "GET",
        "/sandbox/setup/<session_id>",
        "/sandbox/setup/cs_sbx_setup_unknown",
        everyone(NOT_FOUND),
        config="sandbox",
        variant="unknown",
    ),
    Route(
        "POST",
        "/sandbox/setup/<session_id>",
        "/sandbox/setup/{setup}",
        everyone(see_other(r"/plans/plan_route_test/method\?session_id=cs_sbx_setup_[\w.\-]+")),
        form=lambda w: {
            "method": "card",
            "card_number": GOOD_CARD,
            "expiry": "12/30",
            "cvc": "123",
        },
        csrf_actor="patient",
        config="sandbox",
    ),
    # Stripe's notifications: the signature on the raw body is the authority.
    Route(
        "POST",
        "/webhooks/stripe",
        "/webhooks/stripe",
        everyone(BAD_REQUEST),
        exempt=lambda w: {"data": b"{}", "content_type": "application/json"},
        config="stripe",
    ),
    Route(
        "POST",
        "/webhooks/stripe",
        "/webhooks/stripe",
        everyone(),
        exempt=signed_foreign_event,
        config="stripe",
        variant="signed",
    ),
    # Texts back (STOP, HELP) from SNS: its message signature, never a cookie (issue 22).
    Route(
        "POST",
        "/webhooks/sms",
        "/webhooks/sms",
        everyone(BAD_REQUEST),
        exempt=lambda w: {"data": b"{}", "content_type": "text/plain"},
    ),
    # The JSON API: a bearer key, never a cookie.
    Route("GET", "/api/v1/accounts/<account_number>", "/api/v1/accounts/100234", key_only(OK)),
    Route(
        "GET",
        "/api/v1/accounts/<account_number>",
        "/api/v1/accounts/999999",
        key_only(NOT_FOUND),
        variant="unknown account",
    ),
    Route("GET", "/api/v1/payments", "/api/v1/payments", key_only(OK)),
    Route(
        "GET",
        "/api/v1/payments",
        "/api/v1/payments?since=not-a-cursor",
        key_only(BAD_REQUEST),
        variant="bad cursor",
    ),
    Route(
        "POST",
        "/api/v1/statements",
        "/api/v1/statements",
        key_only(OK),
        exempt=lambda w: {"data": EXAMPLE_STATEMENTS, "content_type": "application/json"},
    ),
    Route(
        "POST",
        "/api/v1/remittances",
        "/api/v1/remittances",
        key_only(OK),
        exempt=lambda w: {"data": UNMATCHED_835.encode(), "content_type": "application/edi-x12"},
    ),
    # Staff sign-in (open to all), then the console (by role).
    Route("GET", "/staff/login", "/staff/login", everyone()),
    Route(
        "POST",
        "/staff/login",
        "/staff/login",
        everyone(see_other("/staff/login/code")),
        form=lambda w: {"username": w.staff("associate"), "password": PASSWORD},
    ),
    Route("GET", "/staff/login/code", "/staff/login/code", everyone(Expect(302, "/staff/login"))),
    Route(
        "POST",
        "/staff/login/code",
        "/staff/login/code",
        everyone(Expect(302, "/staff/login")),
        form=lambda w: {"code": "000000"},
    ),
    Route(
        "POST",
        "/staff/logout",
        "/staff/logout",
        {**everyone(see_other("/staff/login")), "patient": FORBIDDEN},
        form=lambda w: {},
        csrf_actor="admin",
        changes=True,
        ends_session=2,
    ),
    Route("GET", "/staff/password", "/staff/password", staff_only(ASSOCIATE, OK)),
    Route(
        "POST",
        "/staff/password",
        "/staff/password",
        staff_only(ASSOCIATE, see_other("/staff/")),
        form=lambda w: {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
        csrf_actor="admin",
        changes=True,
        ends_session=1,
    ),
    Route("GET", "/staff/", "/staff/", staff_only(ASSOCIATE, OK)),
    Route("GET", "/staff/search", "/staff/search?q=Lopez", staff_only(ASSOCIATE, OK)),
    Route(
        "GET",
        "/staff/accounts/<account_number>",
        "/staff/accounts/100234",
        staff_only(ASSOCIATE, OK),
    ),
    Route(
        "GET",
        "/staff/accounts/<account_number>/statements/<statement_id>.pdf",
        "/staff/accounts/100234/statements/S-2026-000123.pdf",
        staff_only(ASSOCIATE, OK),
    ),
    Route(
        "GET",
        "/staff/accounts/<account_number>/statements/<statement_id>/versions",
        "/staff/accounts/100234/statements/S-2026-000123/versions",
        staff_only(ASSOCIATE, OK),
    ),
    Route(
        "POST",
        "/staff/accounts/<account_number>/payments",
        "/staff/accounts/100234/payments",
        staff_only(ASSOCIATE, TO_A_ACCOUNT),
        form=lambda w: {
            "method": "cash",
            "amount": "1.00",
            "check_number": "",
            "request_key": "0123456789abcdef0123456789abcdef",
        },
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/payments/<payment_id>/reverse",
        "/staff/payments/{manual}/reverse",
        staff_only(ASSOCIATE, TO_A_ACCOUNT),
        form=lambda w: {"reason": "Route test"},
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/payments/<payment_id>/resend",
        "/staff/payments/{card_a}/resend",
        staff_only(ASSOCIATE, TO_A_ACCOUNT),
        form=lambda w: {},
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/payments/<payment_id>/refund",
        "/staff/payments/{card_a}/refund",
        staff_only(SUPERVISOR, TO_A_ACCOUNT),
        form=lambda w: {"amount": "1.00", "request_key": "fedcba9876543210fedcba9876543210"},
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/accounts/<account_number>/credit-refund",
        "/staff/accounts/100234/credit-refund",
        # A cent of patient A's credit, by check 9001 (once: again, nothing more).
        staff_only(SUPERVISOR, TO_A_ACCOUNT),
        form=lambda w: {"amount": "0.01", "check_number": "9001"},
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/accounts/<account_number>/notes",
        "/staff/accounts/100234/notes",
        staff_only(ASSOCIATE, TO_A_ACCOUNT),
        form=lambda w: {"text": "Route test", "promise_to_pay_on": ""},
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/accounts/<account_number>/adjustments",
        "/staff/accounts/100234/adjustments",
        staff_only(SUPERVISOR, TO_A_ACCOUNT),
        form=lambda w: {
            "statement_id": "S-2026-000123",
            "kind": "adjustment",
            "amount": "1.00",
            "reason": "Route test",
        },
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/accounts/<account_number>/escalations",
        "/staff/accounts/100234/escalations",
        staff_only(ASSOCIATE, TO_A_ACCOUNT),
        form=lambda w: {"kind": "other", "reason": "Route test"},
        csrf_actor="admin",
        changes=True,
    ),
    # Payment plans in the console: the plan link (B's account owes enough for a plan), a
    # supervisor's skip and cancel (another account's plan: named, nothing changed), the list.
    Route(
        "POST",
        "/staff/accounts/<account_number>/plan-link",
        "/staff/accounts/100777/plan-link",
        staff_only(ASSOCIATE, see_other("/staff/accounts/100777")),
        form=lambda w: {},
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/accounts/<account_number>/pay-link",
        "/staff/accounts/100777/pay-link",
        staff_only(ASSOCIATE, see_other("/staff/accounts/100777")),
        form=lambda w: {"channel": "email"},
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/accounts/<account_number>/plans/<plan_id>/skip",
        "/staff/accounts/100234/plans/{plan_a}/skip",
        staff_only(SUPERVISOR, TO_A_ACCOUNT),
        form=lambda w: {"installment": "1", "reason": "Route test"},
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/accounts/<account_number>/plans/<plan_id>/skip",
        "/staff/accounts/100234/plans/{plan_b}/skip",
        staff_only(SUPERVISOR, Expect(303, "/staff/accounts/100234", refused=True)),
        form=lambda w: {"installment": "1", "reason": "Route test"},
        csrf_actor="admin",
        variant="patient B's plan",
    ),
    Route(
        "POST",
        "/staff/accounts/<account_number>/plans/<plan_id>/cancel",
        "/staff/accounts/100234/plans/{plan_a}/cancel",
        staff_only(SUPERVISOR, TO_A_ACCOUNT),
        form=lambda w: {"reason": "Route test"},
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/accounts/<account_number>/plans/<plan_id>/cancel",
        "/staff/accounts/100234/plans/{plan_b}/cancel",
        staff_only(SUPERVISOR, Expect(303, "/staff/accounts/100234", refused=True)),
        form=lambda w: {"reason": "Route test"},
        csrf_actor="admin",
        variant="patient B's plan",
    ),
    Route("GET", "/staff/plans", "/staff/plans", staff_only(ASSOCIATE, OK)),
    # Undeliverable e-mail addresses (SES feedback): the list, and marking one corrected
    # (the first staff caller clears it; after that, nothing is listed and nothing changes).
    Route(
        "GET", "/staff/mail/undeliverable", "/staff/mail/undeliverable", staff_only(ASSOCIATE, OK)
    ),
    Route(
        "POST",
        "/staff/mail/undeliverable/corrected",
        "/staff/mail/undeliverable/corrected",
        staff_only(ASSOCIATE, see_other("/staff/mail/undeliverable")),
        form=lambda w: {"address": "gone@example.net"},
        csrf_actor="admin",
        changes=True,
    ),
    Route("GET", "/staff/escalations", "/staff/escalations", staff_only(ASSOCIATE, OK)),
    Route(
        "POST",
        "/staff/escalations/<int:escalation_id>",
        "/staff/escalations/{escalation}",
        staff_only(ASSOCIATE, see_other("/staff/escalations")),
        form=lambda w: {"owner": "", "promise_to_pay_on": "2026-12-15"},
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/escalations/<int:escalation_id>/resolve",
        "/staff/escalations/{escalation_to_resolve}/resolve",
        staff_only(ASSOCIATE, see_other("/staff/escalations")),
        form=lambda w: {"resolution": "Route test"},
        csrf_actor="admin",
        changes=True,
    ),
    # Patients' questions, for staff (issue 17).
    Route("GET", "/staff/cases", "/staff/cases", staff_only(ASSOCIATE, OK)),
    Route("GET", "/staff/cases/<case_id>", "/staff/cases/{case_a}", staff_only(ASSOCIATE, OK)),
    Route(
        "GET",
        "/staff/cases/<case_id>",
        "/staff/cases/Q-0000000000000000",
        staff_only(ASSOCIATE, NOT_FOUND),
        variant="unknown",
    ),
    Route(
        "POST",
        "/staff/cases/<case_id>/assign",
        "/staff/cases/{case_a}/assign",
        staff_only(ASSOCIATE, see_other(r"/staff/cases/Q-[0-9A-F]{16}")),
        form=lambda w: {"owner": ""},
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/cases/<case_id>/reply",
        "/staff/cases/{case_a}/reply",
        staff_only(ASSOCIATE, see_other(r"/staff/cases/Q-[0-9A-F]{16}")),
        form=lambda w: {"kind": "reply", "text": "Route staff reply", "request_key": "1" * 32},
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/cases/<case_id>/resolve",
        "/staff/cases/{case_b}/resolve",
        staff_only(ASSOCIATE, see_other(r"/staff/cases/Q-[0-9A-F]{16}")),
        form=lambda w: {
            "outcome": "no_change",
            "explanation": "Route test",
            "request_key": "2" * 32,
        },
        csrf_actor="admin",
        changes=True,
    ),
    Route("GET", "/staff/reports/cases", "/staff/reports/cases", staff_only(ASSOCIATE, OK)),
    Route("GET", "/staff/payments", "/staff/payments", staff_only(ASSOCIATE, OK)),
    Route("GET", "/staff/reports/aging", "/staff/reports/aging", staff_only(ASSOCIATE, OK)),
    Route("GET", "/staff/reports/deposits", "/staff/reports/deposits", staff_only(ASSOCIATE, OK)),
    Route("GET", "/staff/reports/payouts", "/staff/reports/payouts", staff_only(SUPERVISOR, OK)),
    Route(
        "POST",
        "/staff/reports/payouts/<payout_id>/checked",
        "/staff/reports/payouts/{payout}/checked",
        staff_only(SUPERVISOR, see_other("/staff/reports/payouts")),
        form=lambda w: {"note": "Looked into it with the card processor."},
        csrf_actor="supervisor",
        changes=True,
    ),
    Route("GET", "/staff/reports/monthly", "/staff/reports/monthly", staff_only(SUPERVISOR, OK)),
    Route("GET", "/staff/import", "/staff/import", staff_only(SUPERVISOR, OK)),
    Route(
        "POST",
        "/staff/import",
        "/staff/import",
        staff_only(SUPERVISOR, OK),
        form=import_file,
        csrf_actor="admin",
        changes=True,
    ),
    # Insurance remittances (issue 20).
    Route("GET", "/staff/remittances", "/staff/remittances", staff_only(ASSOCIATE, OK)),
    Route("GET", "/staff/remittances/work", "/staff/remittances/work", staff_only(ASSOCIATE, OK)),
    Route(
        "GET", "/staff/remittances/import", "/staff/remittances/import", staff_only(SUPERVISOR, OK)
    ),
    Route(
        "POST",
        "/staff/remittances/import",
        "/staff/remittances/import",
        staff_only(SUPERVISOR, OK),
        form=remittance_file,
        csrf_actor="admin",
        changes=True,
    ),
    Route(
        "POST",
        "/staff/remittances/work/<remittance_id>/<path:item_id>",
        f"/staff/remittances/work/{UNMATCHED}/{UNMATCHED}%231",
        staff_only(ASSOCIATE, see_other("/staff/remittances/work")),
        form=lambda w: {"note": "Route test"},
        csrf_actor="admin",
        changes=True,
    ),
    Route("GET", "/staff/audit", "/staff/audit", staff_only(ADMIN, OK)),
    Route("GET", "/staff/users", "/staff/users", staff_only(ADMIN, OK)),
    Route(
        "POST",
        "/staff/users",
        "/staff/users",
        staff_only(ADMIN, OK),
        form=lambda w: {
            "username": "route.test",
            "role": "associate",
            "password": "a long enough passphrase",
        },
        csrf_actor="admin",
        changes=True,
    ),
    Route("GET", "/staff/webhooks", "/staff/webhooks", staff_only(SUPERVISOR, OK)),
    Route(
        "POST",
        "/staff/webhooks/<event_id>/retry",
        "/staff/webhooks/{webhook}/retry",
        staff_only(SUPERVISOR, see_other("/staff/webhooks")),
        form=lambda w: {},
        csrf_actor="supervisor",
        changes=True,
    ),
    Route("GET", "/staff/api-keys", "/staff/api-keys", staff_only(ADMIN, OK)),
    Route(
        "POST",
        "/staff/api-keys/<name>/revoke",
        "/staff/api-keys/to-revoke/revoke",
        staff_only(ADMIN, see_other("/staff/api-keys")),
        form=lambda w: {},
        csrf_actor="admin",
        changes=True,
    ),
]


def table_for(config: str) -> list[Route]:
    return [r for r in TABLE if r.config in (None, config)]


# -- the app and its records ------------------------------------------------------------------


@pytest.fixture(params=CONFIGS)
def config(request) -> str:
    return request.param


@pytest.fixture
def settings(settings, config):
    """Stripe runs as in production, behind https://."""
    return replace(settings, base_url="https://portal.test") if config == "stripe" else settings


@pytest.fixture
def world(request, config, lopez, smith) -> World:
    """Patients A (100234) and B (100777) with posted card payments, A's manual payment and
    open checkouts, two queue items, an opt-out link, and good, revoked and spare API keys."""
    app = request.getfixturevalue("app" if config == "sandbox" else "stripe_app")
    services = app.extensions["portal"]
    stub = request.getfixturevalue("stub") if config == "stripe" else None
    w = World(app, services)
    w.staff("associate")  # the staff sign-in form's user
    w.ids["card_a"] = card_payment(services, stub, "pay_route_test_a", "100234")
    w.ids["card_b"] = card_payment(services, stub, "pay_route_test_b", "100777")
    manual = post_manual_payment(
        services, "setup", "100234", "cash", "5.00", "", "f" * 32, "127.0.0.1"
    )
    w.ids["manual"] = manual.payment.payment_id
    if config == "sandbox":
        w.ids["checkout"] = start_payment(services, "100234", "10.00").session_id
        w.ids["checkout_cancel"] = start_payment(services, "100234", "11.00").session_id
        back = f"{services.settings.base_url}/plans/plan_route_test/method"
        w.ids["setup"] = services.payments.create_setup(
            SetupRequest("plan_route_test", back + "?session_id={CHECKOUT_SESSION_ID}", back)
        ).session_id
    for name in ("escalation", "escalation_to_resolve"):
        item = open_escalation(
            services, "setup", "100234", EscalationKind.OTHER, "Route test", key=name
        )
        w.ids[name] = str(item.escalation_id)
    w.ids["optout"] = opt_out_url(services, "100234").rsplit("/", 1)[1]
    w.ids["pay_link"] = pay_link_token(services, "100234")
    services.store.save_sms_consent(
        SmsConsent("100234", "+15555550141", NOW - timedelta(days=3), "intake form")
    )
    # An address none of the other routes writes to (their e-mails still go).
    apply_ses_event(services, bounce("gone@example.net", "100234"), "route-test-bounce")
    import_statement(  # B owes $190.00: a plan can be offered (the plan link)
        services,
        smith,
        statement("S-2026-000201", (20_000,), account_number="100777"),
        notify=False,
    )
    for name, number in (("plan_a", "plan_route_a"), ("plan_b", "plan_route_b")):
        account = "100234" if name == "plan_a" else "100777"
        plan = Plan(number, account, PlanKind.INSTALLMENTS, 1, NOW, installments=ROUTE_PLAN)
        assert services.store.add_plan(plan)
        w.ids[name] = number
    for name, number, statement_id in (
        ("case_a", "100234", "S-2026-000123"),
        ("case_b", "100777", "S-2026-000201"),
    ):
        asked = ask_question(
            services,
            number,
            Viewer.guarantor(),
            statement_id,
            None,
            "other",
            f"Route test {name[-1].upper()}",
            (name[-1] * 32).replace("a", "9"),
        )
        w.ids[name] = asked.case_id
    # A remittance whose claims match nothing: its work items are there to resolve.
    import_remittances(services, UNMATCHED_835, "setup")
    good = create_api_key(services, "route-test", "setup").key
    revoked = create_api_key(services, "revoked", "setup").key
    revoke_api_key(services, "revoked", "setup")
    create_api_key(services, "to-revoke", "setup")
    w.ids["webhook"] = failed_delivery(services)
    w.ids["payout"] = unreconciled_payout(services)
    w.keys = {
        "good key": f"Bearer {good}",
        "revoked key": f"Bearer {revoked}",
        "bad key": f"Bearer {good[:-4]}xxxx",
    }
    return w


def card_payment(services, stub, payment_id: str, account_number: str) -> str:
    """A $40.00 card payment, posted (and, with Stripe, known to Stripe so it can be refunded)."""
    reference = f"pi_{payment_id}"
    services.store.create_payment(
        Payment(
            payment_id,
            account_number,
            4000,
            PaymentStatus.PENDING,
            "card",
            services.settings.payments,
            NOW,
        )
    )
    apply_gateway_event(
        services, GatewayEvent(EventKind.PAYMENT_SUCCEEDED, payment_id, reference, 4000)
    )
    if stub is not None:
        stub.payment_intents[reference] = {
            "id": reference,
            "object": "payment_intent",
            "amount": 4000,
            "status": "succeeded",
            "latest_charge": f"ch_{payment_id}",
            "metadata": {"payment_id": payment_id},
        }
    return payment_id


def failed_delivery(services) -> str:
    """A money event whose webhook delivery was given up on (staff may try it again)."""
    store = services.store
    page = store.money_events(0, 1)
    assert store.add_deliveries(0, page, NOW)
    delivery = store.get_delivery(page.events[0].event_id)
    failed = replace(delivery, state=DeliveryState.FAILED, attempts=9, done_at=NOW)
    assert store.save_delivery(delivery, failed)
    return delivery.event_id


def unreconciled_payout(services) -> str:
    """A card payout kept not reconciled (a supervisor may mark it checked)."""
    missing = Unmatched("not posted", "pi_route", 1_200, None, "txn_route")
    report = PayoutReport(Payout("po_route", 1_000, NOW.date()), 1_200, unmatched=(missing,))
    assert services.store.add_payout(PayoutRecord(report, ("pi_route",), NOW))
    return "po_route"


def snapshot(services) -> tuple:
    """Everything a request could change, short of sessions."""
    store = services.store
    accounts = []
    for number in ("100234", "100777"):
        found = store.account_records(number)
        accounts.append(
            (
                tuple((p.payment_id, p.status, p.refunded_cents) for p in found.payments),
                len(found.entries),
                len(store.notes(number)),
                store.get_account(number).reminders_opted_out_at,
                store.sms_consent(number),
            )
        )
    return (
        tuple(accounts),
        tuple((b.account_number, b.balance_cents) for b in store.open_balances(NOW)),
        tuple((e.escalation_id, e.owner, e.promise_to_pay_on) for e in store.escalations()),
        tuple((u.username, u.password_hash, u.session_epoch) for u in store.staff_users()),
        tuple((k.name, k.revoked_at) for k in store.api_keys()),
        tuple(r.address for r in store.undeliverable_addresses()),
        tuple((d.event_id, d.state) for d in store.failed_deliveries()),
        tuple((r.payout_id, r.version) for r in store.unreconciled_payouts()),
        tuple(
            (p.plan_id, p.version, p.canceled_at)
            for number in ("100234", "100777")
            for p in store.account_plans(number)
        ),
        tuple(
            (c.case_id, c.version)
            for number in ("100234", "100777")
            for c in store.account_cases(number)
        ),
        len(store.audit_entries(limit=10_000)),
        len(list(Path(services.settings.outbox_dir).glob("*.eml"))),
    )


# -- requests ---------------------------------------------------------------------------------


def signed_in(world: World, actor: str):
    """A browser for the actor and the CSRF token of its session."""
    client = world.app.test_client()
    if actor == "patient":
        sign_in(client)
        return client, token_from(client, "/account")
    if actor in STAFF:
        staff_sign_in(client, world.services, world.staff(actor))
        return client, token_from(client, "/staff/")
    return client, token_from(client, "/pay")


def fork(world: World, client):
    """Another browser with the same session cookie: what a request does to its own cookie
    (signing in as someone else, clearing the session) stays out of the next request."""
    copy = world.app.test_client()
    name = world.app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    if cookie is not None:
        copy.set_cookie(name, cookie.value)
    return copy


def send(world: World, client, route: Route, actor: str, token: str | None):
    path = route.path.format(**world.ids)
    headers = {"Authorization": world.keys[actor]} if actor in world.keys else {}
    if route.method == "GET":
        return client.get(path, headers=headers)
    if route.exempt is not None:
        arguments = route.exempt(world)
        headers.update(arguments.pop("headers", {}))
        return client.open(path, method=route.method, headers=headers, **arguments)
    data = route.form(world)
    if token is not None:
        data["csrf_token"] = token
    return client.open(path, method=route.method, data=data, headers=headers)


def check(world: World, route: Route, response, expected: Expect) -> list[str]:
    problems = expected.problems(response)
    problems += header_problems(response, world.services.settings.secure_cookies, route.public)
    if response.mimetype == "text/html" and response.status_code == 200:
        problems += inline_problems(response.get_data(as_text=True))
    return problems


def in_order(routes: list[Route]) -> list[Route]:
    """Reads, then changes, then what ends the session (the order of the table otherwise)."""
    return sorted(routes, key=lambda r: (r.ends_session, r.method != "GET"))


# -- the sweeps -------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ACTORS)
def test_every_route_answers_each_caller_as_the_table_says(world, config, actor):
    client, token = signed_in(world, actor)
    failures = []
    for route in in_order(table_for(config)):
        expected = route.expected(actor)
        before = snapshot(world.services) if expected.refused else None
        response = send(world, fork(world, client), route, actor, token)
        problems = check(world, route, response, expected)
        if before is not None and snapshot(world.services) != before:
            problems.append("a refused request changed something")
        if problems:
            failures.append(f"{route.label()} as {actor}: {'; '.join(problems)}")
    assert not failures, "\n".join(failures)


CSRF_CASES = [
    pytest.param(config, route, id=f"{config}: {route.label()}")
    for config in CONFIGS
    for route in table_for(config)
    if route.takes_csrf and not route.variant
]


@pytest.mark.parametrize(("config", "route"), CSRF_CASES, indirect=["config"])
def test_a_form_post_without_its_csrf_token_is_refused_and_changes_nothing(world, route):
    actor = route.csrf_actor
    client, token = signed_in(world, actor)
    before = snapshot(world.services)

    refused = send(world, client, route, actor, token=None)

    assert refused.status_code == 400, refused.status_code
    assert "This form was out of date" in refused.get_data(as_text=True)
    assert header_problems(refused, world.services.settings.secure_cookies) == []
    assert snapshot(world.services) == before
    if actor == "patient":
        assert client.get("/account").status_code == 200  # still signed in
    elif actor in STAFF:
        assert client.get("/staff/").status_code == 200

    # The same request with its token is what the table expects: the token was all it lacked.
    accepted = send(world, client, route, actor, token)

    assert route.expected(actor).problems(accepted) == []
    assert header_problems(accepted, world.services.settings.secure_cookies, route.public) == []
    assert (snapshot(world.services) != before) is route.changes


# -- the table itself ----------------------------------------------------------------------------


def routes_of(app) -> set[tuple[str, str]]:
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_the_table_has_an_entry_for_every_route(world, config):
    tabled = {(r.rule, r.method) for r in table_for(config) if not r.variant}

    missing = routes_of(world.app) - tabled
    assert not missing, f"routes without an entry in TABLE (add one): {sorted(missing)}"


def test_every_table_entry_is_a_route_and_its_path_matches_its_rule(world, config):
    """No stale entries, and no path that lands on another rule than the one it is for."""
    tabled = {(r.rule, r.method) for r in table_for(config)}
    assert not tabled - routes_of(world.app), sorted(tabled - routes_of(world.app))

    adapter = world.app.url_map.bind("portal.test")
    sample = defaultdict(lambda: "1")
    for route in table_for(config):
        path = urlsplit(route.path.format_map(sample)).path
        rule, _ = adapter.match(path, method=route.method, return_rule=True)
        assert rule.rule == route.rule, route.label()


def test_every_caller_has_an_outcome_for_every_entry():
    for route in TABLE:
        assert set(route.expect) >= set(SESSIONS), route.label()
        if route.method != "GET":
            assert (route.form is None) != (route.exempt is None), route.label()


def test_the_only_posts_without_a_csrf_token_prove_themselves_otherwise():
    """Exempt: the API (bearer key), Stripe and SNS (signatures), the one-click opt-out
    (signed token). Each has entries where the wrong credential is refused."""
    exempt = {r.rule for r in TABLE if r.method != "GET" and r.exempt is not None}
    assert exempt == {
        "/api/v1/statements",
        "/api/v1/remittances",
        "/webhooks/stripe",
        "/webhooks/sms",
        "/reminders/stop/<token>",
    }
    for rule in exempt:
        assert any(r.expected("anonymous").refused for r in TABLE if r.rule == rule), rule
