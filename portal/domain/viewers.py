"""Who is looking at an account, and so which line items they may see in full.

Minimum necessary: the guarantor (who pays) sees every line; a patient signed in with their
own details sees their own lines in full and, of another patient's line on the same account,
only its date of service and what is owed. Two patients with the same last name and date of
birth (twins) cannot be told apart by those details, so such a sign-in is for both.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass

from portal.domain.catalog import N_

OTHER_PATIENT = N_("Another patient on this account")
_GUARANTOR = "guarantor"


@dataclass(frozen=True)
class Viewer:
    patient_ids: frozenset[str] | None = None  # None: the guarantor

    @classmethod
    def guarantor(cls) -> "Viewer":
        return cls(None)

    @classmethod
    def patients(cls, patient_ids: Iterable[str]) -> "Viewer":
        ids = frozenset(patient_ids)
        if not ids:
            raise ValueError("a patient viewer needs at least one patient id")
        return cls(ids)

    @property
    def is_guarantor(self) -> bool:
        return self.patient_ids is None

    def sees_in_full(self, patient_id: str) -> bool:
        """True when this viewer may see that patient's lines with codes and descriptions."""
        return self.patient_ids is None or patient_id in self.patient_ids

    def to_session(self) -> str | list[str]:
        """A value for the (signed) Flask session: 'guarantor' or the sorted patient ids."""
        return _GUARANTOR if self.patient_ids is None else sorted(self.patient_ids)

    @classmethod
    def from_session(cls, value: object) -> "Viewer | None":
        """The viewer a session value names; None when it names none (an older session)."""
        if value == _GUARANTOR:
            return cls.guarantor()
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return cls.patients(value)
        return None

    def subject(self, account_number: str) -> str:
        """The server-side web session's subject: the account and who signed in to it.
        (Sessions opened before this rule, `patient:<account>`, match no viewer: they end.)"""
        if self.patient_ids is None:
            return f"patient:{account_number}:{_GUARANTOR}"
        return f"patient:{account_number}:patients:{json.dumps(sorted(self.patient_ids))}"


GUARANTOR = Viewer.guarantor()
