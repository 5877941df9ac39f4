"""Cloud billable units: their names on the meter, and the size rules that turn a request into units.

A cloud package records what it really did under these names (``meter.record(AWS.DYNAMODB_WRITE_UNITS, 2)``);
the cost model (``fooddelivery.cost``) prices them from the catalog. The rules below are the providers' published
metering rules, shared by the cloud packages (for what they really send) and by the in-memory cloud models (for
the sizes the in-memory adapters saw), so a rule lives in one place.

Sources of the rules:
    - DynamoDB capacity units (1 WRU per 1 KB written, transactional x2; 1 RRU per 4 KB read strongly
      consistent, half that eventually consistent; a read of a missing item still costs the minimum):
      https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
    - SQS: "each 64 KB chunk of a payload is billed as 1 request": https://aws.amazon.com/sqs/pricing/
    - EventBridge: "each 64 KB chunk of a payload is billed as 1 event": https://aws.amazon.com/eventbridge/pricing/
    - SNS: each 64 KB chunk of published data is billed as one request: https://aws.amazon.com/sns/pricing/
    - Kinesis Data Streams: a PUT payload unit is a 25 KB chunk of a record: https://aws.amazon.com/kinesis/data-streams/pricing/
    - Lambda: duration rounded up to the nearest 1 ms, GB-s at the configured memory (MB / 1,024):
      https://aws.amazon.com/lambda/pricing/
    - Pub/Sub: at least 1,000 bytes are billed per publish, push or pull request: https://cloud.google.com/pubsub/pricing
    - Cloud Tasks: each 32 KB chunk of a task is one billable operation: https://cloud.google.com/tasks/docs/pricing
    - CloudWatch Logs: an event's billed size is its message's UTF-8 bytes plus 26 bytes:
      https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal
from typing import Final

__all__ = [
    "AWS",
    "AZURE",
    "GCP",
    "LAMBDA_PLATFORM_LOG_BYTES",
    "chunks",
    "dynamodb_read_units",
    "dynamodb_write_units",
    "lambda_gb_seconds",
    "log_event_bytes",
    "pubsub_billable_bytes",
]

KB: Final[int] = 1024


class AWS:
    """Meter names of AWS billable units (each a count unless it says otherwise)."""

    LAMBDA_REQUESTS: Final = "aws.lambda.requests"
    #: Decimal: billed duration (ms, rounded up per invocation) x memory (GB) / 1,000.
    LAMBDA_GB_SECONDS: Final = "aws.lambda.gb_seconds"
    APIGW_REST_REQUESTS: Final = "aws.apigateway.rest_requests"
    APIGW_HTTP_REQUESTS: Final = "aws.apigateway.http_requests"
    #: Decimal (an eventually consistent read of up to 4 KB is 0.5).
    DYNAMODB_READ_UNITS: Final = "aws.dynamodb.read_request_units"
    DYNAMODB_WRITE_UNITS: Final = "aws.dynamodb.write_request_units"
    EVENTBRIDGE_EVENTS: Final = "aws.eventbridge.events"
    SQS_STANDARD_REQUESTS: Final = "aws.sqs.standard_requests"
    SQS_FIFO_REQUESTS: Final = "aws.sqs.fifo_requests"
    SNS_PUBLISHES: Final = "aws.sns.publishes"
    SNS_DELIVERIES_HTTP: Final = "aws.sns.deliveries_http"
    #: Deliveries to SQS and Lambda subscriptions (no charge per the SNS pricing page; counted for the record).
    SNS_DELIVERIES_AWS: Final = "aws.sns.deliveries_sqs_lambda"
    KINESIS_PUT_UNITS: Final = "aws.kinesis.put_payload_units"
    KINESIS_SHARD_HOURS: Final = "aws.kinesis.shard_hours"
    STEPFUNCTIONS_TRANSITIONS: Final = "aws.stepfunctions.standard_transitions"
    #: Bytes ingested by CloudWatch Logs (message bytes + 26 per event).
    LOG_BYTES: Final = "aws.cloudwatch.log_bytes"


class AZURE:
    """Meter names of Azure billable units (for ``fooddelivery_azure``; each a count unless it says otherwise)."""

    FUNCTIONS_EXECUTIONS: Final = "azure.functions.executions"
    #: Decimal: execution time x memory (GB), memory rounded up to 128 MB.
    FUNCTIONS_GB_SECONDS: Final = "azure.functions.gb_seconds"
    #: Decimal: the request charge the server reports (``x-ms-request-charge``), summed.
    COSMOS_REQUEST_UNITS: Final = "azure.cosmos.request_units"
    #: Every send, receive, complete, abandon, dead-letter, schedule or cancel of a message.
    SERVICEBUS_OPERATIONS: Final = "azure.servicebus.operations"
    #: Storage transactions of the Durable Functions task hub (queues, tables, blobs).
    STORAGE_TRANSACTIONS: Final = "azure.storage.transactions"
    LOG_BYTES: Final = "azure.monitor.log_bytes"


class GCP:
    """Meter names of Google Cloud billable units (for ``fooddelivery_gcp``; counts unless it says otherwise)."""

    RUN_REQUESTS: Final = "gcp.run.requests"
    #: Decimal: billed vCPU-seconds (request time rounded up to 100 ms x vCPUs).
    RUN_VCPU_SECONDS: Final = "gcp.run.vcpu_seconds"
    #: Decimal: billed GiB-seconds (request time rounded up to 100 ms x GiB).
    RUN_GIB_SECONDS: Final = "gcp.run.gib_seconds"
    FIRESTORE_READS: Final = "gcp.firestore.reads"
    FIRESTORE_WRITES: Final = "gcp.firestore.writes"
    FIRESTORE_DELETES: Final = "gcp.firestore.deletes"
    #: Billable bytes: every publish and every delivery counts its size, at least 1,000 bytes.
    PUBSUB_BYTES: Final = "gcp.pubsub.bytes"
    #: Each API call and each dispatch, per 32 KB chunk.
    TASKS_OPERATIONS: Final = "gcp.tasks.operations"
    WORKFLOWS_INTERNAL_STEPS: Final = "gcp.workflows.internal_steps"
    WORKFLOWS_EXTERNAL_STEPS: Final = "gcp.workflows.external_steps"
    LOG_BYTES: Final = "gcp.logging.log_bytes"


def chunks(size: int, chunk_bytes: int) -> int:
    """How many ``chunk_bytes`` chunks a payload of ``size`` bytes is billed as (at least 1).

    Raises:
        ValueError: a negative size or a chunk size below 1.
    """
    if size < 0 or chunk_bytes < 1:
        raise ValueError("size must be >= 0 and chunk_bytes >= 1")
    return max(1, -(-size // chunk_bytes))


def dynamodb_write_units(size: int, *, transactional: bool = False) -> int:
    """Write request units of writing (or deleting) one item of ``size`` bytes: 1 per KB rounded up, at least 1,
    doubled inside a transaction."""
    units = chunks(size, KB)
    return 2 * units if transactional else units


def dynamodb_read_units(size: int, *, consistent: bool = True, transactional: bool = False) -> Decimal:
    """Read request units of reading ``size`` bytes (one item, or a query page's items together): 1 per 4 KB rounded
    up (at least 1), half of that eventually consistent, twice that transactional."""
    units = Decimal(chunks(size, 4 * KB))
    if transactional:
        return 2 * units
    return units if consistent else units / 2


def lambda_gb_seconds(duration_ms: float, memory_mb: int) -> Decimal:
    """GB-seconds of one invocation: the duration rounded up to a whole ms, times the memory in GB (MB / 1,024).

    Raises:
        ValueError: a negative duration or a memory size outside 128..10,240 MB.
    """
    if duration_ms < 0 or not 128 <= memory_mb <= 10_240:
        raise ValueError("duration must be >= 0 and memory 128..10240 MB")
    billed_ms = max(1, math.ceil(duration_ms))
    return (Decimal(billed_ms) * Decimal(memory_mb) / Decimal(1024) / Decimal(1000)).quantize(
        Decimal("0.000000001"), rounding=ROUND_CEILING
    )


def pubsub_billable_bytes(size: int) -> int:
    """Bytes Pub/Sub bills for one message of ``size`` bytes (publish or delivery): at least 1,000."""
    return max(1000, size)


def log_event_bytes(message: str | bytes) -> int:
    """CloudWatch Logs' billed size of one log event: the message's UTF-8 bytes plus 26."""
    data = message.encode() if isinstance(message, str) else message
    return len(data) + 26


#: What the Lambda platform itself logs per invocation (START, END and REPORT lines, as in the Lambda developer
#: guide's examples, with a 36-character request id), in CloudWatch Logs' billed bytes.
#: Source of the line formats: https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html
LAMBDA_PLATFORM_LOG_BYTES: Final[int] = sum(
    log_event_bytes(line)
    for line in (
        "START RequestId: 1e4d2f9a-8c3b-4a5e-9f10-2b7c6d8e9a01 Version: $LATEST\n",
        "END RequestId: 1e4d2f9a-8c3b-4a5e-9f10-2b7c6d8e9a01\n",
        "REPORT RequestId: 1e4d2f9a-8c3b-4a5e-9f10-2b7c6d8e9a01\tDuration: 12.34 ms\tBilled Duration: 13 ms\t"
        "Memory Size: 512 MB\tMax Memory Used: 92 MB\t\n",
    )
)
