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


def test_lines_are_found_by_claim_id_and_a_correction_keeps_them_findable(store: Store):
    plain = statement("S-1", (3000, 4550))
    first: Statement = replace(
        plain, lines=(replace(plain.lines[0], claim_id="C-1"), plain.lines[1])
    )
    store.import_statement(lopez_account(), first, NOW)
    corrected = replace(
        first,
        version=2,
        lines=(first.lines[0], replace(first.lines[1], claim_id="C-2")),
    )

    store.import_statement(lopez_account(), corrected, NOW)

    found = store.claim_lines(["C-1", "C-2", "C-3"])
    assert [(c.statement_id, c.line.line_id, c.line.claim_id) for c in found] == [
        ("S-1", "1", "C-1"),
        ("S-1", "2", "C-2"),
    ]
