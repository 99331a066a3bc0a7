"""Corrected statements through the import (API, JSON and CSV): a higher `version` replaces
the statement, payments stay applied, and the notice says a corrected statement is ready
(in the guarantor's language); a lower or equal version with other content is rejected."""

import copy

from portal.services.imports import import_records, iter_csv
from portal.services.staff_actions import post_manual_payment
from tests.integration.conftest import eml_files, read_eml
from tests.integration.test_api import STATEMENT, auth, post_statements
from tests.integration.test_api import key as key

SID = STATEMENT["statement_id"]


def version_of(number: int, owed: int) -> dict:
    record = copy.deepcopy(STATEMENT)
    record["version"] = number
    line = record["lines"][0]
    line["patient_responsibility_cents"] = owed
    line["charge_cents"] = line["insurance_paid_cents"] + line["adjustment_cents"] + owed
    return record


def notices(outbox) -> list:
    return [
        m for m in map(read_eml, eml_files(outbox)) if m["X-Portal-Message-Kind"] == "statement"
    ]


def test_a_higher_version_through_the_api_replaces_the_statement_and_says_so(
    client,
    services,
    key,
    outbox,
):
    assert post_statements(client, key, [STATEMENT]).get_json()["imported"] == 1
    post_manual_payment(services, "setup", "100900", "cash", "10.00", "", "d" * 32, "127.0.0.1")

    answer = post_statements(client, key, [version_of(2, 2000)]).get_json()

    assert answer == {"imported": 1, "unchanged": 0, "rejected": []}
    stored = services.store.get_statement(SID)
    assert (stored.version, stored.total_cents) == (2, 2000)
    body = client.get("/api/v1/accounts/100900", headers=auth(key)).get_json()
    assert body["balance_cents"] == 2000 - 1000
    first, corrected = notices(outbox)
    assert first["Subject"].endswith("is ready") and "corrected" not in first["Subject"]
    assert "corrected statement" in corrected["Subject"]
    text = corrected.get_body(("plain",)).get_content()
    assert "replaces the one we sent before" in text
    assert "$10.00" in text  # what is left to pay: $20.00 less the $10.00 paid


def test_a_lower_or_equal_version_with_other_content_is_rejected(client, key):
    post_statements(client, key, [version_of(3, 3000)])

    same = post_statements(client, key, [version_of(3, 2500)]).get_json()
    lower = post_statements(client, key, [version_of(2, 2500)]).get_json()
    again = post_statements(client, key, [version_of(1, 3000)]).get_json()

    for answer in (same, lower):
        assert answer["imported"] == 0
        assert answer["rejected"][0]["statement_id"] == SID
    assert again == {"imported": 0, "unchanged": 1, "rejected": []}


def test_a_bad_version_is_rejected_naming_the_field(client, key):
    for bad in (0, -1, "2", 1.5, True, 10**7):
        record = copy.deepcopy(STATEMENT)
        record["version"] = bad
        answer = post_statements(client, key, [record]).get_json()
        assert answer["rejected"][0]["errors"][0]["field"] == "version", bad


def test_a_csv_version_column_corrects(services, outbox):
    header = (
        "statement_id,account_number,statement_date,due_date,version,guarantor_first_name,"
        "guarantor_last_name,guarantor_date_of_birth,guarantor_email,guarantor_phone,"
        "patient_id,patient_first_name,patient_last_name,"
        "patient_date_of_birth,line_id,service_date,provider,code_system,code,description,"
        "diagnosis_codes,charge,insurance_paid,adjustment,patient_responsibility\n"
    )

    def row(version: str, owed: str, charge: str) -> str:
        return (
            f"S-CSV-1,100950,2026-11-01,2026-11-30,{version},Rosa,Diaz,1980-02-03,"
            "rosa@example.com,,P1,Rosa,Diaz,1980-02-03,1,2026-10-14,Dr. Chen,CPT,99213,"
            f"Office visit,J06.9,{charge},120.00,35.00,{owed}\n"
        )

    def run(text: str):
        return import_records(services, iter_csv(text.encode().splitlines(True)), "test")

    first = run(header + row("", "30.00", "185.00"))
    second = run(header + row("2", "20.00", "175.00"))
    bad = run(header + row("two", "20.00", "175.00"))

    assert (first.imported, second.imported, second.rejected) == (1, 1, [])
    assert services.store.get_statement("S-CSV-1").version == 2
    assert bad.rejected[0].errors[0][0] == "version"
    assert "corrected" in notices(outbox)[-1]["Subject"]


def test_a_spanish_reader_is_told_in_spanish(client, services, key, outbox):
    record = copy.deepcopy(STATEMENT)
    record["guarantor"]["preferred_language"] = "es"
    post_statements(client, key, [record])
    corrected = {**version_of(2, 2000), "guarantor": record["guarantor"]}

    post_statements(client, key, [corrected])

    message = notices(outbox)[-1]
    assert "corregido" in message["Subject"]
    assert "reemplaza al que le enviamos antes" in message.get_body(("plain",)).get_content()


def test_the_setting_decides_whose_due_date_reminders_count_from(services):
    import dataclasses
    from datetime import date

    from portal.services.statements import import_statement
    from tests.conftest import lopez_account, statement

    account = lopez_account()
    first = statement("S-DUE-1", (3000,), date(2026, 11, 1), date(2026, 11, 30))
    import_statement(services, account, first, notify=False)
    later = dataclasses.replace(first, due_date=date(2026, 12, 31), version=2)
    import_statement(services, account, later, notify=False)
    assert services.store.get_statement("S-DUE-1").due_date == date(2026, 11, 30)

    restart = dataclasses.replace(
        services,
        settings=dataclasses.replace(services.settings, corrections_restart_reminders=True),
    )
    third = dataclasses.replace(later, due_date=date(2027, 1, 10), version=3)
    import_statement(restart, account, third, notify=False)
    assert services.store.get_statement("S-DUE-1").due_date == date(2027, 1, 10)
