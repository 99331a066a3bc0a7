"""Texts back from patients (STOP, HELP, START), delivered by SNS to an HTTPS subscription:
no session, no CSRF, SNS's message signature only."""

from flask import Blueprint, jsonify, request

from portal.ports.sms import NotificationRefused
from portal.services.texting import InboundInProgress, receive_notification
from portal.web import current_services

bp = Blueprint("texts_inbound", __name__, url_prefix="/webhooks")


@bp.post("/sms")
def sms():
    try:
        done = receive_notification(current_services(), request.get_data(cache=False))
    except NotificationRefused as exc:
        return jsonify(error=str(exc)), 400
    except InboundInProgress:
        # SNS delivers it again (the subscription's delivery policy: for about two hours).
        return jsonify(status="retry", reason="the same text is being acted on"), 409
    return jsonify(status=done), 200
