"""The JSON API. For now: the health check the load balancer and monitors call."""

from flask import Blueprint, jsonify

from portal.adapters.store import StoreError
from portal.web import services

bp = Blueprint("api", __name__)


@bp.get("/healthz")
def healthz():
    try:
        services().store.ping()
    except StoreError:
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok")
