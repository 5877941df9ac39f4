"""Order throughput on the SQLite adapters (``fooddelivery serve``'s embedded default), in process.

Each order is placed (saga: validate, authorize + capture, notify restaurant and customer, reserve a driver, wait)
and confirmed by its restaurant (saga: confirm, succeed), through the use cases with every SQLite adapter on one
database file (WAL, ``synchronous=NORMAL``) and a virtual clock. ``--full`` also walks each order to DELIVERED;
``--threads N`` places and confirms from N threads at once (one writer at a time: SQLite serializes writes).
Prints orders/s, the write transactions per order and the file size. A benchmark, not a test: it asserts only that
every order reached its final status.

    .venv/bin/python bench/sqlite_throughput.py --orders 1000
    .venv/bin/python bench/sqlite_throughput.py --orders 1000 --threads 4 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

from fooddelivery.adapters.memory import OperationCounters, SequentialIdGenerator, VirtualClock
from fooddelivery.adapters.sqlite import open_sqlite_adapters
from fooddelivery.application.services import PlaceOrder
from fooddelivery.bootstrap import Settings, bootstrap
from fooddelivery.domain import (
    Actor,
    DeliveryAddress,
    Driver,
    DriverStatus,
    GeoPoint,
    InvalidTransition,
    LineRequest,
    MenuItem,
    Money,
    OrderStatus,
    Restaurant,
)

#: Seconds a thread retries one order's confirmation before it gives up on the order (the run then fails, naming how
#: many orders reached their final status), so a saga waiting for a timer never hangs the benchmark.
GIVE_UP_S = 10.0

#: How ``bench/run_all.py`` runs this benchmark.
RUN_ALL = {"python": "core", "args": ["--orders", "1000", "--repeat", "3"], "timeout": 600}


def run(orders: int, full: bool, threads: int, path: str) -> tuple[float, dict[str, int]]:
    """Run ``orders`` orders; returns (orders per second of wall time, operation counts)."""
    clock = VirtualClock(datetime(2026, 11, 30, 18, 0, tzinfo=UTC))
    counters = OperationCounters()
    adapters = open_sqlite_adapters(path, counters=counters, clock=clock, max_connections=max(8, threads + 2))
    app = bootstrap(Settings(), clock=clock, ids=SequentialIdGenerator(), counters=counters, **adapters.ports())
    svc = app.service
    centre = GeoPoint(40.7128, -74.0060)
    menu = (MenuItem("pizza", "Pizza", Money.of("15.99", "USD")), MenuItem("soda", "Soda", Money.of("2.99", "USD")))
    for r in range(50):
        svc.restaurants.add(
            Restaurant(f"rest-{r}", f"Pizzeria {r}", "pizza", Decimal("4.5"),
                       GeoPoint(centre.lat + (r % 7) * 0.004, centre.lon + (r // 7) * 0.004),
                       "USD", Decimal("0.08875"), 15, menu)
        )
    for d in range(max(200, orders if not full else 200)):
        svc.drivers.add(
            Driver(f"drv-{d}", f"Driver {d}", DriverStatus.AVAILABLE,
                   GeoPoint(centre.lat + (d % 20) * 0.002, centre.lon + (d // 20 % 20) * 0.002), "scooter",
                   clock.now())
        )
    lines = [LineRequest(1, name="Pizza", unit_price=Decimal("15.99")), LineRequest(2, name="Soda")]
    address = DeliveryAddress("123 Main St", GeoPoint(40.72, -74.0))
    counters.reset()

    def work(first: int, step: int) -> None:
        for i in range(first, orders, step):
            rid = f"rest-{i % 50}"
            placed = svc.place_order(Actor.customer(f"user-{i % 1000}"), PlaceOrder(rid, lines, address, "tok_visa"))
            oid = placed.order.order_id
            restaurant = Actor.restaurant(rid)
            give_up = time.monotonic() + GIVE_UP_S
            while True:
                try:
                    svc.confirm_order(restaurant, oid)
                    break
                except InvalidTransition:
                    # Another thread's flush is still starting this order's saga: retry, as a client would.
                    if time.monotonic() > give_up:  # e.g. waiting for a retry timer the virtual clock never fires
                        print(f"order {oid} still not awaiting confirmation after {GIVE_UP_S:g} s: giving up on it",
                              file=sys.stderr)
                        return
                    time.sleep(0.0005)
            if full:
                driver = Actor.driver(str(svc.orders.get(oid).driver_id))
                svc.change_status(restaurant, oid, OrderStatus.PREPARING)
                svc.change_status(restaurant, oid, OrderStatus.READY_FOR_PICKUP)
                svc.change_status(driver, oid, OrderStatus.PICKED_UP)
                svc.change_status(driver, oid, OrderStatus.DELIVERED)

    start = time.perf_counter()
    if threads == 1:
        work(0, 1)
    else:
        pool = [threading.Thread(target=work, args=(t, threads)) for t in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    elapsed = time.perf_counter() - start
    wanted = OrderStatus.DELIVERED if full else OrderStatus.CONFIRMED
    reached = adapters.orders.count_by_status().get(wanted, 0)
    adapters.close()
    if reached != orders:
        raise SystemExit(f"only {reached} of {orders} orders reached {wanted.value}")
    return orders / elapsed, counters.snapshot()


def main() -> None:
    """Parse options, run, print figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--full", action="store_true", help="walk every order to DELIVERED")
    parser.add_argument("--profile", action="store_true", help="print the top functions by own time")
    args = parser.parse_args()
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.repeat):
            path = os.path.join(tmp, f"bench-{n}.db")
            rate, counts = run(args.orders, args.full, args.threads, path)
            rates.append(rate)
            size = os.path.getsize(path)
        writes = sum(v for k, v in counts.items() if k.endswith((".writes", ".scheduled", ".cancelled", ".sent",
                                                                 ".appends", ".published", ".calls")))
        what = "place -> deliver" if args.full else "place + confirm"
        print(f"{what} on SQLite (WAL, synchronous=NORMAL), {args.threads} thread(s): {max(rates):,.0f} orders/s "
              f"best of {args.repeat} (runs: {', '.join(f'{r:,.0f}' for r in rates)}); {args.orders:,} orders per run")
        print(f"port operations per order: {sum(counts.values()) / args.orders:.1f} "
              f"(writes and side effects: {writes / args.orders:.1f}); database file {size / 1e6:.1f} MB")
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(run, args.orders, args.full, args.threads, os.path.join(tmp, "profile.db"))
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
            print(out.getvalue())


if __name__ == "__main__":
    main()
