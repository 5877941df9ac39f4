"""Metering wired in the Azure package: Cosmos DB request charges and Service Bus operations recorded on the core's
meter (``fooddelivery.metering``), against units computed by hand from the published rules (Service Bus: one
operation per send, scheduled send, cancellation, receive and settlement of a message up to 64 KB) and from the
Cosmos DB stand-in's charges (it charges 1 RU per response; a real account reports the real charge the same way)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from azure.servicebus import ServiceBusMessage
from azure_world import REFERENCE_PAYLOAD, AzureWorld
from memory_servicebus import MemoryServiceBus

from fooddelivery.application.messages import EventInput, decode_body
from fooddelivery.domain.events import EventType
from fooddelivery.metering import AZURE, UsageMeter
from fooddelivery_azure.bootstrap import reset_azure_app
from fooddelivery_azure.metering import (
    MeterChargeSink,
    MeteredSender,
    MeteredSettler,
    RequestChargeRecorder,
    servicebus_operations,
)
from fooddelivery_azure.servicebus.consumer import ReceiverSettler, message_body


def test_request_charges_reach_the_core_meter_as_the_server_wrote_them() -> None:
    meter = UsageMeter()
    recorder = RequestChargeRecorder(MeterChargeSink(meter))
    recorder.hook("orders.get")({"x-ms-request-charge": "5.71"}, None)
    recorder.hook("orders.add")({"X-MS-Request-Charge": "2.29"}, None)
    recorder.hook("orders.get")({}, None)  # no charge named: recorded by the recorder, nothing on the meter
    assert meter.quantity(AZURE.COSMOS_REQUEST_UNITS) == Decimal("8.00")
    assert recorder.total_calls == 3


def test_servicebus_sends_schedules_cancels_and_settlements_are_operations() -> None:
    meter = UsageMeter()
    bus = MemoryServiceBus()
    bus.create_queue("q")
    sender = MeteredSender(bus.get_queue_sender("q"), meter)
    sender.send_messages([ServiceBusMessage(b"x" * 100), ServiceBusMessage(b"y" * (64 * 1024 + 1))])
    assert meter.quantity(AZURE.SERVICEBUS_OPERATIONS) == 1 + 2  # the second message is two 64 KB chunks
    (number,) = sender.schedule_messages(ServiceBusMessage(b"later"), datetime.now(UTC) + timedelta(hours=1))
    sender.cancel_scheduled_messages(number)
    assert meter.quantity(AZURE.SERVICEBUS_OPERATIONS) == 3 + 1 + 1
    receiver = bus.get_queue_receiver("q")
    first, second = receiver.receive_messages(max_message_count=2)
    settler = MeteredSettler(ReceiverSettler(receiver), meter)
    settler.complete(first)
    settler.dead_letter(second, "test", "")
    assert meter.quantity(AZURE.SERVICEBUS_OPERATIONS) == 5 + 1 + 2
    assert servicebus_operations([]) == 0


def test_one_placed_order_records_the_units_computed_by_hand(
    container: Any, functions_loop: Any, durable_rpc: Any
) -> None:
    meter = UsageMeter()
    world: AzureWorld = AzureWorld.build(container, functions_loop, durable_rpc, meter=meter)
    try:
        meter.reset()  # the catalog seeded by the test is not the order's
        world.app.charges.reset()
        customer = world.token("customer", "user-1")
        created = world.call("POST", "/orders", REFERENCE_PAYLOAD, token=customer, headers={"Idempotency-Key": "m-1"})
        assert created.status_code == 201
        # the request: the idempotency binding read (absent: the stand-in answers 500 with no charge, read as 404),
        # the restaurant read and the order's transactional batch: 1 RU per response (the answer is the order the
        # batch committed, from the call's scope, not read back)
        assert meter.quantity(AZURE.COSMOS_REQUEST_UNITS) == Decimal(2)
        assert meter.quantity(AZURE.SERVICEBUS_OPERATIONS) == 0  # the change feed publishes, not the request

        world.settle()  # the saga runs up to the wait for the restaurant
        topic = [decode_body(message_body(m)) for m in world.bus.active("order-events/subscriptions/analytics")]
        assert [i.event.type for i in topic if isinstance(i, EventInput)] == [
            EventType.ORDER_PLACED,
            EventType.PAYMENT_CAPTURED,
            EventType.RESTAURANT_NOTIFIED,
            EventType.DRIVER_ASSIGNED,
            EventType.CUSTOMER_NOTIFIED,
        ]
        assert meter.quantity(AZURE.SERVICEBUS_OPERATIONS) == (
            5  # the five events sent to the order-events topic
            + 1  # OrderPlaced also sent to the runtime queue (the only one of them the runtime reacts to)
            + 2  # its delivery to the runtime_queue function, and its completion
            + 2  # the restaurant's and the customer's notifications sent to the notifications topic
            + 1  # the confirmation timeout scheduled on the runtime queue (300 s)
        )
        # every request charge the application saw is on the meter, as the server reported it
        assert meter.quantity(AZURE.COSMOS_REQUEST_UNITS) == Decimal(repr(world.app.charges.total_request_units))
    finally:
        durable_rpc.host = None
        reset_azure_app()


def test_an_application_built_without_a_meter_wraps_nothing(world: AzureWorld) -> None:
    assert world.app.meter is None
    sender = world.app.servicebus.sender("queue", "order-runtime")()
    assert not isinstance(sender, MeteredSender)
