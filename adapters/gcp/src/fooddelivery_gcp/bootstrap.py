"""The GCP composition root: the core's ``bootstrap()`` with the Google Cloud adapters, built once per instance.

:func:`gcp_app` is what every function calls: on the first request of a Cloud Functions instance it reads
:class:`~fooddelivery_gcp.settings.GcpSettings` and builds everything; later requests get the same object back.
Nothing happens at import: no environment read, no client library import, no connection. The settings and the
payment gateway are made with the application (a missing or wrong setting fails the first request, naming the
variable); the core wired with the Google Cloud adapters (:class:`GcpCore`: the stores, the saga, the publishers) on
its first use, so ``GET /health`` answers without loading the use cases, the saga or the Firestore and Pub/Sub
adapters (as the AWS application does).

Wiring:

=================  ==========================================================================================
port               adapter
=================  ==========================================================================================
orders + outbox    ``FirestoreOrderRepository``
restaurants        ``FirestoreRestaurantRepository``
drivers            ``FirestoreDriverRepository``
sagas              ``FirestoreSagaStateStore``
unit of work       ``FirestoreUnitOfWork`` (native, chosen by the core's ``unit_of_work_for``): an order read with
                   its saga in one ``get_all``, a saga step's order, outbox records and saga in one batched commit
publisher          ``FanOutPublisher``: every event to ``ORDER_EVENTS_TOPIC``, the runtime's events also to
                   ``RUNTIME_TOPIC`` (both ``PubSubEventPublisher``, ordering key = order id)
scheduler          ``CloudTasksScheduler`` (pubsub mode); none in workflows mode (the workflow keeps time)
saga engine        pubsub mode: the core's ``SagaRunner``, driven by the runtime function;
                   workflows mode: ``WorkflowsEngine`` (``WORKFLOW``)
notifier           ``PubSubNotifier`` (``NOTIFICATIONS_TOPIC``, ``ALERTS_TOPIC``; ledger in Firestore)
location           ``PubSubLocationStream`` (``LOCATIONS_TOPIC``, ordering key = driver id)
payments           ``payment_gateway_from_setting`` (``FOODDELIVERY_PAYMENT_GATEWAY``: ``fake`` only by name)
clock, ids         ``SystemClock``, ``UuidIdGenerator``
=================  ==========================================================================================

The outbox: **publish after commit**. Each request (and each runtime or timer invocation) publishes exactly the
events it committed, right after the commit, through the core's ``OutboxRelay``; what it could not publish stays
in the outbox, and the ``outbox_sweep`` function (Cloud Scheduler, every minute) publishes it with
:meth:`GcpApp.sweep`, leaving records younger than ``sweep_min_age_s`` to the callers publishing them. A Firestore
trigger feeding ``ChangeStreamRelay`` was the alternative; it was not chosen because Firestore triggers do not
deliver changes in order ("Ordering is not guaranteed. Rapid changes can trigger events in an unexpected order",
https://cloud.google.com/firestore/native/docs/eventarc#limitations), so one order's events could
reach the ordered topics out of order, because each outbox record would cost one more function invocation, and
because no local stand-in delivers Firestore triggers, so that path could not be tested end to end here. The
in-process consumer is unplugged (``relay.consumer = None``): the runtime topic's subscription feeds the runtime
function instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fooddelivery.adapters.payments import payment_gateway_from_setting
from fooddelivery.adapters.system import SystemClock
from fooddelivery.bootstrap import CloudApp, ProcessApp
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery_gcp.metering import FirestoreMeter
from fooddelivery_gcp.settings import AuthMode, GcpSettings, SagaMode

if TYPE_CHECKING:
    from fooddelivery.bootstrap import Bootstrapped
    from fooddelivery.http import HttpApi
    from fooddelivery.metering import Meter
    from fooddelivery.ports.clock import Clock
    from fooddelivery.ports.ids import IdGenerator
    from fooddelivery.ports.payments import PaymentGateway
    from fooddelivery.ports.scheduler import ScheduledMessage
    from fooddelivery_gcp.firestore import FirestoreOrderRepository
    from fooddelivery_gcp.pubsub import PubSubDeadLetters
    from fooddelivery_gcp.tasks import OidcVerifier
    from fooddelivery_gcp.workflows.engine import WorkflowsEngine

__all__ = ["GcpApp", "GcpCore", "NoTimers", "build_gcp_app", "gcp_app", "reset_gcp_app"]


class NoTimers:
    """The scheduler of workflows mode: the workflow keeps its own time, so a timer here is a bug."""

    def schedule(self, message: ScheduledMessage) -> None:
        """Refuse.

        Raises:
            InfrastructureError: always.
        """
        raise InfrastructureError("no saga timers in workflows mode", reason="no_timers")

    def cancel(self, message_id: str) -> bool:
        """Nothing to cancel."""
        return False


@dataclass(frozen=True)
class GcpCore:
    """The part of a :class:`GcpApp` built on its first use: the core wired with the Google Cloud adapters.

    Attributes:
        boot: the core (service, runner, adapters).
        orders: the order store (its outbox too).
        dead_letters: where poison messages go.
        engine: the Workflows engine (workflows mode), else None.
    """

    boot: Bootstrapped
    orders: FirestoreOrderRepository
    dead_letters: PubSubDeadLetters
    engine: WorkflowsEngine | None = None


class GcpApp(CloudApp[GcpCore]):
    """Everything one Cloud Functions instance needs, built once.

    The settings, the payment gateway and the Firestore meter are made with the application; the core
    (:class:`GcpCore`: stores, saga, publishers, dead letters, the Workflows engine) on the first use of :attr:`boot`,
    :attr:`orders`, :attr:`dead_letters` or :attr:`engine` -- once, under a lock, so concurrent first uses build it
    once; a build that raises is tried again on the next use. The HTTP function answering ``GET /health`` never
    builds it.

    Args:
        settings: the settings it was built from.
        core: builds the core on first use.
        firestore_meter: Firestore operations of this instance, by collection.
        sweep_min_age_s: the sweep leaves outbox records younger than this to their callers.
        meter: the core's meter the application records its billable operations on (Firestore documents, Pub/Sub
            bytes, Cloud Tasks operations; :mod:`fooddelivery_gcp.metering`), or None (metering is opt-in).
    """

    def __init__(
        self,
        settings: GcpSettings,
        core: Callable[[], GcpCore],
        firestore_meter: FirestoreMeter,
        *,
        sweep_min_age_s: float = 30.0,
        meter: Meter | None = None,
    ) -> None:
        self.settings = settings
        self.firestore_meter = firestore_meter
        self.sweep_min_age_s = sweep_min_age_s
        self.meter = meter
        super().__init__(core)
        self._api: HttpApi | None = None
        self._verifiers: dict[str, OidcVerifier] = {}
        self._lock = threading.Lock()

    @property
    def orders(self) -> FirestoreOrderRepository:
        """The order store (its outbox too); built on first use."""
        return self.core().orders

    @property
    def dead_letters(self) -> PubSubDeadLetters:
        """Where poison messages go; built on first use."""
        return self.core().dead_letters

    @property
    def engine(self) -> WorkflowsEngine | None:
        """The Workflows engine (workflows mode), else None; built on first use."""
        return self.core().engine

    def http_api(self) -> HttpApi:
        """The HTTP API, with the authenticator ``FOODDELIVERY_AUTH`` names (built on first use). Its use cases are
        the core's, built by the first request that needs them (not by ``GET /health``, ``GET /openapi.json`` or
        ``OPTIONS``)."""
        if self._api is None:
            from fooddelivery.http import (
                ClaimMapping,
                DevAuthenticator,
                GatewayClaimsAuthenticator,
                HttpApi,
                JwksAuthenticator,
            )

            with self._lock:
                if self._api is None:
                    authenticator: Any
                    if self.settings.auth is AuthMode.FIREBASE:
                        authenticator = JwksAuthenticator.for_firebase(project_id=self.settings.project)
                    elif self.settings.auth is AuthMode.GATEWAY:
                        authenticator = GatewayClaimsAuthenticator(ClaimMapping.firebase())
                    else:
                        authenticator = DevAuthenticator()
                    self._api = HttpApi(lambda: self.boot.service, authenticator)
        return self._api

    def verifier(self, audience: str, *accounts: str | None) -> OidcVerifier:
        """The OIDC verifier of a function reached by Google services (Cloud Tasks, Workflows, Scheduler).

        Raises:
            InfrastructureError: no account is configured to call it.
        """
        allowed = tuple(a for a in accounts if a)
        if not allowed:
            raise InfrastructureError(f"no service account may call {audience}: configuration missing")
        key = f"{audience}|{','.join(allowed)}"
        with self._lock:
            verifier = self._verifiers.get(key)
            if verifier is None:
                from fooddelivery_gcp.tasks import OidcVerifier

                verifier = self._verifiers[key] = OidcVerifier(audience, allowed)
        return verifier

    def install_verifier(self, audience: str, verifier: OidcVerifier, *accounts: str) -> None:
        """Use ``verifier`` for ``audience`` (tests: a verifier with local keys)."""
        with self._lock:
            self._verifiers[f"{audience}|{','.join(accounts)}"] = verifier

    def sweep(self) -> int:
        """Publish every outbox record older than ``sweep_min_age_s`` (oldest first); returns how many.

        Raises:
            InfrastructureError: the bus refused a batch (those records stay pending).
        """
        clock = self.boot.service.clock
        orders = self.orders
        min_age = timedelta(seconds=self.sweep_min_age_s)

        class _Settled:
            """The outbox as the sweep sees it: records committed at least ``min_age`` ago."""

            def pending(self, limit: int = 100) -> Any:
                return orders.pending(limit, older_than=clock.now() - min_age)

            def mark_published(self, event_ids: Any) -> None:
                orders.mark_published(event_ids)

            def mark_failed(self, event_ids: Any) -> None:
                orders.mark_failed(event_ids)

        from fooddelivery.application.relay import OutboxRelay

        relay = OutboxRelay(_Settled(), self.boot.service.relay.publisher, consumer=None, claim_ttl_s=0)
        return relay.flush()


def build_gcp_app(
    settings: GcpSettings | None = None,
    *,
    firestore: Any = None,
    publisher: Any = None,
    tasks_client: Any = None,
    executions_client: Any = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    payments: PaymentGateway | None = None,
    environ: Mapping[str, str] | None = None,
    meter: Meter | None = None,
) -> GcpApp:
    """Build the GCP application (see the module docstring).

    Args:
        settings: defaults to :meth:`GcpSettings.from_env` of ``environ``.
        firestore: a ``google.cloud.firestore.Client``; built lazily when None.
        publisher: a Pub/Sub ``PublisherClient`` with message ordering; built lazily when None.
        tasks_client: a ``tasks_v2.CloudTasksClient``; built lazily when None.
        executions_client: a Workflows executions client (workflows mode); built lazily when None.
        clock: defaults to ``SystemClock``.
        ids: defaults to the core's ``UuidIdGenerator``.
        payments: a payment gateway (tests); otherwise ``FOODDELIVERY_PAYMENT_GATEWAY`` decides.
        environ: the environment (default ``os.environ``).
        meter: record what the application bills on it (Firestore reads, writes and deletes, Pub/Sub bytes, Cloud
            Tasks operations; see :mod:`fooddelivery_gcp.metering`), or None.

    Returns:
        The application: its settings read and its payment gateway made now; its core (stores, saga, publishers)
        on first use (:meth:`GcpApp.core`).

    Raises:
        ValidationError: a missing or invalid setting (named), ``FOODDELIVERY_PAYMENT_GATEWAY`` included.
    """
    env = os.environ if environ is None else environ
    settings = settings or GcpSettings.from_env(env)
    clock = clock or SystemClock()
    payments = payments or payment_gateway_from_setting(env, None)
    documents = FirestoreMeter(forward=meter)
    return GcpApp(
        settings,
        lambda: _build_core(
            settings,
            documents,
            firestore=firestore,
            publisher=publisher,
            tasks_client=tasks_client,
            executions_client=executions_client,
            clock=clock,
            ids=ids,
            payments=payments,
            meter=meter,
        ),
        documents,
        meter=meter,
    )


def _build_core(
    settings: GcpSettings,
    documents: FirestoreMeter,
    *,
    firestore: Any,
    publisher: Any,
    tasks_client: Any,
    executions_client: Any,
    clock: Clock,
    ids: IdGenerator | None,
    payments: PaymentGateway,
    meter: Meter | None,
) -> GcpCore:
    """The core wired with the Google Cloud adapters (see the module docstring): what :meth:`GcpApp.core` builds
    once. Imports the use cases, the saga and the adapters' modules (not the client libraries: each client is built
    by its first call)."""
    from fooddelivery.application.fanout import FanOutPublisher
    from fooddelivery.bootstrap import bootstrap
    from fooddelivery_gcp.firestore import (
        FirestoreDriverRepository,
        FirestoreOrderRepository,
        FirestoreRestaurantRepository,
        FirestoreSagaStateStore,
        LazyFirestore,
    )
    from fooddelivery_gcp.pubsub import (
        LazyPublisher,
        PubSubDeadLetters,
        PubSubEventPublisher,
        PubSubLocationStream,
        PubSubNotifier,
    )
    from fooddelivery_gcp.tasks import CloudTasksScheduler

    lazy = LazyFirestore(firestore, project=settings.project, database=settings.database)
    pubsub = LazyPublisher(publisher, meter=meter)
    prefix = settings.collection_prefix
    orders = FirestoreOrderRepository(lazy, prefix=prefix, meter=documents)
    sagas = FirestoreSagaStateStore(lazy, prefix=prefix, meter=documents)
    fanout = FanOutPublisher(
        bus=PubSubEventPublisher(settings.topic(settings.order_events_topic), client=pubsub),
        runtime_queue=PubSubEventPublisher(settings.topic(settings.runtime_topic), client=pubsub),
    )
    scheduler: Any = NoTimers()
    engine: WorkflowsEngine | None = None
    if settings.saga_mode is SagaMode.PUBSUB:
        assert settings.tasks_queue and settings.timer_url and settings.tasks_service_account  # GcpSettings checks
        scheduler = CloudTasksScheduler(
            settings.tasks_queue,
            settings.timer_url,
            settings.tasks_service_account,
            clock,
            client=tasks_client,
            meter=meter,
        )
    else:
        from fooddelivery_gcp.workflows.engine import WorkflowsEngine

        assert settings.workflow is not None  # GcpSettings checks
        engine = WorkflowsEngine(settings.workflow, sagas, clock, client=executions_client)
    boot = bootstrap(
        settings.core,
        orders=orders,
        restaurants=FirestoreRestaurantRepository(lazy, prefix=prefix, meter=documents),
        drivers=FirestoreDriverRepository(lazy, prefix=prefix, meter=documents),
        sagas=sagas,
        publisher=fanout,
        notifier=PubSubNotifier(
            settings.topic(settings.notifications_topic),
            lambda: lazy.get().collection(f"{prefix}notifications"),
            client=pubsub,
            alerts_topic=settings.topic(settings.alerts_topic) if settings.alerts_topic else None,
        ),
        payments=payments,
        location=PubSubLocationStream(settings.topic(settings.locations_topic), client=pubsub),
        scheduler=scheduler,
        clock=clock,
        ids=ids,
        saga_engine=engine,
    )
    boot.service.relay.consumer = None  # the runtime topic's subscription feeds the runtime function
    return GcpCore(
        boot=boot,
        orders=orders,
        dead_letters=PubSubDeadLetters(settings.topic(settings.dead_letter_topic), client=pubsub),
        engine=engine,
    )


#: The application of this instance (one per process).
_APP: ProcessApp[GcpApp] = ProcessApp("fooddelivery-gcp", build_gcp_app)


def gcp_app() -> GcpApp:
    """The application of this instance: built from the environment on the first call, then cached.

    Raises:
        ValidationError: a missing or invalid setting (named); the next call tries again.
    """
    return _APP.get()


def reset_gcp_app(app: GcpApp | None = None) -> None:
    """Forget the cached application, or install ``app`` as it (tests; a new configuration)."""
    _APP.reset(app)
