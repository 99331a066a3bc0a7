"""The keywords a patient texts back, in English and Spanish, whatever their case."""

import pytest

from portal.domain.texting import Keyword, keyword_of


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", Keyword.STOP),
        (" stop. ", Keyword.STOP),
        ("Unsubscribe", Keyword.STOP),
        ("quit!", Keyword.STOP),
        ("PARAR", Keyword.STOP),
        ("alto", Keyword.STOP),
        ("Cancelar", Keyword.STOP),
        ("help", Keyword.HELP),
        ("Ayuda", Keyword.HELP),
        ("¡Ayuda!", Keyword.HELP),
        ("start", Keyword.START),
        ("Sí", Keyword.START),
        ("comenzar", Keyword.START),
        ("please stop", None),
        ("stop texting me about my bill", None),
        ("", None),
        ("STOP STOP", None),
    ],
)
def test_keywords(body, keyword):
    assert keyword_of(body) is keyword
