"""axe-core in Chromium: no WCAG 2.1 A or AA violation on any patient page or the main
billing console pages, at phone (375 px) and desktop (1280 px) widths.

One live portal for the module, loaded with the demo data (tables, charts, badges and
notices all render) plus a few payments, an escalation, a note and an API key; one
signed-in browser context per viewport and kind of visitor. Each page x viewport is its
own test, and a failure names every violation: the rule, the elements and what to fix.

Besides axe's WCAG 2.1 A/AA rules (tags wcag2a, wcag2aa, wcag21a, wcag21aa), each page is
held to what axe leaves open: colour contrast it marks "needs review", placeholder and
chart text contrast, and a visible keyboard focus on every control. No rule is disabled.
"""

import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import axe_playwright_python
import pyotp
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from portal import create_app
from portal.bootstrap import build_services
from portal.clock import FixedClock
from portal.config import Settings
from portal.domain.aging import practice_date
from portal.domain.payouts import Payout, PayoutRecord, PayoutReport, Unmatched
from portal.domain.plan_terms import text_digest
from portal.domain.plans import Attempt, Installment, Outcome, Plan, PlanKind, SavedMethod
from portal.domain.staff import EscalationKind
from portal.domain.viewers import Viewer
from portal.ports.payments import EventKind, GatewayEvent, SetupRequest
from portal.services.api_keys import create_api_key
from portal.services.cases import ask_question, staff_reply
from portal.services.context import Services
from portal.services.demo import load_demo
from portal.services.mail_feedback import apply_ses_event
from portal.services.notices import opt_out_url
from portal.services.payments import apply_gateway_event, start_payment
from portal.services.payouts import sandbox_payouts
from portal.services.plans import (
    agree,
    cancel_plan,
    finish_method_setup,
    propose,
    start_method_setup,
)
from portal.services.staff_actions import add_note, open_escalation, post_manual_payment
from portal.services.staff_auth import current_code
from tests.browser.conftest import DESKTOP, PHONE, serving
from tests.conftest import NOW
from tests.ses_events import bounce

# The axe-core that axe-playwright-python bundles (4.12.1, pinned in uv.lock).
AXE_SOURCE = Path(axe_playwright_python.__file__).with_name("axe.min.js").read_text()
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# axe, plus what it does not decide. It leaves placeholder text unchecked and reports text
# inside an SVG chart as "needs review" (it finds no background under SVG text), so those
# are measured here: their colour against the nearest opaque background. Any other
# "needs review" colour contrast counts as a failure, so text that axe cannot check (over
# an image, squeezed under another element) is not waved through. And focus visible
# (2.4.7), which axe does not test.
CHECK_PAGE = """async (tags) => {
  const results = await axe.run(document, {
    runOnly: {type: 'tag', values: tags},
    resultTypes: ['violations', 'incomplete'],
  });
  const inChart = (node) => typeof node.target[0] === 'string'
    && !!document.querySelector(node.target[0])?.closest('svg.chart');
  const unresolved = results.incomplete
    .filter((rule) => rule.id === 'color-contrast')
    .map((rule) => ({...rule, nodes: rule.nodes.filter((node) => !inChart(node))}))
    .filter((rule) => rule.nodes.length);

  const channels = (colour) => (colour.match(/[\\d.]+/g) || []).map(Number);
  const opaque = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = channels(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const over = (fg, bg) => fg.length === 4
    ? bg.map((b, i) => fg[i] * fg[3] + b * (1 - fg[3])) : fg;
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (fg, bg) => {
    const [hi, lo] = [luminance(over(fg, bg)), luminance(bg)].sort((a, b) => b - a);
    return (hi + 0.05) / (lo + 0.05);
  };
  const low = [];
  const measure = (el, what, colour) => {
    const bg = opaque(el);
    const r = ratio(channels(colour), bg);
    if (r < 4.5) low.push(`${el.tagName.toLowerCase()}#${el.id} ${what} `
      + `${JSON.stringify((el.placeholder || el.textContent).slice(0, 40))}: `
      + `${r.toFixed(2)}:1 (${colour} on rgb(${bg.join(', ')})), needs 4.5:1`);
  };
  document.querySelectorAll('input[placeholder], textarea[placeholder]').forEach(
    (el) => measure(el, 'placeholder', getComputedStyle(el, '::placeholder').color));
  document.querySelectorAll('svg.chart text').forEach(
    (el) => measure(el, 'chart text', getComputedStyle(el).fill));

  // Focus visible (2.4.7), which axe does not test: every control, focused as from the
  // keyboard, draws an outline of 2px or more, or a box shadow.
  const unfocused = [];
  const focusable = 'a[href], button, input:not([type="hidden"]), select, textarea, summary, '
    + '[tabindex]:not([tabindex="-1"])';
  for (const el of document.querySelectorAll(focusable)) {
    if (el.disabled || !el.getClientRects().length) continue;
    el.focus({focusVisible: true, preventScroll: true});
    const style = getComputedStyle(el);
    const ring = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2)
      || style.boxShadow !== 'none';
    if (document.activeElement !== el || !el.matches(':focus-visible') || !ring) {
      unfocused.push(el.outerHTML.slice(0, 100));
    }
  }
  return {
    version: results.testEngine.version,
    violations: results.violations,
    unresolved: unresolved,
    lowContrast: low,
    unfocused: unfocused,
  };
}"""
OPEN_DETAILS = "document.querySelectorAll('details').forEach((d) => { d.open = true; })"

VIEWPORTS = {
    "375": {"viewport": PHONE, "is_mobile": True, "has_touch": True},
    "1280": {"viewport": DESKTOP},
}

# Demo logins and the patient whose pages are checked (portal/services/demo.py): a
# past-due statement and an earlier card payment, so badges and history render.
ADMIN = ("admin", "demo-admin-password")
ASSOCIATE = ("associate", "demo-associate-pass")
PATIENT = {"account": "100529", "last_name": "Goldberg", "born": "1986-05-27"}
# A guarantor with no plan and a balance that allows one ($378.48), for the plan offer.
PLANNER = {"account": "100257", "last_name": "Núñez", "born": "1971-11-30"}
GOOD_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"


@dataclass
class Site:
    base_url: str
    services: Services
    receipt_path: str  # a card payment completed through the sandbox checkout
    pending_path: str  # a payment whose checkout is still open
    checkout_path: str  # that open checkout
    failed_path: str  # another account's failed payment (seen without its session)
    optout_path: str
    setup_path: str  # the sandbox's page that saves a payment method for a plan
    plan_path: str  # the patient's running payment plan (a card saved)
    canceled_plan_path: str  # the patient's earlier plan, canceled
    case_id: str  # the patient's question, answered by the billing office


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("a11y")
    port = _free_port()
    settings = Settings.from_env(
        {
            "PORTAL_SQLITE_PATH": str(folder / "portal.sqlite3"),
            "PORTAL_OUTBOX_DIR": str(folder / "outbox"),
            "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
        }
    )
    services = build_services(settings, clock=FixedClock(NOW))
    services.store.migrate()
    load_demo(services)
    number = PATIENT["account"]
    # The patient's plans (set up while the balance, $123.38, allows one): one canceled,
    # then the one that runs.
    canceled = plan_with_card(services, number)
    cancel_plan(services, canceled.plan_id, None, "Canceled by the patient.")
    running = plan_with_card(services, number)

    # A card payment through the sandbox's own path (posting, receipt e-mail, mail log).
    paid = start_payment(services, number, "25.00")
    session = services.payments.open_session(paid.url.rsplit("/", 1)[1])
    apply_gateway_event(services, services.payments.charge(session, GOOD_CARD))
    # A payment left at the checkout page, and a failed one for the console's problem list.
    pending = start_payment(services, number, "10.00")
    pending_session = services.payments.open_session(pending.url.rsplit("/", 1)[1])
    failed = start_payment(services, "100257", "20.00")
    failed_session = services.payments.open_session(failed.url.rsplit("/", 1)[1])
    apply_gateway_event(
        services,
        GatewayEvent(
            EventKind.PAYMENT_FAILED,
            failed_session.payment_id,
            "sbx_pi_failed",
            message="Your card was declined.",
        ),
    )
    # Console data: a check today, a note, an open escalation, an API key.
    post_manual_payment(services, "admin", number, "check", "15.00", "2044", "a" * 32, "10.0.0.1")
    add_note(services, "admin", number, "Called about the balance; will pay Friday.", None, "")
    open_escalation(
        services, "admin", number, EscalationKind.DISPUTE, "Says the lab test was covered."
    )
    create_api_key(services, "billing-system", "admin")
    add_plans(services, number)
    # Card payouts: the sandbox's of the days before, and one not reconciled (its notice).
    today = practice_date(services.clock.now(), services.settings.tz)
    sandbox_payouts(services, today)
    payout = Payout("po_a11y", 1_000, today)
    missing = Unmatched("not posted", "pi_a11y", 1_200, None, "txn_a11y")
    report = PayoutReport(payout, gross_cents=1_200, fees_cents=200, unmatched=(missing,))
    services.store.add_payout(PayoutRecord(report, ("pi_a11y",), services.clock.now()))
    # SES reported the patient's address as bouncing: the notices on the patient's and the
    # staff account pages, and a row of the console's list of bad addresses.
    address = services.store.get_account(number).guarantor.email
    apply_ses_event(services, bounce(address, number), "a11y-bounce")
    # A question about the patient's oldest statement, with the billing office's reply.
    oldest = services.store.account_records(number).statements[0].statement_id
    asked = ask_question(
        services,
        number,
        Viewer.guarantor(),
        oldest,
        None,
        "insurance_should_pay",
        "My plan covers this visit.",
        "b" * 32,
    )
    staff_reply(services, "admin", asked.case_id, "reply", "We are checking.", "c" * 32, "")

    with serving(create_app(services=services), port):
        yield Site(
            base_url=settings.base_url,
            services=services,
            receipt_path=f"/payments/{session.payment_id}",
            pending_path=f"/payments/{pending_session.payment_id}",
            failed_path=f"/payments/{failed_session.payment_id}",
            checkout_path=_path(pending.url),
            optout_path=_path(opt_out_url(services, number)),
            plan_path=f"/plans/{running.plan_id}",
            canceled_plan_path=f"/plans/{canceled.plan_id}",
            case_id=asked.case_id,
            setup_path=_path(
                services.payments.create_setup(
                    SetupRequest(
                        "plan_a11y",
                        f"{settings.base_url}/account?session_id={{CHECKOUT_SESSION_ID}}",
                        f"{settings.base_url}/account",
                    )
                ).url
            ),
        )


def plan_with_card(services: Services, number: str) -> Plan:
    """A plan of two months agreed on the patient's way, the sandbox's test card saved."""
    viewer = Viewer.guarantor()
    proposal = propose(services, number, viewer, months="2", day="15")
    plan = agree(services, number, viewer, proposal, text_digest(proposal.text), "10.0.0.9")
    session_id = start_method_setup(services, plan).rsplit("/", 1)[1]
    done = services.payments.save_card(services.payments.open_setup(session_id), GOOD_CARD)
    return finish_method_setup(services, plan.plan_id, done)


def add_plans(services: Services, number: str) -> None:
    """A running plan with a paid and a declined try, and an older canceled one, for the
    account page's plans section and the list of plans."""
    card = SavedMethod("pm_a11y", "cus_a11y", "card", "visa", "4242")
    start = NOW.date() - timedelta(days=40)
    schedule = tuple(
        Installment(n, start + timedelta(days=30 * (n - 1)), 5_000) for n in (1, 2, 3, 4, 5)
    )
    tries = (
        Attempt(1, 1, start, Outcome.SUCCEEDED, "pay_a11y_1", "sbx_pi_a11y_1"),
        Attempt(
            2,
            1,
            start + timedelta(days=30),
            Outcome.SOFT_DECLINE,
            "pay_a11y_2",
            "sbx_pi_a11y_2",
            "Your card was declined.",
        ),
    )
    older = Plan(
        "plan_a11y_old",
        number,
        PlanKind.INSTALLMENTS,
        start.day,
        NOW - timedelta(days=90),
        schedule[:2],
        canceled_at=NOW - timedelta(days=60),
        cancel_reason="Paid in full by check.",
    )
    running = Plan(
        "plan_a11y_running",
        number,
        PlanKind.INSTALLMENTS,
        start.day,
        NOW - timedelta(days=45),
        schedule,
        method=card,
        attempts=tries,
    )
    for plan in (older, running):
        assert services.store.add_plan(plan)


class Tabs:
    """Browser contexts per (viewport, visitor): 'anon', 'patient' (signed in to Quick
    Pay), 'planner' (another account, signed in to Quick Pay), 'staff' (an admin signed in
    with password and TOTP) or 'fresh' (a new context for this test only, for pages that
    change the session)."""

    def __init__(self, browser, site: Site):
        self.browser = browser
        self.site = site
        self.contexts: dict[tuple[str, str], BrowserContext] = {}
        self.states: dict[str, dict] = {}

    def new_context(self, viewport: str, state: dict | None = None) -> BrowserContext:
        context = self.browser.new_context(
            base_url=self.site.base_url, storage_state=state, **VIEWPORTS[viewport]
        )
        context.set_default_timeout(10_000)
        # axe-core in every document of the context, sent to the browser once. It runs
        # through the DevTools protocol, so the portal's Content-Security-Policy (no inline
        # script) does not block it.
        context.add_init_script(script=AXE_SOURCE)
        return context

    def open(self, viewport: str, who: str) -> Page:
        if who == "fresh":
            return self.new_context(viewport).new_page()
        key = (viewport, who)
        if key not in self.contexts:
            state = self._signed_in(who) if who != "anon" else None
            self.contexts[key] = self.new_context(viewport, state)
        return self.contexts[key].new_page()

    def _signed_in(self, who: str) -> dict:
        """Sign in once through the real pages; each viewport's context gets the cookie
        (a TOTP code is accepted only once). A visitor named "...-es" has chosen Spanish
        with the language switch (after signing in, as the first one's base visitor)."""
        if who not in self.states:
            context = self.new_context("1280")
            page = context.new_page()
            base = who.removesuffix(SPANISH)
            if base in ("patient", "planner"):
                quick_pay_sign_in(page, PATIENT if base == "patient" else PLANNER)
            elif base != "anon":
                staff_sign_in(page, self.site, *ADMIN)
            if who.endswith(SPANISH):
                page.goto("/pay")
                page.get_by_role("link", name="Español").click()
                heading(page, "Pague su factura")
            self.states[who] = context.storage_state()
            context.close()
        return self.states[who]

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


@pytest.fixture(scope="module")
def tabs(browser, site: Site) -> Iterator[Tabs]:
    opened = Tabs(browser, site)
    try:
        yield opened
    finally:
        opened.close()


# -- getting to each page --------------------------------------------------------------------


def heading(page: Page, name: str | re.Pattern) -> None:
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()


def quick_pay_sign_in(page: Page, who: dict = PATIENT) -> None:
    page.goto("/pay")
    page.get_by_label("Account number", exact=True).fill(who["account"])
    page.get_by_label("Last name", exact=True).fill(who["last_name"])
    page.get_by_label("Date of birth", exact=True).fill(who["born"])
    page.get_by_role("button", name="Find my balance").click()
    heading(page, "Your balance")


def password_step(page: Page, username: str, password: str) -> None:
    page.goto("/staff/login")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Continue").click()
    heading(page, "Enter your sign-in code")


def staff_sign_in(page: Page, site: Site, username: str, password: str) -> None:
    password_step(page, username, password)
    user = site.services.store.get_staff_user(username)
    page.get_by_label("Code from your authenticator app").fill(current_code(user, site.services))
    page.get_by_role("button", name="Sign in").click()
    heading(page, re.compile(r"^Today, "))


def wrong_code(site: Site, username: str) -> str:
    """A 6-digit code that none of the accepted time steps gives."""
    user = site.services.store.get_staff_user(username)
    totp = pyotp.TOTP(user.totp_secret)
    step = totp.timecode(site.services.clock.now())
    accepted = {totp.generate_otp(s) for s in (step - 1, step, step + 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted)


def goto(path: str, title: str | re.Pattern, status: int = 200) -> Callable:
    def visit(page: Page, site: Site, viewport: str) -> None:
        where = path.format(
            pending=site.pending_path,
            failed=site.failed_path,
            receipt=site.receipt_path,
            optout=site.optout_path,
            plan=site.plan_path,
            canceled_plan=site.canceled_plan_path,
            case=site.case_id,
        )
        response = page.goto(where)
        assert response is not None and response.status == status, (where, response)
        heading(page, title)

    return visit


def lookup_invalid(page: Page, site: Site, viewport: str) -> None:
    page.goto("/pay")
    page.get_by_role("button", name="Find my balance").click()
    expect(page.get_by_role("alert").filter(has_text="There is a problem")).to_be_visible()


def lookup_not_found(page: Page, site: Site, viewport: str) -> None:
    page.goto("/pay")
    page.get_by_label("Account number", exact=True).fill(PATIENT["account"])
    page.get_by_label("Last name", exact=True).fill("Nobody")
    page.get_by_label("Date of birth", exact=True).fill("1900-01-01")
    page.get_by_role("button", name="Find my balance").click()
    expect(page.get_by_role("alert")).to_contain_text("could not find an account")


def statement(page: Page, site: Site, viewport: str) -> None:
    page.goto("/account")
    page.locator(".statement-row a").first.click()
    heading(page, re.compile(r"^Statement "))


def amount_invalid(page: Page, site: Site, viewport: str) -> None:
    page.goto("/account")
    page.get_by_label("Amount", exact=True).fill("0.10")
    page.get_by_role("button", name="Pay this amount").click()
    expect(page.get_by_role("alert").filter(has_text="There is a problem")).to_be_visible()


def checkout(page: Page, site: Site, viewport: str) -> None:
    page.goto(site.checkout_path)
    heading(page, "Checkout")


def checkout_declined(page: Page, site: Site, viewport: str) -> None:
    page.goto(site.checkout_path)
    page.get_by_label("Card number").fill(DECLINED_CARD)
    page.get_by_label("Expiry (MM/YY)").fill("12/30")
    page.get_by_label("CVC", exact=True).fill("123")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page.get_by_role("alert")).to_contain_text("declined")


def fits(page: Page, viewport: str) -> None:
    if viewport == "375":
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page is {width}px wide at {PHONE['width']}px"


def setup_page(page: Page, site: Site, viewport: str) -> None:
    page.goto(site.setup_path)
    heading(page, "Save a payment method")
    fits(page, viewport)


def setup_declined(page: Page, site: Site, viewport: str) -> None:
    page.goto(site.setup_path)
    page.get_by_label("Card number").fill(DECLINED_CARD)
    page.get_by_label("Expiry (MM/YY)").fill("12/30")
    page.get_by_label("CVC", exact=True).fill("123")
    page.get_by_role("button", name="Save card").click()
    expect(page.get_by_role("alert")).to_contain_text("declined")
    page.get_by_role("button", name="Save bank account").click()
    expect(page.get_by_role("alert").filter(has_text="There is a problem")).to_be_visible()
    fits(page, viewport)


def plan_offer(page: Page, site: Site, viewport: str) -> None:
    page.goto("/plans/new")
    heading(page, "Pay over time")
    expect(page.get_by_label("Number of months", exact=True)).to_be_visible()
    fits(page, viewport)


def plan_choice_invalid(page: Page, site: Site, viewport: str) -> None:
    page.goto("/plans/new")
    page.get_by_label("A monthly amount", exact=True).fill("10.00")
    page.get_by_role("button", name="See the schedule").click()
    expect(page.get_by_role("alert").filter(has_text="There is a problem")).to_be_visible()
    fits(page, viewport)


def plan_review(page: Page, site: Site, viewport: str) -> None:
    page.goto("/plans/new")
    page.get_by_label("Number of months", exact=True).select_option("3")
    page.get_by_role("button", name="See the schedule").click()
    heading(page, "Your payment plan")
    expect(page.get_by_test_id("authorization")).to_be_visible()
    fits(page, viewport)


def plan_unticked(page: Page, site: Site, viewport: str) -> None:
    plan_review(page, site, viewport)
    page.get_by_role("button", name="Agree and save a payment method").click()
    expect(page.get_by_role("alert")).to_contain_text("Tick the box to agree")
    fits(page, viewport)


def plan_page(path: str, status: str) -> Callable:
    def visit(page: Page, site: Site, viewport: str) -> None:
        goto(path, "Your payment plan")(page, site, viewport)
        expect(page.get_by_test_id("plan-status")).to_have_text(status)
        fits(page, viewport)

    return visit


def optout_done(page: Page, site: Site, viewport: str) -> None:
    page.goto(site.optout_path)
    page.get_by_role("button", name="Stop payment reminders").click()
    heading(page, "Payment reminders stopped")


def login_failed(page: Page, site: Site, viewport: str) -> None:
    page.goto("/staff/login")
    page.get_by_label("Username", exact=True).fill(f"nobody-{viewport}")
    page.get_by_label("Password", exact=True).fill("not the password at all")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")


def code_step(page: Page, site: Site, viewport: str) -> None:
    password_step(page, *ASSOCIATE)


def code_failed(page: Page, site: Site, viewport: str) -> None:
    password_step(page, *ASSOCIATE)
    page.get_by_label("Code from your authenticator app").fill(wrong_code(site, ASSOCIATE[0]))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")


def staff_account_posted(page: Page, site: Site, viewport: str) -> None:
    page.goto(f"/staff/accounts/{PATIENT['account']}")
    post = page.get_by_role("region", name="Post a payment")
    post.get_by_label("Method", exact=True).select_option(label="Cash")
    post.get_by_label("Amount", exact=True).fill("5.00")
    post.get_by_role("button", name="Post payment").click()
    expect(page.get_by_role("status").filter(has_text="Posted")).to_be_visible()


def staff_account_invalid(page: Page, site: Site, viewport: str) -> None:
    page.goto(f"/staff/accounts/{PATIENT['account']}")
    page.get_by_role("button", name="Post payment").click()
    expect(page.get_by_role("alert").filter(has_text="There is a problem")).to_be_visible()


def import_result(page: Page, site: Site, viewport: str) -> None:
    page.goto("/staff/import")
    document = {"statements": [{"statement_id": "S-BAD-1", "account_number": "oops"}]}
    page.get_by_label(re.compile(r"^Statements file")).set_input_files(
        files=[
            {
                "name": "statements.json",
                "mimeType": "application/json",
                "buffer": json.dumps(document).encode(),
            }
        ]
    )
    page.get_by_label(re.compile(r"Dry run")).check()
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("table", name=re.compile(r"^Rejected statements"))).to_be_visible()


def plan_skipped(page: Page, site: Site, viewport: str) -> None:
    page.goto(f"/staff/accounts/{PATIENT['account']}")
    plan = page.get_by_role("article", name=re.compile(r"^Plan plan_a11y_running"))
    plan.get_by_label("Reason for skipping it").fill("Hardship, agreed on the phone")
    plan.get_by_role("button", name="Skip the installment").click()
    expect(page.get_by_role("status").filter(has_text="skipped")).to_be_visible()


def user_added(page: Page, site: Site, viewport: str) -> None:
    page.goto("/staff/users")
    page.get_by_label("Username", exact=True).fill(f"clerk-{viewport}")
    page.get_by_label("Role", exact=True).select_option("associate")
    page.get_by_label("Password", exact=True).fill("a long enough passphrase")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("img", name="QR code for the authenticator app")).to_be_visible()


def question_page(page: Page, site: Site, viewport: str) -> None:
    statement(page, site, viewport)
    page.get_by_role("link", name=re.compile(r"^Question this charge")).first.click()
    heading(page, "Question a charge")
    fits(page, viewport)


def question_invalid(page: Page, site: Site, viewport: str) -> None:
    question_page(page, site, viewport)
    page.get_by_role("button", name="Send my question").click()
    expect(page.get_by_role("alert").filter(has_text="There is a problem")).to_be_visible()
    fits(page, viewport)


def help_invalid(page: Page, site: Site, viewport: str) -> None:
    page.goto("/account/help")
    page.get_by_role("button", name="Ask for help").click()
    expect(page.get_by_role("alert").filter(has_text="There is a problem")).to_be_visible()
    fits(page, viewport)


def case_page(page: Page, site: Site, viewport: str) -> None:
    goto("/account/cases/{case}", "Insurance should have paid")(page, site, viewport)
    expect(page.get_by_test_id("messages")).to_contain_text("We are checking.")
    fits(page, viewport)


def staff_case_invalid(page: Page, site: Site, viewport: str) -> None:
    goto("/staff/cases/{case}", re.compile(r"^Case Q-"))(page, site, viewport)
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("alert").filter(has_text="There is a problem")).to_be_visible()


def lookup_invalid_es(page: Page, site: Site, viewport: str) -> None:
    page.goto("/pay")
    page.get_by_role("button", name="Buscar mi saldo").click()
    expect(page.get_by_role("alert").filter(has_text="Hay un problema")).to_be_visible()
    fits(page, viewport)


def lookup_not_found_es(page: Page, site: Site, viewport: str) -> None:
    page.goto("/pay")
    page.get_by_label("Número de cuenta", exact=True).fill(PATIENT["account"])
    page.get_by_label("Apellido", exact=True).fill("Nobody")
    page.get_by_label("Fecha de nacimiento", exact=True).fill("1900-01-01")
    page.get_by_role("button", name="Buscar mi saldo").click()
    expect(page.get_by_role("alert")).to_contain_text("No encontramos ninguna cuenta")
    fits(page, viewport)


def statement_es(page: Page, site: Site, viewport: str) -> None:
    page.goto("/account")
    page.locator(".statement-row a").first.click()
    heading(page, re.compile(r"^Estado de cuenta "))
    fits(page, viewport)


def amount_invalid_es(page: Page, site: Site, viewport: str) -> None:
    page.goto("/account")
    page.get_by_label("Monto", exact=True).fill("0.10")
    page.get_by_role("button", name="Pagar este monto").click()
    expect(page.get_by_role("alert").filter(has_text="Hay un problema")).to_be_visible()
    fits(page, viewport)


def question_page_es(page: Page, site: Site, viewport: str) -> None:
    statement_es(page, site, viewport)
    page.get_by_role("link", name=re.compile(r"^Preguntar por este cargo")).first.click()
    heading(page, "Preguntar por un cargo")
    fits(page, viewport)


def question_invalid_es(page: Page, site: Site, viewport: str) -> None:
    question_page_es(page, site, viewport)
    page.get_by_role("button", name="Enviar mi pregunta").click()
    alert = page.get_by_role("alert").filter(has_text="Hay un problema")
    expect(alert).to_contain_text("Elija el motivo de su pregunta.")
    fits(page, viewport)


def help_invalid_es(page: Page, site: Site, viewport: str) -> None:
    page.goto("/account/help")
    heading(page, "Ayuda para pagar su factura")
    page.get_by_role("button", name="Pedir ayuda").click()
    alert = page.get_by_role("alert").filter(has_text="Hay un problema")
    expect(alert).to_contain_text("Escriba cuántas personas viven en su hogar.")
    fits(page, viewport)


def case_page_es(page: Page, site: Site, viewport: str) -> None:
    goto("/account/cases/{case}", "El seguro debió pagarlo")(page, site, viewport)
    expect(page.get_by_test_id("messages")).to_contain_text("We are checking.")  # as written
    expect(page.get_by_test_id("case-status")).to_have_text("Respondida")
    fits(page, viewport)


def plan_offer_es(page: Page, site: Site, viewport: str) -> None:
    page.goto("/plans/new")
    heading(page, "Pagar a plazos")
    expect(page.get_by_label("Número de meses", exact=True)).to_be_visible()
    fits(page, viewport)


def plan_choice_invalid_es(page: Page, site: Site, viewport: str) -> None:
    page.goto("/plans/new")
    page.get_by_label("Un monto mensual", exact=True).fill("10.00")
    page.get_by_role("button", name="Ver el calendario de pagos").click()
    expect(page.get_by_role("alert").filter(has_text="Hay un problema")).to_be_visible()
    fits(page, viewport)


def plan_review_es(page: Page, site: Site, viewport: str) -> None:
    page.goto("/plans/new")
    page.get_by_label("Número de meses", exact=True).select_option("3")
    page.get_by_role("button", name="Ver el calendario de pagos").click()
    heading(page, "Su plan de pagos")
    expect(page.get_by_test_id("authorization")).to_be_visible()
    fits(page, viewport)


def plan_unticked_es(page: Page, site: Site, viewport: str) -> None:
    plan_review_es(page, site, viewport)
    page.get_by_role("button", name="Aceptar y guardar un método de pago").click()
    expect(page.get_by_role("alert")).to_contain_text("Marque la casilla para aceptar")
    fits(page, viewport)


def plan_page_es(path: str, status: str) -> Callable:
    def visit(page: Page, site: Site, viewport: str) -> None:
        goto(path, "Su plan de pagos")(page, site, viewport)
        expect(page.get_by_test_id("plan-status")).to_have_text(status)
        fits(page, viewport)

    return visit


def optout_done_es(page: Page, site: Site, viewport: str) -> None:
    page.goto(site.optout_path)
    page.get_by_role("button", name="Dejar de recibir recordatorios").click()
    heading(page, "Recordatorios de pago suspendidos")
    fits(page, viewport)


def checkout_es(page: Page, site: Site, viewport: str) -> None:
    page.goto(site.checkout_path)
    heading(page, "Pago")


def checkout_declined_es(page: Page, site: Site, viewport: str) -> None:
    page.goto(site.checkout_path)
    page.get_by_label("Número de tarjeta").fill(DECLINED_CARD)
    page.get_by_label("Vencimiento (MM/AA)").fill("12/30")
    page.get_by_label("Código de seguridad (CVC)", exact=True).fill("123")
    page.get_by_role("button", name=re.compile(r"^Pagar ")).click()
    expect(page.get_by_role("alert")).to_contain_text("rechazada")


def setup_page_es(page: Page, site: Site, viewport: str) -> None:
    page.goto(site.setup_path)
    heading(page, "Guardar un método de pago")


def setup_declined_es(page: Page, site: Site, viewport: str) -> None:
    page.goto(site.setup_path)
    page.get_by_label("Número de tarjeta").fill(DECLINED_CARD)
    page.get_by_label("Vencimiento (MM/AA)").fill("12/30")
    page.get_by_label("Código de seguridad (CVC)", exact=True).fill("123")
    page.get_by_role("button", name="Guardar tarjeta").click()
    expect(page.get_by_role("alert")).to_contain_text("rechazada")
    page.get_by_role("button", name="Guardar cuenta bancaria").click()
    expect(page.get_by_role("alert").filter(has_text="Hay un problema")).to_be_visible()


# Boxes whose text runs out of them (wider than the box: cut off, or over what is beside it).
# Scrolling boxes (a wide table's) and the screen readers' text are left out.
SPILLED_TEXT = """() => {
  const spilled = [];
  for (const el of document.body.querySelectorAll("*")) {
    const style = getComputedStyle(el);
    if (["inline", "none", "contents"].includes(style.display)) continue;
    if (["auto", "scroll"].includes(style.overflowX)) continue;
    if (el.closest(".visually-hidden, .table-wrap")) continue;
    if (el.getBoundingClientRect().width < 2) continue;
    if (el.scrollWidth > el.clientWidth + 1) {
      const text = (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 50);
      spilled.push(`${el.tagName.toLowerCase()}.${el.className}: ${text}`);
    }
  }
  return spilled;
}"""


def in_spanish(visit: Callable) -> Callable:
    """A page in Spanish (about a quarter longer than English): the page's own checks, then
    none of it wider than a phone and no text running out of its box there."""

    def visit_in_spanish(page: Page, site: Site, viewport: str) -> None:
        visit(page, site, viewport)
        expect(page.locator("html")).to_have_attribute("lang", "es")
        fits(page, viewport)
        if viewport == "375":
            assert page.evaluate(SPILLED_TEXT) == [], "text runs out of its box at 375px"

    return visit_in_spanish


SPANISH = "-es"
# The patient's pages again in Spanish (issue 18): each visitor chose it with the switch.
SPANISH_PAGES: dict[str, tuple[str, Callable]] = {
    # The public site's Spanish pages (/es/...: the path sets their language).
    "home": ("anon", goto("/es/", re.compile(r"^Pague su factura de "))),
    "how-to-pay": ("anon", goto("/es/how-to-pay", "Cómo pagar su factura")),
    "faq": ("anon", goto("/es/faq", "Preguntas frecuentes sobre su factura")),
    "contact": ("anon", goto("/es/contact", "Comuníquese con la oficina de facturación")),
    "privacy": ("anon", goto("/es/privacy", re.compile(r"^Aviso de privacidad"))),
    "pay": ("anon", goto("/pay", "Pague su factura")),
    "pay-invalid": ("anon", lookup_invalid_es),
    "pay-not-found": ("anon", lookup_not_found_es),
    "account": ("patient", goto("/account", "Su saldo")),
    "statement": ("patient", statement_es),
    "amount-invalid": ("patient", amount_invalid_es),
    "checkout": ("patient", checkout_es),
    "checkout-declined": ("patient", checkout_declined_es),
    "sandbox-setup": ("patient", setup_page_es),
    "sandbox-setup-invalid": ("patient", setup_declined_es),
    "case-question": ("patient", question_page_es),
    "case-question-invalid": ("patient", question_invalid_es),
    "help-paying": ("patient", goto("/account/help", "Ayuda para pagar su factura")),
    "billing-texts": ("patient", goto("/account/texts", "Mensajes de facturación")),
    "help-paying-invalid": ("patient", help_invalid_es),
    "case": ("patient", case_page_es),
    "plan-new": ("planner", plan_offer_es),
    "plan-new-invalid": ("planner", plan_choice_invalid_es),
    "plan-review": ("planner", plan_review_es),
    "plan-review-unticked": ("planner", plan_unticked_es),
    "plan": ("patient", plan_page_es("{plan}", "Al día")),
    "plan-canceled": ("patient", plan_page_es("{canceled_plan}", "Cancelado")),
    "payment-pending": ("patient", goto("{pending}", "Esperando la confirmación de su pago")),
    "receipt": ("patient", goto("{receipt}", "Gracias, recibimos su pago")),
    "payment-failed": ("anon", goto("{failed}", "Su pago no se completó")),
    "reminders-optout": ("anon", goto("{optout}", "¿Dejar de recibir recordatorios de pago?")),
    "reminders-stopped": ("anon", optout_done_es),
    "not-found": ("anon", goto("/no-such-page", "Página no encontrada", status=404)),
}


# name -> (visitor, how to get there). Each lands on the page in the state to check.
PAGES: dict[str, tuple[str, Callable]] = {
    # The public site.
    "home": ("anon", goto("/", re.compile(r"^Pay your .* bill$"))),
    "how-to-pay": ("anon", goto("/how-to-pay", "How to pay your bill")),
    "faq": ("anon", goto("/faq", "Common questions about your bill")),
    "contact": ("anon", goto("/contact", "Contact the billing office")),
    "privacy": ("anon", goto("/privacy", re.compile(r"^Privacy notice"))),
    # Quick Pay and the patient's pages.
    "pay": ("anon", goto("/pay", "Pay your bill")),
    "pay-invalid": ("anon", lookup_invalid),
    "pay-not-found": ("anon", lookup_not_found),
    "account": ("patient", goto("/account", "Your balance")),
    "statement": ("patient", statement),
    "amount-invalid": ("patient", amount_invalid),
    "checkout": ("patient", checkout),
    "checkout-declined": ("patient", checkout_declined),
    "sandbox-setup": ("patient", setup_page),
    "sandbox-setup-invalid": ("patient", setup_declined),
    "plan-new": ("planner", plan_offer),
    "plan-new-invalid": ("planner", plan_choice_invalid),
    "plan-review": ("planner", plan_review),
    "plan-review-unticked": ("planner", plan_unticked),
    "plan": ("patient", plan_page("{plan}", "Current")),
    "plan-canceled": ("patient", plan_page("{canceled_plan}", "Canceled")),
    "case-question": ("patient", question_page),
    "case-question-invalid": ("patient", question_invalid),
    "case": ("patient", case_page),
    "help-paying": ("patient", goto("/account/help", "Help paying your bill")),
    "billing-texts": ("patient", goto("/account/texts", "Billing texts")),
    "pay-link-not-valid": ("anon", goto("/pay/not-a-link", "Pay your bill", status=404)),
    "help-paying-invalid": ("patient", help_invalid),
    "payment-pending": ("patient", goto("{pending}", "Waiting for your payment to be confirmed")),
    "receipt": ("patient", goto("{receipt}", "Thank you, your payment was received")),
    "payment-failed": ("anon", goto("{failed}", "Your payment did not go through")),
    "reminders-optout": ("anon", goto("{optout}", "Stop payment reminders?")),
    "reminders-stopped": ("anon", optout_done),
    "not-found": ("anon", goto("/no-such-page", "Page not found", status=404)),
    # The billing console.
    "staff-login": ("fresh", goto("/staff/login", "Billing staff sign-in")),
    "staff-login-failed": ("fresh", login_failed),
    "staff-code": ("fresh", code_step),
    "staff-code-failed": ("fresh", code_failed),
    "staff-dashboard": ("staff", goto("/staff/", re.compile(r"^Today, "))),
    "staff-search": ("staff", goto("/staff/search?q=an", re.compile(r"^Search$"))),
    "staff-account": ("staff", goto(f"/staff/accounts/{PATIENT['account']}", re.compile("Gold"))),
    "staff-account-posted": ("staff", staff_account_posted),
    "staff-account-invalid": ("staff", staff_account_invalid),
    "staff-payments": ("staff", goto("/staff/payments", "Payments")),
    "staff-queue": ("staff", goto("/staff/escalations", "Escalation queue")),
    "staff-cases": ("staff", goto("/staff/cases", "Patients' questions and requests for help")),
    "staff-case": ("staff", goto("/staff/cases/{case}", re.compile(r"^Case Q-"))),
    "staff-case-invalid": ("staff", staff_case_invalid),
    "staff-case-report": ("staff", goto("/staff/reports/cases", "Patients' questions by month")),
    "staff-aging": ("staff", goto("/staff/reports/aging", re.compile(r"^Aging as of "))),
    "staff-deposits": ("staff", goto("/staff/reports/deposits", "Daily deposits")),
    "staff-monthly": ("staff", goto("/staff/reports/monthly", re.compile(r"^Monthly summary"))),
    "staff-plans": ("staff", goto("/staff/plans", "Payment plans")),
    "staff-plans-invalid": ("staff", goto("/staff/plans?status=late", "Payment plans", 400)),
    "staff-plan-skipped": ("staff", plan_skipped),
    "staff-import": ("staff", goto("/staff/import", "Import statements")),
    "staff-import-result": ("staff", import_result),
    "staff-audit": ("staff", goto("/staff/audit", "Audit log")),
    "staff-users": ("staff", goto("/staff/users", "Staff users")),
    "staff-user-added": ("staff", user_added),
    "staff-api-keys": ("staff", goto("/staff/api-keys", "API keys")),
    "staff-webhooks": ("staff", goto("/staff/webhooks", "Webhooks to the practice system")),
    "staff-payouts": ("staff", goto("/staff/reports/payouts", "Card payouts")),
    "staff-undeliverable": (
        "staff",
        goto("/staff/mail/undeliverable", "Undeliverable e-mail addresses"),
    ),
    "staff-password": ("staff", goto("/staff/password", "Change your password")),
    **{
        f"{name}{SPANISH}": (f"{who}{SPANISH}", in_spanish(visit))
        for name, (who, visit) in SPANISH_PAGES.items()
    },
}

# `make test` checks each page at the width its users mostly have (patients on a phone, the
# billing staff at a desk); `make test-slow`, which CI also runs, at the other width too.
USUAL_WIDTH = {"patient": "375", "staff": "1280"}


def usual_width(name: str) -> str:
    return USUAL_WIDTH["staff" if name.startswith("staff-") else "patient"]


CASES = [
    pytest.param(
        name,
        viewport,
        id=f"{name}-{viewport}",
        marks=() if viewport == usual_width(name) else pytest.mark.slow,
    )
    for name in PAGES
    for viewport in VIEWPORTS
]


def describe(rules: list[dict]) -> list[str]:
    lines = []
    for rule in rules:
        lines.append(f"- {rule['id']} ({rule.get('impact')}): {rule['help']} <{rule['helpUrl']}>")
        for node in rule["nodes"][:10]:
            target = " ".join(" >> ".join(t) if isinstance(t, list) else t for t in node["target"])
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    {target}: {summary[:300]}")
        if len(rule["nodes"]) > 10:
            lines.append(f"    ... and {len(rule['nodes']) - 10} more elements")
    return lines


@pytest.mark.browser
@pytest.mark.parametrize(("name", "viewport"), CASES)
def test_no_wcag_violations(name: str, viewport: str, tabs: Tabs, site: Site) -> None:
    who, visit = PAGES[name]
    page = tabs.open(viewport, who)
    try:
        visit(page, site, viewport)
        # Collapsed sections are checked too.
        page.evaluate(OPEN_DETAILS)
        # The focus check needs a focused document: a page without the browser's focus (a
        # busy machine, another page of the run) matches no :focus-visible on any control.
        # Chromium's focus emulation makes the page focused whatever the window does.
        cdp = page.context.new_cdp_session(page)
        cdp.send("Emulation.setFocusEmulationEnabled", {"enabled": True})
        found = page.evaluate(CHECK_PAGE, WCAG_TAGS)
        if found["unfocused"]:
            # Under load the document can still lose the focus between two controls; a
            # control without a focus style fails the same way again, at the front.
            page.bring_to_front()
            cdp.send("Emulation.setFocusEmulationEnabled", {"enabled": True})
            found["unfocused"] = page.evaluate(CHECK_PAGE, WCAG_TAGS)["unfocused"]
        cdp.detach()
        where = _path(page.url)
    finally:
        if who == "fresh":
            page.context.close()
        else:
            page.close()
    assert found["version"].startswith("4."), found["version"]
    problems = describe(found["violations"])
    if found["unresolved"]:
        problems.append("axe could not check the colour contrast of (needs review):")
        problems += describe(found["unresolved"])
    problems += [f"- text contrast: {line}" for line in found["lowContrast"]]
    problems += [f"- no visible keyboard focus (2.4.7): {html}" for html in found["unfocused"]]
    if problems:
        pytest.fail(
            f"WCAG 2.1 A/AA problems on {name} ({where}) at {viewport} px:\n" + "\n".join(problems)
        )


def test_the_spill_check_finds_text_out_of_its_box(browser) -> None:
    page = browser.new_page(viewport=PHONE)
    page.set_content(
        '<div style="width:100px">Supercalifragilisticoespialidoso</div>'
        '<button style="width:80px;overflow:hidden;white-space:nowrap">Pagar este monto</button>'
        "<p>Un texto que se parte en varias líneas sin salirse.</p>"
        '<div class="table-wrap" style="width:100px;overflow-x:auto"><table><tr>'
        "<td>Una&nbsp;tabla&nbsp;ancha&nbsp;se&nbsp;desplaza</td></tr></table></div>"
    )

    assert page.evaluate(SPILLED_TEXT) == [
        "div.: Supercalifragilisticoespialidoso",
        "button.: Pagar este monto",
    ]
    page.close()
