"""Drive orders through their whole lifecycle, on the adapter sets whose costs are compared.

One lifecycle is: the customer places the order (payment, restaurant notice and driver assignment follow in the
saga), the restaurant confirms it, marks it ``PREPARING`` then ``READY_FOR_PICKUP``, and the assigned driver marks
it ``PICKED_UP`` then ``DELIVERED``. The store-call test (``tests/contract/test_lifecycle_operations.py``) and the
throughput benchmark (``bench/saga_throughput.py``) both drive it with :func:`deliver_orders`, on an application
built by :func:`boot_adapter_set`::

    app = boot_adapter_set("sqlite", clock=VirtualClock(start), sqlite_path=tmp_path / "ops.db")
    ...  # add restaurants and drivers
    [order_id] = deliver_orders(app.service, [(Actor.customer("cus-1"), place_order_command)])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from fooddelivery.adapters.memory import InMemoryOrderRepository, InMemorySagaStateStore, SequentialIdGenerator
from fooddelivery.adapters.sqlite import open_sqlite_adapters
from fooddelivery.application import FoodDeliveryService, PlaceOrder
from fooddelivery.application.unit_of_work import ComposedUnitOfWork
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.domain import Actor, OrderStatus
from fooddelivery.ports import Clock

#: The adapter sets :func:`boot_adapter_set` builds.
AdapterSet = Literal["memory", "sqlite", "composed"]

#: The status changes after the confirmation, in order, and who makes each.
_AFTER_CONFIRMATION = (
    ("restaurant", OrderStatus.PREPARING),
    ("restaurant", OrderStatus.READY_FOR_PICKUP),
    ("driver", OrderStatus.PICKED_UP),
    ("driver", OrderStatus.DELIVERED),
)


def boot_adapter_set(
    stores: AdapterSet, *, clock: Clock, sqlite_path: Path | None = None, **options: Any
) -> Bootstrapped:
    """Build the application on one adapter set, with sequential ids (``ord-1``...).

    Args:
        stores: ``"memory"`` (the in-memory stores and their native unit of work), ``"sqlite"`` (the SQLite stores
            in one file, their native unit of work) or ``"composed"`` (the in-memory order and saga stores with a
            :class:`ComposedUnitOfWork` over their ports, as a store without a native unit of work has).
        clock: the clock of every adapter (a ``VirtualClock`` for repeatable runs).
        sqlite_path: the SQLite database file; required for ``"sqlite"``, ignored otherwise.
        **options: further keyword arguments of :func:`fooddelivery.bootstrap.bootstrap` (``retain=``...).

    Returns:
        What :func:`fooddelivery.bootstrap.bootstrap` built.

    Raises:
        ValueError: ``stores`` is none of the three, or ``"sqlite"`` comes without ``sqlite_path``.
    """
    extra: dict[str, Any] = {}
    if stores == "composed":
        orders, sagas = InMemoryOrderRepository(), InMemorySagaStateStore()
        extra = {"orders": orders, "sagas": sagas, "unit_of_work": ComposedUnitOfWork(orders, sagas)}
    elif stores == "sqlite":
        if sqlite_path is None:
            raise ValueError("the sqlite adapter set needs sqlite_path")
        extra = dict(open_sqlite_adapters(sqlite_path, clock=clock).ports())
    elif stores != "memory":
        raise ValueError(f"unknown adapter set {stores!r}: expected memory, sqlite or composed")
    return bootstrap(Settings(), clock=clock, ids=SequentialIdGenerator(), **extra, **options)


def deliver_orders(service: FoodDeliveryService, orders: Sequence[tuple[Actor, PlaceOrder]]) -> list[str]:
    """Take each order from its placement to the customer's door, one after the other.

    Each is placed by its customer; its restaurant (``command.restaurant_id``) confirms it and marks it preparing
    then ready for pickup; the driver the placement assigned marks it picked up then delivered. The loop calls
    nothing but the service (no per-order helper call, no ``list.append``), so a profiler's count of calls per
    order is the service's own.

    Args:
        service: the use cases, with the orders' restaurants and at least one available driver near each.
        orders: ``(customer actor, place-order command)`` pairs.

    Returns:
        The orders' ids, in the order given.

    Raises:
        fooddelivery.domain.FoodDeliveryError: a use case refused a step (no driver available, an unknown
            restaurant...).
    """
    delivered = [""] * len(orders)
    for n, (customer, command) in enumerate(orders):
        order = service.place_order(customer, command).order
        actors = {"restaurant": Actor.restaurant(command.restaurant_id), "driver": Actor.driver(str(order.driver_id))}
        service.confirm_order(actors["restaurant"], order.order_id)
        for who, status in _AFTER_CONFIRMATION:
            service.change_status(actors[who], order.order_id, status)
        delivered[n] = order.order_id
    return delivered
