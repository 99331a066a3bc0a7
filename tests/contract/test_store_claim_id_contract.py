"""A line's claim id (issue 20) is kept by every store, with the fingerprint."""

from dataclasses import replace

from portal.domain.statements import Statement
from portal.ports.store import Store
from tests.conftest import NOW, lopez_account, statement


def test_a_line_keeps_its_claim_id_and_the_other_stays_empty(store: Store):
    plain = statement("S-1", (3000, 4550))
    st: Statement = replace(
        plain, lines=(replace(plain.lines[0], claim_id="C-100234-01"), plain.lines[1])
    )

    store.import_statement(lopez_account(), st, NOW)

    stored = store.get_statement("S-1")
    assert stored is not None
    assert [line.claim_id for line in stored.lines] == ["C-100234-01", ""]
    assert stored == st
    assert store.import_state(["100234"], ["S-1"]).fingerprints == {"S-1": st.fingerprint()}
