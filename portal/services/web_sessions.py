"""Patients' browser sessions, kept on the server too so that ending one ends every copy of
its cookie."""

import secrets

from portal.services.context import Services

SESSION_ID_BYTES = 24


def open_web_session(services: Services, subject: str) -> str:
    """A new session for `subject` (who signed in, for what account); its id."""
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    services.store.open_web_session(session_id, subject, services.clock.now())
    return session_id


def end_web_session(services: Services, session_id: str) -> None:
    services.store.end_web_session(session_id)
