"""`portal demo`: realistic demo accounts across every aging bucket (idempotent).

Dates are laid relative to the practice's today, so the aging spread is right whenever
the demo is loaded. An account that exists already is left as it is.
"""

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.aging import practice_date
from portal.domain.ledger import balances
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.statements import LineItem, Statement
from portal.domain.texting import SmsConsent
from portal.ports.ledger import ImportOutcome
from portal.services import ledger
from portal.services.context import Services
from portal.services.staff_auth import add_staff_user
from portal.services.statements import import_statement

PROVIDERS = (
    "Dr. Alice Chen, MD",
    "Dr. Marcus Webb, DO",
    "Priya Natarajan, NP",
    "Dr. Elena Sokolova, MD",
)

# (code system, code, plain description, usual charge in cents, diagnosis codes)
SERVICES = (
    ("CPT", "99213", "Office visit, established patient, low complexity", 18500, ("J06.9",)),
    (
        "CPT",
        "99214",
        "Office visit, established patient, moderate complexity",
        26500,
        ("E11.65", "I10"),
    ),
    ("CPT", "99203", "Office visit, new patient, low complexity", 24000, ("M54.50",)),
    ("CPT", "99395", "Preventive visit, established patient, age 18-39", 29500, ("Z00.00",)),
    ("CPT", "99392", "Preventive visit, established patient, age 1-4", 21000, ("Z00.129",)),
    ("CPT", "90686", "Flu vaccine, preservative free", 4500, ("Z23",)),
    ("CPT", "90471", "Vaccine administration, first injection", 2800, ("Z23",)),
    ("CPT", "85025", "Complete blood count (CBC) with differential", 3900, ("R53.83",)),
    ("CPT", "80053", "Comprehensive metabolic panel", 5800, ("E78.5",)),
    ("CPT", "83036", "Hemoglobin A1c test", 4400, ("E11.65",)),
    ("CPT", "87880", "Rapid strep test", 3200, ("J02.0",)),
    ("CPT", "93000", "Electrocardiogram (ECG) with interpretation", 8500, ("R07.9",)),
    ("CPT", "71046", "Chest X-ray, 2 views", 12500, ("R05.9",)),
    ("CPT", "36415", "Blood draw (venipuncture)", 1500, ("E78.5",)),
    ("CPT", "12001", "Simple repair of a small wound (2.5 cm or less)", 31000, ("S61.411A",)),
    ("CPT", "81002", "Urinalysis, without microscope", 1800, ("N39.0",)),
    ("HCPCS", "J1100", "Injection, dexamethasone, 1 mg", 2600, ("J45.909",)),
    ("HCPCS", "J3420", "Injection, vitamin B-12, up to 1000 mcg", 3500, ("D51.9",)),
    ("HCPCS", "G0439", "Annual wellness visit, subsequent", 17500, ("Z00.00",)),
    ("HCPCS", "L3908", "Wrist splint, prefabricated", 9500, ("S52.521A",)),
)


@dataclass(frozen=True)
class DemoPerson:
    first: str
    last: str
    born: str


@dataclass(frozen=True)
class DemoAccount:
    number: str
    guarantor: DemoPerson
    email: str
    patients: tuple[DemoPerson, ...]  # empty: the guarantor is the patient
    days_past_due: tuple[int, ...]  # one statement per entry, negative: not yet due
    paid_percent: int = 0  # share of the balance already paid (by card or check)


P = DemoPerson
ACCOUNTS = (
    DemoAccount(
        "100234",
        P("Maria", "Lopez", "1984-03-12"),
        "maria.lopez@example.com",
        (P("Ana", "Lopez", "2015-06-02"), P("Mateo", "Lopez", "2019-09-21")),
        (-12,),
    ),
    DemoAccount("100257", P("José", "Núñez", "1971-11-30"), "jose.nunez@example.com", (), (75, 12)),
    DemoAccount(
        "100318",
        P("Grace", "O'Brien", "1990-01-08"),
        "grace.obrien@example.com",
        (P("Liam", "O'Brien", "2018-04-17"),),
        (40,),
        40,
    ),
    DemoAccount("100342", P("Daniel", "Kim", "1966-07-25"), "daniel.kim@example.com", (), (-20,)),
    DemoAccount(
        "100365",
        P("Aisha", "Rahman", "1988-02-14"),
        "aisha.rahman@example.com",
        (P("Zara", "Rahman", "2016-12-03"), P("Idris", "Rahman", "2020-05-29")),
        (5,),
    ),
    DemoAccount("100389", P("Robert", "Van der Berg", "1955-10-02"), "", (), (130, 100)),
    DemoAccount("100412", P("Linh", "Nguyen", "1993-08-19"), "linh.nguyen@example.com", (), (25,)),
    DemoAccount(
        "100436",
        P("Emily", "Carter", "1979-04-05"),
        "emily.carter@example.com",
        (
            P("Noah", "Carter", "2011-02-11"),
            P("Ella", "Carter", "2014-07-30"),
            P("Jack", "Carter", "2017-10-09"),
        ),
        (50, -5),
    ),
    DemoAccount(
        "100459", P("Samuel", "Okafor", "1962-12-22"), "samuel.okafor@example.com", (), (95,)
    ),
    DemoAccount(
        "100483",
        P("Sofía", "De la Cruz", "1997-06-13"),
        "sofia.delacruz@example.com",
        (),
        (-25,),
        100,
    ),
    DemoAccount(
        "100506", P("Thomas", "Müller", "1949-09-09"), "thomas.mueller@example.com", (), (160,)
    ),
    DemoAccount(
        "100529",
        P("Hannah", "Goldberg", "1986-05-27"),
        "hannah.goldberg@example.com",
        (P("Eli", "Goldberg", "2013-03-15"),),
        (65,),
        25,
    ),
    DemoAccount(
        "100553", P("Kwame", "Mensah", "1975-01-31"), "kwame.mensah@example.com", (), (-2,)
    ),
    DemoAccount(
        "100576", P("Olivia", "Bennett", "2001-11-11"), "olivia.bennett@example.com", (), (18,), 100
    ),
    DemoAccount(
        "100599",
        P("Carlos", "Rivera", "1968-08-08"),
        "carlos.rivera@example.com",
        (P("Lucía", "Rivera", "2009-01-20"),),
        (110,),
    ),
    DemoAccount("100623", P("Priya", "Shah", "1982-03-03"), "priya.shah@example.com", (), (35, 8)),
    DemoAccount("100646", P("Margaret", "Sullivan", "1944-02-19"), "", (), (200,)),
    DemoAccount(
        "100669", P("Yusuf", "Demir", "1991-07-07"), "yusuf.demir@example.com", (), (-15,), 50
    ),
    DemoAccount(
        "100692",
        P("Chloé", "Dubois", "1987-12-12"),
        "chloe.dubois@example.com",
        (P("Léa", "Dubois", "2017-08-08"),),
        (85,),
    ),
    DemoAccount(
        "100715", P("James", "Washington", "1958-06-06"), "james.washington@example.com", (), (28,)
    ),
    DemoAccount(
        "100738", P("Mei", "Tanaka", "1995-09-14"), "mei.tanaka@example.com", (), (55,), 100
    ),
    DemoAccount(
        "100761",
        P("Andrew", "MacDonald", "1973-04-22"),
        "andrew.macdonald@example.com",
        (P("Isla", "MacDonald", "2012-11-05"), P("Finn", "MacDonald", "2015-02-28")),
        (125,),
    ),
    DemoAccount(
        "100784", P("Fatima", "Haddad", "1980-10-10"), "fatima.haddad@example.com", (), (-28,)
    ),
    DemoAccount(
        "100807", P("Peter", "Novak", "1964-01-16"), "peter.novak@example.com", (), (70, 40), 30
    ),
    DemoAccount(
        "100830", P("Renee", "St. James", "1999-05-05"), "renee.stjames@example.com", (), (3,)
    ),
)

EXAMPLES = (
    (
        "100234",
        "Lopez",
        "2015-06-02",
        "a family; this is the child Ana, who sees her brother's visit by date and amount only "
        "(the guarantor: Lopez, 1984-03-12); the balance is current",
    ),
    ("100257", "Nunez", "1971-11-30", "past due; accents do not matter"),
    (
        "100318",
        "O'Brien",
        "1990-01-08",
        "partly paid, 31-60 days past due; agreed to texts (its reminder goes by text too, "
        "into var/sms/)",
    ),
)

# The demo account that agreed to texts, and the number it agreed for.
TEXTS_ACCOUNT = "100318"
DEMO_PHONE = "+15555550100"


# Demo logins for the billing console (local demo data only).
STAFF = (
    ("associate", "associate", "demo-associate-pass"),
    ("supervisor", "supervisor", "demo-supervisor-pass"),
    ("admin", "admin", "demo-admin-password"),
)


@dataclass
class DemoSummary:
    accounts: int = 0
    imported: int = 0
    unchanged: int = 0
    payments_posted: int = 0
    examples: tuple[tuple[str, str, str, str], ...] = field(default=EXAMPLES)
    staff: tuple[tuple[str, str, str], ...] = field(default=STAFF)


class NotLocal(RuntimeError):
    """Demo data (and its staff users with known passwords) is for the local default only."""


def load_demo(services: Services) -> DemoSummary:
    settings = services.settings
    if not settings.local_store or settings.payments != "sandbox" or settings.in_lambda:
        raise NotLocal(
            "portal demo loads accounts and staff users with known passwords: it runs only "
            "on a local store (SQLite, or DynamoDB on 127.0.0.1) with PORTAL_PAYMENTS=sandbox."
        )
    today = practice_date(services.clock.now(), services.settings.tz)
    summary = DemoSummary(accounts=len(ACCOUNTS))
    for number_in_list, demo in enumerate(ACCOUNTS):
        if services.store.get_account(demo.number) is not None:
            summary.unchanged += len(demo.days_past_due)
            continue
        rng = random.Random(int(demo.number))
        account = _account(demo)
        for seq, days in enumerate(sorted(demo.days_past_due, reverse=True)):
            statement = _statement(account, demo, seq, days, today, rng)
            # Demo history, not news: no "your statement is ready" e-mails in the outbox.
            outcome = import_statement(services, account, statement, notify=False)
            summary.imported += outcome is ImportOutcome.IMPORTED
        if demo.paid_percent:
            summary.payments_posted += _pay(services, demo, number_in_list)
    if services.store.sms_consent(TEXTS_ACCOUNT) is None:  # a STOP since is left as it is
        services.store.save_sms_consent(
            SmsConsent(
                TEXTS_ACCOUNT, DEMO_PHONE, services.clock.now() - timedelta(days=30), "demo data"
            )
        )
    for username, role, password in STAFF:
        if services.store.get_staff_user(username) is None:
            add_staff_user(services, username, role, password)
    return summary


def _person_born(p: DemoPerson) -> date:
    return date.fromisoformat(p.born)


def _account(demo: DemoAccount) -> Account:
    g = demo.guarantor
    patients = demo.patients or (demo.guarantor,)
    return Account(
        account_number=demo.number,
        guarantor=Guarantor(g.first, g.last, _person_born(g), demo.email, DEMO_PHONE),
        patients=tuple(
            Patient(f"P{i + 1}", p.first, p.last, _person_born(p)) for i, p in enumerate(patients)
        ),
    )


def _statement(
    account: Account, demo: DemoAccount, seq: int, days: int, today: date, rng: random.Random
) -> Statement:
    due = today - timedelta(days=days)
    return random_statement(
        account, f"S-{demo.number}-{seq + 1:02d}", due - timedelta(days=30), due, rng
    )


def random_statement(
    account: Account, statement_id: str, statement_date: date, due_date: date, rng: random.Random
) -> Statement:
    """A realistic statement of 1-4 services, most of them partly paid by insurance."""
    lines = []
    for i in range(rng.randint(1, 4)):
        system, code, description, charge, dx = rng.choice(SERVICES)
        patient = rng.choice(account.patients)
        insured = rng.random() < 0.8
        insurance = charge * rng.choice((50, 60, 70, 80)) // 100 if insured else 0
        adjustment = (charge - insurance) * rng.choice((0, 20, 40)) // 100 if insured else 0
        lines.append(
            LineItem(
                line_id=str(i + 1),
                patient_id=patient.patient_id,
                service_date=statement_date - timedelta(days=rng.randint(3, 40)),
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
    return Statement(
        statement_id=statement_id,
        account_number=account.account_number,
        statement_date=statement_date,
        due_date=due_date,
        lines=tuple(lines),
    )


def _pay(services: Services, demo: DemoAccount, index: int) -> int:
    """Post an earlier payment of part (or all) of the balance, as a card or a check."""
    store = services.store
    records = store.account_records(demo.number)
    due = balances(records.entries).due_cents if records else 0
    amount = due * demo.paid_percent // 100
    if amount <= 0:
        return 0
    now = services.clock.now()
    method, gateway = ("card", "sandbox") if index % 2 else ("check", "manual")
    payment = Payment(
        payment_id=f"pay_demo{demo.number}",
        account_number=demo.number,
        amount_cents=amount,
        status=PaymentStatus.PENDING,
        method=method,
        gateway=gateway,
        created_at=now - timedelta(days=6),
    )
    store.create_payment(payment)
    result = ledger.post_payment(
        store, payment.payment_id, f"demo-{demo.number}", amount, now - timedelta(days=6)
    )
    return int(result.posted)
