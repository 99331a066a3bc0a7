"""The SQLite store's plans port: payment plans, one row each (the plan as JSON in `body`)."""

import json
import sqlite3
from dataclasses import replace
from datetime import date

from portal.adapters.plan_records import plan_of, plan_record
from portal.adapters.sqlite.database import SqliteDatabase
from portal.domain.plans import Plan


class SqlitePlans(SqliteDatabase):
    """The Plans port on SQLite."""

    def add_plan(self, plan: Plan) -> bool:
        record = plan_record(plan)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO plans (plan_id, account_number, created_at, next_on, version, body)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    plan.plan_id,
                    plan.account_number,
                    record["created_at"],
                    record["next_on"],
                    plan.version,
                    json.dumps(record),
                ),
            )
            return cursor.rowcount == 1

    def get_plan(self, plan_id: str) -> Plan | None:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM plans WHERE plan_id = ?", (plan_id,)).fetchone()
            return _plan(row) if row else None

    def account_plans(self, account_number: str) -> list[Plan]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM plans WHERE account_number = ?"
                " ORDER BY created_at DESC, plan_id DESC",
                (account_number,),
            )
            return [_plan(r) for r in rows]

    def save_plan(self, plan: Plan) -> Plan | None:
        written = replace(plan, version=plan.version + 1)
        record = plan_record(written)
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE plans SET created_at = ?, next_on = ?, version = ?, body = ?"
                " WHERE plan_id = ? AND account_number = ? AND version = ?",
                (
                    record["created_at"],
                    record["next_on"],
                    written.version,
                    json.dumps(record),
                    plan.plan_id,
                    plan.account_number,
                    plan.version,
                ),
            )
            return written if cursor.rowcount == 1 else None

    def plans_due(self, on: date, limit: int = 500) -> list[Plan]:
        if limit < 1:
            return []  # not SQLite's LIMIT -1 (no limit)
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM plans WHERE next_on IS NOT NULL AND next_on <= ?"
                " ORDER BY next_on, plan_id LIMIT ?",
                (on.isoformat(), limit),
            )
            return [_plan(r) for r in rows]

    def list_plans(self, limit: int = 100, before: str | None = None) -> list[Plan]:
        if limit < 1:
            return []
        with self._read() as conn:
            if before is None:
                rows = conn.execute(
                    "SELECT * FROM plans ORDER BY created_at DESC, plan_id DESC LIMIT ?",
                    (limit,),
                )
            else:
                created_at, _, plan_id = before.partition("#")
                rows = conn.execute(
                    "SELECT * FROM plans WHERE (created_at, plan_id) < (?, ?)"
                    " ORDER BY created_at DESC, plan_id DESC LIMIT ?",
                    (created_at, plan_id, limit),
                )
            return [_plan(r) for r in rows]


def _plan(row: sqlite3.Row) -> Plan:
    return replace(plan_of(json.loads(row["body"])), version=row["version"])
