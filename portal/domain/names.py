"""Comparing people's names the way a patient types them."""

import re
import unicodedata

_NOT_ASCII_ALNUM = re.compile(r"[^0-9a-z]+")


def name_key(name: str) -> str:
    """Case, accents, spaces and punctuation do not matter: "  Núñez-O'Neil " == "nunezoneil"."""
    name = name or ""
    if name.isascii():
        # The same answer without decomposing: most names, and an import keys every one.
        return _NOT_ASCII_ALNUM.sub("", name.lower())
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed.casefold() if ch.isalnum())
