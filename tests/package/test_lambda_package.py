"""The Lambda zip exactly as `make package` builds it with Zappa (then
tools/finish_lambda_zip.py).

It is small, carries neither test tools nor the boto3 that Lambda's Python already has,
ships every runtime dependency but the parts the portal never loads, holds bytecode for
the runtime's Python instead of sources (Lambda cannot write .pyc files, so sources would
be compiled on every cold start), and works when Lambda's Python runs it: Zappa's
handler.py at the zip root serves the Quick Pay page through an API Gateway event,
routes the scheduled reminder event to functions.reminders.handler and an SNS delivery of an
SES event (from the topic zappa_settings.json names) to functions.ses_feedback.handler,
importing no module from source; statements with non-ASCII names still render as PDFs.

The child process imitates the python3.11 runtime: the unzipped folder is the task root
(the working directory and first on sys.path), then a folder holding only what that
runtime provides (boto3, botocore and their dependencies); `-S` keeps the test
environment's own site-packages out of sight.
"""

import csv
import email.parser
import fnmatch
import hashlib
import importlib
import importlib.util
import io
import json
import marshal
import os
import shutil
import subprocess
import sys
import tomllib
import uuid
import zipfile
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from portal.ports.reminders import DueAccount
from portal.services.fanout import PLAN_CHARGES, REMINDERS, WEBHOOKS, Batch

ROOT = Path(__file__).resolve().parents[2]
STAGE = "dev"
MAX_ZIP_BYTES = 7_000_000

# What the AWS Lambda python3.11 runtime provides (top-level modules and distributions).
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
# Left out of the zip on purpose: fpdf2 needs Pillow only to place images, and statements
# have none (Pillow and its libraries are 7 MB of the 15 MB budget).
LEFT_OUT = {"pillow"}
RUNTIME_DISTRIBUTIONS = {
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "urllib3",
    "six",
}
# Never in the zip: Lambda's own SDK, the test tools, Zappa's build-time dependencies.
NOT_SHIPPED = (
    "boto3",
    "botocore",
    "s3transfer",
    "pytest",
    "moto",
    "playwright",
    "hypothesis",
    "ruff",
    "cfn_lint",
    "troposphere",
    "pip",
    "setuptools",
    "wheel",
    "yaml",
)
LOCALE_DATA = "babel/locale-data/"
SECRETS = ("PORTAL_SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")
# Shipped by dependencies, never loaded by the portal (tools/finish_lambda_zip.py): Stripe's
# typed dicts, API v2 events and unused products' services, fontTools beyond subsetting,
# compiled twins of pure-Python modules, C sources, Zappa's deploy-time command line,
# Babel's catalog tools and pytz's time zone files (the portal's times use zoneinfo).
NEVER_LOADED = (
    "stripe/params/",
    "stripe/events/",
    "stripe/issuing/",
    "stripe/treasury/",
    "stripe/_customer_service.py",
    "fontTools/ufoLib/",
    "fontTools/feaLib/parser.py",
    "fontTools/varLib/interpolatable.py",
    "fontTools/misc/bezierTools.cpython-",
    "fontTools/misc/bezierTools.c",
    "charset_normalizer/md.cpython-",
    "zappa/cli.py",
    "zappa/core.py",
    "babel/messages/",
    "babel/units.py",
    "pytz/zoneinfo/",
)
# PEP 552 flags: hash-based and not checked against a source (there is none).
UNCHECKED_HASH_PYC = 0b01


def stage_settings(stage: str = STAGE) -> dict:
    """A stage of zappa_settings.json with its `extends` applied, as Zappa reads it."""
    settings = json.loads((ROOT / "zappa_settings.json").read_text())
    stage_config = dict(settings[stage])
    if "extends" in stage_config:
        return {**stage_settings(stage_config.pop("extends")), **stage_config}
    return stage_config


@pytest.fixture(scope="session")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make package` into a temporary folder (the deployment-only venv, then Zappa)."""
    make = shutil.which("make")
    assert make, "make is needed to build the Lambda package"
    output = tmp_path_factory.mktemp("lambda") / "lambda.zip"
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "VIRTUAL_ENV")
    }
    result = subprocess.run(
        [make, "--no-print-directory", "package", f"STAGE={STAGE}", f"LAMBDA_ZIP={output}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"make package failed:\n{result.stdout}\n{result.stderr}"
    assert output.is_file(), f"make package wrote no {output}:\n{result.stdout}"
    return output


@pytest.fixture(scope="session")
def zip_names(lambda_zip: Path) -> set[str]:
    with zipfile.ZipFile(lambda_zip) as archive:
        return set(archive.namelist())


@pytest.fixture(scope="session")
def task_root(lambda_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip unpacked, as Lambda unpacks it into /var/task."""
    folder = tmp_path_factory.mktemp("task")
    with zipfile.ZipFile(lambda_zip) as archive:
        archive.extractall(folder)
    return folder


@pytest.fixture(scope="session")
def lambda_runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with only what Lambda's Python provides, linked from this environment."""
    folder = tmp_path_factory.mktemp("runtime")
    for name in RUNTIME_MODULES:
        module = importlib.import_module(name)
        source = Path(module.__file__)
        source = source.parent if source.name == "__init__.py" else source
        (folder / source.name).symlink_to(source)
    return folder


def test_zip_is_small(lambda_zip: Path, record_property) -> None:
    size = lambda_zip.stat().st_size
    record_property("lambda_zip_bytes", size)  # reported at the end of the run (conftest.py)
    print(f"lambda zip: {size / 1e6:.1f} MB")
    assert size <= MAX_ZIP_BYTES, f"lambda zip is {size / 1e6:.1f} MB, over 7 MB"


def test_zip_holds_the_project_and_the_handler(zip_names: set[str]) -> None:
    for name in (
        "handler.pyc",
        "zappa_settings.pyc",
        "portal/wsgi.pyc",
        "portal/bootstrap.pyc",
        "functions/reminders.pyc",
        "templates/base.html",
        "templates/patient/lookup.html",
        "static/portal.css",
        "static/fonts/DejaVuSans.ttf",
        "flask/__init__.pyc",
        "zappa/handler.pyc",
        "stripe/checkout/_session_service.pyc",
        "fontTools/subset/__init__.pyc",
    ):
        assert name in zip_names, f"{name} is missing from the Lambda zip"


def test_zip_leaves_out_tools_lambda_runtime_and_local_files(zip_names: set[str]) -> None:
    tops = {name.split("/", 1)[0] for name in zip_names}
    modules = {top.removesuffix(".py") for top in tops if not top.endswith(".dist-info")}
    distributions = {
        canonicalize_name(top.removesuffix(".dist-info").rpartition("-")[0])
        for top in tops
        if top.endswith(".dist-info")
    }
    for name in NOT_SHIPPED:
        assert name not in modules, f"{name} is in the Lambda zip"
        assert canonicalize_name(name) not in distributions, f"{name}'s metadata is in the zip"
    local = {"tests", "bench", "var", "infra", "build", "docs", "node_modules", ".git", ".ci"}
    assert not tops & local, f"local folders in the zip: {sorted(tops & local)}"
    assert not [top for top in tops if top.startswith(".venv")]
    leftovers = [n for n in zip_names if n.endswith((".sqlite3", ".eml", ".zip"))]
    assert not leftovers, f"files that do not belong in the zip: {leftovers[:10]}"
    shipped = sorted(n for n in zip_names if n.startswith(NEVER_LOADED))
    assert not shipped, f"parts of dependencies the portal never loads: {shipped[:10]}"


def test_zip_holds_bytecode_for_the_runtime_python_instead_of_sources(lambda_zip: Path) -> None:
    """Every module is a .pyc that the runtime's Python loads as it is: its magic number,
    and unchecked-hash (no source, no timestamp to compare), so nothing is compiled."""
    runtime = stage_settings()["runtime"]
    assert f"python{sys.version_info[0]}.{sys.version_info[1]}" == runtime, (
        f"these checks need the runtime's Python ({runtime}), not {sys.version}"
    )
    with zipfile.ZipFile(lambda_zip) as archive:
        names = archive.namelist()
        sources = [n for n in names if n.endswith(".py") and ".dist-info/" not in n]
        assert not sources, f"sources in the zip (compiled on every cold start): {sources[:10]}"
        compiled = [n for n in names if n.endswith(".pyc")]
        assert len(compiled) > 500
        for name in compiled:
            header = archive.read(name)[:16]
            assert header[:4] == importlib.util.MAGIC_NUMBER, f"{name}: not {runtime} bytecode"
            flags = int.from_bytes(header[4:8], "little")
            assert flags == UNCHECKED_HASH_PYC, f"{name}: flags {flags:#b}, not unchecked-hash"
        # The code @dataclass would compile at every cold start (portal/dataclass_code.py).
        dataclass_code = archive.read("portal/dataclass_code.marshal")
        assert dataclass_code[:4] == importlib.util.MAGIC_NUMBER
        assert len(marshal.loads(dataclass_code[4:])) > 500


def locale_data_left_out(path: str) -> bool:
    """Babel's data of a language the portal does not ship, left out by exclude_glob."""
    patterns = [p for p in stage_settings()["exclude_glob"] if p.startswith(LOCALE_DATA)]
    return path.startswith(LOCALE_DATA) and any(fnmatch.fnmatch(path, p) for p in patterns)


def deploy_site_packages() -> Path:
    """Where `make package` installed what the zip carries (the deployment-only venv)."""
    [found] = (ROOT / ".venv-deploy" / "lib").glob("python3.*/site-packages")
    return found


def test_every_runtime_dependency_is_packaged_whole(lambda_zip: Path, zip_names) -> None:
    """Each dependency of the project (but Lambda's own) with every file its RECORD lists
    (a module as its .pyc), but the parts tools/finish_lambda_zip.py leaves out on purpose
    and the locale data of languages not shipped, so no `exclude` pattern of
    zappa_settings.json cut into one."""
    from tools.finish_lambda_zip import left_out

    shipped = {
        canonicalize_name(top.removesuffix(".dist-info").rpartition("-")[0]): top
        for top in {name.split("/", 1)[0] for name in zip_names}
        if top.endswith(".dist-info")
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(text) for text in project["dependencies"]]
    seen: set[str] = set()
    missing: list[str] = []
    with zipfile.ZipFile(lambda_zip) as archive:
        while todo:
            requirement = todo.pop()
            name = canonicalize_name(requirement.name)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            if name in seen or name in RUNTIME_DISTRIBUTIONS or name in LEFT_OUT:
                continue
            seen.add(name)
            if name not in shipped:
                missing.append(f"{name} (not packaged)")
                continue
            info = shipped[name]
            metadata = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
            todo += [Requirement(text) for text in metadata.get_all("Requires-Dist") or []]
            # The zip leaves RECORD out (nothing reads it at run time): the deploy venv's.
            installed = deploy_site_packages() / info / "RECORD"
            record = [*csv.reader(io.StringIO(installed.read_text(encoding="utf-8")))]
            modules = {row[0] for row in record if row[0].endswith(".py")}
            for row in record:
                path = row[0]
                if path.startswith("../") or "__pycache__" in path or path.endswith(".pyc"):
                    continue
                if left_out(path, modules) or locale_data_left_out(path):
                    continue
                if path not in zip_names and f"{path}c" not in zip_names:
                    missing.append(path)
    assert {"flask", "jinja2", "werkzeug", "tzdata", "fpdf2"} <= seen
    assert not missing, f"missing from the Lambda zip: {missing[:20]}"
    assert not {n for n in zip_names if n.startswith(("PIL/", "pillow"))}


LOCALE_DATA_CHILD = r"""
import json, sys
from datetime import date, time

import babel.localedata
from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_currency

loaded = set()
load = babel.localedata.load


def recording(name, merge_inherited=True):
    loaded.add(name)
    return load(name, merge_inherited)


babel.localedata.load = recording
for language in sys.argv[1:]:
    for name in (language, f"{language}_US"):
        locale = Locale.parse(name)
        format_currency(123456, "USD", locale=locale)
        format_date(date(2026, 11, 30), "medium", locale=locale)
        format_time(time(15, 4), "h:mm a", locale=locale)
        assert locale.plural_form(2) and locale.get_display_name(locale)
print(json.dumps(sorted(loaded)))
"""


def locale_data_used(languages: tuple[str, ...]) -> set[str]:
    """The files of Babel's locale data the pages of `languages` read: each language and its
    US variant (money and dates), with the locales they inherit from. Found in a fresh
    interpreter: in this one Babel may hold locales loaded by other tests."""
    run = subprocess.run(
        [sys.executable, "-c", LOCALE_DATA_CHILD, *languages],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return {f"{LOCALE_DATA}{name}.dat" for name in json.loads(run.stdout)}


def test_zip_ships_only_the_locale_data_of_the_languages_it_serves(zip_names) -> None:
    """Babel carries about 32 MB of locale data for every language: the zip keeps only what
    the stage's languages read (PORTAL_LANGUAGES; zappa_settings.json's exclude_glob)."""
    environment = stage_settings()["aws_environment_variables"]
    languages = tuple(environment.get("PORTAL_LANGUAGES", "en,es").split(","))
    shipped = {n for n in zip_names if n.startswith(LOCALE_DATA)}

    assert shipped == locale_data_used(languages)
    assert shipped >= {f"{LOCALE_DATA}{name}.dat" for name in ("root", "en", "es", "es_US")}


def test_zip_ships_the_compiled_catalogs(zip_names) -> None:
    """The Spanish catalog compiled by `make package` (make translations), not its source."""
    assert "translations/es/LC_MESSAGES/messages.mo" in zip_names
    assert not {n for n in zip_names if n.startswith("translations/") and ".mo" not in n}


def test_settings_keep_secrets_out_of_the_zip(task_root: Path) -> None:
    for stage in ("dev", "prod"):
        settings = stage_settings(stage)
        assert settings["app_function"] == "portal.wsgi.app"
        assert settings["runtime"] == "python3.11"
        assert settings["remote_env"].startswith("s3://")
        for key in ("environment_variables", "aws_environment_variables"):
            assert not set(settings.get(key, {})) & set(SECRETS), f"a secret in {stage} {key}"
    generated = (task_root / "zappa_settings.pyc").read_bytes()
    assert b"remote_env" in generated.lower() or b"REMOTE_ENV" in generated
    for secret in SECRETS:
        assert secret.encode() not in generated


# ---------------------------------------------------------------- running the zip

CHILD = r"""
import importlib.machinery, json, os, sys, sysconfig, types

# Every module compiled from source in this process (none should be, from the task root).
compiled = []
_source_to_code = importlib.machinery.SourceFileLoader.source_to_code


def source_to_code(self, data, path, *args, **kwargs):
    compiled.append(path)
    return _source_to_code(self, data, path, *args, **kwargs)


importlib.machinery.SourceFileLoader.source_to_code = source_to_code

# Every method text @dataclass compiled (the zip's portal/dataclass_code.marshal has them).
import builtins

dataclass_texts = []
_compile = builtins.compile


def counting_compile(source, filename, *args, **kwargs):
    if filename == "<string>" and isinstance(source, str) and "__create_fn__" in source:
        dataclass_texts.append(source.splitlines()[1].strip())
    return _compile(source, filename, *args, **kwargs)


builtins.compile = counting_compile

task_root, runtime, events_file, result_file = sys.argv[1:5]
sys.path[:0] = [task_root, runtime]  # /var/task first, then the runtime's packages

import handler  # Zappa's handler.py at the zip root, as Lambda's "handler.lambda_handler"

function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
context = types.SimpleNamespace(
    function_name=function_name,
    function_version="$LATEST",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:" + function_name,
    memory_limit_in_mb=512,
    aws_request_id="00000000-0000-4000-8000-000000000000",
    log_group_name="/aws/lambda/" + function_name,
    log_stream_name="test",
    get_remaining_time_in_millis=lambda: 30_000,
)
with open(events_file) as handle:
    events = json.load(handle)
results = [handler.lambda_handler(event, context) for event in events]

stdlib = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
origins = {}
loaders = {}
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if path and path.startswith(task_root + os.sep):
        loaders[name] = type(module.__spec__.loader).__name__
    if not path or "." in name:
        continue
    if path.startswith(task_root + os.sep):
        origins[name] = "task"
    elif path.startswith(runtime + os.sep):
        origins[name] = "runtime"
    elif any(path.startswith(folder + os.sep) for folder in stdlib):
        origins[name] = "stdlib"
    else:
        origins[name] = path
with open(result_file, "w") as handle:
    outcome = {
        "results": results,
        "origins": origins,
        "loaders": loaders,
        "compiled": compiled,
        "dont_write_bytecode": sys.dont_write_bytecode,
        "dataclass_exec": getattr(vars(sys.modules["dataclasses"]).get("exec"), "__name__", ""),
        "dataclass_texts": dataclass_texts,
    }
    json.dump(outcome, handle, default=str)
"""


def api_gateway_event(
    path: str, api_id: str = "abc123defg", language: str = "en-US,en;q=0.9"
) -> dict:
    """A REST API (v1) proxy event as API Gateway sends it to the Zappa function."""
    host = f"{api_id}.execute-api.us-east-1.amazonaws.com"
    headers = {
        "Accept": "text/html,application/xhtml+xml",
        "Accept-Language": language,
        "Host": host,
        "User-Agent": "Mozilla/5.0 (package test)",
        "X-Forwarded-For": "203.0.113.7, 130.176.0.1",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": "GET",
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "accountId": "123456789012",
            "apiId": api_id,
            "requestId": str(uuid.uuid4()),
            "domainName": host,
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": headers["User-Agent"]},
            "requestTimeEpoch": 1795850000000,
        },
        "body": None,
        "isBase64Encoded": False,
    }


def scheduled_event(function: str) -> dict:
    """The event of a Zappa `events` rule, shaped by the InputTransformer Zappa sets.

    Zappa names the rule "<project>-<stage>-<function>" and its handler takes the
    function from the text after the rule name's last "-"."""
    settings = stage_settings()
    rule = f"{settings['project_name']}-{STAGE}-{function}"
    assert len(rule) < 64, "Zappa would shorten this rule name"
    return {
        "time": "2026-11-30T14:00:00Z",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "region": "us-east-1",
        "detail": {},
        "version": "0",
        "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{rule}"],
        "id": str(uuid.uuid4()),
        "kwargs": {},
    }


def practice_today() -> date:
    """The practice's day now (the packaged function runs on the real clock)."""
    zone = ZoneInfo(stage_settings()["aws_environment_variables"]["PORTAL_TIMEZONE"])
    return datetime.now(zone).date()


def sqs_event(function: str, body: str) -> dict:
    """One message of the queue of the stage's `event_source` for `function`, as Lambda's
    SQS event source hands it over (Zappa routes it by its eventSourceARN)."""
    [arn] = [
        e["event_source"]["arn"] for e in stage_settings()["events"] if e["function"] == function
    ]
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "AQEB-package-test",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795850000000"},
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-1",
            }
        ]
    }


def ses_feedback_event() -> dict:
    """An SNS delivery of one SES Bounce event from the stage's SES events topic (the
    `event_source` arn of functions.ses_feedback.handler in zappa_settings.json: Zappa's
    handler routes a record by its TopicArn)."""
    from tests.ses_events import bounce, sns_record

    [topic] = [
        e["event_source"]["arn"]
        for e in stage_settings()["events"]
        if e["function"] == "functions.ses_feedback.handler"
    ]
    record = sns_record(bounce("gone@example.net", "100234"))
    record["Sns"]["TopicArn"] = topic
    record["EventSubscriptionArn"] = f"{topic}:{uuid.uuid4()}"
    return {"Records": [record]}


def put_remote_env(endpoint: str, url: str, values: dict[str, str]) -> None:
    """Store the secrets where the stage's `remote_env` points (moto's S3)."""
    import boto3

    bucket, _, key = url.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(values).encode())


def migrate(table: str, tmp_path: Path) -> None:
    """What `portal migrate` does, against the same table (moto's DynamoDB)."""
    from portal.bootstrap import build_services
    from portal.config import Settings

    settings = Settings.from_env(
        {
            "PORTAL_STORE": "dynamodb",
            "PORTAL_DYNAMODB_TABLE": table,
            "PORTAL_SECRET_KEY": "migrate-" + "k" * 32,
            "PORTAL_SQLITE_PATH": str(tmp_path / "unused.sqlite3"),
            "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
        }
    )
    build_services(settings).store.migrate()


def test_packaged_handler_serves_pages_and_runs_reminders(
    task_root: Path, lambda_runtime: Path, moto_endpoint: str, tmp_path: Path
) -> None:
    from tests.aws import aws_environment

    settings = stage_settings()
    table = f"lambda-package-{uuid.uuid4().hex[:8]}"
    migrate(table, tmp_path)
    put_remote_env(
        moto_endpoint,
        settings["remote_env"],
        {
            "PORTAL_SECRET_KEY": "package-test-" + "s" * 40,
            "STRIPE_SECRET_KEY": "sk_test_package",
            "STRIPE_WEBHOOK_SECRET": "whsec_package",
        },
    )
    function_name = f"{settings['project_name']}-{STAGE}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "PYTHONTZPATH": "",  # time zones from the zip's tzdata, not this machine's
        # What Lambda sets, then the stage's aws_environment_variables (the function's
        # configuration), the test table, and boto3 pointed at moto.
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(settings.get("memory_size", 512)),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{settings['runtime']}",
        "LAMBDA_TASK_ROOT": str(task_root),
        **settings.get("aws_environment_variables", {}),
        "PORTAL_DYNAMODB_TABLE": table,
        **aws_environment(moto_endpoint),
        "AWS_ENDPOINT_URL_S3": moto_endpoint,
    }
    events = [
        api_gateway_event("/pay"),
        api_gateway_event("/healthz"),
        scheduled_event("functions.reminders.handler"),
        # A batch for an account the table does not hold: read, run, skipped.
        sqs_event(
            "functions.workers.handler",
            Batch(
                REMINDERS, practice_today(), (DueAccount("999999", "S-9", date(2026, 10, 1), 500),)
            ).body(),
        ),
        ses_feedback_event(),
        ses_feedback_event(),  # another SNS message: another bounce of the same address
        api_gateway_event("/pay", language="es-MX,es;q=0.9"),
        # A plan charge batch naming a plan the table does not hold: read, skipped.
        sqs_event(
            "functions.workers.handler",
            Batch(PLAN_CHARGES, practice_today(), plan_ids=("plan_not_here",)).body(),
        ),
        # A webhooks batch naming a delivery the table does not hold: read, skipped.
        sqs_event(
            "functions.workers.handler",
            Batch(WEBHOOKS, practice_today(), event_ids=("ev_not_here",)).body(),
        ),
    ]
    events_file = tmp_path / "events.json"
    events_file.write_text(json.dumps(events))
    result_file = tmp_path / "result.json"
    run = subprocess.run(
        [
            sys.executable,  # the runtime's Python (test_zip_holds_bytecode_... checks)
            "-S",
            "-B",  # /var/task is read-only: no .pyc can be written there
            "-X",
            "importtime",
            "-c",
            CHILD,
            str(task_root),
            str(lambda_runtime),
            str(events_file),
            str(result_file),
        ],
        cwd=task_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, f"the packaged handler failed:\n{run.stdout}\n{run.stderr}"
    outcome = json.loads(result_file.read_text())
    pay, health, reminders, worker, feedback, again, spanish, plans, hooks = outcome["results"]

    assert pay["statusCode"] == 200, pay
    assert 'name="account_number"' in pay["body"]
    assert settings["aws_environment_variables"]["PORTAL_PRACTICE_NAME"] in pay["body"]

    assert spanish["statusCode"] == 200, spanish
    assert '<html lang="es">' in spanish["body"]
    assert "Pague su factura" in spanish["body"]  # the compiled catalog, read in the zip

    assert health["statusCode"] == 200, health
    assert json.loads(health["body"]) == {"status": "ok"}

    assert set(reminders) == {"sent", "skipped", "failed", "escalated"}, reminders
    assert all(type(count) is int for count in reminders.values()), reminders
    assert worker == {"batchItemFailures": []}, worker
    assert plans == {"batchItemFailures": []}, plans
    lines = [json.loads(t) for t in run.stdout.splitlines() if t.startswith('{"')]
    [plan_line] = [line for line in lines if line.get("job") == "plans-batch"]
    assert (plan_line["size"], plan_line["skipped"], plan_line["charged"]) == (1, 1, 0)
    assert hooks == {"batchItemFailures": []}, hooks
    [hooks_line] = [line for line in lines if line.get("job") == "webhooks-batch"]
    assert (hooks_line["size"], hooks_line["skipped"], hooks_line["delivered"]) == (1, 1, 0)
    assert any(line.get("route") == "/pay" and line["status"] == 200 for line in lines)

    assert feedback == {"applied": 1, "repeated": 0, "ignored": 0, "undeliverable": 1}, feedback
    assert again == {"applied": 1, "repeated": 0, "ignored": 0, "undeliverable": 1}, again

    origins = outcome["origins"]
    for name in ("handler", "zappa", "flask", "jinja2", "werkzeug", "portal", "functions"):
        assert origins.get(name) == "task", f"{name} came from {origins.get(name)}"
    from_runtime = {name for name, origin in origins.items() if origin == "runtime"}
    assert from_runtime <= set(RUNTIME_MODULES), from_runtime
    elsewhere = {
        name: origin
        for name, origin in origins.items()
        if origin not in ("task", "runtime", "stdlib")
    }
    assert not elsewhere, f"modules from outside the zip and the runtime: {elsewhere}"

    # Every module of the zip came from its .pyc; none was compiled from source.
    assert outcome["dont_write_bytecode"] is True
    from_task = [path for path in outcome["compiled"] if path.startswith(str(task_root))]
    assert not from_task, f"compiled from source at a cold start: {from_task[:10]}"
    # Nor the methods @dataclass writes: their code came compiled in the zip.
    assert outcome["dataclass_exec"] == "exec_known_text"
    assert not outcome["dataclass_texts"], outcome["dataclass_texts"][:5]
    loaders = outcome["loaders"]
    assert {
        "handler",
        "portal.wsgi",
        "flask.app",
        "functions.reminders",
        "functions.workers",
        "functions.ses_feedback",
    } <= set(loaders)
    not_bytecode = {
        name: loader
        for name, loader in loaders.items()
        if loader not in ("SourcelessFileLoader", "ExtensionFileLoader")
    }
    assert not not_bytecode, f"modules not loaded from bytecode: {not_bytecode}"
    imported = [line for line in run.stderr.splitlines() if line.startswith("import time:")]
    assert len(imported) > len(loaders), "python -X importtime reported no imports"


PDF_CHILD = r"""
import sys

task_root, output = sys.argv[1:3]
sys.path[:0] = [task_root]
from portal.services.statement_pdf import FONT, _StatementPdf

pdf = _StatementPdf("Statement S-2026-000124")
pdf.add_page()
for style in ("", "B"):
    pdf.set_font(FONT, style, 11)
    for text in sys.argv[3:]:
        pdf.multi_cell(0, 14, text, new_x="LMARGIN", new_y="NEXT")
with open(output, "wb") as handle:
    handle.write(bytes(pdf.output()))
"""


def test_packaged_fonttools_still_embeds_non_ascii_names(task_root: Path, tmp_path: Path) -> None:
    """The statement fonts subset with the fontTools that is left in the zip, and the
    names read back from the PDF as text."""
    from pypdf import PdfReader

    names = ["José Núñez-Lopez", "Zoë Ødegård-Łukasiewicz", "Ελένη Παπαδοπούλου", "Дмитрий Иванов"]
    output = tmp_path / "statement.pdf"
    run = subprocess.run(
        [sys.executable, "-S", "-B", "-c", PDF_CHILD, str(task_root), str(output), *names],
        cwd=task_root,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"rendering from the zip failed:\n{run.stderr}"
    reader = PdfReader(io.BytesIO(output.read_bytes()))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    for name in names:
        assert text.count(name) == 2, f"{name!r} not read back twice from {text!r}"
    fonts = [font for page in reader.pages for font in page["/Resources"]["/Font"].values()]
    assert len(fonts) == 2


def test_metadata_keeps_its_headers_without_the_long_description(lambda_zip: Path) -> None:
    """Each METADATA is cut to its headers (the README after them is never read at run
    time), and the headers still name the distribution, its version and requirements."""
    with zipfile.ZipFile(lambda_zip) as archive:
        found = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        assert len(found) > 10
        flask = next(n for n in found if n.startswith("flask-"))
        for name in found:
            text = archive.read(name).decode()
            assert "\n\n" not in text.rstrip("\n"), name
            parsed = email.parser.Parser().parsestr(text)
            assert parsed["Name"] and parsed["Version"], name
        assert "werkzeug" in " ".join(
            email.parser.Parser().parsestr(archive.read(flask).decode()).get_all("Requires-Dist")
        )
