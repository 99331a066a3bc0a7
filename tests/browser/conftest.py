"""Browser fixtures: the real app on a live port, and Chromium through Playwright (phone size)."""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from portal import create_app
from portal.config import Settings
from portal.services.context import Services

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}


@contextmanager
def serving(app, port: int) -> Iterator[None]:
    """Serve a WSGI app on 127.0.0.1:`port` in a daemon thread while the block runs."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def live_port() -> int:
    """A free TCP port on 127.0.0.1, chosen before the settings are built."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def settings(tmp_path: Path, live_port: int) -> Settings:
    """As tests/conftest.py, but links and return URLs point at the live server."""
    return Settings.from_env(
        {
            "PORTAL_SQLITE_PATH": str(tmp_path / "portal.sqlite3"),
            "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
            "PORTAL_SMS_OUTBOX_DIR": str(tmp_path / "sms"),
            "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "PORTAL_BASE_URL": f"http://127.0.0.1:{live_port}",
        }
    )


@pytest.fixture
def live_server(services: Services, live_port: int) -> Iterator[str]:
    """Serve create_app(services=...) in a daemon thread; yields the base URL."""
    app = create_app(services=services)
    server = make_server("127.0.0.1", live_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield services.settings.base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is required for the browser tests but {CHROMIUM} is missing.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser, live_server: str):
    """A phone-sized page (375 x 812, touch) whose relative URLs go to the live server."""
    context = browser.new_context(
        base_url=live_server, viewport=PHONE, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()
