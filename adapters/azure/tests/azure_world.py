"""A whole Azure deployment for the tests: the Functions app's registered functions over Cosmos DB (the stand-in),
Service Bus (the in-memory one) and Durable Functions (``durable_stand_in.py``), with the platform's deliveries played
by hand, as the host would make them:

- the worker's event loop: one per process (:class:`FunctionsLoop`, a thread of the test session); the ``async``
  functions (``http``, ``runtime_queue``: they take the ``durableClient`` binding) run on it, given the binding's JSON
  of the Durable stand-in's HTTP API, as the worker calls them;
- HTTP: a real ``azure.functions.HttpRequest`` to the registered ``http`` function;
- the change feed: the stand-in's feed read from the beginning (it has no incremental feed: see
  ``azure_stand_ins.py``), its documents as ``func.Document`` objects to the registered ``outbox_changes`` function
  (published outbox documents are deleted, so each round sees only what is pending);
- the runtime queue: each session's messages, received peek-lock, to the registered ``runtime_queue`` function with
  message actions that settle on the in-memory receiver (the interface of the worker extension's
  ``ServiceBusMessageActions``);
- the timer: the registered ``outbox_sweep`` function;
- Durable Functions (``FOODDELIVERY_SAGA_MODE=durable``): the registered orchestrator and activity functions, played
  by :class:`~durable_stand_in.DurableHost` (the SDK's own replay) until idle.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import azure.functions as func
from durable_stand_in import DurableHost, DurableRpcServer
from memory_servicebus import MemoryReceiver, MemoryServiceBus, drain

from azure_stand_ins import StandInContainer
from fooddelivery.adapters.memory import FakePaymentGateway, SequentialIdGenerator, VirtualClock
from fooddelivery.domain.catalog import Driver, DriverStatus, MenuItem, Restaurant
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import Money
from fooddelivery.http import issue_dev_token
from fooddelivery.metering import Meter
from fooddelivery_azure.bootstrap import AzureApp, build_azure_app, reset_azure_app
from fooddelivery_azure.functions import blueprint
from fooddelivery_azure.settings import AuthMode, AzureSettings, SagaMode

START = datetime(2026, 12, 4, 18, 30, tzinfo=UTC)
NYC = GeoPoint(40.7128, -74.0060)
#: The reference design's load-test payload, as is.
REFERENCE_PAYLOAD = (
    b'{"userId": "user-1", "restaurantId": "rest-0", "items": [{"name": "Pizza", "price": 15.99, "quantity": 1},'
    b' {"name": "Soda", "price": 2.99, "quantity": 2}], "deliveryAddress": "123 Main St", "paymentMethod": "card"}'
)


def function_app() -> Any:
    """The app as ``deploy/azure/app/function_app.py`` builds it."""
    app = func.FunctionApp()
    app.register_functions(blueprint)
    return app


def _functions() -> dict[str, Any]:
    return {f.get_function_name(): f.get_user_function() for f in function_app().get_functions()}


class FunctionsLoop:
    """The Python worker's event loop (one per process), running in a thread: ``async`` functions are run on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="functions-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        """Run ``coroutine`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        """Stop the loop and join its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


class MessageActions:
    """The worker extension's ``ServiceBusMessageActions`` interface, settling on an in-memory receiver."""

    def __init__(self, receiver: MemoryReceiver) -> None:
        self.receiver = receiver
        self.settled: list[str] = []

    def complete(self, message: Any) -> None:
        self.receiver.complete_message(message)
        self.settled.append("complete")

    def abandon(self, message: Any) -> None:
        self.receiver.abandon_message(message)
        self.settled.append("abandon")

    def deadletter(
        self, message: Any, deadletter_reason: str | None = None, deadletter_error_description: str | None = None
    ) -> None:
        self.receiver.dead_letter_message(
            message, reason=deadletter_reason, error_description=deadletter_error_description
        )
        self.settled.append("deadletter")


@dataclass
class AzureWorld:
    """The app, its stores and bus, and the platform's deliveries."""

    app: AzureApp
    bus: MemoryServiceBus
    clock: VirtualClock
    containers: dict[str, StandInContainer]
    loop: FunctionsLoop
    rpc: DurableRpcServer
    durable: DurableHost
    functions: dict[str, Any] = field(default_factory=_functions)
    settlements: list[str] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        make_container: Any,
        loop: FunctionsLoop,
        rpc: DurableRpcServer,
        *,
        drivers: int = 3,
        saga_mode: SagaMode = SagaMode.SERVICEBUS,
        catalog: bool = True,
        payments: FakePaymentGateway | None = None,
        meter: Meter | None = None,
    ) -> AzureWorld:
        clock = VirtualClock(START)
        bus = MemoryServiceBus(clock.now)
        bus.create_topic("order-events")
        bus.create_subscription("order-events", "analytics")
        bus.create_queue("order-runtime", requires_session=True, max_delivery_count=5)
        bus.create_topic("notifications")
        bus.create_subscription("notifications", "all")
        bus.create_topic("driver-locations")
        bus.create_subscription("driver-locations", "all", requires_session=True)
        containers = {k: make_container(k) for k in ("orders", "restaurants", "drivers", "sagas", "timers")}
        settings = AzureSettings(
            cosmos_endpoint="https://stand-in",
            servicebus_namespace="memory",
            auth=AuthMode.DEV,
            local=True,
            saga_mode=saga_mode,
        )
        app = build_azure_app(
            settings,
            containers=containers,
            servicebus_client=bus,
            clock=clock,
            ids=SequentialIdGenerator("az"),
            payments=payments or FakePaymentGateway(),
            meter=meter,
        )
        reset_azure_app(app)
        durable = DurableHost.of_app(function_app(), clock.now)
        rpc.host = durable
        world = cls(app, bus, clock, containers, loop, rpc, durable)
        if catalog:
            world.seed(drivers)
        return world

    def seed(self, drivers: int = 3) -> None:
        """The catalog of these tests: ``rest-0`` (the reference payload's pizza and soda) and ``drivers`` drivers."""
        app = self.app
        app.boot.restaurants.add(
            Restaurant(
                "rest-0", "Luigi's", "pizza", Decimal("4.6"), NYC, "USD", Decimal("0.08875"), 15,
                (
                    MenuItem("pizza", "Pizza", Money.of("15.99", "USD")),
                    MenuItem("soda", "Soda", Money.of("2.99", "USD")),
                ),
            )
        )
        for i in range(drivers):
            location = GeoPoint(NYC.lat + 0.002 * (i + 1), NYC.lon)
            app.boot.drivers.add(Driver(f"drv-{i}", f"Dana {i}", DriverStatus.AVAILABLE, location, "scooter", START))

    # -- HTTP -------------------------------------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> func.HttpResponse:
        all_headers = {"Content-Type": "application/json"} if body is not None else {}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        raw = body.encode() if isinstance(body, str) else body
        request = func.HttpRequest(
            method, f"https://fooddelivery.azurewebsites.net{path}", headers=all_headers, body=raw or b""
        )
        return self.http(request)

    def http(self, request: func.HttpRequest) -> func.HttpResponse:
        """``request`` to the registered ``http`` function, as the worker invokes it (on its loop, with the
        ``durableClient`` binding's JSON)."""
        response: func.HttpResponse = self.loop.run(
            self.functions["http"](req=request, client=self.rpc.client_binding())
        )
        return response

    @staticmethod
    def json(response: func.HttpResponse) -> Any:
        return json.loads(response.get_body())

    @staticmethod
    def token(role: str, sub: str, **binding: str) -> str:
        return issue_dev_token(role, sub, **binding)

    # -- the platform's deliveries ----------------------------------------------------------------------------
    def change_feed(self) -> int:
        """One round of the change feed: pending outbox documents to ``outbox_changes``; returns how many."""
        inner = self.containers["orders"].inner
        documents = [d for d in inner.query_items_change_feed(start_time="Beginning") if d.get("type") == "outbox"]
        documents.sort(key=lambda d: d["outboxSeq"])
        if documents:
            self.functions["outbox_changes"](func.DocumentList([func.Document.from_dict(d) for d in documents]))
        return len(documents)

    def runtime_queue(self) -> int:
        """Every visible runtime-queue message to ``runtime_queue``; returns how many."""

        def handle(message: Any, receiver: MemoryReceiver) -> None:
            actions = MessageActions(receiver)
            self.loop.run(
                self.functions["runtime_queue"](
                    message=message, message_actions=actions, client=self.rpc.client_binding()
                )
            )
            self.settlements.extend(actions.settled)

        return drain(self.bus, "order-runtime", handle)

    def settle(self) -> None:
        """Run the change feed, the runtime queue and Durable Functions until none has anything left."""
        for _ in range(50):
            if self.change_feed() + self.runtime_queue() + self.durable.run_until_idle() == 0:
                return
        raise AssertionError("the deployment never settled")

    def advance(self, seconds: float) -> None:
        """Time passes (scheduled timers fall due), then everything settles."""
        self.clock.advance(seconds)
        self.settle()
