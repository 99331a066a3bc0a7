"""API keys: `portal api-keys` prints a key once and keeps only its hash; admins list and
revoke keys in the console, and a revoked key stops working at once."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.adapters.sqlite.store import SqliteStore
from portal.cli import cli
from portal.domain.api_keys import KEY_PREFIX, hash_key
from portal.domain.staff import AuditAction
from portal.services.api_keys import create_api_key
from tests.integration.staff_helpers import (
    audit_since,
    flashes,
    last_audit_id,
    make_staff,
    post_form,
    staff_sign_in,
)

# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "PORTAL_SQLITE_PATH": str(tmp_path / "cli.sqlite3"),
        "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "PORTAL_SECRET_KEY": "cli-test-secret-key-0123456789",
    }


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def printed_key(output: str) -> str:
    keys = [line for line in output.splitlines() if line.startswith(KEY_PREFIX)]
    assert len(keys) == 1, output
    return keys[0]


def test_create_prints_the_key_once_and_the_store_keeps_only_its_hash(env):
    run(env, "migrate")
    created = run(env, "api-keys", "create", "Clearinghouse")

    assert created.exit_code == 0, created.output
    key = printed_key(created.output)
    assert len(key) > 40
    store = SqliteStore(env["PORTAL_SQLITE_PATH"])
    (stored,) = store.api_keys()
    assert stored.name == "clearinghouse"
    assert stored.key_hash == hash_key(key)
    assert stored.last_four == key[-4:]
    assert stored.is_active
    assert key.encode() not in Path(env["PORTAL_SQLITE_PATH"]).read_bytes()

    listed = run(env, "api-keys", "list")
    assert listed.exit_code == 0
    assert "clearinghouse" in listed.output and key[-4:] in listed.output
    assert key not in listed.output  # never shown again


def test_names_are_unique_and_checked(env):
    run(env, "migrate")
    assert run(env, "api-keys", "create", "ehr").exit_code == 0

    again = run(env, "api-keys", "create", "ehr")
    bad = run(env, "api-keys", "create", "no spaces")

    assert again.exit_code == bad.exit_code == 1
    assert "exists already" in again.output
    assert "name:" in bad.output
    assert len(SqliteStore(env["PORTAL_SQLITE_PATH"]).api_keys()) == 1


def test_revoke_from_the_command_line(env):
    run(env, "migrate")
    key = printed_key(run(env, "api-keys", "create", "ehr").output)

    revoked = run(env, "api-keys", "revoke", "ehr")
    again = run(env, "api-keys", "revoke", "ehr")

    assert revoked.exit_code == 0 and "Revoked" in revoked.output
    assert again.exit_code == 1
    assert not SqliteStore(env["PORTAL_SQLITE_PATH"]).api_key_by_hash(hash_key(key)).is_active
    assert "revoked" in run(env, "api-keys", "list").output


# -- the admin page --------------------------------------------------------------------------


@pytest.fixture
def admin(client, services):
    make_staff(services, "root", "admin")
    staff_sign_in(client, services, "root")
    return client


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def test_admins_see_every_key_without_the_key_itself(admin, services):
    first = create_api_key(services, "clearinghouse", actor="test")
    second = create_api_key(services, "ehr", actor="test")

    page = admin.get("/staff/api-keys")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "clearinghouse" in html and "ehr" in html
    assert first.key[-4:] in html and second.key[-4:] in html
    assert first.key not in html and second.key not in html
    assert first.record.key_hash not in html
    assert 'href="/staff/api-keys"' in html  # in the admin's navigation


def test_revoking_in_the_console_stops_the_key_at_once_and_is_audited(admin, client, services):
    created = create_api_key(services, "ehr", actor="test")
    other = create_api_key(services, "billing-system", actor="test")
    assert client.get("/api/v1/accounts/100234", headers=bearer(created.key)).status_code == 404
    since = last_audit_id(services)

    response = post_form(admin, "/staff/api-keys/ehr/revoke", {}, "/staff/api-keys")

    assert response.status_code == 303
    page = admin.get("/staff/api-keys").get_data(as_text=True)
    assert any("Revoked API key ehr" in f for f in flashes(page))
    assert "Revoke ehr" not in page and "Revoke billing-system" in page
    assert client.get("/api/v1/accounts/100234", headers=bearer(created.key)).status_code == 401
    assert client.get("/api/v1/accounts/100234", headers=bearer(other.key)).status_code == 404
    (entry,) = [e for e in audit_since(services, since) if e.action is AuditAction.REVOKE_API_KEY]
    assert (entry.actor, entry.subject) == ("root", "ehr")


def test_revoking_an_unknown_or_revoked_key_changes_nothing(admin, services):
    create_api_key(services, "ehr", actor="test")
    post_form(admin, "/staff/api-keys/ehr/revoke", {}, "/staff/api-keys")
    first = services.store.api_keys()[0].revoked_at

    again = post_form(admin, "/staff/api-keys/ehr/revoke", {}, "/staff/api-keys")
    unknown = post_form(admin, "/staff/api-keys/nobody/revoke", {}, "/staff/api-keys")

    assert again.status_code == unknown.status_code == 303
    assert services.store.api_keys()[0].revoked_at == first
    page = admin.get("/staff/api-keys").get_data(as_text=True)
    assert any("no active API key named nobody" in f for f in flashes(page))


def test_revoking_needs_the_csrf_token(admin, services):
    create_api_key(services, "ehr", actor="test")

    response = admin.post("/staff/api-keys/ehr/revoke", data={})

    assert response.status_code == 400
    assert services.store.api_keys()[0].is_active


def test_associates_and_supervisors_cannot_open_or_revoke(client, services):
    create_api_key(services, "ehr", actor="test")
    make_staff(services, "alice", "supervisor")
    staff_sign_in(client, services, "alice")

    assert client.get("/staff/api-keys").status_code == 403
    assert post_form(client, "/staff/api-keys/ehr/revoke", {}).status_code == 403
    assert services.store.api_keys()[0].is_active
    assert 'href="/staff/api-keys"' not in client.get("/staff/").get_data(as_text=True)
