"""Guarantor accounts: the person who pays, and the patients the account covers."""

from dataclasses import dataclass, field
from datetime import date, datetime

from portal.domain.names import name_key


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
        wanted = name_key(last_name)
        if not wanted:
            return False
        people = (self.guarantor, *self.patients)
        return any(
            p.date_of_birth == date_of_birth and name_key(p.last_name) == wanted for p in people
        )
