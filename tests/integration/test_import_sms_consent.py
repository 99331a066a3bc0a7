"""The import's optional consent to texts: guarantor `sms_consent` in JSON, columns
`sms_consent_at` and `sms_consent_source` in CSV."""

import io
from datetime import UTC, datetime

import pytest

from portal.services.imports import CSV_COLUMNS, import_records, iter_csv
from tests.integration.test_import import csv_bytes, csv_rows, good

GIVEN = datetime(2026, 10, 14, 13, 30, tzinfo=UTC)


def with_consent(**consent) -> dict:
    record = good()
    record["guarantor"]["sms_consent"] = {
        "phone": "",
        "given_at": "2026-10-14T09:30:00-04:00",
        "source": "intake form",
        **consent,
    }
    return record


def test_a_json_consent_is_kept_with_the_guarantors_phone(services):
    summary = import_records(services, [with_consent()], "tester")
    assert summary.imported == 1 and not summary.rejected
    consent = services.store.sms_consent("200411")
    assert (consent.phone, consent.given_at, consent.source) == (
        "+15555550141",
        GIVEN,
        "intake form",
    )
    assert consent.active


def test_a_consent_may_name_another_mobile_number(services):
    import_records(services, [with_consent(phone="(555) 555-0199")], "tester")
    assert services.store.sms_consent("200411").phone == "+15555550199"


def test_no_consent_keeps_nothing(services):
    import_records(services, [good()], "tester")
    assert services.store.sms_consent("200411") is None


@pytest.mark.parametrize(
    ("consent", "field"),
    [
        ({"given_at": "yesterday"}, "guarantor.sms_consent.given_at"),
        ({"given_at": "2026-10-14T09:30:00"}, "guarantor.sms_consent.given_at"),
        ({"phone": "12"}, "guarantor.sms_consent.phone"),
        ({"source": ""}, "guarantor.sms_consent.source"),
    ],
)
def test_a_bad_consent_rejects_the_statement_and_keeps_nothing(services, consent, field):
    summary = import_records(services, [with_consent(**consent)], "tester")
    [rejection] = summary.rejected
    assert [f for f, _ in rejection.errors] == [field]
    assert services.store.get_account("200411") is None
    assert services.store.sms_consent("200411") is None


def test_a_consent_without_any_phone_is_rejected(services):
    record = with_consent()
    record["guarantor"]["phone"] = ""
    [rejection] = import_records(services, [record], "tester").rejected
    assert rejection.errors[0][0] == "guarantor.sms_consent.phone (the guarantor's)"


def test_an_old_consent_imported_again_does_not_undo_a_stop(services, clock):
    import_records(services, [with_consent()], "tester")
    stopped = services.store.sms_consent("200411").stopped(clock.now())
    services.store.save_sms_consent(stopped)
    summary = import_records(services, [with_consent()], "tester")
    assert summary.unchanged == 1
    assert not services.store.sms_consent("200411").active
    # A consent given after the STOP (a new form) counts.
    later = with_consent(given_at=clock.now().replace(day=29).isoformat())
    import_records(services, [later], "tester")
    assert services.store.sms_consent("200411").active


def test_a_newer_consent_replaces_an_older_one_and_not_the_other_way(services):
    import_records(services, [with_consent(given_at="2026-11-01")], "tester")
    import_records(services, [with_consent(given_at="2026-10-01", source="old form")], "tester")
    consent = services.store.sms_consent("200411")
    assert consent.given_at == datetime(2026, 11, 1, tzinfo=UTC) and consent.source == "intake form"


def test_a_csv_consent_is_read_from_its_columns(services):
    rows = csv_rows()
    for row in rows:
        row["sms_consent_at"] = "2026-10-14T09:30:00-04:00"
        row["sms_consent_source"] = "front desk"
    data = csv_bytes(rows, (*CSV_COLUMNS, "sms_consent_at", "sms_consent_source"))
    summary = import_records(services, iter_csv(io.BytesIO(data)), "tester")
    assert summary.imported == 1 and not summary.rejected
    consent = services.store.sms_consent("200411")
    assert (consent.phone, consent.given_at, consent.source) == (
        "+15555550141",
        GIVEN,
        "front desk",
    )


def test_a_csv_without_the_consent_columns_imports_as_before(services):
    summary = import_records(services, iter_csv(io.BytesIO(csv_bytes(csv_rows()))), "tester")
    assert summary.imported == 1
    assert services.store.sms_consent("200411") is None


def test_a_csv_consent_time_that_is_not_one_is_rejected(services):
    rows = csv_rows()
    for row in rows:
        row["sms_consent_at"] = "14/10/2026"
        row["sms_consent_source"] = "front desk"
    data = csv_bytes(rows, (*CSV_COLUMNS, "sms_consent_at", "sms_consent_source"))
    [rejection] = import_records(services, iter_csv(io.BytesIO(data)), "tester").rejected
    assert [f for f, _ in rejection.errors] == ["guarantor.sms_consent.given_at"]
