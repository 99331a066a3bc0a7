"""`portal backup FILE`: an online copy of the SQLite store, consistent as of one commit,
taken while another connection keeps writing; a FILE that exists is refused untouched; on
DynamoDB the command says point-in-time recovery is the backup and exits 1."""

import sqlite3
import threading
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.adapters.dynamodb.store import DynamoDbStore
from portal.adapters.sqlite.schema import SCHEMA_VERSION
from portal.adapters.sqlite.store import SqliteStore
from portal.cli import cli
from portal.domain.staff import MailRecord
from portal.ports.store import StoreError
from tests.conftest import NOW


def record(n: int) -> MailRecord:
    return MailRecord("100234", "receipt", "maria@example.com", f"Receipt {n}", "sent", NOW)


def env_of(settings) -> dict[str, str]:
    return {
        "PORTAL_SQLITE_PATH": str(settings.sqlite_path),
        "PORTAL_OUTBOX_DIR": str(settings.outbox_dir),
        "PORTAL_SECRET_KEY": settings.secret_key,
    }


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_a_backup_taken_while_another_connection_writes_is_one_consistent_moment(
    services, lopez, tmp_path
):
    path = Path(services.settings.sqlite_path)
    with sqlite3.connect(path) as conn:  # enough pages that the copy takes a while
        conn.executemany(
            "INSERT INTO mail_log (account_number, kind, recipient, subject, outcome, at)"
            " VALUES ('100234', 'receipt', 'x@example.com', ?, 'sent', ?)",
            [("padding " * 40, NOW.isoformat()) for _ in range(5000)],
        )
    writer_store = SqliteStore(path)  # another connection, as a serving portal has
    written = 0
    stop = threading.Event()
    started = threading.Event()

    def keep_writing():
        nonlocal written
        while not stop.is_set():
            writer_store.record_mail(record(written))
            written += 1
            if written == 20:
                started.set()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        assert started.wait(10)
        before = written
        result = run(env_of(services.settings), "backup", str(tmp_path / "copy.sqlite3"))
        after = written
    finally:
        stop.set()
        writer.join()

    assert result.exit_code == 0, result.output
    assert "Backed up the store to" in result.output
    assert after > before, "the writer was not writing while the copy was taken"
    copy = sqlite3.connect(tmp_path / "copy.sqlite3")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # One moment: every line written before the copy began and no gap after it (the
    # writer's lines are numbered in order; the copy holds a prefix of them).
    subjects = [
        int(s.removeprefix("Receipt "))
        for (s,) in copy.execute(
            "SELECT subject FROM mail_log WHERE subject LIKE 'Receipt %' ORDER BY entry_id"
        )
    ]
    assert subjects == list(range(len(subjects)))
    assert before <= len(subjects) <= written
    copy.close()
    restored = SqliteStore(tmp_path / "copy.sqlite3")
    assert restored.get_account("100234").guarantor.last_name == "Lopez"
    assert len(restored.account_records("100234").statements) == 2


def test_a_file_that_exists_is_refused_and_left_as_it_was(services, lopez, tmp_path):
    target = tmp_path / "existing.sqlite3"
    target.write_bytes(b"keep me")

    result = run(env_of(services.settings), "backup", str(target))

    assert result.exit_code == 1
    assert f"{target} exists: a backup goes to a new file" in result.output
    assert target.read_bytes() == b"keep me"
    with pytest.raises(StoreError, match="exists"):
        services.store.backup(target)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_missing_folder_is_refused_with_its_name(services, tmp_path):
    result = run(env_of(services.settings), "backup", str(tmp_path / "nope" / "copy.sqlite3"))

    assert result.exit_code == 1
    assert f"There is no folder {tmp_path / 'nope'}" in result.output


def test_the_dynamodb_store_says_point_in_time_recovery_is_its_backup(
    moto_endpoint, settings, tmp_path
):
    table = f"backup-{uuid.uuid4().hex[:12]}"
    store = DynamoDbStore(table)
    store.migrate()
    env = {
        **env_of(settings),
        "PORTAL_STORE": "dynamodb",
        "PORTAL_DYNAMODB_TABLE": table,
    }
    try:
        result = run(env, "backup", str(tmp_path / "copy.sqlite3"))
    finally:
        store.db.client.delete_table(TableName=table)

    assert result.exit_code == 1
    assert "point-in-time recovery" in result.output
    assert "docs/operations.md" in result.output
    assert not (tmp_path / "copy.sqlite3").exists()
