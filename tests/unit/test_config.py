"""Settings from the environment: defaults, refusals, and the local secret key."""

import stat
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from portal.config import ConfigError, Settings, local_secret_key

SECRET = "a-secret-key-of-32-characters-xx"


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"PORTAL_SQLITE_PATH": str(tmp_path / "var" / "portal.sqlite3"), **values}


def problems(environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def test_defaults_match_the_interface(tmp_path):
    s = Settings.from_env(env(tmp_path))
    assert s.store == "sqlite"
    assert s.sqlite_path == str(tmp_path / "var" / "portal.sqlite3")
    assert s.payments == "sandbox"
    assert s.mail == "outbox"
    assert s.outbox_dir == "var/outbox"
    assert s.mail_from == "billing@localhost"
    assert s.stripe_api_base == "https://api.stripe.com"
    assert s.timezone == "America/New_York"
    assert s.tz == ZoneInfo("America/New_York")
    assert s.practice_name == "Demo Family Practice"
    assert s.base_url == "http://127.0.0.1:5000"
    assert s.smtp_port == 587
    assert s.smtp_starttls is True
    assert s.in_lambda is False
    assert s.secure_cookies is False
    assert len(s.secret_key) >= 16


def test_empty_environment_uses_the_class_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default var/ folder is created here, not in the repo
    s = Settings.from_env({})
    assert s == Settings(secret_key=s.secret_key)
    assert (tmp_path / "var" / "secret_key").read_text() == s.secret_key


def test_values_are_read_trimmed_and_case_insensitive(tmp_path):
    s = Settings.from_env(
        env(
            tmp_path,
            PORTAL_STORE=" SQLite ",
            PORTAL_MAIL="SMTP",
            PORTAL_SMTP_HOST="smtp.example.com",
            PORTAL_SMTP_PORT="2525",
            PORTAL_SMTP_STARTTLS="no",
            PORTAL_BASE_URL="https://pay.example.com/",
            PORTAL_TIMEZONE="America/Chicago",
            PORTAL_PRACTICE_NAME="Lakeside Pediatrics",
            PORTAL_SECRET_KEY=SECRET,
        )
    )
    assert (s.store, s.mail, s.smtp_host, s.smtp_port) == (
        "sqlite",
        "smtp",
        "smtp.example.com",
        2525,
    )
    assert s.smtp_starttls is False
    assert s.base_url == "https://pay.example.com"
    assert s.secure_cookies is True
    assert s.timezone == "America/Chicago"
    assert s.practice_name == "Lakeside Pediatrics"
    assert s.secret_key == SECRET


def test_every_bad_variable_is_one_line_naming_it(tmp_path):
    found = problems(
        env(
            tmp_path,
            PORTAL_STORE="mongo",
            PORTAL_TIMEZONE="Mars/Base",
            PORTAL_SMTP_PORT="abc",
            PORTAL_BASE_URL="ftp://x",
        )
    )
    assert len(found) == 4
    names = ["PORTAL_STORE", "PORTAL_TIMEZONE", "PORTAL_SMTP_PORT", "PORTAL_BASE_URL"]
    for name in names:
        assert sum(line.startswith(f"{name}:") for line in found) == 1, (name, found)
    assert all("\n" not in line for line in found)
    by_name = {line.split(":", 1)[0]: line for line in found}
    assert "'mongo'" in by_name["PORTAL_STORE"]
    assert "'Mars/Base'" in by_name["PORTAL_TIMEZONE"]
    assert "'abc'" in by_name["PORTAL_SMTP_PORT"]
    assert "'ftp://x'" in by_name["PORTAL_BASE_URL"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORTAL_PAYMENTS", "paypal"),
        ("PORTAL_MAIL", "pigeon"),
        ("PORTAL_SMTP_PORT", "0"),
        ("PORTAL_SMTP_PORT", "65536"),
        ("PORTAL_SMTP_PORT", "-1"),
        ("PORTAL_SMTP_STARTTLS", "maybe"),
        ("PORTAL_BASE_URL", "127.0.0.1:5000"),
        ("PORTAL_BASE_URL", "http://"),
        ("STRIPE_API_BASE", "localhost:12111"),
        ("PORTAL_MAIL_FROM", "billing"),
        ("PORTAL_SECRET_KEY", "short"),
        ("PORTAL_TIMEZONE", "../../etc/passwd"),
        ("PORTAL_TIMEZONE", "America/New_York/"),
        ("PORTAL_ASSISTANCE_HOLD_DAYS", "0"),
        ("PORTAL_ASSISTANCE_HOLD_DAYS", "thirty"),
        ("PORTAL_CASE_ANSWER_DAYS", "-5"),
        ("PORTAL_DYNAMODB_SHARDS", "0"),
        ("PORTAL_DYNAMODB_SHARDS", "65"),
        ("PORTAL_DYNAMODB_SHARDS", "eight"),
    ],
)
def test_one_bad_value_one_line(tmp_path, name, value):
    found = problems(env(tmp_path, **{name: value}))
    assert len(found) == 1
    assert found[0].startswith(f"{name}:")


def test_a_time_zone_folder_is_a_config_error(tmp_path):
    # Bug: "America" names a folder of the tz database; ZoneInfo raises IsADirectoryError,
    # which from_env does not catch, so start-up dies with a traceback, not one line.
    found = problems(env(tmp_path, PORTAL_TIMEZONE="America"))
    assert len(found) == 1
    assert found[0].startswith("PORTAL_TIMEZONE:")


def test_a_non_ascii_digit_port_is_a_config_error(tmp_path):
    # Bug: "²".isdigit() is True but int("²") raises ValueError, which escapes from_env.
    found = problems(env(tmp_path, PORTAL_SMTP_PORT="²"))
    assert len(found) == 1
    assert found[0].startswith("PORTAL_SMTP_PORT:")


def test_dynamodb_needs_a_table(tmp_path):
    found = problems(env(tmp_path, PORTAL_STORE="dynamodb"))
    assert len(found) == 1
    assert found[0].startswith("PORTAL_DYNAMODB_TABLE:")
    s = Settings.from_env(
        env(
            tmp_path,
            PORTAL_STORE="dynamodb",
            PORTAL_DYNAMODB_TABLE="portal",
            PORTAL_SECRET_KEY=SECRET,
        )
    )
    assert (s.store, s.dynamodb_table) == ("dynamodb", "portal")


def test_stripe_needs_both_keys(tmp_path):
    found = problems(env(tmp_path, PORTAL_PAYMENTS="stripe"))
    assert len(found) == 2
    assert found[0].startswith("STRIPE_SECRET_KEY:")
    assert found[1].startswith("STRIPE_WEBHOOK_SECRET:")
    found = problems(env(tmp_path, PORTAL_PAYMENTS="stripe", STRIPE_SECRET_KEY="sk_test_1"))
    assert len(found) == 1
    assert found[0].startswith("STRIPE_WEBHOOK_SECRET:")
    s = Settings.from_env(
        env(
            tmp_path,
            PORTAL_PAYMENTS="stripe",
            STRIPE_SECRET_KEY="sk_test_1",
            STRIPE_WEBHOOK_SECRET="whsec_1",
            STRIPE_API_BASE="http://127.0.0.1:12111",
            PORTAL_SECRET_KEY=SECRET,
        )
    )
    assert (s.payments, s.stripe_secret_key, s.stripe_webhook_secret) == (
        "stripe",
        "sk_test_1",
        "whsec_1",
    )
    assert s.stripe_api_base == "http://127.0.0.1:12111"


def test_smtp_needs_a_host(tmp_path):
    found = problems(env(tmp_path, PORTAL_MAIL="smtp"))
    assert len(found) == 1
    assert found[0].startswith("PORTAL_SMTP_HOST:")


LAMBDA_OK = {
    "AWS_LAMBDA_FUNCTION_NAME": "portal",
    "PORTAL_STORE": "dynamodb",
    "PORTAL_DYNAMODB_TABLE": "portal",
    "PORTAL_MAIL": "ses",
    "PORTAL_PAYMENTS": "stripe",
    "STRIPE_SECRET_KEY": "sk_test_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "PORTAL_SECRET_KEY": SECRET,
}


def test_lambda_with_dynamodb_ses_and_a_key_is_fine(tmp_path):
    s = Settings.from_env(env(tmp_path, **LAMBDA_OK))
    assert s.in_lambda is True
    assert s.secret_key == SECRET
    assert not (tmp_path / "var").exists()  # nothing written to disk in Lambda


def test_cookies_are_secure_in_lambda_even_with_an_http_base_url(tmp_path):
    s = Settings.from_env(env(tmp_path, **LAMBDA_OK, PORTAL_BASE_URL="http://pay.example.com"))
    assert s.secure_cookies is True


def test_cookies_are_not_secure_locally_over_http(tmp_path):
    s = Settings.from_env(env(tmp_path, PORTAL_BASE_URL="http://pay.example.com"))
    assert s.secure_cookies is False


def test_lambda_refuses_sqlite(tmp_path):
    found = problems(env(tmp_path, **{**LAMBDA_OK, "PORTAL_STORE": "sqlite"}))
    assert len(found) == 1
    assert found[0].startswith("PORTAL_STORE:")
    assert "Lambda" in found[0]


def test_lambda_refuses_the_outbox(tmp_path):
    found = problems(env(tmp_path, **{**LAMBDA_OK, "PORTAL_MAIL": "outbox"}))
    assert len(found) == 1
    assert found[0].startswith("PORTAL_MAIL:")
    assert "Lambda" in found[0]


def test_lambda_refuses_the_sandbox_gateway(tmp_path):
    found = problems(env(tmp_path, **{**LAMBDA_OK, "PORTAL_PAYMENTS": "sandbox"}))
    assert len(found) == 1
    assert found[0].startswith("PORTAL_PAYMENTS:")
    assert "Lambda" in found[0]


def test_lambda_needs_a_secret_key(tmp_path):
    without_key = {k: v for k, v in LAMBDA_OK.items() if k != "PORTAL_SECRET_KEY"}
    found = problems(env(tmp_path, **without_key))
    assert len(found) == 1
    assert found[0].startswith("PORTAL_SECRET_KEY:")
    assert not (tmp_path / "var").exists()


def test_lambda_with_local_defaults_lists_every_problem(tmp_path):
    found = problems(env(tmp_path, AWS_LAMBDA_FUNCTION_NAME="portal"))
    assert [line.split(":", 1)[0] for line in found] == [
        "PORTAL_STORE",
        "PORTAL_PAYMENTS",
        "PORTAL_MAIL",
        "PORTAL_SECRET_KEY",
    ]


def test_local_secret_key_is_generated_once_and_reused(tmp_path):
    first = Settings.from_env(env(tmp_path))
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.read_text() == first.secret_key
    assert len(first.secret_key) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = Settings.from_env(env(tmp_path))
    assert second.secret_key == first.secret_key
    assert local_secret_key(tmp_path / "var") == first.secret_key


def test_local_secret_keys_differ_between_folders(tmp_path):
    assert local_secret_key(tmp_path / "a") != local_secret_key(tmp_path / "b")


def test_an_explicit_secret_key_writes_no_file(tmp_path):
    s = Settings.from_env(env(tmp_path, PORTAL_SECRET_KEY=SECRET))
    assert s.secret_key == SECRET
    assert not (tmp_path / "var" / "secret_key").exists()


def test_an_empty_secret_key_file_does_not_give_an_empty_key(tmp_path):
    # Bug: local_secret_key creates the file, then writes it. A second process starting at
    # the same moment (or a crash between the two steps) sees an existing empty file and
    # uses "" as the key, so Flask sessions stop working. The key must never be empty.
    folder = tmp_path / "var"
    folder.mkdir()
    (folder / "secret_key").write_text("")
    s = Settings.from_env(env(tmp_path))
    assert len(s.secret_key) >= 16


def test_payment_plans_default_to_the_documented_policy(tmp_path):
    policy = Settings.from_env(env(tmp_path)).plan_policy
    assert (policy.min_balance_cents, policy.min_installment_cents) == (10_000, 2_500)
    assert [(t.below_cents, t.max_months) for t in policy.tiers] == [
        (50_000, 6),
        (200_000, 12),
        (None, 24),
    ]


def test_payment_plan_tiers_are_read_from_dollars_and_months(tmp_path):
    policy = Settings.from_env(
        env(
            tmp_path,
            PORTAL_PLAN_MIN_BALANCE="250",
            PORTAL_PLAN_MIN_INSTALLMENT="50.00",
            PORTAL_PLAN_MAX_MONTHS=" 1000.00:12 , 36 ",
        )
    ).plan_policy
    assert (policy.min_balance_cents, policy.min_installment_cents) == (25_000, 5_000)
    assert [(t.below_cents, t.max_months) for t in policy.tiers] == [(100_000, 12), (None, 36)]
    assert policy.longest(99_999) == 12 and policy.longest(100_000) == 20  # $50 each
    assert policy.longest(500_000) == 36


@pytest.mark.parametrize(
    ("values", "line"),
    [
        ({"PORTAL_PLAN_MAX_MONTHS": "500:6,x"}, "PORTAL_PLAN_MAX_MONTHS: must be tiers like"),
        ({"PORTAL_PLAN_MAX_MONTHS": "500:1,24"}, "PORTAL_PLAN_MAX_MONTHS: must be tiers like"),
        ({"PORTAL_PLAN_MAX_MONTHS": "500.00:6"}, "PORTAL_PLAN_MAX_MONTHS: The last tier"),
        ({"PORTAL_PLAN_MAX_MONTHS": "2000:6,500:12,24"}, "PORTAL_PLAN_MAX_MONTHS: Tiers go"),
        ({"PORTAL_PLAN_MAX_MONTHS": "-5:6,24"}, "PORTAL_PLAN_MAX_MONTHS: The amount cannot"),
        ({"PORTAL_PLAN_MIN_INSTALLMENT": "abc"}, "PORTAL_PLAN_MIN_INSTALLMENT: Enter the amount"),
        ({"PORTAL_PLAN_MIN_BALANCE": "30.00"}, "PORTAL_PLAN_MIN_BALANCE: The smallest balance"),
        (
            {"PORTAL_PLAN_MIN_INSTALLMENT": "0.50", "PORTAL_PLAN_MIN_BALANCE": "1.00"},
            "PORTAL_PLAN_MIN_INSTALLMENT: The smallest installment is at least $1.00.",
        ),
    ],
)
def test_a_payment_plan_policy_that_makes_no_sense_is_one_line_naming_it(tmp_path, values, line):
    (only,) = problems(env(tmp_path, **values))
    assert only.startswith(line), only


def test_the_case_settings_default_and_are_read(tmp_path):
    default = Settings.from_env(env(tmp_path))
    assert (default.assistance_hold_days, default.case_answer_days) == (30, 5)
    read = Settings.from_env(
        env(tmp_path, PORTAL_ASSISTANCE_HOLD_DAYS="45", PORTAL_CASE_ANSWER_DAYS=" 3 ")
    )
    assert (read.assistance_hold_days, read.case_answer_days) == (45, 3)


def test_the_dynamodb_store_is_built_with_the_shard_count(tmp_path):
    from portal.bootstrap import build_services

    assert Settings.from_env(env(tmp_path)).dynamodb_shards == 8
    dynamodb = {"PORTAL_STORE": "dynamodb", "PORTAL_DYNAMODB_TABLE": "t"}
    settings = Settings.from_env(env(tmp_path, **dynamodb, PORTAL_DYNAMODB_SHARDS="3"))
    assert build_services(settings).store.shards == 3


def test_outbound_webhooks_are_off_by_default_and_read_with_their_secret(tmp_path):
    assert Settings.from_env(env(tmp_path)).outbound_webhook_url == ""
    s = Settings.from_env(
        env(
            tmp_path,
            PORTAL_OUTBOUND_WEBHOOK_URL=" https://pms.example.org/portal ",
            PORTAL_OUTBOUND_WEBHOOK_SECRET="whsec-0123456789abcdef",
        )
    )
    assert s.outbound_webhook_url == "https://pms.example.org/portal"
    assert s.outbound_webhook_secret == "whsec-0123456789abcdef"


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"PORTAL_OUTBOUND_WEBHOOK_URL": "https://pms.example.org/"}, "SECRET"),
        (
            {
                "PORTAL_OUTBOUND_WEBHOOK_URL": "https://pms.example.org/",
                "PORTAL_OUTBOUND_WEBHOOK_SECRET": "short",
            },
            "SECRET",
        ),
        (
            {
                "PORTAL_OUTBOUND_WEBHOOK_URL": "ftp://pms.example.org/",
                "PORTAL_OUTBOUND_WEBHOOK_SECRET": "whsec-0123456789abcdef",
            },
            "URL",
        ),
    ],
)
def test_a_bad_outbound_webhook_setting_is_one_line_naming_it(tmp_path, values, named):
    (problem,) = problems(env(tmp_path, **values))
    assert problem.startswith(f"PORTAL_OUTBOUND_WEBHOOK_{named}:")


def test_lambda_posts_webhooks_only_over_https(tmp_path):
    values = {
        **LAMBDA_OK,
        "PORTAL_OUTBOUND_WEBHOOK_URL": "http://pms.example.org/",
        "PORTAL_OUTBOUND_WEBHOOK_SECRET": "whsec-0123456789abcdef",
    }
    (problem,) = problems(env(tmp_path, **values))
    assert problem.startswith("PORTAL_OUTBOUND_WEBHOOK_URL: must be https://")


def test_corrections_keep_the_reminder_stage_unless_told(tmp_path):
    assert Settings.from_env(env(tmp_path)).corrections_restart_reminders is False
    told = env(tmp_path, PORTAL_CORRECTIONS_RESTART_REMINDERS="true")
    assert Settings.from_env(told).corrections_restart_reminders is True
    (problem,) = problems(env(tmp_path, PORTAL_CORRECTIONS_RESTART_REMINDERS="maybe"))
    assert problem.startswith("PORTAL_CORRECTIONS_RESTART_REMINDERS:")
