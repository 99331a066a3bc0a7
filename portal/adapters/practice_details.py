"""Reads the billing office's details from templates/site/_practice.html (Jinja2).

The template is where the practice sets them (the public pages and the e-mails import it),
so they are read from it rather than copied: once, when bootstrap builds the services.
"""

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from portal.domain.practice import PracticeDetails

PRACTICE_TEMPLATE = "site/_practice.html"


def read_practice_details(
    template_dir: str | Path, practice_name: str, mail_from: str
) -> PracticeDetails:
    """The values _practice.html sets, given the practice's name and its public sending
    address ("" when it has none: the template then shows its own example address)."""
    template = _environment(str(template_dir)).get_template(PRACTICE_TEMPLATE)
    module = template.make_module({"practice_name": practice_name, "mail_from": mail_from})
    values = vars(module)  # the names the template sets at its top level
    return PracticeDetails(
        name=practice_name,
        payee=str(values["payee"]),
        mailing_address=tuple(str(part) for part in values["mailing_address"]),
        phone=str(values["phone"]),
        hours=str(values["hours"]),
        email=str(values["email"]),
        examples=bool(values["details_are_examples"]),
    )


@cache
def _environment(template_dir: str) -> Environment:
    """One per folder: the template is compiled once, and again only if its file changes."""
    # Plain text (no HTML escaping): the values are for print, not a page.
    return Environment(loader=FileSystemLoader(template_dir), undefined=StrictUndefined)
