"""The aging report and the monthly summary reconcile with the ledger, to the cent.

Fourteen months of billing go through the real services on a SQLite store, with a fixed
clock moved forward event by event (from 2025-10-01 00:00 UTC, which is still September 30
at the practice in New York): a few dozen accounts, statements on various days, card and
desk payments (some paying more than is owed, leaving credits that later statements use),
reversals, adjustments and write-offs. Some events land exactly on, or one microsecond
before, the practice's midnight, so day and month edges are exercised.

The test keeps its own ledger of what it asked the services to do (payments applied
oldest statement first, credits carried to the next statement, spent credit taken back
when its payment is reversed) and computes the expected figures with its own simple code.
"""

import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.bootstrap import build_services
from portal.clock import FixedClock
from portal.config import Settings
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.ledger import balances
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.statements import LineItem, Statement
from portal.ports.ledger import ImportOutcome
from portal.services import ledger as posting
from portal.services.context import Services
from portal.services.demo import PROVIDERS, SERVICES
from portal.services.reports import aging_report, last_twelve_months
from portal.services.staff_actions import (
    post_adjustment,
    post_manual_payment,
    reverse_manual_payment,
)
from portal.services.statements import import_statement

NY = ZoneInfo("America/New_York")
START = datetime(2025, 10, 1, tzinfo=UTC)
LAST_DAY = date(2026, 11, 28)  # the last UTC day events happen on
ACCOUNTS = 36
SEED = 20251001
ACTOR = "reconciler"
BUCKETS = ("current", "1-30", "31-60", "61-90", "91-120", "over 120")
KINDS = (
    "charge",
    "insurance_payment",
    "adjustment",
    "patient_payment",
    "refund",
    "write_off",
    "reversal",
    "transfer",
)
# How likely an account with a balance pays on a given day, by habit.
PAY_CHANCE = {"prompt": 0.07, "partial": 0.04, "slow": 0.015, "never": 0.0, "over": 0.05}
FIRST = ("Ana", "Ben", "Chloé", "Dev", "Eun-ji", "Femi", "Greta", "Hiro", "Ines", "Jonah")
LAST = ("Alvarez", "Brown", "Chen", "Dubois", "Ekwueme", "Fischer", "García", "Hall", "Ito")


# -- the test's own ledger ---------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    posted_at: datetime
    account: str
    statement_id: str | None
    kind: str
    cents: int
    payment_id: str | None = None


@dataclass
class Books:
    """Every entry the services were asked to post, in posting order."""

    rows: list[Row] = field(default_factory=list)
    by_account: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))
    statements: dict[str, Statement] = field(default_factory=dict)
    imported_at: dict[str, datetime] = field(default_factory=dict)

    def add(self, rows: list[Row]) -> None:
        for row in rows:
            self.rows.append(row)
            self.by_account[row.account].append(row)

    def split(self, account: str, extra: list[Row] | None = None) -> tuple[dict[str, int], int]:
        """(balance per statement, money on no statement) of an account."""
        per_statement: dict[str, int] = defaultdict(int)
        unapplied = 0
        for row in self.by_account.get(account, []) + (extra or []):
            if row.statement_id is None:
                unapplied += row.cents
            else:
                per_statement[row.statement_id] += row.cents
        return per_statement, unapplied

    def open_statements(self, account: str) -> list[tuple[str, int]]:
        """(statement id, balance) with a balance, oldest statement first."""
        per_statement, _ = self.split(account)
        found = [(sid, cents) for sid, cents in per_statement.items() if cents > 0]
        return sorted(found, key=lambda s: (self.statements[s[0]].statement_date, s[0]))

    def due(self, account: str) -> int:
        return sum(cents for _, cents in self.open_statements(account))

    def statement_rows(self, st: Statement, at: datetime) -> list[Row]:
        charges = sum(line.charge_cents for line in st.lines)
        insurance = sum(line.insurance_paid_cents for line in st.lines)
        adjustments = sum(line.adjustment_cents for line in st.lines)
        owed = sum(line.patient_responsibility_cents for line in st.lines)
        acct, sid = st.account_number, st.statement_id
        rows = [
            Row(at, acct, sid, kind, cents)
            for kind, cents in (
                ("charge", charges),
                ("insurance_payment", -insurance),
                ("adjustment", -adjustments),
            )
            if cents
        ]
        _, unapplied = self.split(acct)
        credit = max(0, -unapplied)
        if credit and owed:
            used = min(credit, owed)
            rows += [Row(at, acct, None, "transfer", used), Row(at, acct, sid, "transfer", -used)]
        return rows

    def payment_rows(self, account: str, payment_id: str, cents: int, at: datetime) -> list[Row]:
        rows, left = [], cents
        for sid, balance in self.open_statements(account):
            if left == 0:
                break
            part = min(left, balance)
            rows.append(Row(at, account, sid, "patient_payment", -part, payment_id))
            left -= part
        if left:
            rows.append(Row(at, account, None, "patient_payment", -left, payment_id))
        return rows

    def reversal_rows(self, account: str, payment_id: str, at: datetime) -> list[Row]:
        history = self.by_account[account]
        rows = [
            Row(at, account, r.statement_id, "reversal", -r.cents, payment_id)
            for r in history
            if r.payment_id == payment_id and r.kind == "patient_payment"
        ]
        _, owed = self.split(account, rows)
        # Money owed on no statement: the reversed payment's credit was spent on later
        # statements; put it back on those still holding credit, the newest transfer first,
        # never more than a statement still holds.
        held: dict[str, int] = defaultdict(int)
        latest: dict[str, int] = {}
        for i, r in enumerate(history):
            if r.kind == "transfer" and r.statement_id:
                held[r.statement_id] -= r.cents
                if r.cents < 0:
                    latest[r.statement_id] = i
        for sid in sorted(latest, key=latest.get, reverse=True):
            if owed <= 0:
                break
            part = min(owed, held[sid])
            if part > 0:
                rows += [
                    Row(at, account, None, "transfer", -part),
                    Row(at, account, sid, "transfer", part),
                ]
                owed -= part
        # Credit still standing meets the statements the reversal reopened, oldest first.
        per_statement, unapplied = self.split(account, rows)
        credit = max(0, -unapplied)
        reopened = sorted(
            (sid for sid, cents in per_statement.items() if cents > 0),
            key=lambda sid: (self.statements[sid].statement_date, sid),
        )
        for sid in reopened:
            if credit == 0:
                break
            part = min(credit, per_statement[sid])
            rows += [
                Row(at, account, None, "transfer", part),
                Row(at, account, sid, "transfer", -part),
            ]
            credit -= part
        return rows


# -- expected figures, computed here -------------------------------------------------------


def midnight(day: date) -> datetime:
    """The instant a day starts at the practice (New York)."""
    return datetime.combine(day, time(0), tzinfo=NY)


def own_bucket(due_date: date, as_of: date) -> str:
    late = (as_of - due_date).days
    if late <= 0:
        return "current"
    if late <= 30:
        return "1-30"
    if late <= 60:
        return "31-60"
    if late <= 90:
        return "61-90"
    if late <= 120:
        return "91-120"
    return "over 120"


def statement_balances_at(books: Books, end: datetime) -> dict[str, int]:
    found: dict[str, int] = defaultdict(int)
    for row in books.rows:
        if row.statement_id is not None and row.posted_at < end:
            found[row.statement_id] += row.cents
    return found


def expected_aging(books: Books, as_of: date) -> dict[str, dict[str, int]]:
    """Per account, the positive statement balances at the end of `as_of`, by bucket."""
    per_account: dict[str, dict[str, int]] = {}
    for sid, cents in statement_balances_at(books, midnight(as_of + timedelta(days=1))).items():
        if cents > 0:
            st = books.statements[sid]
            buckets = per_account.setdefault(st.account_number, dict.fromkeys(BUCKETS, 0))
            buckets[own_bucket(st.due_date, as_of)] += cents
    return per_account


def total_before(books: Books, end: datetime) -> int:
    return sum(row.cents for row in books.rows if row.posted_at < end)


def sums_by_kind(books: Books, start: datetime, end: datetime) -> dict[str, int]:
    sums = dict.fromkeys(KINDS, 0)
    for row in books.rows:
        if start <= row.posted_at < end:
            sums[row.kind] += row.cents
    return sums


def next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


# -- the simulation ------------------------------------------------------------------------


@dataclass
class Customer:
    account: Account
    habit: str
    next_statement: date
    last_statement: date  # no statements after this day (the family moved away)
    sequence: int = 0


class Simulation:
    def __init__(self, services: Services, clock: FixedClock, rng: random.Random):
        self.services = services
        self.clock = clock
        self.rng = rng
        self.books = Books()
        self.seen: Counter[str] = Counter()
        self.customers = [self._customer(i) for i in range(ACCOUNTS)]
        self.manual: list[tuple[str, str, datetime, bool]] = []  # (payment, account, at, over)
        self.reversed: set[str] = set()
        self.card_count = 0

    def _customer(self, i: int) -> Customer:
        rng = self.rng
        last = rng.choice(LAST)
        guarantor = Guarantor(
            first_name=rng.choice(FIRST),
            last_name=last,
            date_of_birth=date(rng.randint(1950, 2000), rng.randint(1, 12), rng.randint(1, 28)),
            email=f"guarantor{i}@example.com" if rng.random() < 0.7 else "",
        )
        patients = [Patient("P1", guarantor.first_name, last, guarantor.date_of_birth)]
        for n in range(rng.randint(0, 2)):
            born = date(rng.randint(2008, 2022), rng.randint(1, 12), rng.randint(1, 28))
            patients.append(Patient(f"P{n + 2}", rng.choice(FIRST), last, born))
        first_statement = START.date() + timedelta(days=rng.randint(0, 100))
        stops = (
            START.date() + timedelta(days=rng.randint(150, 330)) if rng.random() < 0.3 else LAST_DAY
        )
        habits = ("prompt", "prompt", "partial", "partial", "slow", "never", "over")
        return Customer(
            account=Account(f"{500100 + 17 * i}", guarantor, tuple(patients)),
            habit=habits[i % len(habits)],
            next_statement=first_statement,
            last_statement=stops,
        )

    # -- driving the clock ---------------------------------------------------------------

    def move_to(self, at: datetime) -> None:
        step = at - self.clock.now()
        assert step >= timedelta(0), (at, self.clock.now())
        self.clock.advance(microseconds=step // timedelta(microseconds=1))
        assert self.clock.now() == at

    def instant(self, day_start: datetime) -> datetime:
        """A random moment of the UTC day; sometimes exactly at (or just before) the
        practice's midnight, which falls inside it (04:00 or 05:00 UTC)."""
        roll = self.rng.random()
        if roll < 0.08:
            edge = midnight(day_start.date()).astimezone(UTC)
            return edge if roll < 0.04 else edge - timedelta(microseconds=1)
        return day_start + timedelta(microseconds=self.rng.randrange(86_400_000_000))

    def today(self) -> date:
        return self.clock.now().astimezone(NY).date()

    def run(self) -> None:
        """Day by day (UTC), each day's events in time order."""
        day = START.date()
        while day <= LAST_DAY:
            for moment, _, action, args in sorted(self.plan_day(day), key=lambda p: p[:2]):
                self.move_to(moment)
                if moment == midnight(self.today()):
                    self.seen["event at the practice's midnight"] += 1
                action(*args)
            day += timedelta(days=1)

    def plan_day(self, day: date) -> list[tuple[datetime, int, Callable[..., None], tuple]]:
        day_start = datetime.combine(day, time(0), tzinfo=UTC)
        rng = self.rng
        plan: list[tuple[datetime, int, Callable[..., None], tuple]] = []

        def at(moment: datetime, action: Callable[..., None], *args: object) -> None:
            plan.append((moment, len(plan), action, args))

        for c in self.customers:
            if c.next_statement <= day <= c.last_statement:
                at(self.instant(day_start), self.send_statement, c)
                c.next_statement = day + timedelta(days=rng.randint(20, 70))
            if rng.random() < PAY_CHANCE[c.habit]:
                at(self.instant(day_start), self.pay, c, False)
        if rng.random() < 0.02:
            at(self.instant(day_start), self.pay, rng.choice(self.customers), True)
        if rng.random() < 0.07:
            at(self.instant(day_start), self.reverse)
        if rng.random() < 0.05:
            at(self.instant(day_start), self.lower, "adjustment")
        if rng.random() < 0.06:
            at(self.instant(day_start), self.lower, "write_off")
        if day.day == 1:  # money right at the month's edge, on both sides
            edge = midnight(day).astimezone(UTC)
            at(edge - timedelta(microseconds=1), self.pay, rng.choice(self.customers), True)
            at(edge, self.pay, rng.choice(self.customers), True)
        return plan

    # -- what happens ----------------------------------------------------------------------

    def send_statement(self, c: Customer) -> None:
        rng = self.rng
        c.sequence += 1
        statement_date = self.today() - timedelta(days=rng.choice((0, 0, 1, 2, 3)))
        due_date = statement_date + timedelta(days=rng.choice((0, 14, 21, 25, 30, 30)))
        covered = rng.random() < 0.08  # insurance and the contract take all of it
        lines = []
        for i in range(rng.randint(1, 4)):
            system, code, description, base, dx = rng.choice(SERVICES)
            charge = base + rng.randint(0, 99)
            insurance = charge * rng.choice((0, 50, 60, 70, 80)) // 100
            adjustment = (charge - insurance) * rng.choice((0, 15, 40)) // 100
            if covered:
                adjustment = charge - insurance
            lines.append(
                LineItem(
                    line_id=str(i + 1),
                    patient_id=rng.choice(c.account.patients).patient_id,
                    service_date=statement_date - timedelta(days=rng.randint(1, 45)),
                    provider=rng.choice(PROVIDERS),
                    code_system=system,
                    code=code,
                    description=description,
                    diagnosis_codes=dx,
                    charge_cents=charge,
                    insurance_paid_cents=insurance,
                    adjustment_cents=adjustment,
                    patient_responsibility_cents=charge - insurance - adjustment,
                )
            )
        st = Statement(
            statement_id=f"S-{c.account.account_number}-{c.sequence:03d}",
            account_number=c.account.account_number,
            statement_date=statement_date,
            due_date=due_date,
            lines=tuple(lines),
        )
        now = self.clock.now()
        rows = self.books.statement_rows(st, now)
        assert import_statement(self.services, c.account, st) is ImportOutcome.IMPORTED
        self.books.statements[st.statement_id] = st
        self.books.imported_at[st.statement_id] = now
        self.books.add(rows)
        if covered:
            self.seen["statement with nothing left for the patient"] += 1
        if any(r.kind == "transfer" for r in rows):
            self.seen["credit used by a new statement"] += 1

    def pay(self, c: Customer, unasked: bool) -> None:
        rng = self.rng
        number = c.account.account_number
        if number not in self.books.by_account:
            return  # no statement yet, so no account
        due = self.books.due(number)
        if due == 0 and not unasked:
            return
        roll = rng.random()
        if due == 0:
            cents = rng.randint(100, 6000)  # a second tab, a duplicate check
        elif roll < (0.5 if c.habit == "over" else 0.1):
            cents = due + rng.randint(1, 9000)
        elif roll < 0.6 or due < 200:
            cents = due
        else:
            cents = max(100, due * rng.randint(10, 80) // 100)
        now = self.clock.now()
        if rng.random() < 0.5:
            method = rng.choice(("check", "cash", "card_desk"))
            result = post_manual_payment(
                self.services,
                ACTOR,
                number,
                method,
                f"{cents // 100}.{cents % 100:02d}",
                str(rng.randint(1000, 99999)) if method == "check" else "",
                f"{rng.getrandbits(128):032x}",
                "10.0.0.7",
            )
            assert result.posted
            payment_id = result.payment.payment_id
            self.manual.append((payment_id, number, now, cents > due))
        else:
            self.card_count += 1
            payment_id = f"pay_sim{self.card_count:06d}"
            payment = Payment(
                payment_id=payment_id,
                account_number=number,
                amount_cents=cents,
                status=PaymentStatus.PENDING,
                method="card",
                gateway="sandbox",
                created_at=now - timedelta(seconds=rng.randint(30, 900)),
            )
            assert self.services.store.create_payment(payment)
            assert posting.post_payment(
                self.services.store, payment_id, f"sbx_{payment_id}", cents, now
            )
        self.books.add(self.books.payment_rows(number, payment_id, cents, now))
        if cents > due:
            self.seen["payment beyond the balance"] += 1

    def reverse(self) -> None:
        now = self.clock.now()
        candidates = [
            m for m in self.manual if m[0] not in self.reversed and now - m[2] < timedelta(days=90)
        ]
        if not candidates:
            return
        over = [m for m in candidates if m[3]]
        payment_id, number, _, _ = self.rng.choice(
            over if over and self.rng.random() < 0.6 else candidates
        )
        rows = self.books.reversal_rows(number, payment_id, now)
        result = reverse_manual_payment(
            self.services, ACTOR, payment_id, "Check returned unpaid", "10.0.0.7"
        )
        assert result.posted
        self.books.add(rows)
        self.reversed.add(payment_id)
        self.seen["reversal"] += 1
        if any(r.kind == "transfer" for r in rows):
            self.seen["reversal took back spent credit"] += 1

    def lower(self, kind: str) -> None:
        today = self.today()
        choices = [
            (number, sid, cents)
            for number in self.books.by_account
            for sid, cents in self.books.open_statements(number)
        ]
        if not choices:
            return
        number, sid, balance = self.rng.choice(choices)
        late = (today - self.books.statements[sid].due_date).days
        if kind == "write_off" and (late > 120 or balance < 1000):
            cents = balance  # bad debt, or a small balance
        else:
            cents = self.rng.randint(1, balance)
        post_adjustment(
            self.services,
            ACTOR,
            number,
            sid,
            kind,
            f"{cents // 100}.{cents % 100:02d}",
            "Charity care" if kind == "write_off" else "Contract rate corrected",
            "10.0.0.7",
        )
        self.books.add([Row(self.clock.now(), number, sid, kind, -cents)])
        self.seen[kind] += 1


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Simulation:
    folder = tmp_path_factory.mktemp("reconciliation")
    settings = Settings.from_env(
        {
            "PORTAL_SQLITE_PATH": str(folder / "portal.sqlite3"),
            "PORTAL_OUTBOX_DIR": str(folder / "outbox"),
            "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "PORTAL_BASE_URL": "http://portal.test",
            "PORTAL_TIMEZONE": "America/New_York",
        }
    )
    clock = FixedClock(START)
    services = build_services(settings, clock=clock)
    services.store.migrate()
    simulation = Simulation(services, clock, random.Random(SEED))
    simulation.run()
    return simulation


# -- the data set is what it should be -------------------------------------------------------


def test_the_data_set_exercises_every_case(world):
    for case in (
        "statement with nothing left for the patient",
        "credit used by a new statement",
        "payment beyond the balance",
        "reversal",
        "reversal took back spent credit",
        "adjustment",
        "write_off",
        "event at the practice's midnight",
    ):
        assert world.seen[case] > 0, case
    assert len(world.books.statements) > 150
    seen_buckets = set()
    for month_end in (date(2026, m, 1) - timedelta(days=1) for m in range(2, 12)):
        for buckets in expected_aging(world.books, month_end).values():
            seen_buckets |= {name for name, cents in buckets.items() if cents}
    assert seen_buckets == set(BUCKETS)


def test_no_account_holds_a_credit_beside_an_open_statement(world):
    for c in world.customers:
        found = world.services.store.account_records(c.account.account_number)
        if found is None:
            continue
        totals = balances(found.entries)
        assert not (totals.credit_cents and totals.due_cents), c.account.account_number
        assert totals.unapplied_cents <= 0  # never owed money that sits on no statement
        for st in found.statements:  # a statement never owes more than its own total
            assert totals.by_statement.get(st.statement_id, 0) <= st.total_cents, st.statement_id


def test_the_store_holds_the_entries_the_services_were_asked_to_post(world):
    """The test's own ledger is the store's (checked once, so the figures below compare
    the reports with an independent ledger that is known to be the right one)."""
    stored = []
    for c in world.customers:
        found = world.services.store.account_records(c.account.account_number)
        if found is None:
            continue
        stored += [
            (e.posted_at, e.account_number, e.statement_id, e.kind.value, e.amount_cents)
            for e in found.entries
        ]
    mine = [(r.posted_at, r.account, r.statement_id, r.kind, r.cents) for r in world.books.rows]
    assert Counter(stored) == Counter(mine)


# -- the aging report ------------------------------------------------------------------------

_SOME_DAYS = random.Random(7)
AS_OF = sorted(
    {
        date(2025, 9, 30),  # events between 00:00 and 04:00 UTC on Oct 1 are on Sep 30 here
        date(2025, 10, 1),
        date(2025, 11, 2),  # clocks go back
        date(2026, 3, 8),  # clocks go forward
        date(2026, 11, 1),
        *(date(2025 + (m > 12), (m - 1) % 12 + 1, 1) - timedelta(days=1) for m in range(11, 24)),
        *(date(2025, 10, 1) + timedelta(days=_SOME_DAYS.randrange(424)) for _ in range(6)),
        LAST_DAY,
        date(2026, 12, 31),  # after the last entry: everything keeps aging
    }
)


def assert_aging_matches(world: Simulation, as_of: date) -> None:
    report = aging_report(world.services, as_of)
    expected = expected_aging(world.books, as_of)
    got = {row.account_number: dict(row.buckets) for row in report.rows}
    assert got == expected, as_of
    assert len(report.rows) == len(got)  # one row per account
    totals = {name: sum(b[name] for b in expected.values()) for name in BUCKETS}
    assert report.totals == totals, as_of
    positive = sum(
        cents
        for cents in statement_balances_at(
            world.books, midnight(as_of + timedelta(days=1))
        ).values()
        if cents > 0
    )
    assert report.total_cents == positive == sum(totals.values()), as_of
    for row in report.rows:
        assert row.total_cents == sum(expected[row.account_number].values())
        c = next(c for c in world.customers if c.account.account_number == row.account_number)
        assert row.guarantor_name == c.account.guarantor.display_name


@pytest.mark.parametrize("as_of", AS_OF, ids=str)
def test_aging_report_matches_the_ledger(world, as_of):
    assert_aging_matches(world, as_of)


def test_aging_report_at_the_bucket_edges(world):
    """Days past due of exactly 0, 1, 30, 31, 60, 61, 90, 91, 120 and 121 for some
    statements that were still open then."""
    rng = random.Random(11)
    sids = sorted(world.books.statements)
    checked = 0
    for sid in rng.sample(sids, 40):
        due = world.books.statements[sid].due_date
        for late in (0, 1, 30, 31, 60, 61, 90, 91, 120, 121):
            as_of = due + timedelta(days=late)
            end = midnight(as_of + timedelta(days=1))
            if as_of <= LAST_DAY and statement_balances_at(world.books, end).get(sid, 0) > 0:
                assert_aging_matches(world, as_of)
                checked += 1
    assert checked > 20


def test_aging_rows_are_oldest_first(world):
    for as_of in (date(2026, 5, 31), LAST_DAY):
        report = aging_report(world.services, as_of)
        open_due: dict[str, list[date]] = defaultdict(list)
        end = midnight(as_of + timedelta(days=1))
        for sid, cents in statement_balances_at(world.books, end).items():
            if cents > 0:
                st = world.books.statements[sid]
                open_due[st.account_number].append(st.due_date)
        order = sorted(open_due, key=lambda n: (min(open_due[n]), n))
        assert [row.account_number for row in report.rows] == order


# -- the monthly summary -----------------------------------------------------------------------

WINDOWS = (date(2025, 12, 1), date(2026, 9, 15), date(2026, 11, 1))


@pytest.mark.parametrize("last_month", WINDOWS, ids=str)
def test_monthly_summary_rolls_forward_to_the_cent(world, last_month):
    months = last_twelve_months(world.services, last_month)
    assert len(months) == 12
    assert months[-1].month == last_month.replace(day=1)
    for m in months:
        assert (
            m.beginning_cents
            + m.charges_cents
            - m.insurance_payments_cents
            - m.adjustments_cents
            - m.patient_payments_cents
            + m.refunds_cents
            - m.write_offs_cents
            + m.transfers_cents
            == m.ending_cents
        ), m.label
    for before, after in itertools.pairwise(months):
        assert after.month == next_month(before.month)
        assert before.ending_cents == after.beginning_cents, after.label
    last = months[-1]
    assert last.ending_cents == total_before(world.books, midnight(next_month(last.month)))


@pytest.mark.parametrize("last_month", WINDOWS, ids=str)
def test_monthly_figures_equal_the_ledger_by_kind(world, last_month):
    for m in last_twelve_months(world.services, last_month):
        start, end = midnight(m.month), midnight(next_month(m.month))
        sums = sums_by_kind(world.books, start, end)
        expected = {
            "beginning": total_before(world.books, start),
            "charges": sums["charge"],
            "insurance": -sums["insurance_payment"],
            "adjustments": -sums["adjustment"],
            "patient payments": -(sums["patient_payment"] + sums["reversal"]),
            "refunds": sums["refund"],
            "write-offs": -sums["write_off"],
            "transfers": sums["transfer"],
            "ending": total_before(world.books, end),
        }
        got = {
            "beginning": m.beginning_cents,
            "charges": m.charges_cents,
            "insurance": m.insurance_payments_cents,
            "adjustments": m.adjustments_cents,
            "patient payments": m.patient_payments_cents,
            "refunds": m.refunds_cents,
            "write-offs": m.write_offs_cents,
            "transfers": m.transfers_cents,
            "ending": m.ending_cents,
        }
        assert got == expected, m.label
        # Charges billed, straight from the statements imported that month.
        billed = sum(
            line.charge_cents
            for sid, st in world.books.statements.items()
            if start <= world.books.imported_at[sid] < end
            for line in st.lines
        )
        assert m.charges_cents == billed, m.label


def test_the_data_set_has_money_in_every_month(world):
    """So the month checks above compare real figures, not zeros."""
    for m in last_twelve_months(world.services, date(2026, 11, 1)):
        assert m.charges_cents > 0, m.label
        assert m.patient_payments_cents > 0, m.label
