"""What the AWS adapters really do, in billable units, recorded on a :class:`~fooddelivery.metering.Meter`.

One place for every AWS call: :func:`instrument` hooks a boto3 client's event system (``before-parameter-build``
keeps the call's parameters, ``after-call`` reads the answer) and records, for each successful call, the units AWS
bills for it (names in :class:`fooddelivery.metering.AWS`, rules in :mod:`fooddelivery.metering.units`):

===========================  =================================================================================
call                         recorded
===========================  =================================================================================
DynamoDB PutItem             write units: the item's size (:func:`dynamodb_item_size`) in started KB
DynamoDB TransactWriteItems  2 x the write units of each Put (Update/Delete/ConditionCheck: 2 each, a floor)
DynamoDB BatchWriteItem      each processed Put by size; each processed Delete 1 (the deleted item's size is not
                             known to the caller: a floor, exact for items under 1 KB such as outbox records)
DynamoDB UpdateItem,         1 write unit (a floor: the item's size is not known to the caller)
DeleteItem
DynamoDB GetItem             read units of the returned item (4 KB steps; 1 when absent), half if not
                             ``ConsistentRead``
DynamoDB BatchGetItem        as one GetItem per key asked for, each item rounded up alone (an absent one: 1);
                             keys returned unprocessed: nothing
DynamoDB TransactGetItems    2 x the read units of a strongly consistent GetItem per item asked for, each
                             rounded up alone (an absent one: 2)
DynamoDB Query, Scan         read units of the page's items together, half if not ``ConsistentRead``
EventBridge PutEvents        one event per 64 KB chunk of each accepted entry
SQS SendMessage(Batch),      one request per 64 KB chunk of the call's payload (FIFO when the queue URL ends in
ReceiveMessage, Delete...    ``.fifo``); calls without a payload: 1
SNS Publish                  one publish per 64 KB chunk of the message
Kinesis PutRecord(s)         one PUT payload unit per 25 KB chunk of each record (data + partition key)
===========================  =================================================================================

Lambda's own units -- the invocation, its measured duration at the configured memory (GB-seconds), the API
Gateway request that triggered it and the log bytes it wrote -- are recorded by :func:`metered`, a wrapper for a
handler function. Step Functions state transitions happen inside the service and are not visible to a client:
the core's saga runner counts them (``saga.transition``), and ``adapters/aws/tests/test_transition_count.py``
checks that count against the generated machine executed in moto.

Wiring: :func:`fooddelivery_aws.bootstrap.build_aws_app` with ``meter=`` (or a process meter set before the cold
start) instruments every client the application uses, injected ones included, and sets the process meter
(:func:`set_process_meter`), which the entrypoints' :func:`metered` wrappers record each invocation on. Metering is
opt-in (tests, benchmarks, cost runs): without a meter nothing is recorded. Or call :func:`instrument` on a client.

Sources: DynamoDB item sizes, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html;
the others as in :mod:`fooddelivery.metering.units`.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final, TypeVar

from fooddelivery.metering import AWS, Meter
from fooddelivery.metering.units import (
    LAMBDA_PLATFORM_LOG_BYTES,
    chunks,
    dynamodb_read_units,
    dynamodb_write_units,
    lambda_gb_seconds,
    log_event_bytes,
)

__all__ = [
    "KB",
    "dynamodb_item_size",
    "instrument",
    "is_instrumented",
    "metered",
    "process_meter",
    "set_process_meter",
]

KB: Final[int] = 1024
_INSTRUMENTED: Final[str] = "_fooddelivery_meter"
_PARAMS: Final[str] = "fooddelivery_params"
#: The process-wide meter of :func:`set_process_meter` (one slot).
_process: list[Meter | None] = [None]
_lock = threading.Lock()

H = TypeVar("H", bound=Callable[..., Any])


# -- DynamoDB item size ---------------------------------------------------------------------------------------
def _number_size(text: str) -> int:
    """Bytes of a DynamoDB number: 1 byte per two significant digits, plus 1 (leading/trailing zeros trimmed)."""
    digits = text.lstrip("+-").replace(".", "")
    if "e" in digits.lower():
        digits = digits.lower().split("e", 1)[0]
    significant = digits.strip("0") or "0"
    return (len(significant) + 1) // 2 + 1


def _value_size(value: Mapping[str, Any]) -> int:
    (kind, v), = value.items()
    if kind == "S":
        return len(str(v).encode())
    if kind == "N":
        return _number_size(str(v))
    if kind == "B":
        return len(v) if isinstance(v, (bytes, bytearray)) else len(str(v))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in v)
    if kind == "NS":
        return sum(_number_size(str(n)) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":
        return 3 + sum(1 + _value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(e) for k, e in v.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def dynamodb_item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """The size DynamoDB bills an item by: each attribute's UTF-8 name plus its value (strings by UTF-8 bytes,
    numbers by significant digits, maps and lists 3 bytes plus 1 per element).

    Raises:
        ValueError: an attribute value of an unknown type.
    """
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


# -- the hook ----------------------------------------------------------------------------------------------------
def _ok(http_response: Any) -> bool:
    status = getattr(http_response, "status_code", 200)
    return isinstance(status, int) and status < 300


def _read_units(items: Iterable[Mapping[str, Any]], consistent: bool, minimum_one: bool = True) -> Decimal:
    size = sum(dynamodb_item_size(i) for i in items)
    if not size and not minimum_one:
        return Decimal(0)
    return dynamodb_read_units(size, consistent=consistent)


def _dynamodb(meter: Meter, op: str, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
    wru = Decimal(0)
    rru = Decimal(0)
    if op == "PutItem":
        wru = Decimal(dynamodb_write_units(dynamodb_item_size(params["Item"])))
    elif op in ("UpdateItem", "DeleteItem"):
        wru = Decimal(1)
    elif op == "TransactWriteItems":
        for action in params.get("TransactItems", ()):
            put = action.get("Put")
            size = dynamodb_item_size(put["Item"]) if put else 0
            wru += dynamodb_write_units(size, transactional=True)
    elif op == "BatchWriteItem":
        unprocessed = parsed.get("UnprocessedItems") or {}
        for table, requests in params.get("RequestItems", {}).items():
            left = list(unprocessed.get(table, ()))
            for request in requests:
                if request in left:
                    left.remove(request)
                    continue
                put = request.get("PutRequest")
                wru += dynamodb_write_units(dynamodb_item_size(put["Item"])) if put else 1
    elif op == "GetItem":
        item = parsed.get("Item")
        rru = _read_units([item] if item else [], bool(params.get("ConsistentRead")))
    elif op in ("Query", "Scan"):
        rru = _read_units(parsed.get("Items") or [], bool(params.get("ConsistentRead")))
    elif op == "TransactGetItems":
        # "Transactional read requests require 2 read request units to perform one read for items up to 4 KB";
        # one entry per Get, without ``Item`` when absent
        for entry in parsed.get("Responses") or ():
            item = entry.get("Item")
            rru += 2 * _read_units([item] if item else [], True)
    elif op == "BatchGetItem":
        responses = parsed.get("Responses") or {}
        unprocessed = parsed.get("UnprocessedKeys") or {}
        for table, request in params.get("RequestItems", {}).items():
            consistent = bool(request.get("ConsistentRead"))
            items = responses.get(table) or []
            for item in items:
                rru += _read_units([item], consistent)
            # a key asked for and not returned (nor left unprocessed) is an item that does not exist: it still
            # costs the read's minimum
            missing = len(request.get("Keys", ())) - len(items) - len((unprocessed.get(table) or {}).get("Keys", ()))
            rru += max(0, missing) * _read_units([], consistent)
    if wru:
        meter.record(AWS.DYNAMODB_WRITE_UNITS, int(wru))
    if rru:
        meter.record(AWS.DYNAMODB_READ_UNITS, rru)


def _entry_size(entry: Mapping[str, Any]) -> int:
    """PutEvents entry size: Source, DetailType, Detail, Resources and the Time (14 bytes when set)."""
    size = sum(len(str(entry.get(k, "")).encode()) for k in ("Source", "DetailType", "Detail"))
    size += sum(len(str(r).encode()) for r in entry.get("Resources", ()))
    return size + (14 if entry.get("Time") else 0)


def _message_size(body: Any, attributes: Mapping[str, Any] | None) -> int:
    size = len(str(body or "").encode())
    for name, attr in (attributes or {}).items():
        size += len(name.encode()) + len(str(attr.get("DataType", "")).encode())
        size += len(str(attr.get("StringValue", "")).encode()) + len(attr.get("BinaryValue", b"") or b"")
    return size


def _sqs(meter: Meter, op: str, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
    name = AWS.SQS_FIFO_REQUESTS if str(params.get("QueueUrl", "")).endswith(".fifo") else AWS.SQS_STANDARD_REQUESTS
    if op == "SendMessage":
        size = _message_size(params.get("MessageBody"), params.get("MessageAttributes"))
    elif op == "SendMessageBatch":
        size = sum(_message_size(e.get("MessageBody"), e.get("MessageAttributes")) for e in params.get("Entries", ()))
    elif op == "ReceiveMessage":
        size = sum(_message_size(m.get("Body"), m.get("MessageAttributes")) for m in parsed.get("Messages") or ())
    else:
        size = 0
    meter.record(name, chunks(size, 64 * KB))


def _after_call(slot: list[Meter | None]) -> Callable[..., None]:
    def handler(
        http_response: Any = None, parsed: Any = None, model: Any = None, context: Any = None, **_: Any
    ) -> None:
        meter = slot[0]
        if meter is None or model is None or not _ok(http_response) or not isinstance(parsed, Mapping):
            return
        params: Mapping[str, Any] = (context or {}).get(_PARAMS) or {}
        service = model.service_model.service_name
        op = model.name
        try:
            if service == "dynamodb":
                _dynamodb(meter, op, params, parsed)
            elif service == "events" and op == "PutEvents":
                accepted = [
                    entry
                    for entry, result in zip(params.get("Entries", ()), parsed.get("Entries") or (), strict=False)
                    if result.get("EventId")
                ]
                if accepted:
                    meter.record(AWS.EVENTBRIDGE_EVENTS, sum(chunks(_entry_size(e), 64 * KB) for e in accepted))
            elif service == "sqs":
                _sqs(meter, op, params, parsed)
            elif service == "sns" and op == "Publish":
                size = _message_size(params.get("Message"), params.get("MessageAttributes"))
                meter.record(AWS.SNS_PUBLISHES, chunks(size, 64 * KB))
            elif service == "kinesis" and op in ("PutRecord", "PutRecords"):
                records = [params] if op == "PutRecord" else list(params.get("Records", ()))
                units = sum(
                    chunks(len(r.get("Data", b"")) + len(str(r.get("PartitionKey", "")).encode()), 25 * KB)
                    for r in records
                )
                meter.record(AWS.KINESIS_PUT_UNITS, units)
        except (KeyError, TypeError, ValueError):  # a call shape this table does not know: not metered
            logging.getLogger(__name__).debug("not metered: %s.%s", service, op, exc_info=True)

    return handler


def _keep_params(params: Any = None, context: Any = None, **_: Any) -> None:
    if isinstance(context, dict) and isinstance(params, Mapping):
        context[_PARAMS] = dict(params)


def instrument(client: Any, meter: Meter | None) -> Any:
    """Make ``client`` (a boto3 client) record its calls' billable units on ``meter``; returns the client.

    The hooks are registered once per client; instrumenting it again only changes the meter it records on (None:
    it records nothing), so a client shared by several applications (tests) records on the latest one's meter.
    """
    slot: list[Meter | None] | None = getattr(client.meta, _INSTRUMENTED, None)
    if slot is not None:
        slot[0] = meter
        return client
    slot = [meter]
    events = client.meta.events
    events.register("before-parameter-build", _keep_params, unique_id="fooddelivery-meter-params")
    events.register("after-call", _after_call(slot), unique_id="fooddelivery-meter-after-call")
    setattr(client.meta, _INSTRUMENTED, slot)
    return client


def is_instrumented(client: Any) -> bool:
    """Whether :func:`instrument` hooked ``client`` (an object without boto3's ``meta`` never is)."""
    return getattr(getattr(client, "meta", None), _INSTRUMENTED, None) is not None


def set_process_meter(meter: Meter | None) -> None:
    """Record every client the package builds from now on (``LazyClient``) on ``meter``, and every invocation of a
    handler wrapped with :func:`metered` without a meter of its own (None: stop).

    :func:`fooddelivery_aws.bootstrap.build_aws_app` sets it to the application's meter.
    """
    with _lock:
        _process[0] = meter


def process_meter() -> Meter | None:
    """The meter set by :func:`set_process_meter`, or None."""
    return _process[0]


# -- Lambda handlers -----------------------------------------------------------------------------------------------
class _LogBytes(logging.Handler):
    """Adds up the billed size of every log record emitted during an invocation."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bytes = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bytes += log_event_bytes(self.format(record) + "\n")
        except Exception:  # pragma: no cover - formatting errors are logging's to report
            self.handleError(record)


def metered(meter: Meter | None = None, *, memory_mb: int | None = None) -> Callable[[H], H]:
    """Wrap a Lambda handler ``(event, context)`` so each invocation records: one Lambda request, its measured
    duration as GB-seconds at ``memory_mb`` (default: ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``, read at the invocation,
    else 128), the log bytes it wrote through ``logging`` at the root logger's level plus the platform's
    START/END/REPORT lines, and one API Gateway request when the event came from one (REST: ``httpMethod``; HTTP
    API: ``requestContext.http``).

    Without ``meter`` the invocation records on the process meter (:func:`set_process_meter`) as it is when the
    invocation ends -- the cold start's bootstrap sets it during the first invocation, which is recorded too --
    and records nothing when there is none (metering is opt-in: the entrypoints are wrapped this way).
    """

    def wrap(handler: H) -> H:
        @functools.wraps(handler)
        def invoke(event: Any, context: Any = None) -> Any:
            logs = _LogBytes()
            root = logging.getLogger()
            root.addHandler(logs)
            start = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                elapsed_ms = (time.perf_counter() - start) * 1000
                root.removeHandler(logs)
                target = meter if meter is not None else _process[0]
                if target is not None:
                    _record_invocation(target, event, elapsed_ms, logs.bytes, memory_mb)

        return invoke  # type: ignore[return-value]

    return wrap


def _record_invocation(meter: Meter, event: Any, elapsed_ms: float, log_bytes: int, memory_mb: int | None) -> None:
    memory = memory_mb or int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
    meter.record(AWS.LAMBDA_REQUESTS)
    meter.record(AWS.LAMBDA_GB_SECONDS, lambda_gb_seconds(elapsed_ms, memory))
    meter.record(AWS.LOG_BYTES, LAMBDA_PLATFORM_LOG_BYTES + log_bytes)
    if isinstance(event, Mapping):
        if "httpMethod" in event:
            meter.record(AWS.APIGW_REST_REQUESTS)
        elif isinstance(event.get("requestContext"), Mapping) and "http" in event["requestContext"]:
            meter.record(AWS.APIGW_HTTP_REQUESTS)
