"""The text senders: the outbox (one JSON file per text) and SNS Publish on moto's server."""

import json

import pytest
from botocore.exceptions import ClientError

from portal.adapters.outbox_sms import OutboxTexts, read_outbox
from portal.adapters.sns_sms import SnsTexts
from portal.config import ConfigError, Settings
from portal.ports.sms import OutgoingText, PermanentSmsError, TransientSmsError

NUMBER = "+15555550123"


def text(**overrides) -> OutgoingText:
    values = dict(kind="pay-link", to=NUMBER, body="Demo Family Practice: your statement is ready.")
    values.update(overrides)
    return OutgoingText(**values)


def test_outbox_writes_one_json_file_per_text(tmp_path):
    texts = OutboxTexts(tmp_path / "sms", "+15555550100")
    first = texts.send(text())
    second = texts.send(text(kind="sms-help", body="Help: call 555-0100."))
    assert first != second
    files = sorted(p.name for p in (tmp_path / "sms").iterdir())
    assert files == sorted([first, second])
    saved = json.loads((tmp_path / "sms" / first).read_text())
    assert saved["to"] == NUMBER and saved["from"] == "+15555550100"
    assert saved["kind"] == "pay-link" and saved["body"].startswith("Demo Family Practice")
    assert [t["kind"] for t in read_outbox(tmp_path / "sms")] == ["pay-link", "sms-help"]


@pytest.mark.parametrize("number", ["5555550123", "+1555", "+15555550123\n", "tel:+15555550123"])
def test_outbox_refuses_a_number_not_in_e164_form(tmp_path, number):
    with pytest.raises(PermanentSmsError, match="not a mobile number"):
        OutboxTexts(tmp_path / "sms").send(text(to=number))
    assert not (tmp_path / "sms").exists()


def test_outbox_refuses_an_empty_text(tmp_path):
    with pytest.raises(PermanentSmsError, match="no words"):
        OutboxTexts(tmp_path / "sms").send(text(body="  "))


def sms_sent_by_moto() -> dict:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns import sns_backends

    return sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages


def test_sns_publishes_the_text_to_the_phone(moto_endpoint):
    # No client given: the sender makes its own, from the environment, on first send.
    message_id = SnsTexts("+15555550100").send(text())
    assert sms_sent_by_moto()[message_id] == (NUMBER, text().body)


class Recording:
    def __init__(self, client, failures: list[str]):
        self.client, self.failures, self.calls = client, failures, []

    def publish(self, **request):
        self.calls.append(request)
        if self.failures:
            code = self.failures.pop(0)
            status = 500 if code == "InternalError" else 400
            raise ClientError(
                {
                    "Error": {"Code": code, "Message": "simulated"},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                },
                "Publish",
            )
        return self.client.publish(**request)


def test_sns_request_is_transactional_from_the_origination_number(moto_endpoint):
    import boto3

    recording = Recording(boto3.client("sns"), [])
    message_id = SnsTexts("+15555550100", client=recording).send(text())
    [request] = recording.calls
    assert request["PhoneNumber"] == NUMBER
    attributes = request["MessageAttributes"]
    assert attributes["AWS.SNS.SMS.SMSType"]["StringValue"] == "Transactional"
    assert attributes["AWS.MM.SMS.OriginationNumber"]["StringValue"] == "+15555550100"
    assert message_id in sms_sent_by_moto()


def test_sns_retries_throttling_with_backoff_and_sends_once(moto_endpoint):
    import boto3

    sleeps: list[float] = []
    recording = Recording(boto3.client("sns"), ["Throttling", "InternalError"])
    message_id = SnsTexts(client=recording, sleep=sleeps.append).send(text())
    assert sleeps == [1.0, 2.0] and len(recording.calls) == 3
    assert list(sms_sent_by_moto()).count(message_id) == 1


def test_sns_gives_up_after_the_attempts_as_transient(moto_endpoint):
    import boto3

    sleeps: list[float] = []
    recording = Recording(boto3.client("sns"), ["Throttling"] * 3)
    with pytest.raises(TransientSmsError, match="after 3 attempts"):
        SnsTexts(client=recording, attempts=3, sleep=sleeps.append).send(text())
    assert sleeps == [1.0, 2.0]


def test_sns_opted_out_phone_is_permanent_without_retry(moto_endpoint):
    import boto3

    recording = Recording(boto3.client("sns"), ["OptedOut"])
    with pytest.raises(PermanentSmsError, match="opted out") as refused:
        SnsTexts(client=recording, sleep=lambda s: None).send(text())
    assert len(recording.calls) == 1
    assert text().body not in refused.value.message


def test_sns_refuses_a_bad_number_before_calling(moto_endpoint):
    import boto3

    recording = Recording(boto3.client("sns"), [])
    with pytest.raises(PermanentSmsError):
        SnsTexts(client=recording).send(text(to="555-0123"))
    assert recording.calls == []


# -- settings --------------------------------------------------------------------------


def test_sms_settings_have_local_defaults():
    s = Settings.from_env({})
    assert (s.sms, s.sms_outbox_dir, s.pay_link_days) == ("outbox", "var/sms", 30)
    assert s.closed_weekdays == () and s.closed_dates == ()


def test_sms_settings_are_read():
    s = Settings.from_env(
        {
            "PORTAL_SMS": "SNS",
            "PORTAL_SMS_OUTBOX_DIR": "/tmp/texts",
            "PORTAL_SMS_ORIGINATION_NUMBER": "+15555550100",
            "PORTAL_PAY_LINK_DAYS": "14",
            "PORTAL_CLOSED_DAYS": "Sun, sat,2026-12-25",
        }
    )
    assert (s.sms, s.sms_outbox_dir, s.sms_origination_number) == (
        "sns",
        "/tmp/texts",
        "+15555550100",
    )
    assert s.pay_link_days == 14
    assert s.closed_weekdays == (5, 6)
    assert [d.isoformat() for d in s.closed_dates] == ["2026-12-25"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORTAL_SMS", "twilio"),
        ("PORTAL_SMS_ORIGINATION_NUMBER", "555-0100"),
        ("PORTAL_PAY_LINK_DAYS", "0"),
        ("PORTAL_CLOSED_DAYS", "someday"),
        ("PORTAL_CLOSED_DAYS", "2026-02-30"),
    ],
)
def test_bad_sms_settings_are_named(name, value):
    with pytest.raises(ConfigError) as bad:
        Settings.from_env({name: value})
    assert [p.split(":")[0] for p in bad.value.problems] == [name]


def test_the_sms_outbox_is_refused_inside_lambda():
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": "portal",
        "PORTAL_STORE": "dynamodb",
        "PORTAL_DYNAMODB_TABLE": "t",
        "PORTAL_PAYMENTS": "stripe",
        "STRIPE_SECRET_KEY": "sk",
        "STRIPE_WEBHOOK_SECRET": "wh",
        "PORTAL_MAIL": "ses",
        "PORTAL_SECRET_KEY": "x" * 32,
    }
    with pytest.raises(ConfigError) as bad:
        Settings.from_env({**env, "PORTAL_SMS": "outbox"})
    assert [p.split(":")[0] for p in bad.value.problems] == ["PORTAL_SMS"]
    assert "Lambda" in bad.value.problems[0]
    assert Settings.from_env(env).sms == "sns"  # the default inside Lambda
