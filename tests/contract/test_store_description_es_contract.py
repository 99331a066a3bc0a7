"""A line's Spanish description (issue 18) is kept by every store, with the fingerprint."""

from dataclasses import replace

from portal.domain.statements import Statement
from portal.ports.store import Store
from tests.conftest import NOW, lopez_account, statement

SPANISH = "Consulta en el consultorio, paciente establecido"


def test_a_line_keeps_its_spanish_description_and_the_other_stays_empty(store: Store):
    plain = statement("S-1", (3000, 4550))
    st: Statement = replace(
        plain, lines=(plain.lines[0], replace(plain.lines[1], description_es=SPANISH))
    )

    store.import_statement(lopez_account(), st, NOW)

    stored = store.get_statement("S-1")
    assert stored is not None
    assert [line.description_es for line in stored.lines] == ["", SPANISH]
    assert stored == st
    assert store.import_state(["100234"], ["S-1"]).fingerprints == {"S-1": st.fingerprint()}
