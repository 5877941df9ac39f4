"""One runtime for every place the saga runs: the same inputs, fed to the in-process runtime and to the AWS
deployment (DynamoDB, its stream relay, the SQS FIFO saga queue and the timer queue on moto, the SQS function's
handler), end in identical orders, payments and drivers.

The sequence has what at-least-once delivery and crashes bring: every message delivered twice, and a cancellation
whose process dies between saving the cancelled order and signalling the saga (so only the committed
``OrderCancelled`` event, delivered later, can compensate). Orders are placed with idempotency keys, so both worlds
derive the same order ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import pytest
from aws_stack import Stack, sqs_event
from deployment import Deployment

from fooddelivery.adapters.system import SystemClock
from fooddelivery.application.commands import PlaceOrder
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.domain import Actor, DeliveryAddress, Driver, DriverStatus, GeoPoint, LineRequest, MenuItem, Money
from fooddelivery.domain import Restaurant as RestaurantModel
from fooddelivery.domain.order import OrderStatus, order_id_for_key
from fooddelivery.ports.drivers import DriverRepository
from fooddelivery.ports.restaurants import RestaurantRepository
from fooddelivery_aws.entrypoints import sqs

CUSTOMER = "user-parity"
RESTAURANT = "rest-parity"
DRIVERS = ("drv-p1", "drv-p2", "drv-p3")
KEYS = {"confirmed": "key-a", "cancelled": "key-b", "timed_out": "key-c"}
#: Far from the drivers ``Deployment`` seeds for the other tests (gateway.seed, in Manhattan), so only ours compete.
ALBANY = GeoPoint(42.6526, -73.7562)
TIMEOUT_S = 8  # seconds: long enough for the first deliveries on a busy machine (3 s was not, under a load
#              average of 7.7 on 2 cores: the timer fired before the restaurant confirmed), short for the test


class SimulatedCrash(RuntimeError):
    """The process died."""


def seed(restaurants: RestaurantRepository, drivers: DriverRepository) -> None:
    """One restaurant (USD) and three drivers 0.5, 1.0 and 1.5 km north of it."""
    now = datetime.now(UTC)
    restaurants.add(
        RestaurantModel(
            RESTAURANT,
            "Parity Pizza",
            "pizza",
            Decimal("4.4"),
            ALBANY,
            "USD",
            Decimal("0.08875"),
            15,
            (MenuItem("pizza", "Pizza", Money.of("15.99", "USD")), MenuItem("soda", "Soda", Money.of("2.99", "USD"))),
        )
    )
    for i, driver_id in enumerate(DRIVERS, start=1):
        point = GeoPoint(ALBANY.lat + 0.0045 * i, ALBANY.lon)
        drivers.add(Driver(driver_id, f"Driver {i}", DriverStatus.AVAILABLE, point, "bicycle", now))


class World(Protocol):
    """What the script needs of a world."""

    boot: Bootstrapped

    def deliver(self, copies: int) -> None:
        """Deliver every pending runtime message (events and due timers) ``copies`` times each."""


class InProcess:
    """The in-process runtime: the relay hands committed events to ``OrderRuntime`` right away; the script's extra
    copies are handed to it again; due timers are delivered by the process itself."""

    def __init__(self) -> None:
        self.boot = bootstrap(Settings(confirmation_timeout_s=TIMEOUT_S), clock=SystemClock())
        seed(self.boot.restaurants, self.boot.drivers)
        self._seen = 0

    def deliver(self, copies: int) -> None:
        for _ in range(10):
            self.boot.service.pump()
            due = self.boot.adapters["scheduler"].pop_due(self.boot.service.clock.now())
            for message in due:
                for _ in range(copies):
                    self.boot.service.deliver_timer(message)
            published = self.boot.publisher.published
            fresh, self._seen = published[self._seen :], len(published)
            for _ in range(copies - 1):  # the relay delivered each once already
                self.boot.service.handle_events(fresh)
            self.boot.service.relay.publish_own()
            if not due and not fresh:
                return
        raise AssertionError("the in-process world did not settle")


class OnAws:
    """The AWS deployment on moto, its functions played by their handlers (``deployment.Deployment``)."""

    def __init__(self, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
        self.deployment = Deployment(stack, monkeypatch, FOODDELIVERY_CONFIRMATION_TIMEOUT_S=str(TIMEOUT_S))
        self.boot = self.deployment.app.boot
        seed(self.boot.restaurants, self.boot.drivers)

    def deliver(self, copies: int) -> None:
        stack = self.deployment.stack
        for _ in range(20):
            moved = self.deployment.relay()
            handled = 0
            for url in (stack.saga_queue_url, stack.timer_queue_url):
                messages = stack.receive(url, delete=False)
                if not messages:
                    continue
                for _ in range(copies):  # SQS delivers a message again (at-least-once)
                    assert sqs.handler(sqs_event(messages), None) == {"batchItemFailures": []}
                for m in messages:
                    stack.clients["sqs"].delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                handled += len(messages)
            if not moved and not handled:
                return
        raise AssertionError("the deployment did not settle")


def _place(world: World, key: str) -> None:
    world.boot.service.place_order(
        Actor.customer(CUSTOMER),
        PlaceOrder(
            restaurant_id=RESTAURANT,
            lines=[LineRequest(1, name="Pizza", unit_price="15.99"), LineRequest(2, item_id="soda")],
            delivery_address=DeliveryAddress("123 Main St"),
            payment_method="card",
        ),
        key,
    )


def _cancel_dying_before_the_signal(world: World, order_id: str) -> None:
    """The customer cancels; the process dies after the cancelled order is saved, before the saga is signalled."""
    runtime = world.boot.service.runtime
    signal: Callable[..., Any] = runtime.signal

    def die(*args: Any, **kwargs: Any) -> Any:
        raise SimulatedCrash("died between the save and the signal")

    runtime.signal = die
    try:
        with pytest.raises(SimulatedCrash):
            world.boot.service.cancel_order(Actor.customer(CUSTOMER), order_id, "changed my mind")
    finally:
        runtime.signal = signal
    assert world.boot.orders.get(order_id).status is OrderStatus.CANCELLED


def run_script(world: World) -> dict[str, Any]:
    """The input sequence; returns the end state."""
    ids = {name: order_id_for_key(CUSTOMER, key) for name, key in KEYS.items()}
    for key in KEYS.values():
        _place(world, key)
        _place(world, key)  # the client retries: the same order
    world.deliver(copies=2)
    service = world.boot.service
    service.confirm_order(Actor.restaurant(RESTAURANT), ids["confirmed"])
    _cancel_dying_before_the_signal(world, ids["cancelled"])
    world.deliver(copies=2)
    before_the_timeout = end_state(world, ids)  # the cancellation compensated through its event, not a timeout
    time.sleep(TIMEOUT_S + 0.3)
    world.deliver(copies=2)
    driver_id = world.boot.orders.get(ids["confirmed"]).driver_id
    assert driver_id is not None
    for status in (OrderStatus.PREPARING, OrderStatus.READY_FOR_PICKUP):
        service.change_status(Actor.restaurant(RESTAURANT), ids["confirmed"], status)
    for status in (OrderStatus.PICKED_UP, OrderStatus.DELIVERED):
        service.change_status(Actor.driver(driver_id), ids["confirmed"], status)
    world.deliver(copies=2)
    return {"before the timeout": before_the_timeout, "end": end_state(world, ids)}


def end_state(world: World, ids: dict[str, str]) -> dict[str, Any]:
    """Orders, payments and drivers, in terms both worlds share (names, not generated ids)."""
    orders = {name: world.boot.orders.get(order_id) for name, order_id in ids.items()}
    by_charge = {o.charge_id: name for name, o in orders.items()}
    payments = world.boot.adapters["payments"]
    sagas = {name: world.boot.sagas.get(order_id) for name, order_id in ids.items()}
    return {
        "orders": {
            name: (o.status.value, o.payment_status.value, o.failure_reason, o.driver_id, str(o.pricing.total))
            for name, o in orders.items()
        },
        "sagas": {name: (s.status.value, s.outcome) for name, s in sagas.items()},
        "captured": sorted((by_charge[c.charge_id], str(c.amount)) for c in payments.charges),
        "refunded": sorted((by_charge[r.charge_id], str(r.amount)) for r in payments.refunds),
        "drivers": {d: (x.status.value, x.current_order_id) for d in DRIVERS for x in [world.boot.drivers.get(d)]},
    }


def test_the_same_inputs_end_in_the_same_orders_payments_and_drivers_in_process_and_on_aws(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_process = run_script(InProcess())
    on_aws = run_script(OnAws(stack, monkeypatch))

    assert on_aws == in_process
    early = in_process["before the timeout"]
    assert early["orders"]["cancelled"][:2] == ("CANCELLED", "REFUNDED")
    assert early["sagas"]["cancelled"] == ("FAILED", "cancelled")
    assert early["sagas"]["timed_out"] == ("WAITING", None)
    in_process = in_process["end"]
    orders = in_process["orders"]
    assert orders["confirmed"][:3] == ("DELIVERED", "CAPTURED", None)
    assert orders["cancelled"][:3] == ("CANCELLED", "REFUNDED", "changed my mind")
    assert orders["timed_out"][:3] == ("FAILED", "REFUNDED", "restaurant_timeout")
    assert [name for name, _ in in_process["captured"]] == ["cancelled", "confirmed", "timed_out"]
    assert [name for name, _ in in_process["refunded"]] == ["cancelled", "timed_out"]
    assert all(status == "AVAILABLE" and holder is None for status, holder in in_process["drivers"].values())
    assert in_process["sagas"] == {
        "confirmed": ("SUCCEEDED", None),
        "cancelled": ("FAILED", "cancelled"),
        "timed_out": ("FAILED", "restaurant_timeout"),
    }
