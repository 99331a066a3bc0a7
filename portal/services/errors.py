"""Errors the use cases raise for the web, CLI and Lambda layers to turn into answers."""

from datetime import datetime

from portal.domain.errors import InvalidInput

__all__ = [
    "InvalidInput",
    "LookupFailed",
    "LookupLocked",
    "NotFound",
    "PaymentNotFound",
    "PaymentNotReady",
    "UnpostableEvent",
]


class LookupFailed(Exception):
    """The details did not match an account. Deliberately says no more than that."""


class LookupLocked(Exception):
    def __init__(self, until: datetime):
        super().__init__(f"lookups locked until {until.isoformat()}")
        self.until = until


class NotFound(LookupError):
    pass


class PaymentNotFound(NotFound):
    """A gateway event names a payment the portal does not have (yet)."""


class PaymentNotReady(Exception):
    """A gateway event about a payment the portal cannot act on yet (a refund or dispute of a
    payment not posted so far): the gateway should deliver it again later."""


class UnpostableEvent(Exception):
    """A signed gateway event that can never be applied as it stands (more refunded than the
    payment took, a reference already posted to another payment, no amount): it changes no
    money, is acknowledged so the processor stops sending it, and goes to a person.
    `message` names what is wrong, for the escalation item (never PHI)."""

    def __init__(self, payment_id: str, account_number: str, message: str):
        super().__init__(message)
        self.payment_id = payment_id
        self.account_number = account_number
        self.message = message
