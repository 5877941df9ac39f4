"""One fixed workload over every port, and the operation counts every adapter set must report for it.

The in-memory and SQLite adapters (and any later ones) count port operations under the same stable names
(``fooddelivery.adapters.memory.OPERATION_NAMES``), because the simulation's report and the cost model are built
on them. Each adapter suite runs :func:`exercise_every_port` over its own adapters and compares with
:data:`EXPECTED_COUNTS`.
"""

from __future__ import annotations

from typing import Any, Final

from fooddelivery.application.unit_of_work import unit_of_work_for
from fooddelivery.domain.money import Money
from fooddelivery.domain.order import OrderStatus
from fooddelivery.ports.restaurants import RestaurantQuery
from fooddelivery.testing.builders import (
    DOWNTOWN,
    T0,
    advance,
    make_driver,
    make_location_event,
    make_notification,
    make_order,
    make_restaurant,
    make_saga_state,
    make_scheduled,
)

#: What :func:`exercise_every_port` must count, operation by operation.
EXPECTED_COUNTS: Final[dict[str, int]] = {
    "restaurants.writes": 1,
    "restaurants.reads": 2,
    "orders.writes": 2,
    "orders.reads": 3,
    "outbox.writes": 3 + 1 + 3 + 1,
    "events.published": 3,
    "drivers.writes": 2,
    "drivers.reads": 1,
    "drivers.queries": 1,
    "notifications.sent": 1,
    "payments.calls": 2,
    "location.appends": 1,
    "scheduler.scheduled": 2,
    "scheduler.cancelled": 1,
    "scheduler.delivered": 1,
    "saga.writes": 2,
    "saga.reads": 1,
    "units.reads": 1,
    "units.writes": 1,
}


def exercise_every_port(ports: Any) -> None:
    """Call each operation of every port once or a few times.

    Args:
        ports: an object with the attributes ``orders`` (also the outbox), ``restaurants``, ``drivers``,
            ``publisher``, ``notifier``, ``payments``, ``location``, ``scheduler`` (with ``pop_due``) and ``sagas``,
            all sharing one set of operation counters; the order store's native unit of work over the saga store
            (``UnitOfWorkSource``) is exercised too.
    """
    restaurant = ports.restaurants.add(make_restaurant())
    ports.restaurants.get(restaurant.restaurant_id)
    ports.restaurants.search(RestaurantQuery())
    order = make_order(restaurant)
    ports.orders.add(order)
    loaded = ports.orders.get(order.order_id)
    advance(loaded, OrderStatus.PREPARING)
    ports.orders.save(loaded)
    ports.orders.list_by_customer(order.customer_id)
    ports.orders.find_idempotent(order.customer_id, "k")
    records = ports.orders.pending()
    ports.orders.mark_failed([records[0].event.event_id])
    ports.orders.mark_published([r.event.event_id for r in records])
    ports.publisher.publish([r.event for r in records])
    driver = ports.drivers.add(make_driver())
    ports.drivers.save(ports.drivers.get(driver.driver_id).reserve(order.order_id))
    ports.drivers.available_near(DOWNTOWN, 5.0, 5)
    ports.notifier.send(make_notification())
    auth = ports.payments.authorize("tok_visa", Money.of("5.00", "USD"), "k1")
    ports.payments.capture(auth.charge_id, Money.of("5.00", "USD"), "k2")
    ports.location.append(make_location_event(), "drv-ana")
    ports.scheduler.schedule(make_scheduled(message_id="m1", due_at=T0))
    ports.scheduler.schedule(make_scheduled(message_id="m2", due_at=T0))
    ports.scheduler.cancel("m2")
    ports.scheduler.pop_due(T0)
    state = make_saga_state()
    ports.sagas.create(state)
    ports.sagas.get(state.saga_id)
    ports.sagas.save(state)
    unit = unit_of_work_for(ports.orders, ports.sagas)
    moved, _ = unit.load(order.order_id)
    advance(moved, OrderStatus.READY_FOR_PICKUP)
    unit.commit(make_saga_state(saga_id=order.order_id), moved, create_saga=True)
