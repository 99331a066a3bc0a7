"""The outbound webhook ports: where deliveries are kept, and what sends one."""

from datetime import datetime
from typing import Protocol

from portal.domain.outbound import Delivery
from portal.ports.money_events import EventPage


class DeliveryFailed(Exception):
    """The receiver did not take the event (an error status, no answer in time, no
    connection); the message says which, and never holds the body."""


class WebhookSender(Protocol):
    def post(self, body: bytes, headers: dict[str, str]) -> None:
        """POST the body to the practice system's address; DeliveryFailed unless it
        answered 2xx in time."""


class Deliveries(Protocol):
    def webhook_position(self) -> int:
        """The position of the last money event a delivery was made for (0: none yet)."""

    def add_deliveries(self, after: int, page: EventPage, at: datetime) -> bool:
        """A pending delivery for each event of the page read after `after` (one already
        there is left as it is), and the position moved to the page's, if it is still
        `after`: else False (another run moved it; what it added is the same)."""

    def due_deliveries(self, now: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries whose next try is due, the oldest event first."""

    def save_delivery(self, before: Delivery, after: Delivery) -> bool:
        """Write `after` if the delivery is still as `before` (its state, tries and next
        try): else False and nothing written (another run or staff changed it meanwhile).
        A run takes a delivery before its POST by saving it leased (`Delivery.leased`), so
        of two runs holding the same delivery one POSTs it."""

    def failed_deliveries(self, limit: int = 200) -> list[Delivery]:
        """Deliveries given up on, the oldest event first."""

    def get_delivery(self, event_id: str) -> Delivery | None: ...
