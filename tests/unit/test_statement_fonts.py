"""Every character the translations write prints on a statement: the statement fonts
(static/fonts, subset to the scripts names are written in) hold a glyph for each character
of every shipped catalog's translations (Spanish: á é í ó ú ü ñ ¿ ¡ « » and the rest), in
both the regular and the bold face."""

from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from fontTools.ttLib import TTFont

from portal.resources import resource_dir
from portal.services.statement_pdf import FONT_DIR

CATALOGS = sorted(resource_dir("translations").glob("*/LC_MESSAGES/*.po"))
FACES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")


def characters(po: Path) -> set[str]:
    with po.open("rb") as handle:
        catalog = read_po(handle)
    found: set[str] = set()
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            found.update(ch for ch in string if not ch.isspace())
    return found


def test_there_are_catalogs_to_check():
    assert any(po.parts[-3] == "es" for po in CATALOGS), CATALOGS


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("po", CATALOGS, ids=lambda po: f"{po.parts[-3]}-{po.stem}")
def test_every_character_of_the_catalog_has_a_glyph(po: Path, face: str):
    cmap = TTFont(FONT_DIR / face).getBestCmap()
    needed = characters(po)

    missing = sorted(ch for ch in needed if ord(ch) not in cmap)

    assert len(needed) > 40, needed  # the translations were read
    assert not missing, f"{face} cannot print {[f'{c} U+{ord(c):04X}' for c in missing]}"


def test_the_check_finds_a_character_without_a_glyph():
    cmap = TTFont(FONT_DIR / FACES[0]).getBestCmap()

    assert ord("ñ") in cmap and ord("¿") in cmap
    assert ord("中") not in cmap  # outside the subset's scripts
