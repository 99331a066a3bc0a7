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
