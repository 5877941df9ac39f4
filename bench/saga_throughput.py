"""Full-saga throughput, in process, on one core: place -> pay -> notify/assign -> confirm -> prepare ->
ready -> pick up -> deliver, through the use cases with in-memory adapters and a virtual clock.

Prints orders/s (best of --repeat runs) and, with --profile, where the time goes (cProfile, top functions by
own time). A benchmark, not a test: it asserts only that every order was delivered.

    .venv/bin/python bench/saga_throughput.py --orders 20000 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from datetime import UTC, datetime
from decimal import Decimal

from fooddelivery.adapters.memory import SequentialIdGenerator, VirtualClock
from fooddelivery.application.services import PlaceOrder
from fooddelivery.bootstrap import Settings, bootstrap
from fooddelivery.domain import (
    Actor,
    DeliveryAddress,
    Driver,
    DriverStatus,
    GeoPoint,
    LineRequest,
    MenuItem,
    Money,
    OrderStatus,
    Restaurant,
)

#: How ``bench/run_all.py`` runs this benchmark.
RUN_ALL = {"python": "core", "args": ["--orders", "5000", "--repeat", "3"], "timeout": 600}


def run(orders: int) -> float:
    """Run ``orders`` full lifecycles; returns orders per second of wall time."""
    clock = VirtualClock(datetime(2026, 11, 30, 18, 0, tzinfo=UTC))
    app = bootstrap(Settings(), clock=clock, ids=SequentialIdGenerator(), retain=1000)
    svc = app.service
    centre = GeoPoint(40.7128, -74.0060)
    menu = (MenuItem("pizza", "Pizza", Money.of("15.99", "USD")), MenuItem("soda", "Soda", Money.of("2.99", "USD")))
    for r in range(50):
        svc.restaurants.add(
            Restaurant(f"rest-{r}", f"Pizzeria {r}", "pizza", Decimal("4.5"),
                       GeoPoint(centre.lat + (r % 7) * 0.004, centre.lon + (r // 7) * 0.004),
                       "USD", Decimal("0.08875"), 15, menu)
        )
    for d in range(200):
        svc.drivers.add(
            Driver(f"drv-{d}", f"Driver {d}", DriverStatus.AVAILABLE,
                   GeoPoint(centre.lat + (d % 20) * 0.002, centre.lon + (d // 20) * 0.002), "scooter", clock.now())
        )
    lines = [LineRequest(1, name="Pizza", unit_price=Decimal("15.99")), LineRequest(2, name="Soda")]
    address = DeliveryAddress("123 Main St", GeoPoint(40.72, -74.0))
    start = time.perf_counter()
    for i in range(orders):
        rid = f"rest-{i % 50}"
        placed = svc.place_order(Actor.customer(f"user-{i % 1000}"), PlaceOrder(rid, lines, address, "tok_visa"))
        oid = placed.order.order_id
        driver = Actor.driver(str(placed.order.driver_id))
        restaurant = Actor.restaurant(rid)
        svc.confirm_order(restaurant, oid)
        svc.change_status(restaurant, oid, OrderStatus.PREPARING)
        svc.change_status(restaurant, oid, OrderStatus.READY_FOR_PICKUP)
        svc.change_status(driver, oid, OrderStatus.PICKED_UP)
        svc.change_status(driver, oid, OrderStatus.DELIVERED)
    elapsed = time.perf_counter() - start
    delivered = sum(1 for o in app.orders.iter_orders() if o.status is OrderStatus.DELIVERED)
    if delivered != orders:
        raise SystemExit(f"only {delivered} of {orders} orders were delivered")
    return orders / elapsed


def main() -> None:
    """Parse options, run, print figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the top functions by own time")
    args = parser.parse_args()
    rates = [run(args.orders) for _ in range(args.repeat)]
    print(f"full saga, in process, 1 core: {max(rates):,.0f} orders/s best of {args.repeat} "
          f"(runs: {', '.join(f'{r:,.0f}' for r in rates)}); {args.orders:,} orders per run; target 20,000")
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(run, args.orders)
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
        print(out.getvalue())


if __name__ == "__main__":
    main()
