"""The README and docs/: the README starts a newcomer and links every page of docs/; every
link stays inside the repository and finds its file; the pages name what the code reads
(every setting, every Stripe event the webhook acts on)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = sorted(DOCS.glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")
# What the webhook acts on (portal/adapters/stripe_gateway.py, event_from); the rest of
# Stripe's events are acknowledged and ignored.
STRIPE_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
    # A saved method's off-session charges (payment plans and autopay).
    "payment_intent.succeeded",
    "payment_intent.processing",
    "payment_intent.payment_failed",
    "charge.failed",
)


def test_docs_holds_the_pages_the_readme_points_to():
    names = {page.name for page in PAGES}
    expected = {"architecture.md", "configuration.md", "deployment.md", "stripe.md", "email.md"}
    assert expected | {"dynamodb.md"} <= names
    readme = README.read_text()
    unlinked = [page.name for page in PAGES if f"](docs/{page.name})" not in readme]
    assert not unlinked, f"README.md does not link {unlinked}"


def test_the_readme_starts_with_two_commands_and_the_demo():
    readme = README.read_text()
    for text in ("make run", "make test", "HOST=", "PORT=", "/pay", "100234", "/staff/login"):
        assert text in readme, text
    assert len(readme.splitlines()) < 150, "the README grew long again: move detail to docs/"


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_every_link_stays_in_the_repository_and_finds_its_file(page: Path):
    text = page.read_text()
    assert "shared/" not in text, f"{page.name} points outside the repository"
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or a heading on the same page
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
    assert not broken, f"{page.name}: links outside the repository or to nothing: {broken}"


def test_configuration_names_every_setting_the_code_reads():
    source = (ROOT / "portal" / "config.py").read_text()
    settings = set(re.findall(r'"((?:PORTAL|STRIPE)_[A-Z_]+)"', source))
    assert {"PORTAL_STORE", "PORTAL_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"} <= settings
    page = (DOCS / "configuration.md").read_text()
    missing = sorted(name for name in settings if not re.search(rf"\b{name}\b", page))
    assert not missing, f"docs/configuration.md does not name {missing}"


@pytest.mark.parametrize("page", ["stripe.md", "deployment.md"])
def test_the_stripe_pages_name_every_event_to_enable(page: str):
    text = (DOCS / page).read_text()
    missing = [event for event in STRIPE_EVENTS if event not in text]
    assert not missing, f"docs/{page} does not name {missing}"
