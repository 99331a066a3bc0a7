"""The practice-details adapter reads the billing office's values from _practice.html."""

from dataclasses import FrozenInstanceError

import pytest

from portal.adapters.practice_details import PRACTICE_TEMPLATE, read_practice_details
from portal.bootstrap import build_services
from portal.config import Settings
from portal.domain.practice import PracticeDetails, public_mail_from
from portal.resources import template_dir


def test_it_reads_the_templates_values():
    details = read_practice_details(template_dir(), "Riverside Family Medicine", "")

    assert details == PracticeDetails(
        name="Riverside Family Medicine",
        payee="Riverside Family Medicine",
        mailing_address=(
            "Riverside Family Medicine - Billing Office",
            "100 Example Street, Suite 200",
            "Springfield, ST 00000",
        ),
        phone="(555) 010-0123",
        hours="Monday to Friday, 8:30 a.m. to 5:00 p.m.",
        email="billing@example.org",
        examples=True,
    )
    with pytest.raises(FrozenInstanceError):
        details.phone = "x"  # type: ignore[misc]


def test_a_real_sending_address_is_the_contact_email():
    details = read_practice_details(template_dir(), "Clinic", "billing@clinic.example")
    assert details.email == "billing@clinic.example"


def test_the_values_come_from_the_template_not_from_code(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / PRACTICE_TEMPLATE).write_text(
        "{% set details_are_examples = false %}\n"
        '{% set phone = "(212) 555-7000" %}\n'
        '{% set hours = "Weekdays 9 to 5" %}\n'
        '{% set email = mail_from or "office@hillside.example" %}\n'
        '{% set payee = "Hillside Medical Group, P.C." %}\n'
        '{% set mailing_address = ["PO Box 42", "Albany, NY 12201"] %}\n',
        encoding="utf-8",
    )

    details = read_practice_details(tmp_path, "Hillside Clinic & Co", "")

    assert details == PracticeDetails(
        name="Hillside Clinic & Co",
        payee="Hillside Medical Group, P.C.",
        mailing_address=("PO Box 42", "Albany, NY 12201"),
        phone="(212) 555-7000",
        hours="Weekdays 9 to 5",
        email="office@hillside.example",
        examples=False,
    )


def test_bootstrap_builds_them_once_onto_the_services(settings):
    services = build_services(settings)
    assert services.practice == read_practice_details(
        template_dir(), settings.practice_name, public_mail_from(settings.mail_from)
    )


@pytest.mark.parametrize(
    ("mail_from", "public"),
    [("portal@localhost", ""), ("billing@clinic.example", "billing@clinic.example")],
)
def test_only_a_real_sending_address_is_offered(tmp_path, mail_from, public):
    assert public_mail_from(mail_from) == public
    settings = Settings.from_env(
        {
            "PORTAL_SQLITE_PATH": str(tmp_path / "p.sqlite3"),
            "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "PORTAL_MAIL_FROM": mail_from,
        }
    )
    assert build_services(settings).practice.email == (public or "billing@example.org")
