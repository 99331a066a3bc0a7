"""moto's server on 127.0.0.1, spoken to over HTTP as boto3 speaks to AWS."""

import copy
import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.table import Table as MotoTable
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SerializedMotoServer(ThreadedMotoServer):
    """moto's threaded server, answering one request at a time.

    moto's in-memory DynamoDB copies a table while another thread writes to it during a
    TransactWriteItems (RuntimeError: dictionary changed size during iteration). Real
    DynamoDB serializes conflicting transactions itself; here a lock does, while clients
    still race between their reads and their conditional writes.
    """

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def one_at_a_time(environ, start_response):
            with lock:
                return list(app(environ, start_response))

        self._server = make_server(
            self._ip_address, self._port, one_at_a_time, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


class _TableCopiedOnce:
    """`copy` for moto's TransactWriteItems: it backs up the whole table once per item of
    the transaction (100 copies of a large partition take minutes); one copy per table
    restores the same state when the transaction is cancelled."""

    def __init__(self) -> None:
        self.tables: dict[int, MotoTable] = {}

    def deepcopy(self, value, memo=None):
        if not isinstance(value, MotoTable):
            return copy.deepcopy(value, memo)
        if id(value) not in self.tables:
            self.tables[id(value)] = copy.deepcopy(value, memo)
        return self.tables[id(value)]


def _copy_each_table_once() -> None:
    backend = dynamodb_models.DynamoDBBackend
    original = backend.transact_write_items
    if getattr(original, "copies_each_table_once", False):
        return

    def transact_write_items(self, transact_items):
        # Requests are served one at a time (SerializedMotoServer), so the swap is safe.
        dynamodb_models.copy = _TableCopiedOnce()
        try:
            return original(self, transact_items)
        finally:
            dynamodb_models.copy = copy

    transact_write_items.copies_each_table_once = True
    backend.transact_write_items = transact_write_items


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's server on a free loopback port; yield its endpoint URL."""
    _copy_each_table_once()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = SerializedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def aws_environment(endpoint: str) -> dict[str, str]:
    """Environment that points boto3 (and the portal) at the moto server."""
    return {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_ENDPOINT_URL_SES": endpoint,
        "AWS_ENDPOINT_URL_SESV2": endpoint,
        "AWS_ENDPOINT_URL_SQS": endpoint,
        "AWS_ENDPOINT_URL_SNS": endpoint,
    }


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
