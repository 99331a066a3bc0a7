"""The portal with PORTAL_PAYMENTS=stripe against the Stripe stand-in (tests/stripe_stub.py),
and Stripe-shaped notifications signed as Stripe signs them."""

import json
from dataclasses import replace

import pytest

from portal import create_app
from portal.bootstrap import build_services
from portal.config import Settings
from portal.services.context import Services
from tests.stripe_stub import event, sign, stripe_stub

WEBHOOK_SECRET = "whsec_test_portal"


@pytest.fixture
def stub():
    with stripe_stub(webhook_secret=WEBHOOK_SECRET) as running:
        yield running


def stripe_settings(settings: Settings, stub) -> Settings:
    return replace(
        settings,
        payments="stripe",
        stripe_secret_key="sk_test_portal",
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=stub.base,
    )


@pytest.fixture
def stripe_services(settings, clock, stub) -> Services:
    built = build_services(stripe_settings(settings, stub), clock=clock)
    built.store.migrate()
    return built


@pytest.fixture
def stripe_app(stripe_services):
    app = create_app(services=stripe_services)
    app.config["TESTING"] = True
    return app


def session_object(payment_id: str, amount_cents: int, **fields) -> dict:
    """A Checkout Session as Stripe sends it in checkout.session.* events."""
    return {
        "id": fields.pop("id", f"cs_test_{payment_id}"),
        "object": "checkout.session",
        "client_reference_id": payment_id,
        "metadata": {"payment_id": payment_id},
        "amount_total": amount_cents,
        "currency": "usd",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "payment_intent": f"pi_{payment_id}",
        **fields,
    }


def charge_object(payment_id: str, amount_cents: int, refunded_cents: int) -> dict:
    return {
        "id": f"ch_{payment_id}",
        "object": "charge",
        "amount": amount_cents,
        "amount_refunded": refunded_cents,
        "refunded": refunded_cents == amount_cents,
        "payment_intent": f"pi_{payment_id}",
        "metadata": {"payment_id": payment_id},
        "currency": "usd",
    }


def dispute_object(payment_id: str, amount_cents: int, status: str) -> dict:
    return {
        "id": f"dp_{payment_id}",
        "object": "dispute",
        "amount": amount_cents,
        "charge": f"ch_{payment_id}",
        "payment_intent": f"pi_{payment_id}",
        "status": status,
        "reason": "fraudulent",
        "metadata": {},
    }


def register_intent(stub, payment_id: str) -> None:
    """Stripe knows the payment's PaymentIntent, with the portal's id in its metadata (what
    the gateway reads when an event names only the PaymentIntent, as disputes do)."""
    stub.payment_intents[f"pi_{payment_id}"] = {
        "id": f"pi_{payment_id}",
        "object": "payment_intent",
        "metadata": {"payment_id": payment_id},
        "status": "succeeded",
    }


def signed(envelope: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    """(body, headers) for POST /webhooks/stripe."""
    body = json.dumps(envelope).encode()
    return body, {
        "Stripe-Signature": sign(body, secret, timestamp),
        "Content-Type": "application/json",
    }


__all__ = [
    "charge_object",
    "dispute_object",
    "event",
    "session_object",
    "signed",
    "stripe_settings",
]
