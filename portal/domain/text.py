"""Characters free text from outside (imported names, providers, descriptions) may not carry."""

import re

# C0 controls (NUL, TAB, CR/LF, ESC...), DEL and C1 controls; the line and paragraph
# separators; and the Unicode bidirectional controls, which can make a name read differently
# on screen than it is stored ("Smith" shown for "htimS", a file name turned around):
# LRE/RLE/PDF/LRO/RLO (U+202A-E), LRI/RLI/FSI/PDI (U+2066-9), LRM/RLM (U+200E/F), ALM (U+061C).
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
HIDDEN_CHARACTER = (
    "Contains a control character or a text-direction mark (such as NUL, a tab, a line break "
    "or U+202E): remove it."
)


def has_hidden_characters(text: str, line_breaks: bool = False) -> bool:
    """True when the text holds a character of _HIDDEN; with `line_breaks`, CR and LF are
    allowed (a long description may run over lines)."""
    if line_breaks:
        text = text.replace("\r", "").replace("\n", "")
    return _HIDDEN.search(text) is not None
