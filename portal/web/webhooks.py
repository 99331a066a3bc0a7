"""Notifications from the card processor (Stripe): no session, no CSRF, the signature only."""

from flask import Blueprint, jsonify, request

from portal.ports.payments import GatewayError, WebhookRejected
from portal.services.errors import PaymentNotReady
from portal.services.webhooks import EventInProgress, ReceiptPending, receive_notification
from portal.web import current_services

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.post("/stripe")
def stripe():
    try:
        outcome = receive_notification(
            current_services(),
            request.get_data(cache=False),
            request.headers.get("Stripe-Signature"),
        )
    except WebhookRejected as exc:
        return jsonify(error=str(exc)), 400
    except GatewayError:
        return jsonify(status="retry", reason="the card processor is not answering"), 503
    except EventInProgress:
        return jsonify(status="retry", reason="the same event is being applied"), 409
    except ReceiptPending:
        # Posted, but its receipt is not sent yet: the event is done only once it is.
        return jsonify(status="retry", reason="the receipt is not sent yet"), 503
    except PaymentNotReady as exc:
        # Not yet: Stripe delivers the event again later (it retries for three days).
        return jsonify(status="retry", reason=str(exc)), 409
    return jsonify(status=outcome.value), 200
