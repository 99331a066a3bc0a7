"""What SES reports back about the portal's e-mail, and the addresses mail stops to.

SES publishes an event for each message the configuration set sends: Delivery, Bounce,
Complaint, Reject (and others this ignores). A permanent bounce or any complaint makes the
recipient's address undeliverable: every sender skips it (portal/services/notices.py
`attempt`) until staff mark it corrected. Deliveries, bounces, complaints and rejects go
in the mail log of the account the message was about (the `account` tag the portal puts on
each message). Each event is applied once, in one write, keyed by its SNS message id: a
second delivery of the same notification changes nothing. No address is ever logged.
"""

import hashlib
import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal.domain.staff import AuditAction, AuditEntry, MailRecord
from portal.ports.mail import bare_address
from portal.ports.mail_feedback import UndeliverableAddress, normal_address
from portal.services.context import Services

log = logging.getLogger(__name__)

BOUNCE, COMPLAINT, DELIVERY, REJECT = "Bounce", "Complaint", "Delivery", "Reject"
EVENT_TYPES = (BOUNCE, COMPLAINT, DELIVERY, REJECT)
# The mail-log outcomes of SES's reports, beside the senders' sent | failed | refused.
OUTCOMES = {BOUNCE: "bounced", COMPLAINT: "complained", DELIVERY: "delivered", REJECT: "rejected"}
ACCOUNT_TAG = "account"
KIND_TAG = "kind"
UNDELIVERABLE_DETAIL = "not sent: the address is undeliverable (SES reported a {reason})"


class NotAnSesEvent(ValueError):
    """The notification is not an SES event this understands (said without its content)."""


@dataclass(frozen=True)
class FeedbackResult:
    event_type: str
    applied: bool  # False: applied before (a redelivery), or a type the portal ignores
    undeliverable: int = 0  # addresses it made undeliverable
    logged: int = 0  # mail-log lines it wrote


def apply_ses_event(
    services: Services, notification: Mapping[str, Any], event_id: str = ""
) -> FeedbackResult:
    """Apply one SES event notification (the JSON SES publishes); `event_id` names the
    delivery (the SNS MessageId), else one is made from the content. NotAnSesEvent for a
    notification without an event type or message."""
    if not isinstance(notification, Mapping):
        raise NotAnSesEvent("the notification is not a JSON object")
    event_type = str(notification.get("eventType") or notification.get("notificationType") or "")
    mail = notification.get("mail")
    if not event_type or not isinstance(mail, Mapping):
        raise NotAnSesEvent("the notification has no eventType or no mail object")
    if event_type not in EVENT_TYPES:
        log.info("ses feedback: a %s event ignored", event_type)
        return FeedbackResult(event_type, applied=False)
    details = notification.get(event_type[0].lower() + event_type[1:])
    details = details if isinstance(details, Mapping) else {}
    at = _event_time(details.get("timestamp")) or _event_time(mail.get("timestamp"))
    at = at or services.clock.now()
    recipients, detail, undeliverable = _recipients(event_type, details, mail)
    recipients = list({normal_address(a): a for a in recipients if a}.values())
    account, kind = _tag(mail, ACCOUNT_TAG), _tag(mail, KIND_TAG) or "unknown"
    headers = mail.get("commonHeaders")
    subject = str(headers.get("subject", "")) if isinstance(headers, Mapping) else ""
    records = [
        MailRecord(account, kind, address, subject[:300], OUTCOMES[event_type], at, detail[:300])
        for address in recipients
        if account
    ]
    reason = "bounce" if event_type == BOUNCE else "complaint"
    accounts = (account,) if account else ()
    reports = [
        UndeliverableAddress(address, reason, detail, at, accounts)
        for address in (recipients if undeliverable else [])
    ]
    applied = services.store.apply_mail_event(
        event_id or _content_id(notification), services.clock.now(), records, reports
    )
    log.info(
        "ses feedback: %s event for message %s %s (%d address(es) undeliverable, %d logged)",
        event_type,
        str(mail.get("messageId", ""))[:100],
        "applied" if applied else "seen before: nothing changed",
        len(reports) if applied else 0,
        len(records) if applied else 0,
    )
    if not applied:
        return FeedbackResult(event_type, applied=False)
    return FeedbackResult(event_type, True, len(reports), len(records))


def _recipients(
    event_type: str, details: Mapping[str, Any], mail: Mapping[str, Any]
) -> tuple[list[str], str, bool]:
    """(the addresses the event is about, the mail-log detail, whether they are now
    undeliverable)."""
    if event_type == BOUNCE:
        bounce_type = str(details.get("bounceType", ""))
        detail = "/".join(t for t in (bounce_type, str(details.get("bounceSubType", ""))) if t)
        permanent = bounce_type == "Permanent"
        if not permanent:
            detail += ": mail still goes to this address"
        return _addresses(details.get("bouncedRecipients")), detail, permanent
    if event_type == COMPLAINT:
        detail = str(details.get("complaintFeedbackType") or "the recipient marked it as spam")
        return _addresses(details.get("complainedRecipients")), detail, True
    if event_type == DELIVERY:
        found = details.get("recipients")
        addresses = [bare_address(str(a)) for a in found] if isinstance(found, list) else []
        return addresses, "", False
    destination = mail.get("destination")
    addresses = [bare_address(str(a)) for a in destination] if isinstance(destination, list) else []
    return addresses, str(details.get("reason", "")), False


def _addresses(recipients: Any) -> list[str]:
    if not isinstance(recipients, list):
        return []
    return [
        bare_address(str(r["emailAddress"]))
        for r in recipients
        if isinstance(r, Mapping) and r.get("emailAddress")
    ]


def _tag(mail: Mapping[str, Any], name: str) -> str:
    tags = mail.get("tags")
    values = tags.get(name) if isinstance(tags, Mapping) else None
    return str(values[0]) if isinstance(values, list) and values else ""


def _event_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _content_id(notification: Mapping[str, Any]) -> str:
    """An id for a notification that came without one: the same content, the same id."""
    body = json.dumps(notification, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(body).hexdigest()


# -- the senders' check ----------------------------------------------------------------------


def undeliverable_for(services: Services, address: str) -> UndeliverableAddress | None:
    """The report that stops mail to the address; None when mail may go to it."""
    address = normal_address(bare_address(address or ""))
    if not address:
        return None
    return services.store.undeliverable(address)


def is_listed(address: str, undeliverable: Collection[str]) -> bool:
    """The same check against a list read once (the reminder run's)."""
    return normal_address(bare_address(address or "")) in undeliverable


def undeliverable_set(services: Services) -> frozenset[str]:
    """Every undeliverable address, read once (for a run that sends many messages)."""
    return frozenset(r.address for r in services.store.undeliverable_addresses(limit=UNLIMITED))


UNLIMITED = 10_000_000


def refusal_detail(report: UndeliverableAddress | None) -> str:
    return UNDELIVERABLE_DETAIL.format(reason=report.reason if report else "bounce or complaint")


# -- staff -----------------------------------------------------------------------------------


def undeliverable_list(services: Services, actor: str, ip: str = "") -> list[UndeliverableAddress]:
    """The undeliverable addresses with the accounts their mail was about, for staff
    (audited: the list names accounts)."""
    found = services.store.undeliverable_addresses()
    services.store.append_audit(
        AuditEntry(services.clock.now(), actor, AuditAction.VIEW_UNDELIVERABLE, address=ip)
    )
    return found


def mark_corrected(services: Services, actor: str, address: str, ip: str = "") -> bool:
    """Mail may go to the address again (staff checked it with the patient); False when it
    was not listed (nothing changed, nothing audited)."""
    report = undeliverable_for(services, address)
    if report is None:
        return False
    entry = AuditEntry(
        services.clock.now(),
        actor,
        AuditAction.MARK_ADDRESS_CORRECTED,
        report.accounts[0] if len(report.accounts) == 1 else None,
        subject=",".join(report.accounts)[:200],
        address=ip,
    )
    return services.store.clear_undeliverable(report.address, audit=entry)
