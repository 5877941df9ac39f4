"""End to end with ``FOODDELIVERY_SAGA_MODE=durable``: ``POST /orders`` -> Cosmos DB -> the change feed -> the
runtime queue's function starts the order's orchestration (the engine, through the real Durable client, over the
stand-in's HTTP API) -> the Durable stand-in replays the app's orchestrator and runs the app's activities, which run
the core's actions on the Cosmos DB stand-in -> the restaurant's answer over HTTP is raised to the orchestration.

The paths of the issue: the happy path, a declined card, transient payment errors retried then success, the
restaurant's timeout -> one refund; and a rejection, a cancellation while waiting, a cancellation of a confirmed order
(the cancel route), a cancellation while the payment is being retried (refused "not yet"). Durable timers run on the
world's virtual clock; nothing is ever scheduled on Service Bus in this mode."""

from __future__ import annotations

from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage
from azure_world import REFERENCE_PAYLOAD, AzureWorld

from fooddelivery.application.messages import resume_body, timer_body
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery_azure.bootstrap import NoTimers
from fooddelivery_azure.durable import DurableSagaEngine


def _place(world: AzureWorld, payment_method: str = "card") -> str:
    body = REFERENCE_PAYLOAD.replace(b'"paymentMethod": "card"', f'"paymentMethod": "{payment_method}"'.encode())
    created = world.call("POST", "/orders", body, token=world.token("customer", "user-1"))
    assert created.status_code == 201, created.get_body()
    order_id: str = world.json(created)["orderId"]
    return order_id


def _order(world: AzureWorld, order_id: str) -> dict[str, Any]:
    got: dict[str, Any] = world.json(world.call("GET", f"/orders/{order_id}", token=world.token("customer", "user-1")))
    return got


def _restaurant(world: AzureWorld) -> str:
    return world.token("restaurant", "owner-0", restaurant_id="rest-0")


def _orchestration(world: AzureWorld, instance: str) -> dict[str, Any]:
    code, body = world.durable.status(instance)
    assert code != 404, instance
    status: dict[str, Any] = body
    return status


def _activities(world: AzureWorld, order_id: str) -> list[str]:
    log = world.durable.activity_log
    return [name.removeprefix("saga_") for instance, name in log if instance.startswith(order_id)]


def test_the_durable_mode_wires_the_engine_and_keeps_no_timers(durable_world: AzureWorld) -> None:
    boot = durable_world.app.boot
    assert isinstance(boot.service.runtime.engine, DurableSagaEngine)
    assert boot.service.runtime.runner is None
    assert isinstance(boot.adapters["scheduler"], NoTimers)
    with pytest.raises(InfrastructureError):
        boot.adapters["scheduler"].schedule(ScheduledMessage("t-1", boot.service.clock.now(), "saga.timeout", {}))


def test_the_reference_order_is_paid_assigned_and_confirmed_by_the_orchestration(durable_world: AzureWorld) -> None:
    world = durable_world
    order_id = _place(world)
    world.settle()
    waiting = _order(world, order_id)
    assert (waiting["status"], waiting["paymentStatus"], waiting["driverId"]) == ("PENDING", "CAPTURED", "drv-0")
    custom = _orchestration(world, order_id)["customStatus"]
    assert (custom["state"], custom["phase"]) == ("WaitForRestaurantConfirmation", "waiting")
    assert _activities(world, order_id) == [
        "validate_order", "capture_payment", "notify_restaurant", "assign_driver", "notify_customer"
    ]
    confirmed = world.call("PUT", f"/orders/{order_id}", '{"status": "CONFIRMED"}', token=_restaurant(world))
    assert confirmed.status_code == 200, confirmed.get_body()
    assert confirmed.headers["Signal-Outcome"] == "ACCEPTED"
    world.settle()
    assert _order(world, order_id)["status"] == "CONFIRMED"
    again = world.call("PUT", f"/orders/{order_id}", '{"status": "CONFIRMED"}', token=_restaurant(world))
    assert (again.status_code, again.headers["Signal-Outcome"]) == (200, "DUPLICATE")
    output = _orchestration(world, order_id)["output"]
    assert output["status"] == "SUCCEEDED"
    assert output["data"]["signalDetail"] == {"RestaurantConfirmed": {"by": "owner-0"}}
    assert len(world.app.boot.payments.charges) == 1
    # the saga keeps its own time: no scheduled message, no timer document, every runtime message completed
    assert list(world.containers["timers"].inner.read_all_items()) == []
    assert set(world.settlements) == {"complete"}
    assert world.durable.failures() == []


def test_a_declined_card_fails_the_order_with_nothing_to_refund(durable_world: AzureWorld) -> None:
    world = durable_world
    order_id = _place(world, "tok_chargeDeclined")
    world.settle()
    failed = _order(world, order_id)
    assert (failed["status"], failed["paymentStatus"], failed["failureReason"]) == (
        "FAILED", "DECLINED", "payment_declined"
    )
    assert _activities(world, order_id) == ["validate_order", "capture_payment", "fail_order"]
    assert world.app.boot.payments.refunds == []
    assert _orchestration(world, order_id)["output"]["outcome"] == "payment_declined"


def test_transient_payment_errors_are_retried_on_durable_timers_then_the_order_waits(durable_world: AzureWorld) -> None:
    world = durable_world
    order_id = _place(world, "tok_processingError_2")
    world.settle()
    assert _orchestration(world, order_id)["customStatus"]["phase"] == "retry_wait"
    assert _order(world, order_id)["paymentStatus"] == "PENDING"
    # cancelling while the payment is retried is "not yet" (409), as with the runner
    cancel = world.call(
        "PUT", f"/orders/{order_id}", '{"status": "CANCELLED", "reason": "changed my mind"}',
        token=world.token("customer", "user-1"),
    )
    assert cancel.status_code == 409, cancel.get_body()
    world.advance(5)
    world.advance(10)
    waiting = _order(world, order_id)
    assert (waiting["status"], waiting["paymentStatus"]) == ("PENDING", "CAPTURED")
    assert _activities(world, order_id).count("capture_payment") == 3
    assert len(world.app.boot.payments.charges) == 1


def test_a_restaurant_that_never_answers_is_timed_out_and_refunded_once(durable_world: AzureWorld) -> None:
    world = durable_world
    order_id = _place(world)
    world.settle()
    world.advance(299)
    assert _order(world, order_id)["status"] == "PENDING"
    world.advance(1)
    failed = _order(world, order_id)
    assert (failed["status"], failed["paymentStatus"], failed["failureReason"]) == (
        "FAILED", "REFUNDED", "restaurant_timeout"
    )
    assert len(world.app.boot.payments.refunds) == 1
    assert world.app.boot.drivers.get("drv-0").status.value == "AVAILABLE"
    assert _activities(world, order_id)[-4:] == ["alert_operations", "release_driver", "refund_payment", "fail_order"]
    late = world.call("PUT", f"/orders/{order_id}", '{"status": "CONFIRMED"}', token=_restaurant(world))
    assert late.status_code == 409 and world.json(late)["code"] in ("late_event", "invalid_transition")


def test_a_rejection_is_raised_to_the_orchestration_and_refunds(durable_world: AzureWorld) -> None:
    world = durable_world
    order_id = _place(world)
    world.settle()
    rejected = world.call("POST", f"/orders/{order_id}/reject", '{"reason": "out of dough"}', token=_restaurant(world))
    assert rejected.status_code == 200, rejected.get_body()
    world.settle()
    failed = _order(world, order_id)
    assert (failed["status"], failed["paymentStatus"], failed["failureReason"]) == (
        "FAILED", "REFUNDED", "restaurant_rejected"
    )
    assert world.app.boot.drivers.get("drv-0").status.value == "AVAILABLE"


def test_a_cancellation_while_waiting_refunds_once_and_frees_the_driver(durable_world: AzureWorld) -> None:
    world = durable_world
    order_id = _place(world)
    world.settle()
    cancelled = world.call(
        "PUT", f"/orders/{order_id}", '{"status": "CANCELLED", "reason": "changed my mind"}',
        token=world.token("customer", "user-1"),
    )
    assert cancelled.status_code == 200, cancelled.get_body()
    world.settle()  # the use case raised the event; the committed OrderCancelled reaches the runtime too: DUPLICATE
    final = _order(world, order_id)
    assert (final["status"], final["paymentStatus"]) == ("CANCELLED", "REFUNDED")
    assert len(world.app.boot.payments.refunds) == 1
    assert world.app.boot.drivers.get("drv-0").status.value == "AVAILABLE"
    assert _orchestration(world, order_id)["output"]["outcome"] == "cancelled"


def test_cancelling_a_confirmed_order_runs_the_cancel_route_once(durable_world: AzureWorld) -> None:
    world = durable_world
    order_id = _place(world)
    world.settle()
    world.call("PUT", f"/orders/{order_id}", '{"status": "CONFIRMED"}', token=_restaurant(world))
    world.settle()
    cancelled = world.call(
        "PUT", f"/orders/{order_id}", '{"status": "CANCELLED", "reason": "too slow"}',
        token=world.token("customer", "user-1"),
    )
    assert cancelled.status_code == 200, cancelled.get_body()
    world.settle()
    final = _order(world, order_id)
    assert (final["status"], final["paymentStatus"]) == ("CANCELLED", "REFUNDED")
    assert len(world.app.boot.payments.refunds) == 1
    assert world.app.boot.drivers.get("drv-0").status.value == "AVAILABLE"
    second = _orchestration(world, f"{order_id}:cancel")["output"]
    assert (second["state"], second["compensated"]) == ("OrderCancelled", ["AssignDriver", "ProcessPayment"])


def test_an_order_placed_event_delivered_twice_starts_one_orchestration(durable_world: AzureWorld) -> None:
    world = durable_world
    order_id = _place(world)
    world.change_feed()
    (placed,) = world.bus.active("order-runtime")
    world.bus.get_queue_sender("order-runtime").send_messages(
        ServiceBusMessage(bytes(b"".join(placed.body)), session_id=order_id, message_id="a-redelivery",
                          content_type=placed.content_type, application_properties=placed.application_properties)
    )
    world.settle()
    assert [i for i in world.durable.instances if not i.count(":")] == [order_id]
    assert _activities(world, order_id).count("capture_payment") == 1
    assert set(world.settlements) == {"complete"}


def test_timer_and_resume_messages_are_dead_lettered_in_durable_mode(durable_world: AzureWorld) -> None:
    world = durable_world
    due = world.clock.now()
    for message_id, body in (
        ("t-1", timer_body(ScheduledMessage("t-1", due, "saga.timeout", {"sagaId": "ord-x"}))),
        ("r-1", resume_body("ord-x")),
    ):
        world.bus.get_queue_sender("order-runtime").send_messages(
            ServiceBusMessage(body, session_id="ord-x", message_id=message_id)
        )
    world.runtime_queue()
    dead = world.bus.dead_letters("order-runtime")
    assert [d.message_id for d in dead] == ["t-1", "r-1"]
    assert all("workflow engine" in str(d.reason) for d in dead), [d.reason for d in dead]
    assert world.settlements == ["deadletter", "deadletter"]
