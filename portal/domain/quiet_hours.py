"""When a text may go: 8 a.m. to 9 p.m. in the patient's time zone (the practice's when the
account names none), never on a day the practice marks closed."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

FIRST = time(8)  # the first minute a text may go
LAST = time(21)  # texts stop at 9 p.m.
MAX_DAYS_AHEAD = 366


@dataclass(frozen=True)
class TextingDays:
    """The practice's calendar for texts."""

    practice_zone: ZoneInfo
    closed_weekdays: tuple[int, ...] = ()  # Monday 0 ... Sunday 6
    closed_dates: tuple[date, ...] = ()

    def closed(self, day: date) -> bool:
        return day.weekday() in self.closed_weekdays or day in self.closed_dates

    def zone_for(self, patient_zone: str) -> ZoneInfo:
        """The patient's time zone; the practice's when none is known (or it is unknown)."""
        if patient_zone:
            try:
                return ZoneInfo(patient_zone)
            except (ValueError, OSError, KeyError):
                pass
        return self.practice_zone

    def may_text(self, at: datetime, patient_zone: str = "") -> bool:
        """True when a text may go at the instant `at`: between 8 a.m. and 9 p.m. where the
        patient is, on a day that is not closed on the practice's calendar nor on the
        patient's."""
        local = at.astimezone(self.zone_for(patient_zone))
        if not FIRST <= local.time() < LAST:
            return False
        return not (
            self.closed(local.date()) or self.closed(at.astimezone(self.practice_zone).date())
        )

    def next_time(self, at: datetime, patient_zone: str = "") -> datetime | None:
        """The first instant at or after `at` when a text may go (UTC); None when every day
        of the next year is closed."""
        if self.may_text(at, patient_zone):
            return at.astimezone(UTC)
        zone = self.zone_for(patient_zone)
        day = at.astimezone(zone).date()
        for _ in range(MAX_DAYS_AHEAD):
            # 8 a.m. exists on every day, daylight-saving days included (US and EU zones
            # change at 1-3 a.m.).
            start = datetime.combine(day, FIRST, tzinfo=zone)
            candidate = start if start >= at else at.astimezone(zone)
            if self.may_text(candidate, patient_zone):
                return candidate.astimezone(UTC)
            # The practice's date can be closed while the patient's is not: an hour later
            # may fall on the practice's next day.
            for hours in range(1, 13):
                later = candidate + timedelta(hours=hours)
                if later.astimezone(zone).date() != day:
                    break
                if self.may_text(later, patient_zone):
                    return later.astimezone(UTC)
            day += timedelta(days=1)
        return None
