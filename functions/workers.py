"""Fan-out workers: Zappa/Lambda SQS function "functions.workers.handler".

The work queue (infra/portal.yaml) invokes it with up to ten messages, each one batch of
due accounts that `functions.reminders.handler` queued, of plans due that
`functions.plans.handler` queued or of webhook deliveries due that
`functions.webhooks.handler` queued. Each batch runs through the same claims as the
one-process runs (portal/services/fanout.py), so SQS's at-least-once delivery and a worker
killed half way never send a reminder or charge an installment's try twice, and a delivery
is POSTed once unless a worker dies between its POST and its record. The answer
reports partial batch failures (`batchItemFailures`, the event source mapping's
ReportBatchItemFailures): a batch that could not be read, raised, left a send to try again
or a plan whose run raised is delivered again later, and
after the queue's maxReceiveCount it goes to the dead-letter queue, which raises an alarm.
One JSON line per batch goes to the log (portal/services/log_lines.py): the job, the message
id, the batch's size, its counts (or `refused` / `error`), milliseconds and store calls.

When every message of the invocation failed it raises BatchFailed instead of answering:
that retries them all whether or not the event source mapping has ReportBatchItemFailures
(Zappa's own mapping does not: without it an answer, even one listing failures, would
delete the messages).
"""

import time
from collections.abc import Mapping
from typing import Any

from functions.reminders import container_services


class BatchFailed(Exception):
    """Every message of the invocation failed: all are delivered again."""


def handler(event: Mapping[str, Any] | None = None, context: Any = None) -> dict[str, list]:
    from portal.ports import store_calls
    from portal.services.fanout import BadBatch, read_batch, take_batch
    from portal.services.log_lines import elapsed_ms, emit

    services = container_services()
    failures = []
    records = (event or {}).get("Records", [])
    for record in records:
        message_id = record.get("messageId", "")
        started = time.perf_counter()
        store_calls.begin()
        line: dict[str, Any] = {"job": "batch", "message_id": message_id, "size": 0}
        try:
            batch = read_batch(record.get("body", ""))
            line.update(job=f"{batch.job}-batch", size=batch.size)
            taken = take_batch(services, batch, services.clock.now())
        except BadBatch as exc:
            line["refused"] = str(exc)
            failures.append({"itemIdentifier": message_id})
        except Exception as exc:  # the batch is tried again; its claims keep what went out
            line["error"] = type(exc).__name__
            failures.append({"itemIdentifier": message_id})
        else:
            line.update(taken.counts)
            if taken.again:
                failures.append({"itemIdentifier": message_id})
        line["ms"] = elapsed_ms(started)
        line["store_calls"] = store_calls.current()
        emit(line)
    if failures and len(failures) == len(records):
        raise BatchFailed(f"all {len(failures)} batches failed; each is delivered again")
    return {"batchItemFailures": failures}
