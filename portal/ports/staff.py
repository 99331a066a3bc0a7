"""The staff port: staff users, the audit log, notes, the escalation queue and the mail log."""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from portal.domain.staff import AuditEntry, Escalation, MailRecord, Note, StaffUser


class Staff(Protocol):
    def create_staff_user(self, user: StaffUser) -> bool:
        """Add a staff user; False (and nothing changed) when the username is taken."""

    def get_staff_user(self, username: str) -> StaffUser | None: ...

    def staff_users(self) -> list[StaffUser]:
        """Every staff user, by username."""

    def set_staff_password(self, username: str, password_hash: str) -> StaffUser:
        """Replace the password and raise the session epoch, ending every older session."""

    def end_staff_sessions(self, username: str) -> None:
        """Raise the session epoch: every session of the user ends."""

    def use_totp_step(self, username: str, step: int) -> bool:
        """Record a TOTP time step as used; False when it (or a later one) was used before."""

    def append_audit(self, entry: AuditEntry) -> None: ...

    def audit_entries(
        self, account_number: str | None = None, actor: str | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        """Newest first, optionally for one account or one actor."""

    def add_note(self, note: Note) -> None: ...

    def notes(self, account_number: str) -> list[Note]:
        """Newest first."""

    def open_escalation(
        self, item: Escalation, audit: AuditEntry | None = None
    ) -> Escalation | None:
        """Open the item, with the audit entry of its opening in the same write; None (and
        nothing changed, nothing audited) when one with its key is still open."""

    def open_escalations(
        self, items: Sequence[tuple[Escalation, AuditEntry | None]]
    ) -> list[Escalation | None]:
        """`open_escalation` for each of several items, each with its audit entry, in one
        write where the store can; for each, in order, the item opened or None."""

    def get_escalation(self, escalation_id: int) -> Escalation | None: ...

    def escalations(
        self,
        open_only: bool = True,
        owner: str | None = None,
        account_number: str | None = None,
    ) -> list[Escalation]:
        """Oldest first."""

    def update_escalation(
        self, escalation_id: int, owner: str, promise_to_pay_on: date | None
    ) -> Escalation:
        """Set the owner and promise-to-pay date of an open item (a resolved one is kept)."""

    def resolve_escalation(
        self, escalation_id: int, resolved_by: str, resolution: str, at: datetime
    ) -> Escalation:
        """Close the item once; resolving it again changes nothing."""

    def record_mail(self, record: MailRecord) -> None:
        """Keep what was sent or tried on an account, for staff (kept a year)."""

    def mail_log(self, account_number: str, limit: int = 50) -> list[MailRecord]:
        """Newest first."""
