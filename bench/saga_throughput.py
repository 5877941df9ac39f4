"""Full-saga throughput, in process, on one core: place -> pay -> notify/assign -> confirm -> prepare ->
ready -> pick up -> deliver, through the use cases with in-memory adapters and a virtual clock.

Prints orders/s (best of --repeat runs, wall time and process CPU time), the Python function calls per order
(cProfile's count over one more run: every call, built-in functions included), the port calls per order (every
public method call on every adapter, counted by a wrapper around each in one more run: the store calls -- order
store and outbox, unit of work, saga store, drivers, restaurants -- and the others), and, with --profile, where the
time goes (top functions by own time). A benchmark, not a test: it asserts only that every order was delivered.

    .venv/bin/python bench/saga_throughput.py --orders 20000 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.application.services import PlaceOrder
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
from fooddelivery.testing.lifecycle import STORE_CALLS, AdapterSet, boot_adapter_set, deliver_orders

#: How ``bench/run_all.py`` runs this benchmark.
RUN_ALL = {"python": "core", "args": ["--orders", "5000", "--repeat", "3"], "timeout": 600}


#: The adapters whose calls are store calls (round trips to the stores of a deployment): the shipped kit's table.
STORES = tuple(STORE_CALLS)
#: Every adapter whose calls the port-call count wraps, and its port's methods (the calls that leave the process):
#: the store calls, then the other ports.
PORTS: dict[str, tuple[str, ...]] = {
    **STORE_CALLS,
    "publisher": ("publish",),
    "notifier": ("send",),
    "payments": ("authorize", "capture", "refund"),
    "scheduler": ("schedule", "cancel", "pop_due", "claim_due", "ack"),
    "location": ("append",),
}


def _count_calls(app: Any, calls: Counter[str], counting: list[bool]) -> None:
    """Wrap every port method of every adapter so each call adds one to ``calls["<port>.<method>"]`` (while
    ``counting[0]``). A unit of work composed of the order and saga stores' ports is not wrapped: its calls are
    theirs."""
    for port, methods in PORTS.items():
        adapter = app.adapters[port]
        if port == "unit_of_work" and not adapter.atomic:
            continue
        for name in methods:
            method = getattr(adapter, name, None)
            if method is None:
                continue

            def counted(*args: Any, _m: Any = method, _n: str = f"{port}.{name}", **kwargs: Any) -> Any:
                if counting[0]:
                    calls[_n] += 1
                return _m(*args, **kwargs)

            setattr(adapter, name, counted)


def run(
    orders: int,
    calls: Counter[str] | None = None,
    stores: AdapterSet = "memory",
    transactions: list[int] | None = None,
) -> float:
    """Run ``orders`` full lifecycles; returns orders per second of wall time (``calls``: count port calls).

    ``stores``: ``memory`` (the in-memory stores, their native unit of work), ``composed`` (the same stores with
    the unit of work composed from their ports, as a store with no native unit has) or ``sqlite`` (a temporary file).
    ``transactions``: on ``sqlite``, the SQLite write transactions the lifecycles took is appended to it.
    """
    clock = VirtualClock(datetime(2026, 11, 30, 18, 0, tzinfo=UTC))
    sqlite_path = Path(tempfile.mkdtemp()) / "bench.db" if stores == "sqlite" else None
    app = boot_adapter_set(stores, clock=clock, sqlite_path=sqlite_path, retain=1000)
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
    counting = [True]
    if calls is not None:
        _count_calls(app, calls, counting)
    database = app.adapters["sagas"].database if stores == "sqlite" else None
    before = database.write_transactions if database is not None else 0
    start = time.perf_counter()
    deliver_orders(svc, [
        (Actor.customer(f"user-{i % 1000}"), PlaceOrder(f"rest-{i % 50}", lines, address, "tok_visa"))
        for i in range(orders)
    ])
    elapsed = time.perf_counter() - start
    if database is not None and transactions is not None:
        transactions.append(database.write_transactions - before)
    counting[0] = False
    delivered = sum(1 for o in _all_orders(app) if o.status is OrderStatus.DELIVERED)
    if delivered != orders:
        raise SystemExit(f"only {delivered} of {orders} orders were delivered")
    return orders / elapsed


def _all_orders(app: Any) -> list[Any]:
    store = app.adapters["orders"]
    if hasattr(store, "iter_orders"):
        return list(store.iter_orders())
    return [store.get(order_id) for order_id in store.order_ids()]


def calls_per_order(run: Any, orders: int) -> float:
    """Python function calls per order of ``run(orders)``, counted by cProfile (built-ins included).

    One entry per code object: pstats' (file, line, name) keys merge the dataclasses' generated ``__init__``s (all
    ``"<string>"``, line 2), keeping one of them by memory layout, so their sum undercounts and shifts between builds.
    """
    profile = cProfile.Profile()
    profile.runcall(run, orders)
    return sum(entry.callcount for entry in profile.getstats()) / orders


def main() -> None:
    """Parse options, run, print figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the top functions by own time")
    parser.add_argument(
        "--log-format",
        choices=("none", "text", "json"),
        default="none",
        help="configure the log lines first, as serve, the CLI and the cloud entrypoints do (lines to /dev/null)",
    )
    args = parser.parse_args()
    if args.log_format != "none":
        from fooddelivery.observability.logs import LogSettings, configure_logging

        configure_logging(LogSettings(log_format=args.log_format), stream=open(os.devnull, "w"))  # noqa: SIM115
        print(f"log lines configured ({args.log_format}), as an entrypoint does")
    rates, cpu_rates = [], []
    for _ in range(args.repeat):
        cpu0 = time.process_time()
        rates.append(run(args.orders))
        cpu_rates.append(args.orders / (time.process_time() - cpu0))
    print(f"full saga, in process, 1 core: {max(rates):,.0f} orders/s best of {args.repeat} "
          f"(runs: {', '.join(f'{r:,.0f}' for r in rates)}; by CPU time: {max(cpu_rates):,.0f}); "
          f"{args.orders:,} orders per run; target >= 10,000 (20,000 the aim)")
    print(f"Python function calls per order: {calls_per_order(run, args.orders):,.0f} (cProfile, built-ins included); "
          f"target <= 300")
    transactions: list[int] = []
    run(min(args.orders, 500), None, "sqlite", transactions)
    print(f"SQLite write transactions per full lifecycle: {transactions[0] / min(args.orders, 500):g} (each one "
          "BEGIN IMMEDIATE behind the single writer; see SQLITE_LIFECYCLE_WRITE_TRANSACTIONS in "
          "fooddelivery.testing.lifecycle)")
    adapter_sets: tuple[tuple[AdapterSet, str], ...] = (
        ("memory", "in-memory stores (native unit of work)"),
        ("sqlite", "SQLite stores (native unit of work)"),
        ("composed", "in-memory stores, unit of work composed of their ports (a store with no native unit)"),
    )
    for stores, label in adapter_sets:
        calls: Counter[str] = Counter()
        count = min(args.orders, 500)
        run(count, calls, stores)
        store = sum(n for name, n in calls.items() if name.split(".")[0] in STORES)
        print(f"port calls per full lifecycle, {label}: {sum(calls.values()) / count:.1f}, of which store calls "
              f"{store / count:.1f} (target <= 25)")
        print("  " + ", ".join(f"{name} {n / count:g}" for name, n in sorted(calls.items())))
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(run, args.orders)
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
        print(out.getvalue())


if __name__ == "__main__":
    main()
