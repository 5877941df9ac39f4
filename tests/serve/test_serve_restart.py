"""A saga waiting for its restaurant survives the end of the ``serve`` process: after a crash (SIGKILL) and a
restart on the same database its confirmation timeout still fires when it was due, with exactly one refund."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from fooddelivery.adapters.sqlite import open_sqlite_adapters
from fooddelivery.domain import EventType
from fooddelivery.ports.saga_store import SagaStatus

from ._live import REFERENCE_PAYLOAD, LiveServer, placed_and_settled, token, wait_for
from .conftest import StartServer

TIMEOUT_S = 3.0
#: How late after its due time a timer may fire: the worker's poll interval plus a request round trip.
LATENESS_S = 1.5


def _order(server: LiveServer, order_id: str, customer: str) -> dict[str, Any]:
    response = server.request("GET", f"/orders/{order_id}", token=customer)
    assert response.status == 200, response.body
    return dict(response.json())


def _assert_failed_once_with_one_refund(db: Path, order_id: str) -> None:
    with open_sqlite_adapters(db) as stored:
        order = stored.orders.get(order_id)
        refunds = [r for r in stored.payments.refunds if r.charge_id == order.charge_id]
        events = [e.type for e in stored.publisher.of_order(order_id)]
        saga = stored.sagas.get(order_id)
        timers = [m for m in stored.scheduler.pending() if m.body.get("sagaId") == order_id]
        leased = stored.scheduler.claimed_count
    assert len(refunds) == 1
    assert refunds[0].amount == order.pricing.total
    assert events.count(EventType.PAYMENT_REFUNDED) == 1
    assert events.count(EventType.ORDER_FAILED) == 1
    assert (saga.status, saga.outcome) == (SagaStatus.FAILED, "restaurant_timeout")
    assert (timers, leased) == ([], 0)  # the timeout was delivered and acknowledged


def _place(server: LiveServer, customer: str) -> dict[str, Any]:
    _, order = placed_and_settled(server, customer, REFERENCE_PAYLOAD)
    assert (order["status"], order["paymentStatus"]) == ("PENDING", "CAPTURED")
    return dict(order)


def test_a_saga_waiting_for_its_restaurant_times_out_after_the_remaining_time_once_the_server_is_back(
    start_server: StartServer,
) -> None:
    args = ("--demo", "--confirmation-timeout", str(TIMEOUT_S))
    server = start_server(*args)
    customer = token("customer", "user-1")
    placed = _place(server, customer)
    order_id = placed["orderId"]
    due = datetime.fromisoformat(placed["createdAt"]).timestamp() + TIMEOUT_S

    server.kill()  # the saga is WAITING for rest-0; its timeout is a row in the timers table
    restarted = start_server(*args, db=server.db)
    back = time.time()

    if back < due - 0.5:  # normally: the restart takes about a second of the three
        assert _order(restarted, order_id, customer)["status"] == "PENDING"  # it does not fire early
    failed = wait_for(
        lambda: (o := _order(restarted, order_id, customer))["status"] == "FAILED" and o,
        timeout_s=TIMEOUT_S + 5,
    )
    assert failed, restarted.output()
    assert failed["failureReason"] == "restaurant_timeout"
    assert failed["paymentStatus"] == "REFUNDED"
    fired = datetime.fromisoformat(failed["statusTimes"]["FAILED"]).timestamp()
    assert due <= fired < max(due, back) + LATENESS_S
    late = restarted.request(
        "PUT",
        f"/orders/{order_id}",
        token=token("restaurant", "owner-0", "--restaurant-id", "rest-0"),
        json_body={"status": "CONFIRMED"},
    )
    assert late.status == 409  # the wait is over: a late confirmation changes nothing

    assert restarted.stop() == 0, restarted.output()
    _assert_failed_once_with_one_refund(server.db, order_id)


def test_a_timeout_that_fell_due_while_the_server_was_down_fires_before_the_first_request_is_served(
    start_server: StartServer,
) -> None:
    args = ("--demo", "--confirmation-timeout", str(TIMEOUT_S))
    server = start_server(*args)
    customer = token("customer", "user-1")
    placed_at = time.monotonic()
    order_id = _place(server, customer)["orderId"]
    server.kill()
    time.sleep(max(0.0, placed_at + TIMEOUT_S + 0.2 - time.monotonic()))

    restarted = start_server(*args, db=server.db)

    failed = _order(restarted, order_id, customer)
    assert (failed["status"], failed["failureReason"], failed["paymentStatus"]) == (
        "FAILED",
        "restaurant_timeout",
        "REFUNDED",
    )
    assert "1 overdue timers delivered" in restarted.output()
    assert restarted.stop() == 0, restarted.output()
    _assert_failed_once_with_one_refund(server.db, order_id)
