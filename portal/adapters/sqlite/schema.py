"""The SQLite schema, one script per version: `portal migrate` applies the missing ones."""

MIGRATIONS = (
    """
    CREATE TABLE accounts (
        account_number TEXT PRIMARY KEY,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        date_of_birth TEXT NOT NULL,
        email TEXT NOT NULL DEFAULT '',
        phone TEXT NOT NULL DEFAULT '',
        preferred_language TEXT NOT NULL DEFAULT 'en',
        created_at TEXT NOT NULL,
        last_name_key TEXT NOT NULL DEFAULT '',
        full_name_key TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX accounts_by_last_name ON accounts(last_name_key);
    CREATE INDEX accounts_by_full_name ON accounts(full_name_key);
    CREATE TABLE patients (
        account_number TEXT NOT NULL REFERENCES accounts(account_number),
        patient_id TEXT NOT NULL,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        date_of_birth TEXT NOT NULL,
        last_name_key TEXT NOT NULL DEFAULT '',
        full_name_key TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (account_number, patient_id)
    );
    CREATE INDEX patients_by_last_name ON patients(last_name_key);
    CREATE INDEX patients_by_full_name ON patients(full_name_key);
    CREATE TABLE statements (
        statement_id TEXT PRIMARY KEY,
        account_number TEXT NOT NULL REFERENCES accounts(account_number),
        statement_date TEXT NOT NULL,
        due_date TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        imported_at TEXT NOT NULL
    );
    CREATE INDEX statements_by_account ON statements(account_number, statement_date);
    CREATE TABLE statement_lines (
        statement_id TEXT NOT NULL REFERENCES statements(statement_id),
        position INTEGER NOT NULL,
        line_id TEXT NOT NULL,
        patient_id TEXT NOT NULL,
        service_date TEXT NOT NULL,
        provider TEXT NOT NULL,
        code_system TEXT NOT NULL,
        code TEXT NOT NULL,
        description TEXT NOT NULL,
        diagnosis_codes TEXT NOT NULL,
        charge_cents INTEGER NOT NULL,
        insurance_paid_cents INTEGER NOT NULL,
        adjustment_cents INTEGER NOT NULL,
        patient_responsibility_cents INTEGER NOT NULL,
        PRIMARY KEY (statement_id, line_id)
    );
    CREATE TABLE payments (
        payment_id TEXT PRIMARY KEY,
        account_number TEXT NOT NULL REFERENCES accounts(account_number),
        amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
        status TEXT NOT NULL,
        method TEXT NOT NULL,
        gateway TEXT NOT NULL,
        created_at TEXT NOT NULL,
        checkout_session_id TEXT,
        gateway_reference TEXT UNIQUE,
        posted_at TEXT,
        failure_message TEXT NOT NULL DEFAULT '',
        refunded_cents INTEGER NOT NULL DEFAULT 0,
        method_detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX payments_by_account ON payments(account_number, created_at);
    CREATE INDEX payments_by_time ON payments(coalesce(posted_at, created_at));
    CREATE TABLE ledger_entries (
        entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_number TEXT NOT NULL REFERENCES accounts(account_number),
        kind TEXT NOT NULL,
        amount_cents INTEGER NOT NULL,
        posted_at TEXT NOT NULL,
        statement_id TEXT REFERENCES statements(statement_id),
        payment_id TEXT REFERENCES payments(payment_id),
        memo TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX ledger_by_account ON ledger_entries(account_number, entry_id);
    CREATE INDEX ledger_by_time ON ledger_entries(posted_at);
    CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger_entries
        BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
    CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger_entries
        BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
    CREATE TABLE lookup_failures (
        key TEXT NOT NULL,
        failed_at TEXT NOT NULL
    );
    CREATE INDEX lookup_failures_by_key ON lookup_failures(key, failed_at);
    CREATE INDEX lookup_failures_by_age ON lookup_failures(failed_at);
    CREATE TABLE lookup_locks (
        key TEXT PRIMARY KEY,
        locked_until TEXT NOT NULL
    );
    CREATE TABLE messages (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        sent_at TEXT,
        PRIMARY KEY (kind, key)
    );
    CREATE TABLE staff_users (
        username TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        totp_secret TEXT NOT NULL,
        created_at TEXT NOT NULL,
        session_epoch INTEGER NOT NULL DEFAULT 0,
        totp_last_step INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE audit_log (
        entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        account_number TEXT,
        subject TEXT NOT NULL DEFAULT '',
        address TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_by_account ON audit_log(account_number, entry_id);
    CREATE INDEX audit_by_actor ON audit_log(actor, entry_id);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TABLE account_notes (
        note_id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_number TEXT NOT NULL REFERENCES accounts(account_number),
        author TEXT NOT NULL,
        text TEXT NOT NULL,
        promise_to_pay_on TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX notes_by_account ON account_notes(account_number, note_id);
    CREATE TABLE escalations (
        escalation_id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        account_number TEXT NOT NULL REFERENCES accounts(account_number),
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        opened_by TEXT NOT NULL,
        owner TEXT NOT NULL DEFAULT '',
        promise_to_pay_on TEXT,
        resolved_at TEXT,
        resolved_by TEXT NOT NULL DEFAULT '',
        resolution TEXT NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX escalations_one_open_per_key ON escalations(key)
        WHERE resolved_at IS NULL;
    CREATE INDEX escalations_open ON escalations(resolved_at, opened_at);
    CREATE INDEX escalations_by_account ON escalations(account_number, escalation_id);
    CREATE TABLE web_sessions (
        session_id TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        opened_at TEXT NOT NULL
    );
    CREATE INDEX web_sessions_by_age ON web_sessions(opened_at);
    """,
    # 2: reminders read an index of accounts that owe something; patients can opt out.
    """
    ALTER TABLE accounts ADD COLUMN reminders_opted_out_at TEXT;
    CREATE TABLE receivables (
        account_number TEXT PRIMARY KEY REFERENCES accounts(account_number),
        statement_id TEXT NOT NULL,
        due_date TEXT NOT NULL,
        due_cents INTEGER NOT NULL
    );
    CREATE INDEX receivables_by_due_date ON receivables(due_date, account_number);
    INSERT INTO receivables
        SELECT account_number, statement_id, due_date, total FROM (
            SELECT s.account_number, s.statement_id, s.due_date,
                SUM(b.balance) OVER (PARTITION BY s.account_number) AS total,
                ROW_NUMBER() OVER (
                    PARTITION BY s.account_number ORDER BY s.due_date, s.statement_id
                ) AS position
            FROM statements s JOIN (
                SELECT statement_id, SUM(amount_cents) AS balance FROM ledger_entries
                WHERE statement_id IS NOT NULL GROUP BY statement_id HAVING balance > 0
            ) b ON b.statement_id = s.statement_id
        ) WHERE position = 1;
    """,
    # 3: what was e-mailed about each account, for staff.
    """
    CREATE TABLE mail_log (
        entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_number TEXT NOT NULL,
        kind TEXT NOT NULL,
        recipient TEXT NOT NULL,
        subject TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        at TEXT NOT NULL
    );
    CREATE INDEX mail_log_by_account ON mail_log(account_number, entry_id);
    CREATE INDEX mail_log_by_age ON mail_log(at);
    """,
    # 4: API keys for the JSON API (only a hash of each key is kept).
    """
    CREATE TABLE api_keys (
        name TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL UNIQUE,
        last_four TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    """,
    # 5: money and mail that must finish (issue 13). Claims keep what is needed to finish
    # them (a sweep takes over the unfinished ones); refunds are posted once per processor
    # refund id; a payment remembers what the portal asked for, so a different amount taken
    # is shown and escalated; opt-out links carry an opaque token.
    """
    ALTER TABLE messages ADD COLUMN payload TEXT NOT NULL DEFAULT '';
    CREATE INDEX messages_unfinished ON messages(claimed_at) WHERE sent_at IS NULL;
    ALTER TABLE payments ADD COLUMN requested_cents INTEGER;
    CREATE TABLE refunds (
        refund_id TEXT PRIMARY KEY,
        payment_id TEXT NOT NULL REFERENCES payments(payment_id),
        amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
        posted_at TEXT NOT NULL
    );
    CREATE INDEX refunds_by_payment ON refunds(payment_id);
    CREATE TABLE opt_out_tokens (
        token TEXT PRIMARY KEY,
        account_number TEXT NOT NULL UNIQUE REFERENCES accounts(account_number)
    );
    """,
    # 6: every money change commits only at the account version it was decided on (issue 14).
    """
    ALTER TABLE accounts ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    """,
    # 7: an import reads only the account's unapplied money (a credit it would use), not
    # its whole ledger (issue 15).
    """
    CREATE INDEX ledger_unapplied ON ledger_entries(account_number) WHERE statement_id IS NULL;
    """,
    # 8: payment plans and autopays (issue 16), each kept whole as JSON (`body`, the shape
    # of portal/adapters/plan_records.py) beside the columns it is found by; the charge
    # run's work list reads an index of the plans with a next day only.
    """
    CREATE TABLE plans (
        plan_id TEXT PRIMARY KEY,
        account_number TEXT NOT NULL,
        created_at TEXT NOT NULL,
        next_on TEXT,
        version INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX plans_by_account ON plans(account_number, created_at, plan_id);
    CREATE INDEX plans_by_age ON plans(created_at, plan_id);
    CREATE INDEX plans_due ON plans(next_on, plan_id) WHERE next_on IS NOT NULL;
    """,
    # 9: a line's description in Spanish, as the practice sends it (issue 18); empty for none.
    """
    ALTER TABLE statement_lines ADD COLUMN description_es TEXT NOT NULL DEFAULT '';
    """,
    # 10 (issue 19): what SES reports back. An address that bounced for good or complained
    # takes no more mail until staff mark it corrected (`accounts`: JSON list of the
    # accounts whose mail went to it); each SES event is applied once (its id kept a while).
    """
    CREATE TABLE undeliverable_addresses (
        address TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        at TEXT NOT NULL,
        accounts TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX undeliverable_by_age ON undeliverable_addresses(at);
    CREATE TABLE mail_events (
        event_id TEXT PRIMARY KEY,
        at TEXT NOT NULL
    );
    CREATE INDEX mail_events_by_age ON mail_events(at);
    """,
    # 11: patients' questions and financial-assistance requests (issue 17), each kept whole
    # as JSON (`body`, the shape of portal/adapters/case_records.py); the staff queue and
    # the reminder run read an index of open (and lately resolved) cases only.
    """
    CREATE TABLE cases (
        case_id TEXT PRIMARY KEY,
        account_number TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        due_on TEXT NOT NULL,
        resolved_at TEXT,
        version INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX cases_by_account ON cases(account_number, opened_at, case_id);
    CREATE INDEX cases_by_age ON cases(opened_at, case_id);
    CREATE INDEX cases_open ON cases(due_on, case_id) WHERE resolved_at IS NULL;
    CREATE INDEX cases_resolved ON cases(resolved_at) WHERE resolved_at IS NOT NULL;
    """,
    # 12 (issue 22): each account's consent to billing texts, found by account or by the
    # number that texts back (STOP, HELP, START).
    """
    CREATE TABLE sms_consents (
        account_number TEXT PRIMARY KEY,
        phone TEXT NOT NULL,
        given_at TEXT NOT NULL,
        source TEXT NOT NULL,
        stopped_at TEXT,
        time_zone TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX sms_consents_by_phone ON sms_consents(phone, account_number);
    """,
    # 13 (issue 21): money events for the practice system, numbered in commit order (the
    # transaction that posts the money change adds them), their outbound webhook
    # deliveries, and corrected statements (each statement's version; every version a
    # correction replaced, whole, as JSON).
    """
    CREATE TABLE money_events (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL
    );
    CREATE TABLE webhook_deliveries (
        event_id TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at TEXT NOT NULL,
        last_error TEXT NOT NULL DEFAULT '',
        first_at TEXT NOT NULL,
        done_at TEXT
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_at) WHERE state = 'pending';
    CREATE INDEX webhook_deliveries_failed ON webhook_deliveries(position) WHERE state = 'failed';
    CREATE TABLE webhook_position (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        position INTEGER NOT NULL
    );
    ALTER TABLE statements ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE statement_versions (
        statement_id TEXT NOT NULL REFERENCES statements(statement_id),
        version INTEGER NOT NULL,
        replaced_at TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (statement_id, version)
    );
    """,
    # 14: insurance remittances (issue 20). A line's claim id (the 835's CLP01) and the lines
    # by it; the remittance posting an entry belongs to (`source`, empty for any other), so
    # each is posted once; each remittance (payer and trace number) imported, kept whole as
    # JSON (`body`) with what it posted, left unmatched and the associates' work items.
    """
    ALTER TABLE statement_lines ADD COLUMN claim_id TEXT NOT NULL DEFAULT '';
    CREATE INDEX statement_lines_by_claim ON statement_lines(claim_id) WHERE claim_id != '';
    ALTER TABLE ledger_entries ADD COLUMN source TEXT NOT NULL DEFAULT '';
    CREATE INDEX ledger_by_source ON ledger_entries(source) WHERE source != '';
    CREATE TABLE remittances (
        remittance_id TEXT PRIMARY KEY,
        imported_at TEXT NOT NULL,
        paid_on TEXT NOT NULL,
        open_items INTEGER NOT NULL DEFAULT 0,
        version INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX remittances_by_age ON remittances(imported_at, remittance_id);
    CREATE INDEX remittances_by_paid_on ON remittances(paid_on, remittance_id);
    CREATE INDEX remittances_open ON remittances(imported_at) WHERE open_items > 0;
    """,
    # 15: card payouts (issue 21), each reconciled against the payments: the record whole as
    # JSON (`body`: sums by kind, fee per payment, unmatched lines, when reconciled).
    """
    CREATE TABLE payouts (
        payout_id TEXT PRIMARY KEY,
        arrival_date TEXT NOT NULL,
        reconciled INTEGER NOT NULL,
        version INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX payouts_by_arrival ON payouts(arrival_date, payout_id);
    CREATE INDEX payouts_unreconciled ON payouts(arrival_date, payout_id) WHERE reconciled = 0;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
