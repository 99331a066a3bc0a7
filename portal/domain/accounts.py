"""Guarantor accounts: the person who pays, and the patients the account covers."""

from dataclasses import dataclass, field
from datetime import date, datetime

from portal.domain.names import name_key
from portal.domain.viewers import Viewer


@dataclass(frozen=True)
class Guarantor:
    first_name: str
    last_name: str
    date_of_birth: date
    email: str = ""
    phone: str = ""
    preferred_language: str = "en"

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class Patient:
    patient_id: str
    first_name: str
    last_name: str
    date_of_birth: date

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class Account:
    account_number: str
    guarantor: Guarantor
    patients: tuple[Patient, ...] = field(default_factory=tuple)
    reminders_opted_out_at: datetime | None = None  # reminders stop; receipts still go

    def matches(self, last_name: str, date_of_birth: date) -> bool:
        """True when the guarantor or a patient on the account has this last name and birth date."""
        return self.viewer_for(last_name, date_of_birth) is not None

    def viewer_for(self, last_name: str, date_of_birth: date) -> Viewer | None:
        """Who these details sign in as: the guarantor when they are the guarantor's (even if
        the guarantor is a patient too), else every patient they fit; None when nobody's."""
        wanted = name_key(last_name)
        if not wanted:
            return None

        def fits(p: Guarantor | Patient) -> bool:
            return p.date_of_birth == date_of_birth and name_key(p.last_name) == wanted

        if fits(self.guarantor):
            return Viewer.guarantor()
        ids = [p.patient_id for p in self.patients if fits(p)]
        return Viewer.patients(ids) if ids else None
