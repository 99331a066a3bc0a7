"""A queue of work for the worker function (issue 19's fan-out): each message one batch."""

from collections.abc import Sequence
from typing import Protocol


class WorkQueue(Protocol):
    def send(self, bodies: Sequence[str]) -> None:
        """Put each body on the queue as one message; raises when any could not be put
        (those already put stay: each batch is safe to deliver more than once)."""
