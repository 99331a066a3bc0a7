"""The audit trail (HIPAA audit controls): every staff view and change, append-only."""

from portal.domain.staff import AuditAction, AuditEntry
from portal.services.context import Services


def audit(
    services: Services,
    actor: str,
    action: AuditAction,
    account_number: str | None = None,
    subject: str = "",
    address: str = "",
) -> None:
    services.store.append_audit(
        AuditEntry(
            at=services.clock.now(),
            actor=actor,
            action=action,
            account_number=account_number,
            subject=subject,
            address=address,
        )
    )
