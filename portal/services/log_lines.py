"""The portal's JSON log lines (docs/operations.md, "Log lines"): one per request served and
one per job batch or run, each a JSON object on one line of standard output, which Lambda
sends to CloudWatch Logs as it is and the metric filters of infra/portal.yaml read.

A line carries what its writer gives it: identifiers, routes, counts and times. Never a
name, an address, an amount owed or anything about anyone's health (the privacy scan,
tests/integration/test_privacy_leaks.py, reads them)."""

import json
import sys
import time
from collections.abc import Mapping
from typing import Any


def emit(fields: Mapping[str, Any]) -> None:
    """Write one line: the fields as JSON, keys sorted (one write, so lines never interleave)."""
    sys.stdout.write(json.dumps(fields, sort_keys=True, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def elapsed_ms(started: float) -> int:
    """Milliseconds since `started` (a time.perf_counter() reading)."""
    return round((time.perf_counter() - started) * 1000)
