"""`portal serve --host H --port P` (what `make run HOST=H PORT=P` runs): unless PORTAL_BASE_URL
is set, the checkout, its return page and the receipt e-mail link to the address served, so
the first payment works on any port. Driven over real HTTP against the real command."""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.conftest import csrf_token
from tests.integration.conftest import eml_files, read_eml

PORTAL = Path(sys.executable).with_name("portal")
NUNEZ = {"account_number": "100257", "last_name": "Nunez", "date_of_birth": "1971-11-30"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """A fresh SQLite store with the demo data, set up through the command line."""
    folder = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "STRIPE_"))}
    env.update(
        PORTAL_SQLITE_PATH=str(folder / "portal.sqlite3"),
        PORTAL_OUTBOX_DIR=str(folder / "outbox"),
        PORTAL_SECRET_KEY="serve-test-secret-key-0123456789",
    )
    for command in ("migrate", "demo"):
        subprocess.run([str(PORTAL), command], env=env, check=True, capture_output=True)
    return env


@contextmanager
def serving(env: dict[str, str], host: str, port: int) -> Iterator[subprocess.Popen]:
    server = subprocess.Popen(
        [str(PORTAL), "serve", "--host", host, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "portal serve did not start"
                time.sleep(0.05)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=10)


def page_token(http: requests.Session, url: str) -> str:
    response = http.get(url, timeout=10)
    assert response.status_code == 200, (url, response.status_code)
    return csrf_token(response.text)


def pay_ten_dollars(port: int) -> tuple[str, str]:
    """Quick Pay lookup, POST /payments, the sandbox card form: (checkout URL, return URL)."""
    site = f"http://127.0.0.1:{port}"
    http = requests.Session()
    lookup = http.post(
        f"{site}/pay",
        data={**NUNEZ, "csrf_token": page_token(http, f"{site}/pay")},
        allow_redirects=False,
        timeout=10,
    )
    assert lookup.status_code == 303, lookup.text
    started = http.post(
        f"{site}/payments",
        data={"amount": "10.00", "csrf_token": page_token(http, f"{site}/account")},
        allow_redirects=False,
        timeout=10,
    )
    assert started.status_code == 303, started.text
    checkout = started.headers["Location"]
    if not checkout.startswith(site):
        return checkout, ""
    card = {"card_number": "4242424242424242", "expiry": "12/30", "cvc": "123"}
    paid = http.post(
        checkout,
        data={**card, "csrf_token": page_token(http, checkout)},
        allow_redirects=False,
        timeout=10,
    )
    assert paid.status_code == 303, paid.text
    back = paid.headers["Location"]
    if back.startswith(site):
        assert http.get(back, timeout=10).status_code == 200
    return checkout, back


def receipt_links(env: dict[str, str], payment_id: str) -> list[str]:
    links = []
    for path in eml_files(Path(env["PORTAL_OUTBOX_DIR"])):
        message = read_eml(path)
        if message["X-Portal-Message-Kind"] == "receipt":
            text = message.get_body(("plain",)).get_content()
            links += [link for link in re.findall(r"https?://\S+", text) if payment_id in link]
    return links


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_links_follow_the_port_served(env, host):
    port = free_port()
    site = f"http://127.0.0.1:{port}"

    with serving(env, host, port) as server:
        checkout, back = pay_ten_dollars(port)

    assert re.fullmatch(rf"{re.escape(site)}/sandbox/checkout/cs_sbx_[\w.\-]+", checkout)
    match = re.fullmatch(rf"{re.escape(site)}/payments/([\w\-]+)", back)
    assert match, back
    assert receipt_links(env, match.group(1)) == [f"{site}/payments/{match.group(1)}"]
    assert f"Patient billing portal on {site}/pay" in server.stdout.read()


def test_a_base_url_set_in_the_environment_is_kept(env):
    port = free_port()
    public = f"http://localhost:{port}"  # http: an https one would make the cookies Secure

    with serving({**env, "PORTAL_BASE_URL": public}, "127.0.0.1", port) as server:
        checkout, _ = pay_ten_dollars(port)

    assert checkout.startswith(f"{public}/sandbox/checkout/cs_sbx_")
    assert f"Links in pages and e-mails go to PORTAL_BASE_URL: {public}" in server.stdout.read()
