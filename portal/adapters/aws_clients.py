"""boto3 clients for the senders (SES, SNS): botocore's own retries off, since each sender
retries with its own backoff and knows which errors are permanent, and short timeouts."""

from typing import Any

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 15


def one_try_client(service: str) -> Any:
    """The service's client (region, endpoint and credentials as boto3 reads them, e.g.
    AWS_REGION and AWS_ENDPOINT_URL_<SERVICE>), made when called: boto3 is not imported at a
    cold start."""
    import boto3
    from botocore.config import Config

    return boto3.client(  # type: ignore[call-overload]  # the service name is a variable
        service,
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
        ),
    )
