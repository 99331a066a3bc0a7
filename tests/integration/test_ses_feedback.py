"""SES feedback end to end on moto (SES, SNS, SQS, DynamoDB over HTTP): the portal sends
through SES with its `account` tag, SES's bounce for that message is published to an SNS
topic, and functions.ses_feedback.handler receives it as SNS invokes a subscribed Lambda.
moto cannot invoke a Lambda without Docker, so the topic's delivery is read from an SQS
queue subscribed to it (the same SNS envelope) and handed to the handler as the Lambda
event's record. Also: the handler's counts, its log line (no address), bad records."""

import json
import logging
import uuid

import boto3
import pytest

import functions.reminders
import functions.ses_feedback
from portal.adapters.ses_mailer import SesMailer
from portal.bootstrap import build_services
from portal.config import Settings
from portal.services.notices import Delivery, deliver, statement_notice
from portal.services.statements import import_statement
from tests.conftest import lopez_account, statement
from tests.ses_events import bounce, complaint, delivery, sns_event, sns_record

MARIA = "maria@example.com"
SENDER = "billing@example.org"


class RecordingSes:
    """The sesv2 client, keeping each SendEmail request and its answer."""

    def __init__(self, client):
        self.client = client
        self.sent: list[tuple[dict, str]] = []

    def send_email(self, **request):
        answer = self.client.send_email(**request)
        self.sent.append((request, answer["MessageId"]))
        return answer


@pytest.fixture
def dynamo_services(moto_endpoint, tmp_path, clock, monkeypatch):
    settings = Settings.from_env(
        {
            "PORTAL_STORE": "dynamodb",
            "PORTAL_DYNAMODB_TABLE": f"feedback-{uuid.uuid4().hex[:12]}",
            "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
            "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "PORTAL_BASE_URL": "http://portal.test",
        }
    )
    services = build_services(settings, clock=clock)
    services.store.migrate()
    ses = boto3.client("sesv2")
    ses.create_email_identity(EmailIdentity=SENDER)
    configuration_set = f"portal-{uuid.uuid4().hex[:8]}"  # moto's server outlives the test
    ses.create_configuration_set(ConfigurationSetName=configuration_set)
    recording = RecordingSes(ses)
    services.mailer = SesMailer(SENDER, configuration_set, client=recording)
    import_statement(services, lopez_account(), statement(), notify=False)
    monkeypatch.setattr(functions.reminders, "_container", services)  # this container's
    yield services, recording
    services.store.db.client.delete_table(TableName=services.store.db.name)


def through_sns(endpoint: str, notification: dict) -> dict:
    """Publish the SES event to an SNS topic and return the Lambda event SNS would invoke
    the subscribed function with (read from an SQS queue subscribed to the same topic)."""
    sns = boto3.client("sns", endpoint_url=endpoint)
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    topic = sns.create_topic(Name=f"ses-events-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"ses-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sns.publish(TopicArn=topic, Message=json.dumps(notification))
    [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
    return sns_event(
        {
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": f"{topic}:{uuid.uuid4()}",
            "Sns": envelope,
        }
    )


def send_notice(services) -> Delivery:
    account = services.store.get_account("100234")
    message = statement_notice(services, account, statement(), 3000)
    return deliver(services, message, "100234")


def test_a_bounce_published_through_sns_stops_mail_to_the_address(
    dynamo_services, moto_endpoint, capsys
):
    services, ses = dynamo_services
    assert send_notice(services) is Delivery.SENT
    [(request, message_id)] = ses.sent
    tags = {t["Name"]: [t["Value"]] for t in request["EmailTags"]}
    assert tags == {"kind": ["statement"], "account": ["100234"]}
    notification = bounce(MARIA, message_id=message_id)
    notification["mail"]["tags"] = {**notification["mail"]["tags"], **tags}
    event = through_sns(moto_endpoint, notification)

    counts = functions.ses_feedback.handler(event, None)

    assert counts == {"applied": 1, "repeated": 0, "ignored": 0, "undeliverable": 1}
    assert services.store.undeliverable(MARIA).accounts == ("100234",)
    assert send_notice(services) is Delivery.REFUSED
    assert len(ses.sent) == 1  # SES was not asked again
    outcomes = [m.outcome for m in services.store.mail_log("100234")]
    assert sorted(outcomes) == ["bounced", "refused", "sent"]
    # SNS delivers at least once: the same message again changes nothing.
    again = functions.ses_feedback.handler(event, None)
    assert again == {"applied": 0, "repeated": 1, "ignored": 0, "undeliverable": 0}
    assert len(services.store.mail_log("100234")) == 3
    assert MARIA not in capsys.readouterr().out


def test_the_handler_counts_each_record_and_logs_no_address(dynamo_services, capsys, caplog):
    services, _ = dynamo_services
    caplog.set_level(logging.DEBUG, logger="portal")
    event = sns_event(
        sns_record(delivery(MARIA, "100234")),
        sns_record(complaint("other@example.net", "100777")),
        sns_record(bounce("third@example.net", permanent=False)),
        sns_record({"eventType": "Open", "mail": {"messageId": "m"}}),
        {"EventSource": "aws:sns", "Sns": {"MessageId": "x", "Message": "not json"}},
        {"EventSource": "aws:sqs"},
    )

    counts = functions.ses_feedback.handler(event, None)

    assert counts == {"applied": 3, "repeated": 0, "ignored": 3, "undeliverable": 1}
    assert [r.address for r in services.store.undeliverable_addresses()] == ["other@example.net"]
    out = capsys.readouterr().out
    assert json.loads(out) == {"job": "ses-feedback", **counts}
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("portal.")]
    assert any("Complaint event" in line for line in ours), ours
    for address in (MARIA, "other@example.net", "third@example.net"):
        assert address not in out
        assert not [line for line in ours if address in line]
