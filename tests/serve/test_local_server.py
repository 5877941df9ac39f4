"""``LocalServer`` in process, on a SQLite file and a virtual clock: the demo catalog, recovery at start-up, and
the background worker's passes (no HTTP server, no threads: each pass is called directly)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.adapters.sqlite import open_sqlite_adapters
from fooddelivery.bootstrap import Settings
from fooddelivery.domain import EventType, InfrastructureError, OrderStatus, PaymentStatus
from fooddelivery.domain.events import DomainEvent
from fooddelivery.http import DevAuthenticator, HttpRequest, issue_dev_token
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery.server import DemoCatalog, LocalServer, load_demo_catalog
from fooddelivery.server.demo import DRIVER_SPREAD_KM
from tests.serve._live import REFERENCE_PAYLOAD

T0 = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
SECRET = "serve-tests-development-secret-of-32+bytes"
TIMEOUT_S = 300.0


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
def start(tmp_path: Path, clock: VirtualClock) -> Iterator[Callable[[], LocalServer]]:
    """Build a ``LocalServer`` on the test's database (a new "process" per call); all are closed at the end."""
    servers: list[LocalServer] = []

    def start_() -> LocalServer:
        server = LocalServer(
            tmp_path / "local.db",
            settings=Settings(confirmation_timeout_s=TIMEOUT_S),
            demo=True,
            clock=clock,
            authenticator=DevAuthenticator(SECRET, clock=clock),
        )
        servers.append(server)
        return server

    yield start_
    for server in servers:
        server.close()


def _place(server: LocalServer, clock: VirtualClock) -> str:
    customer = issue_dev_token("customer", "user-1", secret=SECRET, now=clock.now())
    headers = {"Authorization": f"Bearer {customer}"}
    response = server.api.handle(HttpRequest.build("POST", "/orders", headers=headers, json_body=REFERENCE_PAYLOAD))
    assert response.status == 201, response.body
    return str(response.json()["orderId"])


class _RefusingBus:
    """An event bus that is down."""

    def publish(self, events: Any) -> None:
        raise InfrastructureError("the bus is down")


# -- the demo catalog --------------------------------------------------------------------------------------
def test_the_demo_catalog_has_the_reference_restaurants_with_its_items_and_drivers_nearby(
    tmp_path: Path, clock: VirtualClock
) -> None:
    with open_sqlite_adapters(tmp_path / "demo.db") as stored:
        loaded = load_demo_catalog(stored.restaurants, stored.drivers, clock)

        assert loaded == DemoCatalog(restaurants_added=100, drivers_added=500, restaurants=100, drivers=500)
        for index in (0, 42, 99):
            restaurant = stored.restaurants.get(f"rest-{index}")
            prices = {item.name: str(item.price.amount) for item in restaurant.menu if item.available}
            assert (prices["Pizza"], prices["Soda"], restaurant.currency) == ("15.99", "2.99", "USD")
            driver = stored.drivers.get(f"drv-{index}-0")
            assert driver.location.distance_km(restaurant.location) <= DRIVER_SPREAD_KM + 0.01
        assert stored.restaurants.get("rest-0").name.startswith("New York")


def test_loading_the_demo_catalog_again_adds_nothing_and_keeps_what_changed(
    tmp_path: Path, clock: VirtualClock
) -> None:
    with open_sqlite_adapters(tmp_path / "demo.db") as stored:
        load_demo_catalog(stored.restaurants, stored.drivers, clock)
        moved = stored.drivers.get("drv-3-1")
        stored.drivers.save(replace(moved, location=replace(moved.location, lat=moved.location.lat + 0.01)))

        again = load_demo_catalog(stored.restaurants, stored.drivers, clock)

        assert (again.restaurants_added, again.drivers_added) == (0, 0)
        assert stored.drivers.get("drv-3-1").location.lat == pytest.approx(moved.location.lat + 0.01)


def test_a_demo_catalog_cut_short_is_completed_on_the_next_load(tmp_path: Path, clock: VirtualClock) -> None:
    from fooddelivery.server.demo import demo_drivers, demo_restaurants

    with open_sqlite_adapters(tmp_path / "demo.db") as stored:
        first = demo_restaurants()[:3]
        for restaurant in first:
            stored.restaurants.add(restaurant)
            for driver in demo_drivers(restaurant, clock):
                stored.drivers.add(driver)

        loaded = load_demo_catalog(stored.restaurants, stored.drivers, clock)

        assert (loaded.restaurants_added, loaded.drivers_added) == (97, 485)


# -- recovery ----------------------------------------------------------------------------------------------
def test_start_up_publishes_what_the_outbox_still_holds_and_starts_its_saga(
    start: Callable[[], LocalServer], clock: VirtualClock
) -> None:
    crashed = start()
    crashed.start()
    crashed.boot.service.relay.publisher = _RefusingBus()  # the order commits, its OrderPlaced stays in the outbox
    order_id = _place(crashed, clock)
    assert crashed.boot.orders.get(order_id).payment_status is PaymentStatus.PENDING
    crashed.close()

    server = start()
    recovery = server.start()

    assert recovery.events_published >= 1
    order = server.boot.orders.get(order_id)
    assert (order.payment_status, order.driver_id is not None) == (PaymentStatus.CAPTURED, True)
    assert server.adapters.sagas.get(order_id).status is SagaStatus.WAITING


def test_start_up_drives_on_a_saga_left_running_between_two_steps(
    start: Callable[[], LocalServer], clock: VirtualClock
) -> None:
    crashed = start()
    crashed.start()
    order_id = _place(crashed, clock)
    # The restaurant's confirmation was saved (RUNNING, at ConfirmOrder), then the process died.
    state = crashed.adapters.sagas.get(order_id)
    assert crashed.adapters.scheduler.cancel(str(state.timer_id))
    state.status, state.current, state.timer_id = SagaStatus.RUNNING, "ConfirmOrder", None
    state.data["signals"] = ["RestaurantConfirmed"]
    state.data["waited"] = True
    crashed.adapters.sagas.save(state)
    crashed.close()

    server = start()
    recovery = server.start()

    assert (recovery.sagas_resumed, recovery.sagas_failed) == (1, 0)
    assert server.boot.orders.get(order_id).status is OrderStatus.CONFIRMED
    assert server.adapters.sagas.get(order_id).status is SagaStatus.SUCCEEDED


def test_a_timer_kept_across_a_restart_fires_at_its_due_time_with_one_refund(
    start: Callable[[], LocalServer], clock: VirtualClock
) -> None:
    first = start()
    first.start()
    order_id = _place(first, clock)
    first.close()
    clock.advance(TIMEOUT_S - 1)

    server = start()
    assert server.start().timers_pending == 1
    assert server.worker.run_once().timers_delivered == 0
    clock.advance(1)
    assert server.worker.run_once().timers_delivered == 1

    order = server.boot.orders.get(order_id)
    assert (order.status, order.failure_reason, order.payment_status) == (
        OrderStatus.FAILED,
        "restaurant_timeout",
        PaymentStatus.REFUNDED,
    )
    assert len([r for r in server.adapters.payments.refunds if r.charge_id == order.charge_id]) == 1


# -- the worker --------------------------------------------------------------------------------------------
def test_a_timer_whose_delivery_fails_stays_leased_and_the_others_are_delivered(
    start: Callable[[], LocalServer], clock: VirtualClock
) -> None:
    server = start()
    server.start()
    broken, fine = _place(server, clock), _place(server, clock)
    service = server.boot.service
    deliver = service.deliver_timer

    def flaky(message: ScheduledMessage) -> None:
        if message.body["sagaId"] == broken:
            raise RuntimeError("a bug in a step")
        deliver(message)

    service.deliver_timer = flaky  # type: ignore[method-assign]
    clock.advance(TIMEOUT_S)

    first = server.worker.run_once()

    assert (first.timers_delivered, first.timers_failed) == (1, 1)
    assert server.boot.orders.get(fine).status is OrderStatus.FAILED
    assert server.adapters.scheduler.claimed_count == 1
    service.deliver_timer = deliver  # type: ignore[method-assign]
    assert server.worker.run_once().timers_delivered == 0  # still leased
    clock.advance(server.worker.lease.total_seconds())
    assert server.worker.run_once().timers_delivered == 1
    assert server.boot.orders.get(broken).status is OrderStatus.FAILED


def test_a_saga_stuck_running_is_resumed_by_a_sweep_once_it_is_stale(
    start: Callable[[], LocalServer], clock: VirtualClock
) -> None:
    server = start()
    server.start()
    order_id = _place(server, clock)
    state = server.adapters.sagas.get(order_id)
    server.adapters.scheduler.cancel(str(state.timer_id))
    state.status, state.current, state.timer_id = SagaStatus.RUNNING, "ConfirmOrder", None
    state.data["waited"] = True
    state.updated_at = clock.now()
    server.adapters.sagas.save(state)

    assert server.worker.run_once(sweep=True).sagas_resumed == 0  # a request may still be driving it
    clock.advance(server.worker.stale_after.total_seconds())
    assert server.worker.run_once(sweep=True).sagas_resumed == 1
    assert server.adapters.sagas.get(order_id).status is SagaStatus.SUCCEEDED


def test_the_worker_publishes_what_a_request_could_not(start: Callable[[], LocalServer], clock: VirtualClock) -> None:
    server = start()
    server.start()
    relay = server.boot.service.relay
    bus = relay.publisher
    relay.publisher = _RefusingBus()
    order_id = _place(server, clock)
    assert server.worker.run_once().events_published == 0  # still down: logged, kept in the outbox

    relay.publisher = bus
    assert server.worker.run_once().events_published >= 1

    published: list[DomainEvent] = server.adapters.publisher.of_order(order_id)
    assert EventType.ORDER_PLACED in [e.type for e in published]
    assert server.adapters.sagas.get(order_id).status is SagaStatus.WAITING


def test_the_worker_thread_starts_once_and_stops(start: Callable[[], LocalServer]) -> None:
    server = start()
    server.start()
    assert server.worker.running
    with pytest.raises(RuntimeError, match="already started"):
        server.worker.start()

    server.stop()

    assert not server.worker.running
