"""End to end on Azure's shape: ``POST /orders`` with the reference payload -> Cosmos DB -> the change feed ->
Service Bus -> the runtime queue's function runs the saga -> the restaurant's confirmation over HTTP -> CONFIRMED.
Every hop is a registered function of the app called with the platform's own types (see ``azure_world.py``)."""

from __future__ import annotations

from azure_world import REFERENCE_PAYLOAD, AzureWorld

from fooddelivery.application.messages import EventInput, decode_body
from fooddelivery.domain.events import EventType
from fooddelivery_azure.servicebus.consumer import message_body


def test_the_reference_order_is_paid_assigned_confirmed_and_every_event_reaches_the_topic(world: AzureWorld) -> None:
    customer = world.token("customer", "user-1")
    created = world.call("POST", "/orders", REFERENCE_PAYLOAD, token=customer)
    assert created.status_code == 201, created.get_body()
    order = world.json(created)
    assert order["pricing"]["subtotal"] == "21.97" and order["status"] == "PENDING"
    assert created.headers["Location"] == f"/orders/{order['orderId']}"
    # nothing was published by the request itself: the change feed does it
    assert world.bus.active("order-runtime") == []
    world.settle()
    waiting = world.json(world.call("GET", f"/orders/{order['orderId']}", token=customer))
    assert waiting["paymentStatus"] == "CAPTURED" and waiting["driverId"] == "drv-0"
    restaurant = world.token("restaurant", "owner-0", restaurant_id="rest-0")
    confirmed = world.call("PUT", f"/orders/{order['orderId']}", '{"status": "CONFIRMED"}', token=restaurant)
    assert confirmed.status_code == 200, confirmed.get_body()
    assert confirmed.headers["Signal-Outcome"] == "ACCEPTED"
    world.settle()
    final = world.json(world.call("GET", f"/orders/{order['orderId']}", token=customer))
    assert final["status"] == "CONFIRMED"
    assert world.app.boot.runner.status(order["orderId"]).value == "SUCCEEDED"
    # the topic saw every event of the order, in version order, once each
    topic = [decode_body(message_body(m)) for m in world.bus.active("order-events/subscriptions/analytics")]
    events = [i.event for i in topic if isinstance(i, EventInput) and i.event.order_id == order["orderId"]]
    versions = [e.order_version for e in events]
    assert versions == sorted(set(versions)) and events[0].type is EventType.ORDER_PLACED
    assert EventType.PAYMENT_CAPTURED in {e.type for e in events}
    assert set(world.settlements) == {"complete"}
    assert world.app.orders.pending(100) == []
    assert world.app.charges.total_request_units > 0


def test_a_restaurant_that_never_answers_is_timed_out_by_a_scheduled_message_and_refunded(world: AzureWorld) -> None:
    customer = world.token("customer", "user-1")
    order = world.json(world.call("POST", "/orders", REFERENCE_PAYLOAD, token=customer))
    world.settle()
    world.advance(299)
    assert world.json(world.call("GET", f"/orders/{order['orderId']}", token=customer))["status"] == "PENDING"
    world.advance(1)
    failed = world.json(world.call("GET", f"/orders/{order['orderId']}", token=customer))
    assert (failed["status"], failed["paymentStatus"]) == ("FAILED", "REFUNDED")
    payments = world.app.boot.payments
    assert len(payments.refunds) == 1
    assert world.app.boot.drivers.get("drv-0").status.value == "AVAILABLE"


def test_a_keyed_placement_sent_twice_creates_one_order(world: AzureWorld) -> None:
    customer = world.token("customer", "user-1")
    first = world.call("POST", "/orders", REFERENCE_PAYLOAD, token=customer, headers={"Idempotency-Key": "k-1"})
    again = world.call("POST", "/orders", REFERENCE_PAYLOAD, token=customer, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    assert world.json(again)["orderId"] == world.json(first)["orderId"]
    world.settle()
    assert len(world.app.boot.payments.charges) == 1


def test_a_poison_message_on_the_runtime_queue_is_dead_lettered_with_the_reason(world: AzureWorld) -> None:
    from azure.servicebus import ServiceBusMessage

    world.bus.get_queue_sender("order-runtime").send_messages(
        ServiceBusMessage(b'{"hello": "world"}', session_id="ord-x", message_id="poison")
    )
    world.runtime_queue()
    (dead,) = world.bus.dead_letters("order-runtime")
    assert dead.message_id == "poison" and "neither a CloudEvent" in str(dead.reason)
    assert world.settlements == ["deadletter"]


def test_the_sweep_publishes_what_the_change_feed_did_not(world: AzureWorld) -> None:
    customer = world.token("customer", "user-1")
    order = world.json(world.call("POST", "/orders", REFERENCE_PAYLOAD, token=customer))
    world.functions["outbox_sweep"](None)
    assert [m.session_id for m in world.bus.active("order-runtime")] == [order["orderId"]]
    assert world.app.orders.pending(10) == []
