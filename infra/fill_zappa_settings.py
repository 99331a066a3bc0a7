"""Write the portal stack's outputs into one stage of zappa_settings.json.

    python infra/fill_zappa_settings.py --stack portal-prod --stage prod \
        [--settings zappa_settings.json] [--region us-east-1]

Sets, in the given stage only: ``role_arn`` (the stack's Lambda role), ``manage_roles``
false, the environment variables ``PORTAL_DYNAMODB_TABLE``,
``PORTAL_SES_CONFIGURATION_SET``, ``PORTAL_STATIC_URL``, ``PORTAL_WORK_QUEUE_URL`` and
``PORTAL_SMS_INBOUND_TOPIC_ARN``; the
work queue as the event source of ``functions.workers.handler`` (one batch per
invocation); and, when the stack has it, the SNS topic of SES's events as the event source
of ``functions.ses_feedback.handler`` (the stage's ``events`` copied from the stage it
extends when it has none of its own). Everything else in the file is kept as it is. A
missing stage or stack output stops it (exit 2) with one line naming it.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# stack output -> where it goes in the stage (top-level key, or environment variable).
SETTING_OUTPUTS = {"role_arn": "LambdaRoleArn"}
ENVIRONMENT_OUTPUTS = {
    "PORTAL_DYNAMODB_TABLE": "TableName",
    "PORTAL_SES_CONFIGURATION_SET": "SesConfigurationSet",
    "PORTAL_STATIC_URL": "SiteUrl",
    "PORTAL_WORK_QUEUE_URL": "WorkQueueUrl",
    "PORTAL_SMS_INBOUND_TOPIC_ARN": "InboundSmsTopicArn",
}
WORKER = "functions.workers.handler"
WORKER_QUEUE_OUTPUT = "WorkQueueArn"
REQUIRED_OUTPUTS = (
    *SETTING_OUTPUTS.values(),
    *ENVIRONMENT_OUTPUTS.values(),
    WORKER_QUEUE_OUTPUT,
)
# function of an `events` entry -> the stack output that is its event source's arn.
EVENT_SOURCE_OUTPUTS = {"functions.ses_feedback.handler": "SesEventsTopicArn"}

OutputsProvider = Callable[[str, str | None], dict[str, str]]


class FillError(Exception):
    """A refusal: the message is one line naming what is missing."""


def apply_outputs(settings: dict, stage: str, outputs: dict[str, str]) -> dict:
    """Return a copy of ``settings`` with ``stage`` filled from the stack ``outputs``."""
    if stage not in settings or not isinstance(settings[stage], dict):
        known = ", ".join(sorted(k for k, v in settings.items() if isinstance(v, dict)))
        raise FillError(f"stage {stage!r} is not in the settings (stages: {known or 'none'})")
    missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
    if missing:
        raise FillError(f"stack output missing: {', '.join(missing)}")

    filled = copy.deepcopy(settings)
    stage_settings = filled[stage]
    for key, output in SETTING_OUTPUTS.items():
        stage_settings[key] = outputs[output]
    stage_settings["manage_roles"] = False
    environment = stage_settings.setdefault("environment_variables", {})
    if not isinstance(environment, dict):
        raise FillError(f"stage {stage!r}: environment_variables is not an object")
    for variable, output in ENVIRONMENT_OUTPUTS.items():
        environment[variable] = outputs[output]
    if "events" not in stage_settings:  # a stage that extends another has its events
        base = filled.get(stage_settings.get("extends", ""), {})
        stage_settings["events"] = copy.deepcopy(base.get("events", []))
    events = stage_settings["events"]
    worker = next((e for e in events if e.get("function") == WORKER), None)
    if worker is None:
        worker = {"function": WORKER}
        events.append(worker)
    # One message (one batch) per invocation: Zappa's event source mapping cannot ask for
    # ReportBatchItemFailures, and the worker raises when its only batch failed.
    worker["event_source"] = {
        "arn": outputs[WORKER_QUEUE_OUTPUT],
        "batch_size": 1,
        "enabled": True,
    }
    _fill_event_sources(filled, stage, outputs)
    return filled


def _fill_event_sources(settings: dict, stage: str, outputs: dict[str, str]) -> None:
    sources = {f: outputs[o] for f, o in EVENT_SOURCE_OUTPUTS.items() if outputs.get(o)}
    if not sources:
        return
    stage_settings = settings[stage]
    events = stage_settings.get("events")
    base = stage_settings.get("extends")
    if events is None and isinstance(settings.get(base), dict):
        events = copy.deepcopy(settings[base].get("events"))
    if not isinstance(events, list):
        return
    for event in events:
        if isinstance(event, dict) and event.get("function") in sources:
            event.setdefault("event_source", {})["arn"] = sources[event["function"]]
    stage_settings["events"] = events


def stack_outputs(stack: str, region: str | None) -> dict[str, str]:
    """The stack's Outputs as {OutputKey: OutputValue} (one ``describe_stacks`` call)."""
    import boto3  # only here: the pure part and the refusals need no AWS SDK
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = boto3.client("cloudformation", region_name=region)
        stacks = client.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        raise FillError(
            f"stack {stack!r}: {error.response['Error'].get('Message', error)}"
        ) from None
    except BotoCoreError as error:
        raise FillError(f"stack {stack!r}: {error}") from None
    if not stacks:
        raise FillError(f"stack {stack!r} not found")
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def write_settings(path: Path, settings: dict) -> None:
    """Replace ``path`` atomically with ``settings`` as JSON (indent 4, trailing newline)."""
    text = json.dumps(settings, indent=4, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fill one stage of zappa_settings.json from the portal stack's outputs."
    )
    parser.add_argument("--stack", required=True, help="CloudFormation stack name")
    parser.add_argument("--stage", required=True, help="Zappa stage to fill (e.g. prod)")
    parser.add_argument(
        "--settings",
        type=Path,
        default=Path("zappa_settings.json"),
        help="the Zappa settings file (default: zappa_settings.json)",
    )
    parser.add_argument(
        "--region", help="AWS region of the stack (default: the stage's aws_region)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, outputs_provider: OutputsProvider | None = None) -> int:
    args = parse_args(argv)
    provider = outputs_provider or stack_outputs
    try:
        try:
            settings = json.loads(args.settings.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FillError(f"settings file not found: {args.settings}") from None
        except json.JSONDecodeError as error:
            raise FillError(f"{args.settings}: not valid JSON ({error})") from None
        if not isinstance(settings, dict):
            raise FillError(f"{args.settings}: expected a JSON object of stages")
        # Refuse an unknown stage before any AWS call.
        apply_outputs(settings, args.stage, dict.fromkeys(REQUIRED_OUTPUTS, "-"))
        region = args.region or settings[args.stage].get("aws_region")
        filled = apply_outputs(settings, args.stage, provider(args.stack, region))
    except FillError as error:
        print(f"fill_zappa_settings: {error}", file=sys.stderr)
        return 2
    write_settings(args.settings, filled)
    print(f"filled stage {args.stage!r} of {args.settings} from stack {args.stack!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
