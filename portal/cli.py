"""The `portal` command line (also registered on the Flask CLI as `flask portal ...`)."""

import io
import sys
from datetime import date
from pathlib import Path

import click
from flask import Flask, current_app, has_app_context

from portal.bootstrap import build_services, practice_details, site_renderer
from portal.config import DEFAULT_BASE_URL, ConfigError, Settings, served_base_url
from portal.services.context import Services


def _settings(default_base_url: str = DEFAULT_BASE_URL) -> Settings:
    try:
        return Settings.from_env(default_base_url=default_base_url)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"portal: {problem}", err=True)
        sys.exit(2)


def command_services(default_base_url: str = DEFAULT_BASE_URL) -> Services:
    if has_app_context():
        return current_app.extensions["portal"]
    try:
        return build_services(_settings(default_base_url))
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"portal: {problem}", err=True)
        sys.exit(2)


# Days a date option accepts: far enough inside datetime's range that the practice's time zone
# and the reminder schedule's day arithmetic never overflow.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)


class CalendarDay(click.DateTime):
    """A YYYY-MM-DD practice calendar day from FIRST_DAY to LAST_DAY (as click.DateTime gives it:
    a naive datetime at midnight); any other value is a usage error naming the option."""

    def __init__(self) -> None:
        super().__init__(formats=["%Y-%m-%d"])

    def convert(self, value, param, ctx):
        day = super().convert(value, param, ctx)
        if not FIRST_DAY <= day.date() <= LAST_DAY:
            self.fail(
                f"{day.date().isoformat()} is out of range: "
                f"use a date from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}.",
                param,
                ctx,
            )
        return day


@click.group(help="Patient billing portal.")
def cli() -> None:
    pass


@cli.command(
    help="Run the portal locally. Links in pages and e-mails (checkout, receipts) use "
    "PORTAL_BASE_URL when it is set, else this host and port."
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    from portal import create_app

    served = served_base_url(host, port)
    app = current_app if has_app_context() else create_app(services=command_services(served))
    click.echo(f"Patient billing portal on {served}/pay  (Ctrl+C to stop)")
    base_url = app.extensions["portal"].settings.base_url
    if base_url != served:
        click.echo(f"Links in pages and e-mails go to PORTAL_BASE_URL: {base_url}")
    app.run(host=host, port=port, threaded=True, load_dotenv=False)


@cli.command(help="Create or upgrade the store's schema.")
def migrate() -> None:
    version = command_services().store.migrate()
    click.echo(f"Store ready at schema version {version}.")


@cli.command(help="Copy the SQLite store to a new FILE while the portal keeps serving.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup(file: Path) -> None:
    from portal.ports.store import StoreError

    services = command_services()
    try:
        services.store.backup(file)
    except StoreError as exc:
        click.echo(f"portal: {exc}", err=True)
        sys.exit(1)
    click.echo(f"Backed up the store to {file}.")


@cli.command(help="Load demo accounts (idempotent) and print lookup details to try.")
def demo() -> None:
    from portal.services.demo import NotLocal, load_demo

    try:
        summary = load_demo(command_services())
    except NotLocal as exc:
        click.echo(f"portal: {exc}", err=True)
        sys.exit(2)
    click.echo(
        f"Demo data: {summary.accounts} accounts, {summary.imported} statements imported, "
        f"{summary.unchanged} already present, {summary.payments_posted} payments posted."
    )
    click.echo("Try Quick Pay at /pay with any of these:")
    for account_number, last_name, date_of_birth, note in summary.examples:
        click.echo(
            f"  Account number {account_number}  Last name {last_name}  "
            f"Date of birth {date_of_birth}   ({note})"
        )
    click.echo("Billing staff sign in at /staff/login:")
    for username, role, password in summary.staff:
        click.echo(f"  {role}: username {username}  password {password}")
    click.echo("  then the code from `portal staff code USERNAME` (or an authenticator app).")
    _sandbox_payouts_of_demo()


def _sandbox_payouts_of_demo() -> None:
    """`make run` pays out the sandbox's card payments of the days before (as
    `portal payouts sandbox` does), so the payouts page has something to show."""
    from portal.domain.aging import practice_date
    from portal.services.payouts import sandbox_payouts

    services = command_services()
    if services.payments.name == "sandbox":
        today = practice_date(services.clock.now(), services.settings.tz)
        kept = sandbox_payouts(services, today)
        click.echo(f"Sandbox card payouts made now: {len(kept)} (see /staff/reports/payouts).")


@cli.command(
    help="Send the payment reminders due today (each once), then finish unfinished claims"
    " (receipts, notices, gateway events); the last line is the summary."
)
@click.option(
    "--as-of",
    "as_of",
    type=CalendarDay(),
    help="Run as on this practice calendar day (at the morning send hour) instead of now.",
)
@click.option("--dry-run", is_flag=True, help="Decide and count, but claim and send nothing.")
def reminders(as_of, dry_run: bool) -> None:
    from datetime import timedelta

    from portal.domain.aging import practice_midnight
    from portal.services.reminders import run_reminders

    services = command_services()
    if as_of is None:
        at = services.clock.now()
    else:
        hour = services.settings.reminder_send_hour
        at = practice_midnight(as_of.date(), services.settings.tz) + timedelta(hours=hour)

    def progress(due):
        if not sys.stdout.isatty():
            yield from due
            return
        with click.progressbar(due, label="Reminders", show_pos=True) as bar:
            yield from bar

    summary = run_reminders(services, at, dry_run=dry_run, progress=progress)
    if summary.before_send_hour:
        click.echo(
            f"Before {services.settings.reminder_send_hour}:00 practice time: nothing is sent yet."
        )
    elif dry_run:
        click.echo(f"Dry run over {summary.due_accounts} overdue accounts: nothing was sent.")
    if summary.swept or summary.unfinished:
        click.echo(
            f"Unfinished claims: {summary.swept} {'to sweep' if dry_run else 'swept'},"
            f" {summary.unfinished} left for the next run."
        )
    click.echo(summary.line)


@cli.command(
    "import", help="Import statements from a .json or .csv file; exit 1 if any is rejected."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every statement, store nothing.")
def import_(file: Path, dry_run: bool) -> None:
    from portal.services.imports import (
        ImportFileError,
        import_records,
        iter_csv,
        parse_json,
        utf8_problem,
    )

    kind = file.suffix.lower()
    if kind not in (".json", ".csv"):
        click.echo(f"portal: {file}: give a .json or .csv file.", err=True)
        sys.exit(2)
    services = command_services()
    tty = sys.stdout.isatty()
    try:
        if kind == ".json":
            records = parse_json(file.read_bytes())

            def progress(items):
                if not tty:
                    yield from items
                    return
                with click.progressbar(items, label="Statements", show_pos=True) as bar:
                    yield from bar

            summary = import_records(services, records, "cli", dry_run, progress)
        else:
            with file.open("rb") as f:
                problem = utf8_problem(f)  # refuse before importing anything
            if problem:
                raise ImportFileError(problem)
            with (
                file.open("rb") as f,
                click.progressbar(
                    length=file.stat().st_size, label="Importing", file=None if tty else _Null()
                ) as bar,
            ):

                def lines():
                    for raw in f:
                        bar.update(len(raw))
                        yield raw

                summary = import_records(services, iter_csv(lines()), "cli", dry_run)
    except ImportFileError as exc:
        click.echo(f"portal: {file}: {exc}", err=True)
        sys.exit(2)
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{'Dry run: ' if dry_run else ''}{summary.imported} {verb}, "
        f"{summary.unchanged} unchanged, {len(summary.rejected)} rejected."
    )
    for rejection in summary.rejected:
        click.echo(f"Rejected {rejection.statement_id or '(no statement id)'}:")
        for field, message in rejection.errors:
            click.echo(f"  {field}: {message}")
    if summary.rejected:
        sys.exit(1)


class _Null(io.StringIO):
    """Where the progress bar goes when standard output is not a terminal (not a tty)."""

    def write(self, text: str) -> int:
        return len(text)


@cli.command(
    "build-static",
    help="Render the public site (home, how to pay, FAQ, contact, privacy) and copy static/ "
    "into a folder for S3 + CloudFront; links into the portal go to PORTAL_BASE_URL.",
)
@click.option(
    "--out",
    "out_dir",
    default="build/site",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to write.",
)
@click.option(
    "--site-url",
    default="",
    help="The site's own public address (https://www.example.org): the pages then name their "
    "other languages' versions by full address, as search engines want them.",
)
def build_static(out_dir: Path, site_url: str) -> None:
    from portal.services.static_site import build_site

    if has_app_context():
        built = current_app.extensions["portal"]
        settings, practice = built.settings, built.practice
    else:
        settings = _settings()
        practice = practice_details(settings)
    result = build_site(
        settings, out_dir, render=site_renderer().render, practice=practice, site_url=site_url
    )
    click.echo(
        f"Wrote {len(result.pages)} pages and {len(result.assets)} assets to {result.out_dir}/:"
    )
    for path in result.pages:
        click.echo(f"  {path.relative_to(result.out_dir)}")
    click.echo(f"Portal links (Pay my bill) go to {result.base_url}")
    if result.local_base_url:
        click.echo(
            "Warning: PORTAL_BASE_URL is a local address; set it to the portal's public "
            "address before publishing this site.",
            err=True,
        )
    if result.example_contact_details:
        click.echo(
            "Note: the phone, e-mail and addresses are still the examples in "
            "templates/site/_practice.html; set the practice's own before publishing.",
            err=True,
        )


@cli.group(help="Payment plans and autopay.")
def plans() -> None:
    pass


@plans.command(
    "charge",
    help="Charge the plan installments and autopays due today (each try once); the last line"
    " is the summary.",
)
@click.option(
    "--as-of",
    "as_of",
    type=CalendarDay(),
    help="Charge as on this practice calendar day (at noon) instead of now.",
)
@click.option("--dry-run", is_flag=True, help="Count what is due, but claim and charge nothing.")
def plans_charge(as_of, dry_run: bool) -> None:
    from datetime import timedelta

    from portal.domain.aging import practice_midnight
    from portal.services.plan_charges import run_plan_charges

    services = command_services()
    if as_of is None:
        at = services.clock.now()
    else:
        at = practice_midnight(as_of.date(), services.settings.tz) + timedelta(hours=12)
    summary = run_plan_charges(services, at, dry_run=dry_run)
    if dry_run:
        click.echo("Dry run: nothing was charged.")
    click.echo(summary.line)


@cli.group(help="Insurance remittances (X12 835).")
def remittances() -> None:
    pass


@remittances.command(
    "import", help="Import an X12 835 file and post what it pays; exit 1 if it is refused."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and match it; post nothing.")
def remittances_import(file: Path, dry_run: bool) -> None:
    from portal.services.remittances import import_remittance_file

    summary = import_remittance_file(command_services(), file.read_bytes(), "cli", dry_run)
    if dry_run and not summary.refused:
        click.echo("Dry run: nothing was posted.")
    for line in summary.lines():
        click.echo(line)
    if summary.refused:
        sys.exit(1)


@cli.group(help="Card payouts to the practice's bank (issue 21).")
def payouts() -> None:
    pass


@payouts.command(
    "sandbox",
    help="On the sandbox card processor only: pay out each day's card payments (one payout a"
    " day, a simulated fee of 2.9% + 30 cents) and keep them reconciled; running it again"
    " makes nothing new.",
)
@click.option(
    "--as-of", "as_of", type=CalendarDay(), help="Pay out as on this practice calendar day."
)
def payouts_sandbox(as_of) -> None:
    from portal.domain.aging import practice_date
    from portal.services.payouts import NotSandbox, sandbox_payouts

    services = command_services()
    today = as_of.date() if as_of else practice_date(services.clock.now(), services.settings.tz)
    try:
        kept = sandbox_payouts(services, today)
    except NotSandbox as exc:
        click.echo(f"portal: {exc}", err=True)
        sys.exit(2)
    for record in kept:
        click.echo(
            f"{record.payout_id} arrives {record.payout.arrival_date}: "
            f"{len(record.references)} payments, fees {record.report.fees_cents} cents, "
            f"deposit {record.payout.amount_cents} cents"
        )
    click.echo(f"payouts={len(kept)}")


@cli.group(help="Billing staff users.")
def staff() -> None:
    pass


@staff.command("add", help="Create a staff user and print the TOTP set-up URI.")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["associate", "supervisor", "admin"]))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def staff_add(username: str, role: str, password_stdin: bool) -> None:
    from portal.domain.errors import InvalidInput
    from portal.services.staff_auth import add_staff_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        setup = add_staff_user(command_services(), username, role, password)
    except InvalidInput as exc:
        click.echo(f"portal: {exc.field}: {exc.message}", err=True)
        sys.exit(1)
    click.echo(f"Created {setup.user.role} {setup.user.username}.")
    click.echo("Add this to an authenticator app (it is shown only now):")
    click.echo(f"  {setup.provisioning_uri}")


@staff.command("code", help="Print a staff user's current sign-in code (local SQLite only).")
@click.argument("username")
def staff_code(username: str) -> None:
    from portal.services.staff_auth import current_code

    services = command_services()
    if services.settings.store != "sqlite":
        click.echo("portal: staff code is only for the local SQLite store.", err=True)
        sys.exit(1)
    user = services.store.get_staff_user(username.strip().lower())
    if user is None:
        click.echo(f"portal: no staff user {username!r}.", err=True)
        sys.exit(1)
    click.echo(current_code(user, services))


def register(app: Flask) -> None:
    """Make the same commands available as `flask --app portal.wsgi portal ...`."""
    app.cli.add_command(cli, name="portal")


def main() -> None:
    cli(prog_name="portal")


@cli.group("api-keys", help="Keys for the JSON API.")
def api_keys() -> None:
    pass


@api_keys.command("create", help="Create an API key and print it (shown only now).")
@click.argument("name")
def api_keys_create(name: str) -> None:
    from portal.domain.errors import InvalidInput
    from portal.services.api_keys import create_api_key

    try:
        created = create_api_key(command_services(), name, actor="cli")
    except InvalidInput as exc:
        click.echo(f"portal: {exc.field}: {exc.message}", err=True)
        sys.exit(1)
    click.echo(f"Created API key {created.record.name}. It is shown only now; keep it safe:")
    click.echo(created.key)


@api_keys.command("list", help="List the API keys (names and last four characters).")
def api_keys_list() -> None:
    for key in command_services().store.api_keys():
        state = "active" if key.revoked_at is None else f"revoked {key.revoked_at.isoformat()}"
        click.echo(f"{key.name}\tpbp_...{key.last_four}\t{key.created_at.isoformat()}\t{state}")


@api_keys.command("revoke", help="Revoke an API key at once.")
@click.argument("name")
def api_keys_revoke(name: str) -> None:
    from portal.services.api_keys import revoke_api_key

    if not revoke_api_key(command_services(), name, actor="cli"):
        click.echo(f"portal: no active API key {name!r}.", err=True)
        sys.exit(1)
    click.echo(f"Revoked API key {name}.")


@cli.group("webhooks", help="Money events POSTed to the practice system.")
def webhooks() -> None:
    pass


@webhooks.command("deliver", help="POST the money events due (as the scheduled function does).")
def webhooks_deliver() -> None:
    from portal.services.outbound_webhooks import deliver_webhooks

    services = command_services()
    if services.webhooks is None:
        click.echo("portal: PORTAL_OUTBOUND_WEBHOOK_URL is not set; nothing to deliver.", err=True)
        sys.exit(1)
    run = deliver_webhooks(services)
    click.echo(run.summary_line())
