"""Settings read from the environment once, checked before anything starts."""

import os
import re
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlparse, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from portal.domain.errors import InvalidInput
from portal.domain.money import parse_amount
from portal.domain.phones import E164
from portal.domain.plans import PlanPolicy, PlanTier
from portal.resources import translations_dir


class ConfigError(Exception):
    """One line per bad variable, each naming the variable."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


DEFAULT_BASE_URL = "http://127.0.0.1:5000"


def served_base_url(host: str, port: int) -> str:
    """The address links should use for a portal served on host:port; a wildcard host (all
    interfaces) is reached on this machine's loopback address."""
    host = host.strip().strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@dataclass(frozen=True)
class Settings:
    store: str = "sqlite"
    sqlite_path: str = "var/portal.sqlite3"
    dynamodb_table: str = ""
    dynamodb_endpoint: str = ""  # boto3's AWS_ENDPOINT_URL_DYNAMODB: set for a local server
    dynamodb_shards: int = 8  # partition keys of each shared item (docs/dynamodb.md)
    payments: str = "sandbox"
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = "https://api.stripe.com"
    mail: str = "outbox"
    outbox_dir: str = "var/outbox"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    mail_from: str = "billing@localhost"
    ses_configuration_set: str = ""
    billing_inbox: str = "billing@localhost"  # where escalations go; by default the sender
    reminder_days: tuple[int, ...] = (15, 30)
    final_notice_day: int = 60
    escalation_day: int = 90
    reminder_minimum_cents: int = 500
    reminder_send_hour: int = 8
    plan_policy: PlanPolicy = field(default_factory=PlanPolicy)
    assistance_hold_days: int = 30  # a financial-assistance request holds the account
    case_answer_days: int = 5  # business days the practice has to answer a question
    secret_key: str = ""
    base_url: str = DEFAULT_BASE_URL
    timezone: str = "America/New_York"
    practice_name: str = "Demo Family Practice"
    languages: tuple[str, ...] = ("en", "es")  # the patient pages' languages; first: default
    in_lambda: bool = False
    # Fan-out (issue 19): with a queue, the daily job only plans, putting batches of this
    # many accounts on the queue for the worker function; without one it runs everything.
    work_queue_url: str = ""
    work_batch_size: int = 100
    # The e-mail rate (messages a second) the account's senders share, and how many send at
    # once (the worker function's reserved concurrency): each paces at rate / senders.
    # 0: SES's own MaxSendRate (read on the first send) with SES, no pacing otherwise.
    mail_rate: float = 0.0
    mail_senders: int = 1
    # Text messages (issue 22): docs/sms.md.
    sms: str = "outbox"
    sms_outbox_dir: str = "var/sms"
    sms_origination_number: str = ""
    sms_inbound_topic_arn: str = ""  # the SNS topic inbound texts (STOP, HELP) arrive on
    pay_link_days: int = 30
    closed_weekdays: tuple[int, ...] = ()  # Monday 0 ... Sunday 6
    closed_dates: tuple[date, ...] = ()
    # Outbound webhooks (issue 21): each money event POSTed, signed with the secret.
    outbound_webhook_url: str = ""
    outbound_webhook_secret: str = ""
    # A corrected statement's due date restarts reminders (else they keep their stage).
    corrections_restart_reminders: bool = False

    @property
    def local_store(self) -> bool:
        """SQLite, or DynamoDB on this machine (moto's server): never a shared table."""
        if self.store == "sqlite":
            return True
        host = urlsplit(self.dynamodb_endpoint).hostname or ""
        return host in ("127.0.0.1", "localhost", "::1")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def secure_cookies(self) -> bool:
        """HTTPS only (Secure, __Host- cookies, HSTS) unless running locally over http:
        inside Lambda the portal is always behind HTTPS, whatever PORTAL_BASE_URL says."""
        return self.in_lambda or self.base_url.startswith("https://")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, default_base_url: str = DEFAULT_BASE_URL
    ) -> "Settings":
        """Read every PORTAL_* / STRIPE_* variable; raise ConfigError listing all problems.

        `default_base_url` is the base URL when PORTAL_BASE_URL is not set (`portal serve`
        passes the address it listens on)."""
        env = os.environ if environ is None else environ
        problems: list[str] = []
        in_lambda = bool(env.get("AWS_LAMBDA_FUNCTION_NAME"))

        def get(name: str, default: str = "") -> str:
            return env.get(name, "").strip() or default

        def choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
            value = get(name, default).lower()
            if value not in allowed:
                options = ", ".join(repr(a) for a in allowed)
                problems.append(f"{name}: must be one of {options}, not {value!r}.")
            return value

        store = choice("PORTAL_STORE", "sqlite", ("sqlite", "dynamodb"))
        payments = choice("PORTAL_PAYMENTS", "sandbox", ("sandbox", "stripe"))
        mail = choice("PORTAL_MAIL", "outbox", ("outbox", "smtp", "ses"))
        # Inside Lambda texts go by SNS unless set otherwise (the outbox is refused there).
        sms = choice("PORTAL_SMS", "sns" if in_lambda else "outbox", ("outbox", "sns"))

        if store == "dynamodb" and not get("PORTAL_DYNAMODB_TABLE"):
            problems.append("PORTAL_DYNAMODB_TABLE: required when PORTAL_STORE=dynamodb.")
        if payments == "stripe":
            for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
                if not get(name):
                    problems.append(f"{name}: required when PORTAL_PAYMENTS=stripe.")
        if mail == "smtp" and not get("PORTAL_SMTP_HOST"):
            problems.append("PORTAL_SMTP_HOST: required when PORTAL_MAIL=smtp.")
        if in_lambda and store == "sqlite":
            problems.append("PORTAL_STORE: 'sqlite' cannot run inside AWS Lambda; use 'dynamodb'.")
        if in_lambda and payments == "sandbox":
            problems.append(
                "PORTAL_PAYMENTS: 'sandbox' cannot run inside AWS Lambda; use 'stripe'."
            )
        if in_lambda and mail == "outbox":
            problems.append("PORTAL_MAIL: 'outbox' cannot run inside AWS Lambda; use 'ses'.")
        if in_lambda and sms == "outbox":
            problems.append("PORTAL_SMS: 'outbox' cannot run inside AWS Lambda; use 'sns'.")
        origination = get("PORTAL_SMS_ORIGINATION_NUMBER")
        if origination and not E164.fullmatch(origination):
            problems.append(
                "PORTAL_SMS_ORIGINATION_NUMBER: must be a number in E.164 form "
                f"(like +15555550100), not {origination!r}."
            )
        inbound_topic = get("PORTAL_SMS_INBOUND_TOPIC_ARN")
        if inbound_topic and not inbound_topic.startswith("arn:aws"):
            problems.append(
                f"PORTAL_SMS_INBOUND_TOPIC_ARN: must be an SNS topic ARN, not {inbound_topic!r}."
            )
        pay_link_days = _whole(get, problems, "PORTAL_PAY_LINK_DAYS", "30", 1, 365, "days")
        closed_weekdays, closed_dates = _closed_days(get("PORTAL_CLOSED_DAYS"), problems)

        smtp_port = 587
        port_text = get("PORTAL_SMTP_PORT", "587")
        if port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536:
            smtp_port = int(port_text)
        else:
            problems.append(f"PORTAL_SMTP_PORT: must be a port number, not {port_text!r}.")

        starttls_text = get("PORTAL_SMTP_STARTTLS", "true").lower()
        if starttls_text not in ("true", "false", "1", "0", "yes", "no"):
            problems.append(f"PORTAL_SMTP_STARTTLS: must be true or false, not {starttls_text!r}.")
        elif starttls_text in ("false", "0", "no") and get("PORTAL_SMTP_USERNAME"):
            problems.append(
                "PORTAL_SMTP_STARTTLS: a relay login is never sent in plain text; "
                "turn STARTTLS on or leave PORTAL_SMTP_USERNAME empty."
            )

        for name, default in (
            ("PORTAL_BASE_URL", default_base_url),
            ("STRIPE_API_BASE", "https://api.stripe.com"),
        ):
            url = urlparse(get(name, default))
            if url.scheme not in ("http", "https") or not url.netloc:
                problems.append(f"{name}: must be an http(s) address, not {get(name)!r}.")

        timezone = get("PORTAL_TIMEZONE", "America/New_York")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            problems.append(f"PORTAL_TIMEZONE: {timezone!r} is not an IANA time zone name.")

        mail_from = get("PORTAL_MAIL_FROM", "billing@localhost")
        if "@" not in mail_from:
            problems.append(f"PORTAL_MAIL_FROM: {mail_from!r} is not an e-mail address.")

        billing_inbox = get("PORTAL_BILLING_INBOX", mail_from)
        if get("PORTAL_BILLING_INBOX") and "@" not in billing_inbox:
            problems.append(f"PORTAL_BILLING_INBOX: {billing_inbox!r} is not an e-mail address.")

        def days(name: str, default: str) -> tuple[int, ...]:
            text = get(name, default)
            parts = [p.strip() for p in text.split(",")]
            if not all(p.isascii() and p.isdigit() and 0 < int(p) < 1000 for p in parts):
                problems.append(
                    f"{name}: must be days past due (1-999), comma-separated, not {text!r}."
                )
                return tuple(int(d) for d in default.split(","))
            return tuple(int(p) for p in parts)

        reminder_days = days("PORTAL_REMINDER_DAYS", "15,30")
        (final_notice_day,) = days("PORTAL_FINAL_NOTICE_DAY", "60")
        (escalation_day,) = days("PORTAL_ESCALATION_DAY", "90")
        if not (max(reminder_days) < final_notice_day < escalation_day):
            problems.append(
                "PORTAL_REMINDER_DAYS, PORTAL_FINAL_NOTICE_DAY, PORTAL_ESCALATION_DAY: reminders "
                "come before the final notice, and the final notice before the escalation."
            )
        minimum_cents = 500
        try:
            minimum_cents = parse_amount(get("PORTAL_REMINDER_MINIMUM", "5.00"))
        except InvalidInput as exc:
            problems.append(f"PORTAL_REMINDER_MINIMUM: {exc.message}")
        hour_text = get("PORTAL_REMINDER_SEND_HOUR", "8")
        if not (hour_text.isascii() and hour_text.isdigit() and int(hour_text) < 24):
            problems.append(f"PORTAL_REMINDER_SEND_HOUR: must be an hour 0-23, not {hour_text!r}.")
            hour_text = "8"

        plan_policy = _plan_policy(get, problems)

        work_queue_url = get("PORTAL_WORK_QUEUE_URL")
        if work_queue_url and urlparse(work_queue_url).scheme not in ("http", "https"):
            problems.append(
                f"PORTAL_WORK_QUEUE_URL: must be the queue's https:// URL, not {work_queue_url!r}."
            )
        batch_size = _whole(get, problems, "PORTAL_WORK_BATCH_SIZE", "100", 1, 1000)
        dynamodb_shards = _whole(get, problems, "PORTAL_DYNAMODB_SHARDS", "8", 1, 64)
        mail_senders = _whole(get, problems, "PORTAL_MAIL_SENDERS", "1", 1, 1000)
        mail_rate_text = get("PORTAL_MAIL_RATE", "0")
        try:
            mail_rate = float(mail_rate_text)
            if not 0 <= mail_rate <= 100_000:
                raise ValueError
        except ValueError:
            problems.append(
                "PORTAL_MAIL_RATE: must be messages a second (0 for SES's own rate), "
                f"not {mail_rate_text!r}."
            )
            mail_rate = 0.0

        assistance_hold_days = _whole(
            get, problems, "PORTAL_ASSISTANCE_HOLD_DAYS", "30", 1, 999, "days"
        )
        case_answer_days = _whole(
            get, problems, "PORTAL_CASE_ANSWER_DAYS", "5", 1, 999, "business days"
        )
        languages = _languages(get("PORTAL_LANGUAGES", "en,es"), problems)

        webhook_url = get("PORTAL_OUTBOUND_WEBHOOK_URL")
        webhook_secret = get("PORTAL_OUTBOUND_WEBHOOK_SECRET")
        if webhook_url:
            scheme = urlparse(webhook_url).scheme
            if scheme not in ("http", "https") or not urlparse(webhook_url).netloc:
                problems.append(
                    f"PORTAL_OUTBOUND_WEBHOOK_URL: must be an http(s) address, not {webhook_url!r}."
                )
            elif in_lambda and scheme != "https":
                problems.append("PORTAL_OUTBOUND_WEBHOOK_URL: must be https:// inside AWS Lambda.")
            if len(webhook_secret) < 16:
                problems.append(
                    "PORTAL_OUTBOUND_WEBHOOK_SECRET: required with PORTAL_OUTBOUND_WEBHOOK_URL, "
                    "at least 16 characters."
                )

        restart_text = get("PORTAL_CORRECTIONS_RESTART_REMINDERS", "false").lower()
        if restart_text not in ("true", "false", "1", "0", "yes", "no"):
            problems.append(
                "PORTAL_CORRECTIONS_RESTART_REMINDERS: must be true or false, "
                f"not {restart_text!r}."
            )

        secret_key = get("PORTAL_SECRET_KEY")
        if not secret_key and in_lambda:
            problems.append("PORTAL_SECRET_KEY: required inside AWS Lambda.")
        elif secret_key and len(secret_key) < 16:
            problems.append("PORTAL_SECRET_KEY: must be at least 16 characters.")

        if problems:
            raise ConfigError(problems)

        sqlite_path = get("PORTAL_SQLITE_PATH", "var/portal.sqlite3")
        return cls(
            store=store,
            sqlite_path=sqlite_path,
            dynamodb_table=get("PORTAL_DYNAMODB_TABLE"),
            dynamodb_endpoint=get("AWS_ENDPOINT_URL_DYNAMODB"),
            dynamodb_shards=dynamodb_shards,
            payments=payments,
            stripe_secret_key=get("STRIPE_SECRET_KEY"),
            stripe_webhook_secret=get("STRIPE_WEBHOOK_SECRET"),
            stripe_api_base=get("STRIPE_API_BASE", "https://api.stripe.com"),
            mail=mail,
            outbox_dir=get("PORTAL_OUTBOX_DIR", "var/outbox"),
            smtp_host=get("PORTAL_SMTP_HOST"),
            smtp_port=smtp_port,
            smtp_username=get("PORTAL_SMTP_USERNAME"),
            smtp_password=get("PORTAL_SMTP_PASSWORD"),
            smtp_starttls=starttls_text in ("true", "1", "yes"),
            mail_from=mail_from,
            ses_configuration_set=get("PORTAL_SES_CONFIGURATION_SET"),
            billing_inbox=billing_inbox,
            reminder_days=tuple(sorted(set(reminder_days))),
            final_notice_day=final_notice_day,
            escalation_day=escalation_day,
            reminder_minimum_cents=minimum_cents,
            reminder_send_hour=int(hour_text),
            plan_policy=plan_policy,
            assistance_hold_days=assistance_hold_days,
            case_answer_days=case_answer_days,
            secret_key=secret_key or local_secret_key(Path(sqlite_path).parent),
            base_url=get("PORTAL_BASE_URL", default_base_url).rstrip("/"),
            timezone=timezone,
            practice_name=get("PORTAL_PRACTICE_NAME", "Demo Family Practice"),
            languages=languages,
            in_lambda=in_lambda,
            work_queue_url=work_queue_url,
            work_batch_size=batch_size,
            mail_rate=mail_rate,
            mail_senders=mail_senders,
            sms=sms,
            sms_outbox_dir=get("PORTAL_SMS_OUTBOX_DIR", "var/sms"),
            sms_origination_number=origination,
            sms_inbound_topic_arn=inbound_topic,
            pay_link_days=pay_link_days,
            closed_weekdays=closed_weekdays,
            closed_dates=closed_dates,
            outbound_webhook_url=webhook_url,
            outbound_webhook_secret=webhook_secret,
            corrections_restart_reminders=restart_text in ("true", "1", "yes"),
        )


def _whole(
    get, problems: list[str], name: str, default: str, low: int, high: int, unit: str = ""
) -> int:
    """A whole number setting (of `unit`) from `low` to `high`; a problem (and the default)
    otherwise."""
    text = get(name, default)
    if text.isascii() and text.isdigit() and low <= int(text) <= high:
        return int(text)
    of = f" of {unit}" if unit else ""
    problems.append(f"{name}: must be a whole number{of} from {low} to {high}, not {text!r}.")
    return int(default)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _closed_days(text: str, problems: list[str]) -> tuple[tuple[int, ...], tuple[date, ...]]:
    """PORTAL_CLOSED_DAYS: the days no text goes out, comma-separated: weekday names (sun)
    and dates (2026-12-25)."""
    weekdays: set[int] = set()
    dates: set[date] = set()
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        if part.isalpha() and part[:3] in WEEKDAYS:
            weekdays.add(WEEKDAYS.index(part[:3]))
            continue
        try:
            dates.add(date.fromisoformat(part))
        except ValueError:
            problems.append(
                "PORTAL_CLOSED_DAYS: must be weekday names and dates (YYYY-MM-DD), "
                f"comma-separated (like sun,2026-12-25), not {text!r}."
            )
            return (), ()
    return tuple(sorted(weekdays)), tuple(sorted(dates))


SOURCE_LANGUAGE = "en"  # the pages are written in English: it needs no catalog
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")


def _languages(text: str, problems: list[str]) -> tuple[str, ...]:
    """PORTAL_LANGUAGES: language codes, comma-separated, the default first; each but English
    needs its catalog (translations/<code>/LC_MESSAGES/messages.po)."""
    codes = [c.strip() for c in text.split(",")]
    bad = [c for c in codes if not _LANGUAGE_CODE.fullmatch(c)]
    if bad:
        problems.append(
            "PORTAL_LANGUAGES: must be lowercase language codes, comma-separated, the default "
            f"first (like en,es), not {text!r}."
        )
        return ("en", "es")
    if len(set(codes)) != len(codes):
        problems.append(f"PORTAL_LANGUAGES: names a language twice ({text!r}).")
    try:
        folder = translations_dir()
    except FileNotFoundError as exc:
        problems.append(f"PORTAL_LANGUAGES: {exc}")
        return tuple(dict.fromkeys(codes))
    missing = [
        c for c in codes if c != SOURCE_LANGUAGE and not (folder / c / "LC_MESSAGES").is_dir()
    ]
    if missing:
        problems.append(
            f"PORTAL_LANGUAGES: no catalog for {', '.join(missing)} in {folder} (create it "
            f"with: pybabel init -i translations/messages.pot -d translations -l {missing[0]})."
        )
    return tuple(dict.fromkeys(codes))


PLAN_TIERS = "PORTAL_PLAN_MAX_MONTHS"
PLAN_TIERS_SHAPE = (
    "must be tiers like 500.00:6,2000.00:12,24 (up to 6 months for balances under $500.00, "
    "12 under $2,000.00, 24 for any other)"
)


def _plan_policy(get: Callable[[str, str], str], problems: list[str]) -> PlanPolicy:
    """The payment plans offered, from PORTAL_PLAN_*; the defaults when one is unreadable
    (and the problem listed)."""
    amounts = {}
    for name, default in (
        ("PORTAL_PLAN_MIN_BALANCE", "100.00"),
        ("PORTAL_PLAN_MIN_INSTALLMENT", "25.00"),
    ):
        try:
            amounts[name] = parse_amount(get(name, default))
        except InvalidInput as exc:
            problems.append(f"{name}: {exc.message}")
            amounts[name] = parse_amount(default)
    text = get(PLAN_TIERS, "500.00:6,2000.00:12,24")
    tiers: list[PlanTier] = []
    for part in (p.strip() for p in text.split(",")):
        below, _, months = part.rpartition(":")
        if not (months.isascii() and months.isdigit() and 2 <= int(months) <= 120):
            problems.append(f"{PLAN_TIERS}: {PLAN_TIERS_SHAPE}; months 2-120, not {text!r}.")
            return PlanPolicy()
        try:
            tiers.append(PlanTier(parse_amount(below) if below else None, int(months)))
        except InvalidInput as exc:
            problems.append(f"{PLAN_TIERS}: {exc.message} ({text!r})")
            return PlanPolicy()
    try:
        return PlanPolicy(
            min_balance_cents=amounts["PORTAL_PLAN_MIN_BALANCE"],
            min_installment_cents=amounts["PORTAL_PLAN_MIN_INSTALLMENT"],
            tiers=tuple(tiers),
        )
    except InvalidInput as exc:
        setting = {
            "min_balance": "PORTAL_PLAN_MIN_BALANCE",
            "min_installment": "PORTAL_PLAN_MIN_INSTALLMENT",
        }.get(exc.field, PLAN_TIERS)
        problems.append(f"{setting}: {exc.message}")
        return PlanPolicy()


def local_secret_key(folder: Path) -> str:
    """Outside Lambda, a key generated once and kept in var/ so sessions survive restarts."""
    path = folder / "secret_key"
    if path.exists() and len(existing := path.read_text().strip()) >= 32:
        return existing
    folder.mkdir(parents=True, exist_ok=True)
    # Write a whole key to a private temporary file, then link it into place: the key file
    # appears complete or not at all, and of two processes racing, both use the first key.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".secret_key.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            if len(path.read_text().strip()) < 32:  # a damaged key file from before
                os.replace(tmp, path)
                tmp = ""
    finally:
        if tmp:
            os.unlink(tmp)
    return path.read_text().strip()
