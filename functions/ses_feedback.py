"""SES feedback: Lambda function "functions.ses_feedback.handler", subscribed to the SNS
topic the SES configuration set publishes its events to (infra/portal.yaml).

Each SNS record carries one SES event (Bounce, Complaint, Delivery, Reject) as JSON in
`Sns.Message`; it is applied once, keyed by the SNS MessageId (SNS may deliver a message
more than once). A record that is not an SES event is counted and skipped (trying it again
would not help); a store that fails raises, so Lambda tries the invocation again and the
events already applied are not applied twice. One JSON line is logged per invocation:
counts only, never an address.
"""

import json
from collections.abc import Mapping
from typing import Any

from functions.reminders import container_services

COUNTS = ("applied", "repeated", "ignored", "undeliverable")


def handler(event: Mapping[str, Any] | None = None, context: Any = None) -> dict[str, int]:
    """Apply the SES events of an SNS delivery; returns {"applied", "repeated", "ignored",
    "undeliverable"}."""
    from portal.services.mail_feedback import EVENT_TYPES, NotAnSesEvent, apply_ses_event

    services = container_services()
    counts = dict.fromkeys(COUNTS, 0)
    records = (event or {}).get("Records")
    for record in records if isinstance(records, list) else []:
        sns = record.get("Sns") if isinstance(record, Mapping) else None
        try:
            if not isinstance(sns, Mapping):
                raise NotAnSesEvent("the record is not an SNS notification")
            notification = json.loads(sns.get("Message") or "")
            result = apply_ses_event(services, notification, str(sns.get("MessageId") or ""))
        except (NotAnSesEvent, ValueError):
            counts["ignored"] += 1
            continue
        if result.applied:
            counts["applied"] += 1
            counts["undeliverable"] += result.undeliverable
        elif result.event_type in EVENT_TYPES:
            counts["repeated"] += 1
        else:
            counts["ignored"] += 1
    print(json.dumps({"job": "ses-feedback", **counts}, sort_keys=True), flush=True)
    return counts
