"""The AWS composition root: the core's ``bootstrap()`` with the AWS adapters, built once per Lambda cold start.

:func:`aws_app` is what every entrypoint calls: on the first invocation of an execution environment it reads
:class:`~fooddelivery_aws.settings.AwsSettings` from the environment and builds everything; warm invocations get
the same object back (Lambda reuses the environment: https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
Nothing happens at import: no environment read, no boto3 import, no client. Clients are shared (one per service)
and each is built on its first use, so a function pays only for the services it calls. The core itself (stores,
saga, runtime, relay, payment gateway: :class:`AwsCore`) is built by the first invocation that uses it: an HTTP
function's ``GET /health`` answers without it.

Wiring (both modes):

=================  ==========================================================================================
port               adapter
=================  ==========================================================================================
orders + outbox    ``DynamoDBOrderRepository`` (``ORDERS_TABLE``; outbox in ``OUTBOX_TABLE`` if set)
restaurants        ``DynamoDBRestaurantRepository`` (``RESTAURANTS_TABLE``)
drivers            ``DynamoDBDriverRepository`` (``DRIVERS_TABLE``)
sagas              ``DynamoDBSagaStateStore`` (``SAGAS_TABLE``)
unit of work       native: ``DynamoDBOrderRepository.unit_of_work(sagas)`` (the two stores share the client): an
                   order read with its saga in one ``TransactGetItems``, a saga step's order, outbox records and saga
                   written in one ``TransactWriteItems`` (:mod:`fooddelivery_aws.dynamodb.unit_of_work`)
publisher          the core's :class:`~fooddelivery.application.fanout.FanOutPublisher`: every event to
                   ``EventBridgePublisher`` (``EVENT_BUS_NAME``), the runtime's events also to
                   ``SqsFifoEventPublisher`` (``SAGA_QUEUE_URL``; message group = order id, deduplication id =
                   event id). Used by the DynamoDB Streams relay only: the core is bootstrapped with
                   ``publish_after_commit=False`` (a request makes no publish call; the stream publishes)
scheduler          ``SqsScheduler`` (``TIMER_QUEUE_URL`` + ledger in ``SAGAS_TABLE``); none in stepfunctions mode
saga engine        queue mode: the core's ``SagaRunner``, driven by the core's ``OrderRuntime`` in the SQS
                   consumer; stepfunctions mode: ``sagas.StepFunctionsEngine`` (``STATE_MACHINE_ARN``)
notifier           ``SnsNotifier`` (``NOTIFICATIONS_TOPIC_ARN``, ``ALERTS_TOPIC_ARN``, ledger in ``SAGAS_TABLE``)
location           ``KinesisLocationStream`` (``LOCATION_STREAM_NAME``)
payments           see below
clock, ids         ``SystemClock``, ``UuidIdGenerator`` (the core's ``fooddelivery.adapters.system``)
=================  ==========================================================================================

Payments: ``FOODDELIVERY_PAYMENT_GATEWAY`` must name the card processor (the core's
:func:`~fooddelivery.adapters.payments.payment_gateway_factory`: read and imported at the cold start):
``<module>:<factory>`` is called once per execution environment, when the core is built (by the first invocation
that needs it: not by ``GET /health``), with the cached payment key reader
(:class:`~fooddelivery_aws.secrets.SecretsManagerSecret` of ``PAYMENT_SECRET_ARN``, or None) and returns a
``PaymentGateway``; ``fake`` asks for the core's test gateway by name (demos only: its books live in one execution
environment's memory). Unset, the cold start fails naming the variable: a deployment can never take orders without
charging them. Tests inject ``payments=`` directly.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from fooddelivery.adapters.payments import PAYMENT_GATEWAY_ENV, payment_gateway_factory
from fooddelivery.adapters.system import SystemClock
from fooddelivery.bootstrap import CloudApp, ProcessApp
from fooddelivery.metering import Meter
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.ids import IdGenerator
from fooddelivery_aws._clients import LazyClient
from fooddelivery_aws.metering import instrument, is_instrumented, process_meter, set_process_meter
from fooddelivery_aws.secrets import SecretsManagerSecret
from fooddelivery_aws.settings import AwsSettings

if TYPE_CHECKING:
    from fooddelivery.application.runtime import OrderRuntime
    from fooddelivery.bootstrap import Bootstrapped
    from fooddelivery.http import HttpApi
    from fooddelivery.ports.payments import PaymentGateway
    from fooddelivery_aws.messaging import SqsScheduler
    from fooddelivery_aws.relay import StreamOutboxRelay

__all__ = [
    "PAYMENT_GATEWAY_ENV",
    "AwsApp",
    "AwsClients",
    "AwsCore",
    "aws_app",
    "bootstrap_aws",
    "build_aws_app",
    "reset_aws_app",
]

#: Makes the payment gateway from the payment key reader (or None).
PaymentsFactory: TypeAlias = "Callable[[SecretsManagerSecret | None], PaymentGateway]"


class _ClientProxy:
    """Stands for an AWS SDK client built on its first attribute use (so adapters can share it without building it)."""

    __slots__ = ("_lazy",)

    def __init__(self, lazy: LazyClient[Any]) -> None:
        self._lazy = lazy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lazy.get(), name)


class AwsClients:
    """One AWS SDK client per service (botocore, from the process's shared session: ``_clients.new_client``), shared
    by the adapters and built on first use.

    Args:
        settings: endpoint and region of the clients.
        injected: ready clients by service name (``"dynamodb"``, ``"events"``...), used as they are (tests).
        meter: the meter every client records its billable units on (injected clients are instrumented here, the
            others when built, through the process meter), or None: not metered (an injected client an earlier
            application instrumented stops recording).
    """

    def __init__(
        self, settings: AwsSettings, injected: Mapping[str, Any] | None = None, meter: Meter | None = None
    ) -> None:
        self._settings = settings
        self._clients: dict[str, Any] = dict(injected or {})
        self._lock = threading.Lock()
        for client in self._clients.values():
            if meter is not None or is_instrumented(client):
                instrument(client, meter)

    def __call__(self, service: str) -> Any:
        """The client of ``service`` (a lazy stand-in until first used)."""
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                lazy: LazyClient[Any] = LazyClient(
                    service, region_name=self._settings.region_name, endpoint_url=self._settings.endpoint_url
                )
                client = self._clients[service] = _ClientProxy(lazy)
            return client


@dataclass(frozen=True)
class AwsCore:
    """The part of an :class:`AwsApp` built on its first use: the core wired with the AWS adapters.

    Attributes:
        boot: the core (service, runner, adapters).
        runtime: the core's order runtime, which the SQS consumer hands every input to.
        timers: the timer queue's scheduler (queue mode), or None (stepfunctions mode).
        relay: the DynamoDB Streams outbox relay.
    """

    boot: Bootstrapped
    runtime: OrderRuntime
    timers: SqsScheduler | None
    relay: StreamOutboxRelay


class AwsApp(CloudApp[AwsCore]):
    """Everything one Lambda execution environment needs, built once.

    The settings, the payment gateway and the clients (each a lazy stand-in) are made with the application; the core
    (:class:`AwsCore`: the stores, the saga, the runtime, the relay) on the first use of :attr:`boot`,
    :attr:`runtime`, :attr:`timers` or :attr:`relay` -- once, under a lock, so concurrent first uses build it once; a
    build that raises is tried again on the next use. An HTTP function answering ``GET /health`` never builds it.

    Args:
        settings: the settings it was built from.
        boot: the core (service, runner, adapters), when given ready (with ``runtime``, ``timers``, ``relay``);
            else ``core`` builds it.
        runtime: the core's order runtime, which the SQS consumer hands every input to.
        timers: the timer queue's scheduler (queue mode), or None (stepfunctions mode).
        relay: the DynamoDB Streams outbox relay.
        clients: the shared boto3 clients.
        payment_secret: the payment key reader, or None.
        meter: the meter its clients and its entrypoints' invocations record billable units on, or None (metering
            is opt-in).
        core: builds the core on first use (when ``boot`` is None).
        clock: the application's time source, the one its core is built with: what needs only the time (the
            Kinesis tracking consumer's lag) reads it without building the core. Default: ``boot``'s clock when
            ``boot`` is given, else a ``SystemClock``.

    Raises:
        TypeError: neither ``boot`` nor ``core`` was given.
    """

    def __init__(
        self,
        settings: AwsSettings,
        boot: Bootstrapped | None = None,
        runtime: OrderRuntime | None = None,
        timers: SqsScheduler | None = None,
        relay: StreamOutboxRelay | None = None,
        clients: AwsClients | None = None,
        payment_secret: SecretsManagerSecret | None = None,
        meter: Meter | None = None,
        *,
        core: Callable[[], AwsCore] | None = None,
        clock: Clock | None = None,
    ) -> None:
        if boot is None and core is None:
            raise TypeError("AwsApp needs boot (and runtime, timers, relay) or core")
        self.settings = settings
        self.clock: Clock = clock if clock is not None else boot.service.clock if boot is not None else SystemClock()
        self.clients = clients if clients is not None else AwsClients(settings)
        self.payment_secret = payment_secret
        self.meter = meter
        if boot is not None:
            # (what is given is used as it is: a test's or a benchmark's app may leave the queue side unset)
            given = AwsCore(boot, runtime, timers, relay)  # type: ignore[arg-type]
            super().__init__(lambda: given, given)
        else:
            assert core is not None  # (checked above)
            super().__init__(core)
        self._apis: dict[str, HttpApi] = {}
        self._lock = threading.Lock()

    @property
    def runtime(self) -> OrderRuntime:
        """The core's order runtime, which the SQS consumer hands every input to; built on first use."""
        return self.core().runtime

    @property
    def timers(self) -> SqsScheduler | None:
        """The timer queue's scheduler (queue mode), or None (stepfunctions mode); built on first use."""
        return self.core().timers

    @property
    def relay(self) -> StreamOutboxRelay:
        """The DynamoDB Streams outbox relay; built on first use."""
        return self.core().relay

    def http_api(self, base_path: str = "") -> HttpApi:
        """The HTTP API for requests under ``base_path`` (an API Gateway stage, for ``Location`` headers), built on
        first use; it trusts the claims API Gateway's Cognito / JWT authorizer verified. Its use cases are the
        core's, built by the first request that needs them (not by ``GET /health``)."""
        api = self._apis.get(base_path)
        if api is None:
            from fooddelivery.http import ClaimMapping, GatewayClaimsAuthenticator, HttpApi

            with self._lock:
                api = self._apis.get(base_path)
                if api is None:
                    api = HttpApi(
                        lambda: self.boot.service,
                        GatewayClaimsAuthenticator(ClaimMapping.cognito()),
                        base_path=base_path,
                    )
                    self._apis[base_path] = api
        return api


def build_aws_app(
    settings: AwsSettings | None = None,
    *,
    clients: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    payments: PaymentGateway | None = None,
    payments_factory: PaymentsFactory | None = None,
    environ: Mapping[str, str] | None = None,
    meter: Meter | None = None,
) -> AwsApp:
    """Build the AWS application (see the module docstring).

    Args:
        settings: defaults to :meth:`AwsSettings.from_env` of ``environ``.
        clients: ready boto3 clients by service name; the others are built lazily.
        clock: defaults to ``SystemClock``.
        ids: defaults to the core's ``UuidIdGenerator``.
        payments: a payment gateway (wins over everything else).
        payments_factory: builds the gateway from the payment key reader (wins over ``FOODDELIVERY_PAYMENT_GATEWAY``).
        environ: the environment (default ``os.environ``).
        meter: record what the application bills on this meter (:mod:`fooddelivery_aws.metering`): every AWS call
            of its clients, and every invocation of the entrypoints (they record on the process meter, which this
            sets); None: the process meter if one was set before (a cold start a benchmark meters), else nothing.

    Returns:
        The application: its settings, clients and payment gateway made now; its core (stores, saga, runtime,
        relay) on first use (:meth:`AwsApp.core`).

    Raises:
        ValidationError: a missing or invalid setting (named), ``FOODDELIVERY_PAYMENT_GATEWAY`` included.
    """
    env = os.environ if environ is None else environ
    settings = settings or AwsSettings.from_env(env)
    meter = meter if meter is not None else process_meter()
    set_process_meter(meter)
    shared = AwsClients(settings, clients, meter)
    clock = clock or SystemClock()
    secret = (
        SecretsManagerSecret(settings.payment_secret_arn, clock=clock, client=shared("secretsmanager"))
        if settings.payment_secret_arn
        else None
    )
    # The payment gateway is chosen now (a missing or wrong setting fails the cold start, naming the variable) and
    # made with the core: a cold start answering GET /health neither builds it nor fetches its key.
    make_gateway: PaymentsFactory = (
        (lambda _secret: payments)
        if payments is not None
        else payments_factory
        if payments_factory is not None
        else payment_gateway_factory(env)
    )
    return AwsApp(
        settings=settings,
        clients=shared,
        payment_secret=secret,
        meter=meter,
        core=lambda: _build_core(settings, shared, clock, ids, make_gateway(secret)),
        clock=clock,
    )


def _build_core(
    settings: AwsSettings, shared: AwsClients, clock: Clock, ids: IdGenerator | None, payments: PaymentGateway
) -> AwsCore:
    """The core wired with the AWS adapters (see the module docstring): what :meth:`AwsApp.core` builds once."""
    from fooddelivery.application.fanout import FanOutPublisher
    from fooddelivery.bootstrap import bootstrap
    from fooddelivery_aws.dynamodb import (
        DynamoDBDriverRepository,
        DynamoDBOrderRepository,
        DynamoDBRestaurantRepository,
        DynamoDBSagaStateStore,
    )
    from fooddelivery_aws.messaging import (
        EventBridgePublisher,
        KinesisLocationStream,
        SnsNotifier,
        SqsFifoEventPublisher,
        SqsSagaCommandBus,
        SqsScheduler,
    )
    from fooddelivery_aws.relay import StreamOutboxRelay
    from fooddelivery_aws.sagas import NoTimers, StepFunctionsEngine
    from fooddelivery_aws.settings import SagaMode

    ddb = shared("dynamodb")
    orders = DynamoDBOrderRepository(settings.orders_table, client=ddb, outbox_table=settings.outbox_table)
    publisher = FanOutPublisher(
        EventBridgePublisher(settings.event_bus_name, client=shared("events")),
        SqsFifoEventPublisher(settings.saga_queue_url, client=shared("sqs")),
    )
    timers: SqsScheduler | None = None
    if settings.saga_mode is SagaMode.QUEUE:
        assert settings.timer_queue_url is not None  # AwsSettings guarantees it
        timers = SqsScheduler(
            settings.timer_queue_url, settings.sagas_table, clock=clock, sqs_client=shared("sqs"), dynamodb_client=ddb
        )
    sagas = DynamoDBSagaStateStore(settings.sagas_table, client=ddb)
    engine: StepFunctionsEngine | None = None
    if settings.saga_mode is SagaMode.STEPFUNCTIONS:
        from fooddelivery_aws.stepfunctions.callbacks import StepFunctionsSignaller

        assert settings.state_machine_arn is not None  # AwsSettings guarantees it
        sfn = shared("stepfunctions")
        engine = StepFunctionsEngine(
            settings.state_machine_arn, StepFunctionsSignaller(sagas, clock, sfn), sagas, client=sfn
        )
    boot = bootstrap(
        settings.core,
        orders=orders,
        restaurants=DynamoDBRestaurantRepository(settings.restaurants_table, client=ddb),
        drivers=DynamoDBDriverRepository(settings.drivers_table, client=ddb),
        sagas=sagas,
        publisher=publisher,
        notifier=SnsNotifier(
            settings.notifications_topic_arn,
            settings.alerts_topic_arn,
            settings.sagas_table,
            clock=clock,
            sns_client=shared("sns"),
            dynamodb_client=ddb,
        ),
        payments=payments,
        location=KinesisLocationStream(settings.location_stream_name, client=shared("kinesis")),
        scheduler=timers if timers is not None else NoTimers(),
        clock=clock,
        ids=ids,
        saga_engine=engine,
        # Events leave through the table's stream (fooddelivery_aws.relay): no publish call in the request path,
        # and no in-process reaction (an SQS message brings each event to the runtime).
        publish_after_commit=False,
    )
    boot.service.relay.consumer = None
    boot.adapters["saga_commands"] = SqsSagaCommandBus(settings.saga_queue_url, client=shared("sqs"))
    return AwsCore(boot=boot, runtime=boot.service.runtime, timers=timers, relay=StreamOutboxRelay(publisher, orders))


def bootstrap_aws(settings: AwsSettings | None = None, **overrides: Any) -> Bootstrapped:
    """The core wired with the AWS adapters (what ``fooddelivery_aws.stepfunctions.task_handler`` builds on).

    Takes the arguments of :func:`build_aws_app`.
    """
    return build_aws_app(settings, **overrides).boot


#: The application of this execution environment (one per process).
_APP: ProcessApp[AwsApp] = ProcessApp("fooddelivery-aws", build_aws_app)


def aws_app() -> AwsApp:
    """The application of this execution environment: built from the environment on the first call, then cached.

    Raises:
        ValidationError: a missing or invalid setting (named); the next call tries again.
    """
    return _APP.get()


def reset_aws_app(app: AwsApp | None = None) -> None:
    """Forget the cached application, or install ``app`` as it (tests; a new configuration)."""
    _APP.reset(app)
