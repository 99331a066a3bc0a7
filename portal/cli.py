"""The `portal` command line (also registered on the Flask CLI as `flask portal ...`)."""

import sys

import click
from flask import Flask, current_app, has_app_context

from portal.bootstrap import Services, build_services
from portal.config import ConfigError, Settings


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"portal: {problem}", err=True)
        sys.exit(2)


def _services() -> Services:
    if has_app_context():
        return current_app.extensions["portal"]
    try:
        return build_services(_settings())
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"portal: {problem}", err=True)
        sys.exit(2)


@click.group(help="Patient billing portal.")
def cli() -> None:
    pass


@cli.command(help="Run the portal locally.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    from portal import create_app

    app = current_app if has_app_context() else create_app(services=_services())
    click.echo(f"Patient billing portal on http://{host}:{port}/pay  (Ctrl+C to stop)")
    app.run(host=host, port=port, threaded=True, load_dotenv=False)


@cli.command(help="Create or upgrade the store's schema.")
def migrate() -> None:
    version = _services().store.migrate()
    click.echo(f"Store ready at schema version {version}.")


@cli.command(help="Load demo accounts (idempotent) and print lookup details to try.")
def demo() -> None:
    from portal.services.demo import load_demo

    summary = load_demo(_services())
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


def register(app: Flask) -> None:
    """Make the same commands available as `flask --app portal.wsgi portal ...`."""
    app.cli.add_command(cli, name="portal")


def main() -> None:
    cli(prog_name="portal")
