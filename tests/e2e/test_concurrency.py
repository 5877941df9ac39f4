"""Races through the HTTP API, on real threads released together by a barrier: exactly one winner.

Each race is repeated on fresh worlds, with the interpreter's thread switch interval shortened to a
microsecond so the threads really interleave inside the use cases (with the default 5 ms one request
usually finishes before the other starts).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from fooddelivery.domain import DriverStatus, EventType, OrderStatus
from fooddelivery.http import HttpResponse

from ._world import REFERENCE_PAYLOAD, World, build_world

ROUNDS = 25


def _race(*calls: Callable[[], HttpResponse]) -> list[HttpResponse]:
    """Run ``calls`` on one thread each, all released at the same instant; responses in call order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], HttpResponse]) -> HttpResponse:
        barrier.wait()
        return call()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return list(pool.map(run, calls))
    finally:
        sys.setswitchinterval(interval)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_simultaneous_confirmations_are_accepted_once_and_the_other_is_a_duplicate(round_: int) -> None:
    world = build_world()
    order_id = world.place()
    path = f"/orders/{order_id}"

    def confirm() -> HttpResponse:
        return world.call("PUT", path, json_body={"status": "CONFIRMED"}, as_="restaurant")

    responses = _race(confirm, confirm)

    assert [r.status for r in responses] == [200, 200]
    assert sorted(r.header("Signal-Outcome") or "" for r in responses) == ["ACCEPTED", "DUPLICATE"]
    assert world.order(order_id).status is OrderStatus.CONFIRMED
    changes = [e for e in world.boot.publisher.of_order(order_id) if e.type is EventType.ORDER_STATUS_CHANGED]
    assert [e.payload["to"] for e in changes] == ["CONFIRMED"]
    templates = [n.template for n in world.boot.notifier.sent_to("user-1")]
    assert templates.count("order_confirmed") == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_drivers_claiming_one_order_at_once_get_exactly_one_200_and_one_409(round_: int) -> None:
    world = build_world(drivers_near=False)
    order_id = world.place()  # no driver near: the order waits for one
    world.set_driver("drv-near", DriverStatus.AVAILABLE)
    body = {"orderId": order_id}

    responses = _race(
        lambda: world.call("POST", "/deliveries/assign", json_body=body, as_="driver"),
        lambda: world.call("POST", "/deliveries/assign", json_body=body, as_="other_driver"),
    )

    assert sorted(r.status for r in responses) == [200, 409]
    winner = next(r for r in responses if r.status == 200).json()["driverId"]
    loser = ({"drv-near", "drv-far"} - {winner}).pop()
    refused = next(r for r in responses if r.status == 409).json()
    assert refused["code"] in ("concurrency_conflict", "invalid_transition")
    assert world.order(order_id).driver_id == winner
    assert world.driver(winner).status is DriverStatus.ASSIGNED
    assert world.driver(loser).status is DriverStatus.AVAILABLE  # the loser's reservation was given back
    assigned = [e for e in world.boot.publisher.of_order(order_id) if e.type is EventType.DRIVER_ASSIGNED]
    assert [e.payload["driverId"] for e in assigned] == [winner]


def test_concurrent_placements_with_one_idempotency_key_create_one_order(world: World) -> None:
    def place() -> HttpResponse:
        return world.call("POST", "/orders", body=REFERENCE_PAYLOAD, headers={"Idempotency-Key": "same"})

    responses = _race(place, place, place, place)

    assert sorted(r.status for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["orderId"] for r in responses}) == 1
    assert len(world.boot.orders) == 1
