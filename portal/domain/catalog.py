"""Marking words for the translation catalogs (translations/*.pot) where they are written
but not yet translated: the extraction finds `N_("...")`; the words are looked up in the
reader's language where they are shown or sent (portal.ports.mail.Wording.gettext)."""


def N_(message: str) -> str:
    return message
