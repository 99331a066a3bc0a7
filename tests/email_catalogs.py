"""The `email` catalogs compiled at test time from the .po files in translations/ (the
install compiles them too; the tests do not count on it), and a renderer that reads them."""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from portal.adapters.email_templates import DOMAIN, EmailRenderer
from portal.resources import resource_dir, template_dir


def compile_catalogs(dest: Path, source: Path | None = None) -> Path:
    """Every translations/<lang>/LC_MESSAGES/email.po compiled under `dest`; `dest`."""
    source = source or resource_dir("translations")
    for po in source.glob(f"*/LC_MESSAGES/{DOMAIN}.po"):
        language = po.parent.parent.name
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=language, domain=DOMAIN)
        target = dest / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            write_mo(handle, catalog)
    return dest


def renderer(catalogs: Path) -> EmailRenderer:
    return EmailRenderer(template_dir(), catalogs)
