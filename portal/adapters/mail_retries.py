"""Retrying a mail server's transient failures: shared by the SMTP and SES mailers."""

import logging
from collections.abc import Callable
from typing import TypeVar

from portal.ports.mail import TransientMailError

T = TypeVar("T")
log = logging.getLogger(__name__)


class TryAgain(Exception):
    """One attempt failed in a way that another attempt may not (a mailer's own signal)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def with_retries(
    attempt: Callable[[], T],
    attempts: int,
    sleep: Callable[[float], None],
    name: str,
    kind: str,
    gave_up: Callable[[int, str], str],
) -> T:
    """Run `attempt` until it stops raising TryAgain, waiting 1 s, 2 s, 4 s ... between
    tries; after the last, TransientMailError with the message `gave_up(tries, reason)`."""
    delay = 1.0
    for number in range(1, attempts + 1):
        try:
            return attempt()
        except TryAgain as failure:
            if number == attempts:
                log.warning(
                    "%s: %s message not sent after %d attempts: %s",
                    name,
                    kind,
                    number,
                    failure.reason,
                )
                raise TransientMailError(gave_up(number, failure.reason)) from None
            log.info(
                "%s: attempt %d of %d for a %s message failed (%s); again in %.0f s",
                name,
                number,
                attempts,
                kind,
                failure.reason,
                delay,
            )
            sleep(delay)
            delay *= 2
    raise ValueError("attempts must be at least 1")
