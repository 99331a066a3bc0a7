"""SES event notifications as SES publishes them (event publishing through a configuration
set), and the SNS delivery a Lambda subscription receives them in."""

import json
import uuid

SENT_AT = "2026-11-28T15:00:00.000Z"
REPORTED_AT = "2026-11-28T15:00:02.000Z"


def mail(message_id: str, to: str, account: str = "", kind: str = "statement") -> dict:
    tags = {
        "ses:configuration-set": ["portal"],
        "ses:source-ip": ["192.0.2.1"],
        "kind": [kind],
    }
    if account:
        tags["account"] = [account]
    return {
        "timestamp": SENT_AT,
        "source": "billing@example.org",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/billing@example.org",
        "sendingAccountId": "123456789012",
        "messageId": message_id,
        "destination": [to],
        "headersTruncated": False,
        "commonHeaders": {
            "from": ["billing@example.org"],
            "to": [to],
            "messageId": message_id,
            "subject": "Your statement from Demo Family Practice is ready",
        },
        "tags": tags,
    }


def bounce(to: str, account: str = "", permanent: bool = True, message_id: str = "") -> dict:
    return {
        "eventType": "Bounce",
        "bounce": {
            "feedbackId": f"0100-{uuid.uuid4().hex}",
            "bounceType": "Permanent" if permanent else "Transient",
            "bounceSubType": "General" if permanent else "MailboxFull",
            "bouncedRecipients": [
                {
                    "emailAddress": to,
                    "action": "failed",
                    "status": "5.1.1" if permanent else "4.2.2",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": REPORTED_AT,
            "reportingMTA": "dsn; mta.example.com",
        },
        "mail": mail(message_id or f"0100-{uuid.uuid4().hex}", to, account),
    }


def complaint(to: str, account: str = "", message_id: str = "") -> dict:
    return {
        "eventType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": to}],
            "timestamp": REPORTED_AT,
            "feedbackId": f"0100-{uuid.uuid4().hex}",
            "userAgent": "Mozilla/5.0",
            "complaintFeedbackType": "abuse",
            "arrivalDate": SENT_AT,
        },
        "mail": mail(message_id or f"0100-{uuid.uuid4().hex}", to, account),
    }


def delivery(to: str, account: str = "", message_id: str = "") -> dict:
    return {
        "eventType": "Delivery",
        "delivery": {
            "timestamp": REPORTED_AT,
            "processingTimeMillis": 546,
            "recipients": [to],
            "smtpResponse": "250 ok",
            "reportingMTA": "a8-70.smtp-out.amazonses.com",
        },
        "mail": mail(message_id or f"0100-{uuid.uuid4().hex}", to, account),
    }


def sns_record(notification: dict, message_id: str = "") -> dict:
    """One record of the event SNS invokes a subscribed Lambda function with."""
    topic = "arn:aws:sns:us-east-1:123456789012:portal-ses-events"
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"{topic}:{uuid.uuid4()}",
        "Sns": {
            "Type": "Notification",
            "MessageId": message_id or str(uuid.uuid4()),
            "TopicArn": topic,
            "Subject": None,
            "Message": json.dumps(notification),
            "Timestamp": "2026-11-28T15:00:03.000Z",
            "SignatureVersion": "1",
            "MessageAttributes": {},
        },
    }


def sns_event(*records: dict) -> dict:
    return {"Records": list(records)}
