"""Comparing people's names the way a patient types them."""

import unicodedata


def name_key(name: str) -> str:
    """Case, accents, spaces and punctuation do not matter: "  Núñez-O'Neil " == "nunezoneil"."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    return "".join(ch for ch in decomposed.casefold() if ch.isalnum())
