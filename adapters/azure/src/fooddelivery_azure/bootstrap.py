"""The Azure composition root: the core's ``bootstrap()`` with the Azure adapters, built once per host process.

:func:`azure_app` is what every function calls: the first invocation in a Functions host process reads
:class:`~fooddelivery_azure.settings.AzureSettings` and builds the application; later ones get the same object (the
Python worker keeps module state between invocations). Nothing happens at import: no environment read, no SDK
client; the Cosmos DB and Service Bus clients are built on first use and shared (one each per process). The settings
and the payment gateway are made with the application (a missing or wrong setting fails the first invocation,
naming the variable); the core wired with the Azure adapters (:class:`AzureCore`: the stores, the saga, the
publishers, the change-feed relay) on its first use, so the HTTP function's ``GET /health`` answers without loading
the use cases, the saga or the Cosmos DB and Service Bus adapters (as the AWS application does).

=================  ==========================================================================================
port               adapter
=================  ==========================================================================================
orders + outbox    ``CosmosOrderRepository`` (container ``orders``)
restaurants        ``CosmosRestaurantRepository``
drivers            ``CosmosDriverRepository``
sagas              ``CosmosSagaStateStore``: in the orders container, each instance in its order's partition (the
                   default), so the order store's native unit of work reads an order with its saga in one query
                   and writes both in one transactional batch; in a container of its own when
                   ``COSMOS_SAGAS_CONTAINER`` names another one (the core then composes the unit: two writes)
publisher          ``FanOutPublisher``: every event to the ``order-events`` topic, the runtime's events also to the
                   ``order-runtime`` session queue (session = order id, message id = event id). Called by the
                   change-feed relay only: the core is built with ``publish_after_commit=False``
scheduler          ``servicebus`` mode: ``ServiceBusScheduler`` (scheduled messages on the runtime queue, ledger in
                   ``timers``); ``durable`` mode: ``NoTimers`` (the orchestration keeps its own time)
saga engine        ``servicebus`` mode: the core's runner, driven by the runtime queue's function;
                   ``durable`` mode: ``DurableSagaEngine`` (an orchestration per order; the core's runtime then
                   has no runner, so timer and resume messages are refused as malformed and dead-lettered)
notifier           ``ServiceBusNotifier`` (``notifications`` topic)
location           ``ServiceBusLocationStream`` (``driver-locations`` topic)
payments           ``FOODDELIVERY_PAYMENT_GATEWAY`` (``fooddelivery.adapters.payments``): required, named
clock, ids         the core's ``SystemClock`` and ``UuidIdGenerator``
=================  ==========================================================================================

Every Cosmos DB call's request charge goes to :attr:`AzureApp.charges` (a
:class:`~fooddelivery_azure.metering.RequestChargeRecorder`). Metering is opt-in: built with a ``meter`` (the core's
:class:`~fooddelivery.metering.Meter`), the application also records every request charge on it
(``AZURE.COSMOS_REQUEST_UNITS``) and every Service Bus operation its senders and the runtime queue's function make
(``AZURE.SERVICEBUS_OPERATIONS``; see :mod:`fooddelivery_azure.metering`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fooddelivery.adapters.payments import payment_gateway_from_setting
from fooddelivery.bootstrap import CloudApp, ProcessApp
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery_azure.metering import MeterChargeSink, MeteredSender, RequestChargeRecorder
from fooddelivery_azure.settings import AuthMode, AzureSettings, SagaMode

if TYPE_CHECKING:
    from fooddelivery.application.relay import ChangeStreamRelay
    from fooddelivery.bootstrap import Bootstrapped
    from fooddelivery.http import HttpApi
    from fooddelivery.metering import Meter
    from fooddelivery.ports.auth import Authenticator
    from fooddelivery.ports.clock import Clock
    from fooddelivery.ports.ids import IdGenerator
    from fooddelivery.ports.payments import PaymentGateway
    from fooddelivery.ports.saga_engine import SagaEngine
    from fooddelivery.ports.scheduler import ScheduledMessage, Scheduler
    from fooddelivery_azure.cosmos import CosmosOrderRepository
    from fooddelivery_azure.servicebus.consumer import RetryPolicy, SenderRetrier

__all__ = ["AzureApp", "AzureCore", "NoTimers", "ServiceBusClients", "azure_app", "build_azure_app", "reset_azure_app"]


class NoTimers:
    """The scheduler of ``durable`` mode: the orchestration keeps its own time (durable timers), so a timer is a bug."""

    def schedule(self, message: ScheduledMessage) -> None:
        """Refuse.

        Raises:
            InfrastructureError: always (not retryable).
        """
        raise InfrastructureError(
            "no scheduled messages in FOODDELIVERY_SAGA_MODE=durable", message_id=message.message_id, retryable=False
        )

    def cancel(self, message_id: str) -> bool:
        """Nothing is ever scheduled: False."""
        return False


class ServiceBusClients:
    """One ``ServiceBusClient`` per process, built on first use, and one sender per entity.

    Args:
        settings: the namespace (managed identity) or, locally, a connection string.
        client: a ready client (or an in-memory stand-in with the same ``get_*_sender`` methods), for tests.
        meter: every sender's operations are recorded on it (:class:`~fooddelivery_azure.metering.MeteredSender`),
            or None.
    """

    def __init__(self, settings: AzureSettings, client: Any | None = None, meter: Meter | None = None) -> None:
        self._settings = settings
        self._client = client
        self._meter = meter
        self._senders: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self) -> Any:
        """The client (built on the first call)."""
        with self._lock:
            if self._client is None:
                from azure.servicebus import ServiceBusClient

                s = self._settings
                if s.servicebus_connection_string:
                    self._client = ServiceBusClient.from_connection_string(s.servicebus_connection_string)
                else:
                    from azure.identity import DefaultAzureCredential

                    assert s.servicebus_namespace is not None
                    self._client = ServiceBusClient(s.servicebus_namespace, DefaultAzureCredential())
            return self._client

    def sender(self, kind: str, name: str) -> Callable[[], Any]:
        """A factory of the sender of topic or queue ``name`` (``kind``: ``"topic"`` or ``"queue"``), built once."""

        def get() -> Any:
            client = self.client()
            with self._lock:
                sender = self._senders.get((kind, name))
                if sender is None:
                    make = client.get_topic_sender if kind == "topic" else client.get_queue_sender
                    sender = make(name)
                    if self._meter is not None:
                        sender = MeteredSender(sender, self._meter)
                    self._senders[(kind, name)] = sender
                return sender

        return get


@dataclass(frozen=True)
class AzureCore:
    """The part of an :class:`AzureApp` built on its first use: the core wired with the Azure adapters.

    Attributes:
        boot: the core (service, runner, adapters).
        orders: the order store (also decodes change-feed documents).
        relay: the change-feed outbox relay (and its sweep).
        retrier: schedules the delayed copy of a runtime-queue message that failed "not now"
            (:mod:`fooddelivery_azure.servicebus.consumer`), or None: such a message is abandoned.
    """

    boot: Bootstrapped
    orders: CosmosOrderRepository
    relay: ChangeStreamRelay
    retrier: SenderRetrier | None = None


class AzureApp(CloudApp[AzureCore]):
    """Everything one Functions host process needs, built once.

    The settings, the payment gateway, the request-charge recorder and the Service Bus clients (each built on its
    first use) are made with the application; the core (:class:`AzureCore`: the stores, the saga, the publishers, the
    relay) on the first use of :attr:`boot`, :attr:`orders`, :attr:`relay` or :attr:`retrier` -- once, under a lock,
    so concurrent first uses build it once; a build that raises is tried again on the next use. The HTTP function
    answering ``GET /health`` never builds it.

    Args:
        settings: the settings it was built from.
        core: builds the core on first use.
        charges: request charges of every Cosmos DB call.
        servicebus: the Service Bus clients.
        meter: the core's meter the application records its billable operations on, or None (not metering).
        authenticator_factory: makes the HTTP API's authenticator (default: the one ``FOODDELIVERY_AUTH`` names).
    """

    def __init__(
        self,
        settings: AzureSettings,
        core: Callable[[], AzureCore],
        charges: RequestChargeRecorder,
        servicebus: ServiceBusClients,
        meter: Meter | None = None,
        authenticator_factory: Callable[[], Authenticator] | None = None,
    ) -> None:
        self.settings = settings
        self.charges = charges
        self.servicebus = servicebus
        self.meter = meter
        self.authenticator_factory = authenticator_factory
        super().__init__(core)
        self._api: HttpApi | None = None
        self._lock = threading.Lock()

    @property
    def orders(self) -> CosmosOrderRepository:
        """The order store (also decodes change-feed documents); built on first use."""
        return self.core().orders

    @property
    def relay(self) -> ChangeStreamRelay:
        """The change-feed outbox relay (and its sweep); built on first use."""
        return self.core().relay

    @property
    def retrier(self) -> SenderRetrier | None:
        """Schedules the delayed copy of a runtime-queue message that failed "not now"; built on first use."""
        return self.core().retrier

    def http_api(self) -> HttpApi:
        """The HTTP API, built on first use with the authenticator of ``FOODDELIVERY_AUTH``. Its use cases are the
        core's, built by the first request that needs them (not by ``GET /health``, ``GET /openapi.json`` or
        ``OPTIONS``)."""
        if self._api is None:
            from fooddelivery.http import HttpApi

            with self._lock:
                if self._api is None:
                    factory = self.authenticator_factory or (lambda: _authenticator(self.settings))
                    self._api = HttpApi(lambda: self.boot.service, factory())
        return self._api

    @property
    def trust_principal(self) -> bool:
        """Whether ``X-MS-CLIENT-PRINCIPAL`` carries the verified caller (``FOODDELIVERY_AUTH=easyauth``)."""
        return self.settings.auth is AuthMode.EASYAUTH


def _authenticator(settings: AzureSettings) -> Authenticator:
    from fooddelivery.http import ClaimMapping, DevAuthenticator, GatewayClaimsAuthenticator, JwksAuthenticator

    if settings.auth is AuthMode.EASYAUTH:
        return GatewayClaimsAuthenticator(ClaimMapping.entra())
    if settings.auth is AuthMode.DEV:
        return DevAuthenticator()
    assert settings.entra_tenant_id is not None and settings.entra_audience is not None
    return JwksAuthenticator.for_entra(tenant_id=settings.entra_tenant_id, audience=settings.entra_audience)


def build_azure_app(
    settings: AzureSettings | None = None,
    *,
    cosmos_client: Any | None = None,
    containers: Mapping[str, Any] | None = None,
    servicebus_client: Any | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    payments: PaymentGateway | None = None,
    saga_engine: SagaEngine | None = None,
    environ: Mapping[str, str] | None = None,
    meter: Meter | None = None,
    retry_policy: RetryPolicy | None = None,
) -> AzureApp:
    """Build the Azure application (see the module docstring).

    Args:
        settings: defaults to :meth:`AzureSettings.from_env` of ``environ``.
        cosmos_client: a ready ``CosmosClient``; else one is built from the settings on the first Cosmos DB call
            (:class:`~fooddelivery_azure.cosmos.client.LazyContainers`: a cold start that serves no data makes none).
        containers: ready container objects by logical name (tests); else the client's. ``sagas`` is used only
            when the settings put the saga instances in a container of their own.
        servicebus_client: a ready ``ServiceBusClient`` (or a stand-in); else one is built on first use.
        clock, ids: the core's defaults when None.
        payments: a payment gateway (wins over ``FOODDELIVERY_PAYMENT_GATEWAY``).
        saga_engine: the engine of ``durable`` mode (default: a :class:`DurableSagaEngine` with the core's
            confirmation timeout); ignored in ``servicebus`` mode.
        environ: the environment (default ``os.environ``).
        meter: record Cosmos DB request units and Service Bus operations on it (see the module docstring), or None.
        retry_policy: how the runtime queue's function retries a message that failed "not now" (default
            :class:`~fooddelivery_azure.servicebus.consumer.RetryPolicy`: 5 s doubling to 5 min, 10 attempts).

    Returns:
        The application: its settings read and its payment gateway made now; its core (stores, saga, publishers,
        relay) on first use (:meth:`AzureApp.core`).

    Raises:
        ValidationError: a missing or invalid setting (named), ``FOODDELIVERY_PAYMENT_GATEWAY`` included.
    """
    env = os.environ if environ is None else environ
    settings = settings or AzureSettings.from_env(env)
    payments = payments or payment_gateway_from_setting(env, None)
    charges = RequestChargeRecorder(MeterChargeSink(meter) if meter is not None else None)
    bus = ServiceBusClients(settings, servicebus_client, meter)

    def core() -> AzureCore:
        return _build_core(
            settings,
            charges,
            bus,
            cosmos_client=cosmos_client,
            containers=containers,
            clock=clock,
            ids=ids,
            payments=payments,
            saga_engine=saga_engine,
            retry_policy=retry_policy,
        )

    return AzureApp(settings=settings, core=core, charges=charges, servicebus=bus, meter=meter)


def _build_core(
    settings: AzureSettings,
    charges: RequestChargeRecorder,
    bus: ServiceBusClients,
    *,
    cosmos_client: Any | None,
    containers: Mapping[str, Any] | None,
    clock: Clock | None,
    ids: IdGenerator | None,
    payments: PaymentGateway,
    saga_engine: SagaEngine | None,
    retry_policy: RetryPolicy | None,
) -> AzureCore:
    """The core wired with the Azure adapters (see the module docstring): what :meth:`AzureApp.core` builds once.
    Imports the use cases, the saga and the adapters' modules (not the SDKs: each client is built by its first
    call)."""
    from fooddelivery.application.fanout import FanOutPublisher
    from fooddelivery.application.relay import ChangeStreamRelay
    from fooddelivery.bootstrap import bootstrap
    from fooddelivery_azure.cosmos import (
        CosmosDriverRepository,
        CosmosOrderRepository,
        CosmosRestaurantRepository,
        CosmosSagaStateStore,
        build_cosmos_client,
    )
    from fooddelivery_azure.cosmos.client import LazyContainers
    from fooddelivery_azure.servicebus import (
        ServiceBusEventPublisher,
        ServiceBusLocationStream,
        ServiceBusNotifier,
        ServiceBusScheduler,
    )
    from fooddelivery_azure.servicebus.consumer import SenderRetrier

    durable = settings.saga_mode is SagaMode.DURABLE
    engine: SagaEngine | None = None
    if durable:
        from fooddelivery_azure.durable.engine import DurableSagaEngine

        engine = saga_engine or DurableSagaEngine(settings.core.confirmation_timeout_s)
    if containers is None:
        s = settings
        lazy = LazyContainers(
            lambda: cosmos_client
            or build_cosmos_client(s.cosmos_endpoint, key=s.cosmos_key, verify_tls=s.cosmos_verify_tls),
            settings.cosmos_database,
        )
        keys = ["orders", "restaurants", "drivers", "timers"]
        if not settings.sagas_in_orders_container:
            keys.append("sagas")
        containers = {key: lazy.container(settings.container(key)) for key in keys}
    orders = CosmosOrderRepository(containers["orders"], charges=charges)
    if settings.sagas_in_orders_container:  # the same container object: the order store's native unit of work
        sagas = CosmosSagaStateStore(containers["orders"], charges=charges, in_order_partition=True)
    else:
        sagas = CosmosSagaStateStore(containers["sagas"], charges=charges)
    topic, queue = settings.order_events_topic, settings.runtime_queue
    publisher = FanOutPublisher(
        bus=ServiceBusEventPublisher(bus.sender("topic", topic), name=topic),
        runtime_queue=ServiceBusEventPublisher(bus.sender("queue", queue), name=queue),
    )
    scheduler: Scheduler = ServiceBusScheduler(
        bus.sender("queue", settings.runtime_queue),
        containers["timers"],
        queue_name=settings.runtime_queue,
        charges=charges,
    )
    boot = bootstrap(
        settings.core,
        orders=orders,
        restaurants=CosmosRestaurantRepository(containers["restaurants"], charges=charges),
        drivers=CosmosDriverRepository(containers["drivers"], charges=charges),
        sagas=sagas,
        publisher=publisher,
        notifier=ServiceBusNotifier(
            bus.sender("topic", settings.notifications_topic), name=settings.notifications_topic
        ),
        payments=payments,
        location=ServiceBusLocationStream(bus.sender("topic", settings.locations_topic), name=settings.locations_topic),
        scheduler=NoTimers() if durable else scheduler,
        clock=clock,
        ids=ids,
        saga_engine=engine,
        publish_after_commit=False,  # the change feed publishes the outbox (fooddelivery_azure.functions)
    )
    return AzureCore(
        boot=boot,
        orders=orders,
        relay=ChangeStreamRelay(publisher, orders),
        retrier=SenderRetrier(bus.sender("queue", queue), boot.service.clock.now, retry_policy),
    )


#: The application of this host process (one per process).
_APP: ProcessApp[AzureApp] = ProcessApp("fooddelivery-azure", build_azure_app)


def azure_app() -> AzureApp:
    """The application of this host process: built from the environment on the first call, then cached.

    Raises:
        ValidationError: a missing or invalid setting (named); the next call tries again.
    """
    return _APP.get()


def reset_azure_app(app: AzureApp | None = None) -> None:
    """Forget the cached application, or install ``app`` as it (tests; a new configuration)."""
    _APP.reset(app)
