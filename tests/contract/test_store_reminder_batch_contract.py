"""Store.claim_reminders and Store.open_escalations: what the reminder run writes before it
sends a batch (issue 15), on every store."""

from dataclasses import replace
from datetime import timedelta

from portal.domain.staff import AuditAction, AuditEntry, Escalation, EscalationKind, MailRecord
from portal.ports.claims import Claim
from portal.ports.reminders import ReminderBatch
from portal.ports.store import Store
from tests.conftest import NOW, lopez_account, statement

LATER = NOW + timedelta(minutes=1)
STALE = NOW - timedelta(minutes=10)


def escalation(number: str, key: str) -> tuple[Escalation, AuditEntry]:
    return (
        Escalation(key, number, EscalationKind.REMINDER, "90 days past due", NOW, "system"),
        AuditEntry(NOW, "system", AuditAction.OPEN_ESCALATION, number, "reminder"),
    )


def accounts(store: Store) -> tuple[str, str]:
    first = lopez_account()
    second = replace(lopez_account(), account_number="100235")
    store.import_statement(first, statement("S-1", (3000,)), NOW)
    store.import_statement(second, replace(statement("S-2", (100,)), account_number="100235"), NOW)
    return first.account_number, second.account_number


def test_a_batch_claims_and_gives_tokens_and_queue_items_only_to_claims_taken_now(store: Store):
    first, second = accounts(store)
    before = Claim("reminder", f"{second}:S-2:first", None, "")
    assert store.claim_many([before], NOW, STALE) == {("reminder", before.key)}
    mine = Claim("reminder", f"{first}:S-1:first", None, "")
    escalate = Claim("escalation", f"{second}:S-2:escalation", None, "")
    batch = ReminderBatch(
        claims=[mine, before, escalate],
        tokens={
            ("reminder", mine.key): (first, "token-first"),
            ("reminder", before.key): (second, "token-second"),
        },
        escalations={("escalation", escalate.key): escalation(second, "reminder:100235:S-2")},
    )

    taken, tokens = store.claim_reminders(batch, NOW, STALE)

    assert taken == {("reminder", mine.key), ("escalation", escalate.key)}
    assert tokens == {first: "token-first"}
    assert store.account_of_opt_out_token("token-second") is None
    assert [e.key for e in store.escalations(account_number=second)] == ["reminder:100235:S-2"]
    audited = store.audit_entries(account_number=second)
    assert [e.action for e in audited] == [AuditAction.OPEN_ESCALATION]


def test_a_batch_marks_what_the_batch_before_it_sent_with_its_mail_log(store: Store):
    first, second = accounts(store)
    sent = Claim("reminder", f"{first}:S-1:first", None, "")
    store.claim_many([sent], NOW, STALE)
    record = MailRecord(first, "reminder", "ana@example.com", "Payment reminder", "sent", NOW)
    nxt = Claim("reminder", f"{second}:S-2:first", None, "")

    taken, _ = store.claim_reminders(
        ReminderBatch(claims=[nxt], finished=[("reminder", sent.key)], mail=[record]),
        LATER,
        STALE,
    )

    assert taken == {("reminder", nxt.key)}
    assert store.claim_completed("reminder", sent.key)
    assert not store.claim_completed("reminder", nxt.key)
    assert [(m.kind, m.outcome) for m in store.mail_log(first)] == [("reminder", "sent")]
    assert store.unfinished_claims(LATER + timedelta(minutes=1)) == [
        Claim("reminder", nxt.key, LATER, "")
    ]


def test_escalations_open_together_each_once(store: Store):
    first, second = accounts(store)
    opened = store.open_escalations(
        [escalation(first, "reminder:100234:S-1"), escalation(second, "reminder:100235:S-2")]
    )
    again = store.open_escalations([escalation(first, "reminder:100234:S-1")])

    assert [e.key for e in opened if e is not None] == [
        "reminder:100234:S-1",
        "reminder:100235:S-2",
    ]
    assert again == [None]
    assert len(store.audit_entries(account_number=first)) == 1
