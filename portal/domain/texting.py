"""Consent to billing texts, and the keywords a patient texts back (STOP, HELP, START).

Billing texts are not covered by the TCPA's healthcare exemption: a mobile number is texted
only while the account holds a consent for it (when and how it was given), and a STOP ends
every text to the number at once."""

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

# The carriers' and CTIA's standard keywords (a message that is the keyword alone), and
# their Spanish (patients who read Spanish get their texts in Spanish).
STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "PARAR", "PARA", "ALTO", "CANCELAR"}
)
HELP_WORDS = frozenset({"HELP", "INFO", "AYUDA"})
START_WORDS = frozenset({"START", "UNSTOP", "YES", "COMENZAR", "SI", "SÍ"})

SOURCE_PATIENT = "patient"  # the patient's own opt-in on /account
SOURCES_MAX_LENGTH = 100


class Keyword(StrEnum):
    STOP = "stop"
    HELP = "help"
    START = "start"


def keyword_of(body: str) -> Keyword | None:
    """The keyword a text is, whatever its case, spaces and trailing punctuation; None for
    any other text (a text that merely mentions "stop" is not one)."""
    word = (body or "").strip().strip(".!¡").strip().upper()
    if word in STOP_WORDS:
        return Keyword.STOP
    if word in HELP_WORDS:
        return Keyword.HELP
    if word in START_WORDS:
        return Keyword.START
    return None


@dataclass(frozen=True)
class SmsConsent:
    """An account's consent to billing texts at one mobile number."""

    account_number: str
    phone: str  # E.164
    given_at: datetime
    source: str  # "patient", or what the practice's import said (e.g. "intake form")
    stopped_at: datetime | None = None  # STOP received (or opted out on the page)
    time_zone: str = ""  # the patient's, when known; the practice's otherwise

    @property
    def active(self) -> bool:
        return self.stopped_at is None

    def stopped(self, at: datetime) -> "SmsConsent":
        return self if self.stopped_at is not None else replace(self, stopped_at=at)

    def started(self, at: datetime) -> "SmsConsent":
        """START texted back from the same number: consent again, given now by the patient."""
        return replace(self, given_at=at, source="keyword", stopped_at=None)


def imported_consent_applies(existing: SmsConsent | None, imported: SmsConsent) -> bool:
    """Whether a consent the practice's import carries replaces the account's: only one
    given after the account's (an old intake form imported again changes nothing) and
    after any STOP (an old form does not undo a STOP)."""
    if existing is None:
        return True
    if existing.stopped_at is not None and imported.given_at <= existing.stopped_at:
        return False
    return imported.given_at > existing.given_at
