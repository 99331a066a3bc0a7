"""Money events from ledger entries: kinds, references, signs."""

from portal.domain.ledger import EntryKind, LedgerEntry
from portal.domain.money_events import entry_events
from portal.domain.remittance_posting import PAID, Source
from tests.conftest import NOW


def test_a_remittance_posting_is_referenced_by_its_posting():
    source = Source("CLM-1", "1", "rem_abc#0#1", PAID).text()
    entry = LedgerEntry("100234", EntryKind.INSURANCE_PAYMENT, -1200, NOW, "S-1", source=source)
    transfer = LedgerEntry("100234", EntryKind.TRANSFER, 300, NOW, None)

    remittance, moved = entry_events([entry, transfer])

    assert (remittance.kind, remittance.amount_cents, remittance.reference) == (
        "remittance",
        -1200,
        "rem_abc#0#1",
    )
    assert (remittance.method, remittance.statement_id) == (None, "S-1")
    assert (moved.kind, moved.reference) == ("transfer", None)
    assert remittance.event_id != moved.event_id
