"""SqsWorkQueue: the work queue on Amazon SQS (`SendMessageBatch`, ten messages a call).

The client is made on the first send, not at construction (no I/O at a cold start). A
message SQS reports as failed in a batch is sent once more in the next call; one failing
twice raises, naming how many were not put.
"""

import threading
from collections.abc import Sequence
from typing import Any

SQS_BATCH = 10  # SendMessageBatch's limit


class WorkQueueError(Exception):
    pass


class SqsWorkQueue:
    def __init__(self, queue_url: str, client: Any = None):
        self.queue_url = queue_url
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3

                    self._client = boto3.client("sqs")
        return self._client

    def send(self, bodies: Sequence[str]) -> None:
        pending = list(enumerate(bodies))
        for _ in range(2):
            failed: list[tuple[int, str]] = []
            for start in range(0, len(pending), SQS_BATCH):
                chunk = pending[start : start + SQS_BATCH]
                answer = self.client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(n), "MessageBody": body} for n, body in chunk],
                )
                failed_ids = {entry["Id"] for entry in answer.get("Failed", [])}
                failed += [(n, body) for n, body in chunk if str(n) in failed_ids]
            if not failed:
                return
            pending = failed
        raise WorkQueueError(f"{len(pending)} of {len(bodies)} batches could not be queued.")
