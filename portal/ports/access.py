"""The access port: the look-up throttle and patients' browser sessions."""

from datetime import datetime
from typing import Protocol


class Access(Protocol):
    def record_lookup_failure(self, key: str, at: datetime, since: datetime) -> int:
        """Record a failed lookup; return how many the key has had from `since` on (at least
        this one and every earlier one; concurrent failures may see each other). Attempts
        over a day old are not counted."""

    def lock_lookups(self, key: str, until: datetime) -> None: ...

    def lookup_locked_until(self, key: str, now: datetime) -> datetime | None: ...

    def clear_lookup_failures(self, key: str) -> None: ...

    def forget_lookup_failure(self, key: str, at: datetime) -> None:
        """Take back one attempt recorded at `at` (it turned out to succeed)."""

    def open_web_session(self, session_id: str, subject: str, at: datetime) -> None:
        """Record a signed-in browser session (sessions opened over a day ago are dropped)."""

    def web_session_subject(self, session_id: str, now: datetime) -> str | None:
        """Whom the session is for, or None once it has ended or was opened a day before
        `now`."""

    def end_web_session(self, session_id: str) -> None: ...
