"""Cloud models: what each cloud would bill, per saga runtime, for the operations the in-memory adapters metered.

Input: the neutral operations of a simulated day (:mod:`fooddelivery.metering.operations`, with sizes), the
process CPU time of the simulation's loop, and the deployment options (memory size, API type, the latency of one
remote call). Output: the cloud units (:mod:`fooddelivery.metering.units`) for the simulated orders, which
:mod:`fooddelivery.cost.estimate` scales to a month and prices.

The mapping (one row per neutral operation; "chunks(n KB)" = the size rounded up to n KB, at least 1):

==========================  ==========================  ==========================  ==========================
operation                   AWS                         Azure                       Google Cloud
==========================  ==========================  ==========================  ==========================
store read                  RRU chunks(4 KB)            Cosmos RU (point read, by   Firestore read 1
                                                        size: table below)
store read_miss             RRU 1                       Cosmos RU 1                 Firestore read 1
store txn_read              RRU 2 x chunks(4 KB)        as store read               Firestore read 1
                            (TransactGetItems)
store txn_read_miss         RRU 2                       Cosmos RU 1                 Firestore read 1
store query page            RRU chunks(4 KB) / 2        Cosmos RU of one point      Firestore read per item
                            (index: eventually          read of the page's size     returned, at least 1
                            consistent)                 (a lower bound)
store write / update        WRU chunks(1 KB)            Cosmos RU (write, by size)  Firestore write 1
store txn_item              WRU 2 x chunks(1 KB)        Cosmos RU (write, by size)  Firestore write 1
store delete                WRU chunks(1 KB)            Cosmos RU (write, by size)  Firestore delete 1
bus.event                   EventBridge chunks(64 KB);  Service Bus 3 (topic send,  Pub/Sub 2 x max(1,000 B,
                            SQS standard 1 (the rule's  one subscription's receive  size) (publish + one
                            analytics queue)            + complete)                 subscription's delivery)
runtime.event               SQS FIFO 3 x chunks(64 KB)  Service Bus 3 (send,        Pub/Sub 2 x max(1,000 B,
                            (send, receive, delete)     receive, complete)          size) (publish + push)
timer.schedule              SQS standard 3 (send,       Service Bus 1 (schedule)    Cloud Tasks chunks(32 KB)
                            receive, delete; a          + 2 when it fires (receive, (create) + 1 when it
                            cancelled timer still       complete)                   fires (dispatch)
                            arrives); ledger WRU 1 +
                            1 when it arrives (RRU 1)
timer.cancel                ledger WRU 1                Service Bus 1 (cancel)      Cloud Tasks 1 (delete)
notify.message              SNS publish chunks(64 KB)   Service Bus 3               Pub/Sub 2 x max(1,000 B,
                            + 1 HTTP/S delivery                                     size)
stream.location             Kinesis chunks(25 KB) PUT   Event Hubs 1 event          Pub/Sub 2 x max(1,000 B,
                            units; shards for the peak                              size)
api.request                 API Gateway 1 (REST or      (HTTP trigger, no gateway)  (HTTPS endpoint, no
                            HTTP) + 1 invocation                                    gateway)
==========================  ==========================  ==========================  ==========================

Function invocations: one per API request, one per committed write that carries events (the store's change
stream: DynamoDB Streams, the Cosmos DB change feed, a Firestore trigger; an upper bound, as the stream is read in
batches), one per runtime message and one per timer message that arrives. On Azure in queue mode also one per
saga-only write (``store.sagas.write``): the saga documents live in the orders container, each in its order's
partition (the native unit of work), and its change feed triggers the relay function for every document written,
outbox or not (the relay then finds nothing to publish; same upper bound). Duration: the simulation's CPU time
(scaled to the function's CPU share: Lambda has one vCPU at 1,769 MB,
https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html; Cloud Run functions 0.083-4 vCPU by memory,
https://cloud.google.com/functions/docs/configuring/memory) plus ``call_ms`` per remote call (an assumption: the
default 5 ms echoes DynamoDB's "single-digit millisecond" latency, https://aws.amazon.com/dynamodb/), plus the
billing round-up (Lambda 1 ms per invocation, Cloud Run 100 ms per request). Lambda logs: the platform's START,
END and REPORT lines per invocation (:data:`~fooddelivery.metering.units.LAMBDA_PLATFORM_LOG_BYTES`).

Saga runtimes (what changes):

- **queue** (every cloud): the saga runs in the runtime function over the store (the ``sagas`` table), timers on
  the cloud's delayed messages (SQS delay queue + DynamoDB ledger, Service Bus scheduled messages, Cloud Tasks).
- **Step Functions Standard** (AWS): ``saga.transition`` state transitions billed; one task Lambda invocation per
  ``saga.task`` and per ``saga.wait`` (the callback); no ``sagas`` table traffic but a callback-token record per
  wait (WRU 1) read and updated per signal (RRU 1 + WRU 1); no timers (the engine keeps time).
- **Step Functions Express**: not applicable (no ``.waitForTaskToken``, 5 minutes at most).
- **Durable Functions** (Azure): one activity execution per ``saga.task``; one orchestrator execution per start,
  per completed activity, per external event and per durable timer that fires; no saga documents in Cosmos DB,
  no Service Bus saga queue; the task hub's Storage transactions are not counted: Microsoft's "Durable Functions
  billing" (https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-billing, 2022-05-26; the
  2019 text in MicrosoftDocs/azure-docs@0104bf1 ``articles/azure-functions/durable/durable-functions-billing.md``
  says the same) names what drives them -- each app instance polling the task hub's queues with exponential
  back-off, the scale controller polling them at a constant interval, blob lease renewals per partition -- and
  gives no count of transactions per activity, timer or external event; they follow time and instances, not orders.
- **Workflows** (Google Cloud): one internal step per ``saga.transition`` (a waiting state's own is its
  ``events.create_callback_endpoint`` call, a standard-library function) and one external step per ``saga.wait``
  (its ``events.await_callback``: the official page classes "steps that wait for a callback to be received using
  events.await_callback" as external, https://cloud.google.com/workflows/pricing, read in the archived copy of
  2022-03-08, https://waybackassets.bk21.net/20220308084934/https://cloud.google.com/workflows/pricing, and in
  the current page); one Cloud Run request per ``saga.task``; no ``sagas`` collection traffic, no Cloud Tasks.
  A lower bound: the current page bills every assignment, call and retry as a step of its own, and the compiled
  workflow (``deploy/gcp/workflows/order-saga.yaml``) runs several per state (``try``, the call, a ``switch`` on
  its answer, ``assign`` steps; per wait also the ``http.post`` that registers the callback URL).

Cosmos DB request charges by item size (https://learn.microsoft.com/azure/cosmos-db/understand-request-unit-consumption,
session consistency): point read 1 KB 1.00 RU, 2 KB 1.04, 4 KB 1.14, 100 KB 10; write 1 KB 4.95, 2 KB 6.29,
4 KB 6.67; a size between two rows takes the larger row; above 4 KB a write is 6.67 RU per 4 KB and a read is
interpolated to 100 KB (an extrapolation); deletes are charged as writes (an assumption). The Azure package
records the charge the server reports (``x-ms-request-charge``) instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from fooddelivery.metering import AWS, AZURE, GCP, Tally
from fooddelivery.metering import operations as ops
from fooddelivery.metering.units import LAMBDA_PLATFORM_LOG_BYTES

__all__ = [
    "RUNTIMES",
    "DeploymentOptions",
    "ModelInputs",
    "Runtime",
    "UnitLine",
    "cosmos_read_ru",
    "cosmos_write_ru",
    "gcp_vcpus",
    "model_units",
]

KB: Final[int] = 1024
_TABLES: Final = ops.TABLES
#: (KB, RU) rows of the Cosmos DB examples; see the module docstring.
_COSMOS_READ: Final[tuple[tuple[int, Decimal], ...]] = (
    (1, Decimal("1.00")),
    (2, Decimal("1.04")),
    (4, Decimal("1.14")),
)
_COSMOS_WRITE: Final[tuple[tuple[int, Decimal], ...]] = (
    (1, Decimal("4.95")),
    (2, Decimal("6.29")),
    (4, Decimal("6.67")),
)
#: Cloud Run functions (2nd gen) vCPUs by memory (MB), https://cloud.google.com/functions/docs/configuring/memory.
_GCP_VCPU: Final[tuple[tuple[int, Decimal], ...]] = (
    (128, Decimal("0.083")),
    (256, Decimal("0.167")),
    (512, Decimal("0.333")),
    (1024, Decimal("0.583")),
    (2048, Decimal("1")),
    (4096, Decimal("2")),
    (8192, Decimal("2")),
    (16384, Decimal("4")),
    (32768, Decimal("8")),
)
#: Lambda's memory size with one full vCPU (MB).
_LAMBDA_ONE_VCPU_MB: Final[int] = 1769


@dataclass(frozen=True, slots=True)
class Runtime:
    """A saga runtime on a cloud.

    Attributes:
        key: ``"aws.queue"``...
        cloud: ``aws``, ``azure`` or ``gcp``.
        name: for people.
        applicable: False when the runtime cannot run the order saga (``why`` says why).
        why: the reason, for a runtime that is not applicable.
    """

    key: str
    cloud: str
    name: str
    applicable: bool = True
    why: str = ""


RUNTIMES: Final[tuple[Runtime, ...]] = (
    Runtime("aws.queue", "aws", "AWS, queue-driven saga (Lambda on SQS FIFO, DynamoDB)"),
    Runtime("aws.stepfunctions", "aws", "AWS, Step Functions Standard"),
    Runtime(
        "aws.express",
        "aws",
        "AWS, Step Functions Express",
        applicable=False,
        why="no .waitForTaskToken and at most 5 minutes: the wait for the restaurant cannot run there",
    ),
    Runtime("azure.queue", "azure", "Azure, queue-driven saga (Functions on Service Bus, Cosmos DB)"),
    Runtime("azure.durable", "azure", "Azure, Durable Functions"),
    Runtime("gcp.queue", "gcp", "Google Cloud, queue-driven saga (Cloud Run functions on Pub/Sub, Firestore)"),
    Runtime("gcp.workflows", "gcp", "Google Cloud, Workflows"),
)


@dataclass(frozen=True, slots=True)
class DeploymentOptions:
    """How the functions are deployed.

    Attributes:
        memory_mb: function memory (MB).
        call_ms: assumed latency of one remote call from a function (store, queue, bus, card processor), ms.
        api: ``"rest"`` or ``"http"`` (the API Gateway type on AWS; the SAM template uses REST).
    """

    memory_mb: int = 512
    call_ms: float = 5.0
    api: str = "rest"

    def __post_init__(self) -> None:
        if not 128 <= self.memory_mb <= 10_240:
            raise ValueError("memory must be 128..10240 MB")
        if self.call_ms < 0:
            raise ValueError("call_ms must be >= 0")
        if self.api not in ("rest", "http"):
            raise ValueError("api must be 'rest' or 'http'")


@dataclass(frozen=True, slots=True)
class ModelInputs:
    """What a model needs.

    Attributes:
        usage: the simulation's metered operations (its loop only).
        orders: orders the simulation placed.
        cpu_seconds: process CPU time of the simulation's loop.
        peak_orders_per_second: the order rate of the busiest 15 minutes at the priced volume (for provisioned
            capacity).
        hours: hours in the priced period (for hourly charges).
        scale: priced orders / simulated orders (for the per-period figures derived from ``peak``).
        options: deployment options.
    """

    usage: Mapping[str, Tally]
    orders: int
    cpu_seconds: float
    peak_orders_per_second: Decimal
    hours: Decimal
    scale: Decimal
    options: DeploymentOptions = field(default_factory=DeploymentOptions)


@dataclass(frozen=True, slots=True)
class UnitLine:
    """A quantity of one cloud unit.

    Attributes:
        meter: the unit's meter name (priced by the catalog).
        quantity: for the simulated orders (``fixed`` False) or for the whole priced period (``fixed`` True).
        basis: how it was derived, for people.
        fixed: True for a per-period quantity that does not scale with orders (shard-hours).
        counted: False for a unit the model knows is billed but does not count (reported as unknown).
    """

    meter: str
    quantity: Decimal
    basis: str
    fixed: bool = False
    counted: bool = True


class _U:
    """Helpers over the usage tallies."""

    def __init__(self, usage: Mapping[str, Tally]) -> None:
        self.usage = usage

    def q(self, name: str) -> Decimal:
        tally = self.usage.get(name)
        return Decimal(tally.quantity) if tally is not None else Decimal(0)

    def chunks(self, name: str, kb: int) -> Decimal:
        tally = self.usage.get(name)
        return Decimal(tally.chunks(kb * KB)) if tally is not None else Decimal(0)

    def tally(self, name: str) -> Tally:
        return self.usage.get(name) or Tally()

    def store(self, action: str, tables: tuple[str, ...] = _TABLES) -> tuple[str, ...]:
        return tuple(ops.store(t, action) for t in tables)


def _tables(saga_store: bool) -> tuple[str, ...]:
    return _TABLES if saga_store else tuple(t for t in _TABLES if t != "sagas")


def cosmos_read_ru(kib: int) -> Decimal:
    """Cosmos DB request charge of a point read of ``kib`` KiB (see the module docstring)."""
    return _cosmos(kib, _COSMOS_READ, read=True)


def cosmos_write_ru(kib: int) -> Decimal:
    """Cosmos DB request charge of writing an item of ``kib`` KiB (see the module docstring)."""
    return _cosmos(kib, _COSMOS_WRITE, read=False)


def _cosmos(kib: int, table: tuple[tuple[int, Decimal], ...], *, read: bool) -> Decimal:
    for size, ru in table:
        if kib <= size:
            return ru
    if read:  # interpolate 4 KB 1.14 RU -> 100 KB 10 RU
        return (
            Decimal("1.14")
            + (Decimal(min(kib, 100)) - 4) * (Decimal(10) - Decimal("1.14")) / 96
            + max(0, kib - 100) * Decimal("0.1")
        )
    return Decimal("6.67") * math.ceil(kib / 4)


def _cosmos_ru(tally: Tally, per_item: Callable[[int], Decimal]) -> Decimal:
    """Request units of the tally's items by size (an unsized item as one of 1 KB)."""
    unsized = Decimal(tally.quantity) - tally.sized
    return sum((per_item(max(1, k)) * n for k, n in tally.kib.items()), per_item(1) * max(Decimal(0), unsized))


def gcp_vcpus(memory_mb: int) -> Decimal:
    """vCPUs of a Cloud Run function with ``memory_mb`` MB (the next memory step up)."""
    for mb, vcpu in _GCP_VCPU:
        if memory_mb <= mb:
            return vcpu
    return _GCP_VCPU[-1][1]


# -- DynamoDB -------------------------------------------------------------------------------------------------
def _dynamodb(u: _U, tables: tuple[str, ...]) -> tuple[Decimal, Decimal]:
    """(RRU, WRU) of the store operations on ``tables``."""
    rru = Decimal(0)
    wru = Decimal(0)
    for t in tables:
        rru += u.chunks(ops.store(t, "read"), 4) + u.q(ops.store(t, "read_miss"))
        rru += 2 * u.chunks(ops.store(t, "txn_read"), 4) + 2 * u.q(ops.store(t, "txn_read_miss"))
        rru += u.chunks(ops.store(t, "query"), 4) / 2
        wru += u.chunks(ops.store(t, "write"), 1) + u.chunks(ops.store(t, "update"), 1)
        wru += 2 * u.chunks(ops.store(t, "txn_item"), 1) + u.chunks(ops.store(t, "delete"), 1)
    return rru, wru


def _store_calls(u: _U, tables: tuple[str, ...]) -> Decimal:
    """Remote calls of the store operations: one per read, query page, single write, update and atomic write;
    the outbox's deletes go in one batch per committed write (the relay marks a write's events together)."""
    calls = Decimal(0)
    for t in tables:
        for action in ("read", "read_miss", "txn_read", "txn_read_miss", "query", "write", "update", "txn"):
            calls += u.q(ops.store(t, action))
    return calls + u.q(ops.store("orders", "txn"))  # one delete batch per committed write's events


def _compute_lines(
    cloud: str,
    inputs: ModelInputs,
    invocations: Decimal,
    calls: Decimal,
) -> list[UnitLine]:
    """Invocation, duration and log lines of ``invocations`` making ``calls`` remote calls in all."""
    opt = inputs.options
    wait_s = calls * Decimal(str(opt.call_ms)) / 1000
    cpu = Decimal(str(inputs.cpu_seconds))
    if cloud == "aws":
        cpu_s = cpu * max(Decimal(1), Decimal(_LAMBDA_ONE_VCPU_MB) / opt.memory_mb)
        # billed per invocation rounded up to 1 ms: half a ms on average
        seconds = cpu_s + wait_s + invocations * Decimal("0.0005")
        gb_s = seconds * Decimal(opt.memory_mb) / 1024
        basis = (
            f"{_per(invocations, inputs.orders)} invocations/order x {_ms(seconds, invocations)} ms "
            f"({inputs.cpu_seconds:.3g} s CPU over {inputs.orders:,} orders at {opt.memory_mb} MB, "
            f"{_per(calls, inputs.orders)} calls/order x {opt.call_ms:g} ms) x {opt.memory_mb} MB"
        )
        return [
            UnitLine(AWS.LAMBDA_REQUESTS, invocations, f"{_per(invocations, inputs.orders)} per order"),
            UnitLine(AWS.LAMBDA_GB_SECONDS, gb_s, basis),
            UnitLine(
                AWS.LOG_BYTES,
                invocations * LAMBDA_PLATFORM_LOG_BYTES,
                f"{LAMBDA_PLATFORM_LOG_BYTES} bytes of START/END/REPORT lines per invocation",
            ),
        ]
    if cloud == "azure":
        memory_gb = Decimal(math.ceil(opt.memory_mb / 128) * 128) / 1024
        seconds = cpu + wait_s + invocations * Decimal("0.0005")
        return [
            UnitLine(AZURE.FUNCTIONS_EXECUTIONS, invocations, f"{_per(invocations, inputs.orders)} per order"),
            UnitLine(
                AZURE.FUNCTIONS_GB_SECONDS,
                seconds * memory_gb,
                f"{_ms(seconds, invocations)} ms per execution x {memory_gb * 1024:g} MB (memory rounded up to 128 MB)",
            ),
        ]
    vcpu = gcp_vcpus(opt.memory_mb)
    seconds = cpu / vcpu + wait_s
    mean = seconds / invocations if invocations else Decimal(0)
    billed_each = Decimal(math.ceil(mean * 10)) / 10 if invocations else Decimal(0)
    billed = billed_each * invocations
    gib = Decimal(opt.memory_mb) / 1024
    return [
        UnitLine(GCP.RUN_REQUESTS, invocations, f"{_per(invocations, inputs.orders)} per order"),
        UnitLine(
            GCP.RUN_VCPU_SECONDS,
            billed * vcpu,
            f"{_ms(seconds, invocations)} ms per request, billed {billed_each * 1000:g} ms (100 ms steps)"
            f" x {vcpu} vCPU",
        ),
        UnitLine(GCP.RUN_GIB_SECONDS, billed * gib, f"billed {billed_each * 1000:g} ms per request x {gib:g} GiB"),
    ]


def _per(quantity: Decimal, orders: int) -> str:
    return f"{quantity / orders:.2f}" if orders else "0"


def _ms(seconds: Decimal, invocations: Decimal) -> str:
    return f"{seconds * 1000 / invocations:.1f}" if invocations else "0"


def _kinesis_shards(inputs: ModelInputs, u: _U) -> Decimal:
    """Provisioned shards for the busiest minute: 1,000 records/s or 1 MiB/s each
    (https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html)."""
    tally = u.tally(ops.LOCATION)
    if not inputs.orders or not tally.quantity:
        return Decimal(0)
    per_order = Decimal(tally.quantity) / inputs.orders
    records_s = inputs.peak_orders_per_second * per_order
    bytes_s = records_s * (Decimal(tally.bytes) / Decimal(tally.quantity))
    return Decimal(max(1, math.ceil(records_s / 1000), math.ceil(bytes_s / (1024 * 1024))))


# -- the models -----------------------------------------------------------------------------------------------
def _aws(inputs: ModelInputs, stepfunctions: bool) -> list[UnitLine]:
    u = _U(inputs.usage)
    n = inputs.orders
    tables = _tables(saga_store=not stepfunctions)
    rru, wru = _dynamodb(u, tables)
    calls = _store_calls(u, tables)
    lines: list[UnitLine] = []
    api = AWS.APIGW_REST_REQUESTS if inputs.options.api == "rest" else AWS.APIGW_HTTP_REQUESTS
    requests = u.q(ops.API_REQUEST)
    lines.append(UnitLine(api, requests, f"{_per(requests, n)} requests per order (the simulated clients')"))
    commits = u.q(ops.store("orders", "txn"))
    runtime = u.q(ops.RUNTIME_EVENT)
    invocations = requests + commits + runtime
    if stepfunctions:
        waits, signals = u.q(ops.SAGA_WAIT), u.q(ops.SAGA_SIGNAL)
        rru += signals
        wru += waits + signals
        tasks = u.q(ops.SAGA_TASK) + waits
        invocations += tasks
        calls += waits + 2 * signals + u.q(ops.SAGA_START) + signals  # token records, StartExecution, SendTaskSuccess
        transitions = u.q(ops.SAGA_TRANSITION)
        lines.append(
            UnitLine(
                AWS.STEPFUNCTIONS_TRANSITIONS,
                transitions,
                f"{_per(transitions, n)} per order: the states the saga entered, retries included",
            )
        )
        timers_sqs = Decimal(0)
    else:
        schedules, cancels = u.q(ops.TIMER_SCHEDULE), u.q(ops.TIMER_CANCEL)
        arrivals = schedules  # a cancelled timer's message still arrives (SQS cannot withdraw it)
        rru += arrivals
        wru += schedules + u.q(ops.TIMER_FIRE) + cancels
        invocations += arrivals
        calls += 2 * schedules + 2 * arrivals + cancels
        timers_sqs = 3 * schedules
    lines.append(UnitLine(AWS.DYNAMODB_READ_UNITS, rru, f"{_per(rru, n)} per order (by item size)"))
    lines.append(UnitLine(AWS.DYNAMODB_WRITE_UNITS, wru, f"{_per(wru, n)} per order (by item size; transactions x2)"))
    events = u.chunks(ops.BUS_EVENT, 64)
    lines.append(UnitLine(AWS.EVENTBRIDGE_EVENTS, events, f"{_per(events, n)} events per order"))
    fifo = 3 * u.chunks(ops.RUNTIME_EVENT, 64)
    lines.append(UnitLine(AWS.SQS_FIFO_REQUESTS, fifo, f"{_per(runtime, n)} runtime messages per order x 3 requests"))
    standard = timers_sqs + u.q(ops.BUS_EVENT)
    lines.append(
        UnitLine(
            AWS.SQS_STANDARD_REQUESTS,
            standard,
            "every event into the analytics queue" + ("; timers: send, receive, delete" if timers_sqs else ""),
        )
    )
    notes = u.q(ops.NOTIFICATION)
    lines.append(
        UnitLine(AWS.SNS_PUBLISHES, u.chunks(ops.NOTIFICATION, 64), f"{_per(notes, n)} notifications per order")
    )
    lines.append(UnitLine(AWS.SNS_DELIVERIES_HTTP, notes, "one HTTP/S subscriber per notification (an assumption)"))
    lines.append(
        UnitLine(AWS.KINESIS_PUT_UNITS, u.chunks(ops.LOCATION, 25), f"{_per(u.q(ops.LOCATION), n)} positions per order")
    )
    shards = _kinesis_shards(inputs, u)
    lines.append(
        UnitLine(
            AWS.KINESIS_SHARD_HOURS, shards * inputs.hours, f"{shards} shard(s) for the busiest 15 minutes", fixed=True
        )
    )
    calls += commits + runtime + notes + u.q(ops.LOCATION) + u.q(ops.PAYMENT_CALL)  # PutEvents/SQS, SNS, Kinesis, card
    lines += _compute_lines("aws", inputs, invocations, calls)
    return lines


def _azure(inputs: ModelInputs, durable: bool) -> list[UnitLine]:
    u = _U(inputs.usage)
    n = inputs.orders
    tables = _tables(saga_store=not durable)
    ru = Decimal(0)
    for t in tables:
        ru += _cosmos_ru(u.tally(ops.store(t, "read")), cosmos_read_ru) + u.q(ops.store(t, "read_miss"))
        ru += _cosmos_ru(u.tally(ops.store(t, "txn_read")), cosmos_read_ru) + u.q(ops.store(t, "txn_read_miss"))
        ru += _cosmos_ru(u.tally(ops.store(t, "query")), cosmos_read_ru)
        for action in ("write", "update", "txn_item", "delete"):
            ru += _cosmos_ru(u.tally(ops.store(t, action)), cosmos_write_ru)
    lines = [UnitLine(AZURE.COSMOS_REQUEST_UNITS, ru, f"{_per(ru, n)} RU per order (by item size)")]
    requests = u.q(ops.API_REQUEST)
    commits = u.q(ops.store("orders", "txn"))
    runtime = u.q(ops.RUNTIME_EVENT)
    sb = 3 * u.q(ops.BUS_EVENT) + 3 * u.q(ops.NOTIFICATION)
    invocations = requests + commits + runtime
    calls = _store_calls(u, tables) + commits + u.q(ops.NOTIFICATION) + u.q(ops.LOCATION) + u.q(ops.PAYMENT_CALL)
    if durable:
        starts, tasks, signals = u.q(ops.SAGA_START), u.q(ops.SAGA_TASK), u.q(ops.SAGA_SIGNAL)
        fires = u.q(ops.TIMER_FIRE)
        orchestrator = starts + tasks + signals + fires
        invocations += orchestrator + tasks
        lines.append(
            UnitLine(
                AZURE.STORAGE_TRANSACTIONS,
                Decimal(0),
                "the task hub's queue, table and blob transactions: not counted (Microsoft's billing doc gives no"
                " count per activity, timer or event: queue polling and lease renewals follow time and instances)",
                counted=False,
            )
        )
    else:
        sb += 3 * runtime
        schedules, cancels = u.q(ops.TIMER_SCHEDULE), u.q(ops.TIMER_CANCEL)
        fired = schedules - cancels
        sb += schedules + 2 * fired + cancels
        # the saga documents live in the orders container: a saga-only write is a change-feed invocation too
        invocations += fired + u.q(ops.store("sagas", "write")) + u.q(ops.store("sagas", "update"))
        calls += runtime + schedules + cancels
    lines.append(UnitLine(AZURE.SERVICEBUS_OPERATIONS, sb, f"{_per(sb, n)} operations per order"))
    lines.append(UnitLine("azure.eventhubs.events", u.q(ops.LOCATION), "driver positions"))
    lines += _compute_lines("azure", inputs, invocations, calls)
    return lines


def _pubsub(u: _U, name: str) -> Decimal:
    return 2 * Decimal(u.tally(name).billable_bytes(1000))


def _gcp(inputs: ModelInputs, workflows: bool) -> list[UnitLine]:
    u = _U(inputs.usage)
    n = inputs.orders
    tables = _tables(saga_store=not workflows)
    reads = Decimal(0)
    writes = Decimal(0)
    deletes = Decimal(0)
    for t in tables:
        reads += u.q(ops.store(t, "read")) + u.q(ops.store(t, "read_miss"))
        reads += u.q(ops.store(t, "txn_read")) + u.q(ops.store(t, "txn_read_miss"))
        queries = u.q(ops.store(t, "query"))
        items = u.q(ops.store(t, "query_item"))
        reads += max(items, queries)  # at least one read per query
        writes += u.q(ops.store(t, "write")) + u.q(ops.store(t, "update")) + u.q(ops.store(t, "txn_item"))
        deletes += u.q(ops.store(t, "delete"))
    lines = [
        UnitLine(GCP.FIRESTORE_READS, reads, f"{_per(reads, n)} document reads per order"),
        UnitLine(GCP.FIRESTORE_WRITES, writes, f"{_per(writes, n)} document writes per order"),
        UnitLine(GCP.FIRESTORE_DELETES, deletes, f"{_per(deletes, n)} document deletes per order"),
    ]
    requests = u.q(ops.API_REQUEST)
    commits = u.q(ops.store("orders", "txn"))
    runtime = u.q(ops.RUNTIME_EVENT)
    pubsub = _pubsub(u, ops.BUS_EVENT) + _pubsub(u, ops.NOTIFICATION) + _pubsub(u, ops.LOCATION)
    pubsub += _pubsub(u, ops.RUNTIME_EVENT)
    invocations = requests + commits + runtime
    calls = _store_calls(u, tables) + commits + u.q(ops.NOTIFICATION) + u.q(ops.LOCATION) + u.q(ops.PAYMENT_CALL)
    calls += runtime
    if workflows:
        tasks = u.q(ops.SAGA_TASK)
        internal, waits = u.q(ops.SAGA_TRANSITION), u.q(ops.SAGA_WAIT)
        invocations += tasks
        lines.append(
            UnitLine(
                GCP.WORKFLOWS_INTERNAL_STEPS,
                internal,
                f"{_per(internal, n)} steps per order: one per state entered (a wait's creates its callback)",
            )
        )
        lines.append(
            UnitLine(
                GCP.WORKFLOWS_EXTERNAL_STEPS,
                waits,
                f"{_per(waits, n)} per order: one events.await_callback per wait for the restaurant",
            )
        )
        tasks_ops = Decimal(0)
    else:
        schedules, cancels = u.q(ops.TIMER_SCHEDULE), u.q(ops.TIMER_CANCEL)
        fired = schedules - cancels
        tasks_ops = u.chunks(ops.TIMER_SCHEDULE, 32) + fired + cancels
        invocations += fired
        calls += schedules + cancels
    lines.append(UnitLine(GCP.PUBSUB_BYTES, pubsub, "publish + one delivery per message, at least 1,000 bytes each"))
    lines.append(UnitLine(GCP.TASKS_OPERATIONS, tasks_ops, "timers: create, dispatch or delete"))
    lines += _compute_lines("gcp", inputs, invocations, calls)
    return lines


_MODELS: Final[dict[str, Callable[[ModelInputs], list[UnitLine]]]] = {
    "aws.queue": lambda i: _aws(i, stepfunctions=False),
    "aws.stepfunctions": lambda i: _aws(i, stepfunctions=True),
    "azure.queue": lambda i: _azure(i, durable=False),
    "azure.durable": lambda i: _azure(i, durable=True),
    "gcp.queue": lambda i: _gcp(i, workflows=False),
    "gcp.workflows": lambda i: _gcp(i, workflows=True),
}


def model_units(runtime: str, inputs: ModelInputs) -> list[UnitLine]:
    """The cloud units of ``runtime`` (a key of :data:`RUNTIMES`) for the simulated orders.

    Raises:
        KeyError: an unknown or not applicable runtime.
    """
    return _MODELS[runtime](inputs)
