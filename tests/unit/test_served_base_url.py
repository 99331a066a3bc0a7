"""The base URL `portal serve` gives the app when PORTAL_BASE_URL is not set."""

import pytest

from portal.config import Settings, served_base_url


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 5091, "http://127.0.0.1:5091"),
        ("0.0.0.0", 5091, "http://127.0.0.1:5091"),
        ("localhost", 8080, "http://localhost:8080"),
        ("192.168.1.20", 5000, "http://192.168.1.20:5000"),
        ("::", 5091, "http://[::1]:5091"),
        ("::1", 5091, "http://[::1]:5091"),
        ("[::1]", 5091, "http://[::1]:5091"),
    ],
)
def test_the_served_address_is_a_usable_link(host, port, expected):
    assert served_base_url(host, port) == expected


def test_the_default_applies_only_when_portal_base_url_is_not_set(tmp_path):
    sqlite = {"PORTAL_SQLITE_PATH": str(tmp_path / "portal.sqlite3")}
    served = "http://127.0.0.1:5091"

    assert Settings.from_env(sqlite, default_base_url=served).base_url == served
    assert Settings.from_env(sqlite).base_url == "http://127.0.0.1:5000"
    explicit = {**sqlite, "PORTAL_BASE_URL": "https://billing.example.org/"}
    assert (
        Settings.from_env(explicit, default_base_url=served).base_url
        == "https://billing.example.org"
    )
