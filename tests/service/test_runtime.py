"""The order runtime (``fooddelivery.application.runtime``): the reaction table, what each input does, and the
outbox relays that feed it (per-caller publishing, the claim-aware sweep, the change-stream relay, the fan-out)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from fooddelivery.adapters.memory import InMemoryEventPublisher, InMemoryOrderRepository, SequentialIdGenerator
from fooddelivery.application.fanout import FanOutPublisher
from fooddelivery.application.messages import EventInput, MalformedMessage, ResumeInput, TimerInput
from fooddelivery.application.relay import ChangeRecord, ChangeStreamRelay, OutboxRelay
from fooddelivery.application.runtime import (
    REACTION_GATES,
    REACTION_TABLE,
    Outcome,
    Reaction,
    needs_runtime,
    reactions_to,
)
from fooddelivery.application.saga.runner import TIMER_TIMEOUT
from fooddelivery.bootstrap import Settings, bootstrap
from fooddelivery.domain import Actor, DriverStatus, OrderStatus
from fooddelivery.domain.errors import InfrastructureError, NotFound
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.order import Order, order_id_for_key
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery.testing.builders import T0, advance, make_event, make_order

from ._world import CUSTOMER, REST_ID, World, build_world


# -- the table ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event_type", "payload", "expected"),
    [
        (EventType.ORDER_PLACED, {}, (Reaction.START_SAGA,)),
        (EventType.ORDER_CANCELLED, {"by": "customer"}, (Reaction.CANCEL_SAGA, Reaction.NOTIFY_RESTAURANT)),
        (EventType.ORDER_FAILED, {"by": "admin"}, (Reaction.CANCEL_SAGA, Reaction.NOTIFY_RESTAURANT)),
        (EventType.ORDER_FAILED, {"by": "system"}, (Reaction.NOTIFY_RESTAURANT,)),
        (EventType.ORDER_STATUS_CHANGED, {"to": "DELIVERED"}, (Reaction.FREE_DRIVER,)),
        (EventType.ORDER_STATUS_CHANGED, {"to": "PREPARING"}, ()),
        (EventType.ORDER_STATUS_CHANGED, {}, ()),
        (EventType.PAYMENT_CAPTURED, {}, ()),
        (EventType.DRIVER_ASSIGNED, {}, ()),
        (EventType.RESTAURANT_NOTIFIED, {}, ()),
        (EventType.DELIVERY_LOCATION_UPDATED, {}, ()),
    ],
)
def test_the_reaction_table_says_what_each_event_does(
    event_type: EventType, payload: dict[str, Any], expected: tuple[Reaction, ...]
) -> None:
    event = make_event(type=event_type, payload=payload)
    assert reactions_to(event) == expected
    assert needs_runtime(event) is bool(expected)
    gate = REACTION_GATES.get(event_type)
    if gate is not None and payload.get(gate[0]) != gate[1]:  # what handle_events skips has no reaction
        assert expected == ()


def test_only_status_changes_are_gated_by_a_payload_value() -> None:
    assert REACTION_GATES == {EventType.ORDER_STATUS_CHANGED: ("to", "DELIVERED")}


def test_every_row_of_the_table_is_reachable_and_described() -> None:
    assert all(rule.description for rule in REACTION_TABLE)
    assert {rule.event_type for rule in REACTION_TABLE} == {
        EventType.ORDER_PLACED,
        EventType.ORDER_CANCELLED,
        EventType.ORDER_FAILED,
        EventType.ORDER_STATUS_CHANGED,
    }


# -- inputs ---------------------------------------------------------------------------------------------------
def _runtime_world() -> World:
    """A world whose relay does not feed the runtime: the tests hand it inputs themselves, as a queue would."""
    app = build_world()
    app.service.relay.consumer = None
    return app


def _placed(app: World, order_id: str) -> DomainEvent:
    return next(e for e in app.publisher.published if e.order_id == order_id and e.type is EventType.ORDER_PLACED)


def test_order_placed_starts_the_saga_once_however_often_it_arrives() -> None:
    app = _runtime_world()
    order_id = app.place_id()
    placed = _placed(app, order_id)
    assert app.sagas.ids() == []  # nothing reacted in process

    assert app.service.runtime.handle(EventInput(placed)) == (Outcome.STARTED,)
    assert app.service.runtime.on_event(placed) == (Outcome.STARTED,)  # a redelivery: the same instance

    assert app.saga(order_id).status is SagaStatus.WAITING
    assert len(app.payments.charges) == 1


def test_a_cancellation_reaching_the_runtime_compensates_and_tells_the_restaurant_once() -> None:
    app = _runtime_world()
    order_id = app.place_id()
    app.service.runtime.on_event(_placed(app, order_id))
    order = app.orders.get(order_id)
    order.cancel(Actor.customer(CUSTOMER), app.clock.now(), "evt-cancel-1", "changed my mind")
    app.orders.save(order)  # committed, but the process died before it told the saga
    event = make_event(
        type=EventType.ORDER_CANCELLED, order_id=order_id, order_version=order.version, payload={"by": "customer"}
    )

    assert app.service.runtime.on_event(event) == (Outcome.SIGNALLED, Outcome.NOTIFIED)
    assert app.service.runtime.on_event(event) == (Outcome.DUPLICATE, Outcome.NOTIFIED)

    assert app.order(order_id).payment_status == "REFUNDED" and len(app.payments.refunds) == 1
    assert app.saga(order_id).outcome == "cancelled"
    assert app.templates(REST_ID) == ["new_order", "order_cancelled"]


def test_a_cancellation_of_an_order_whose_saga_never_started_changes_nothing() -> None:
    app = _runtime_world()
    event = make_event(type=EventType.ORDER_CANCELLED, order_id=order_id_for_key(CUSTOMER, "x"))
    with pytest.raises(NotFound):
        app.service.runtime.on_event(event)  # no order to tell the restaurant about: the store says so
    app.place(key="x")
    assert app.service.runtime.on_event(event)[0] is Outcome.NO_EFFECT  # no saga yet: it will see the order


def test_a_delivered_order_frees_its_driver_and_a_second_delivery_changes_nothing() -> None:
    app = build_world()
    order_id = app.place_id()
    app.confirm(order_id)
    order = app.orders.get(order_id)
    for status, actor in (
        (OrderStatus.PREPARING, Actor.restaurant(REST_ID)),
        (OrderStatus.READY_FOR_PICKUP, Actor.restaurant(REST_ID)),
        (OrderStatus.PICKED_UP, Actor.driver("drv-near")),
    ):
        app.service.change_status(actor, order_id, status)
    order = app.orders.get(order_id)
    order.transition(OrderStatus.DELIVERED, Actor.driver("drv-near"), app.clock.now(), "evt-delivered")
    app.orders.save(order)  # delivered, but the process died before it freed the driver
    assert app.driver("drv-near").status is DriverStatus.ASSIGNED
    delivered = make_event(type=EventType.ORDER_STATUS_CHANGED, order_id=order_id, payload={"to": "DELIVERED"})

    assert app.service.runtime.on_event(delivered) == (Outcome.DRIVER_FREED,)
    assert app.driver("drv-near").status is DriverStatus.AVAILABLE
    assert app.service.runtime.on_event(delivered) == (Outcome.DRIVER_FREED,)
    assert app.driver("drv-near").status is DriverStatus.AVAILABLE


def test_a_timer_is_delivered_once_and_a_stale_copy_changes_nothing() -> None:
    app = build_world()
    order_id = app.place_id()
    (timer,) = app.scheduler.pending()
    app.clock.advance(300)

    assert app.service.runtime.handle(TimerInput(timer)) == (Outcome.TIMER_DELIVERED,)
    assert app.service.runtime.on_timer(timer) is Outcome.TIMER_STALE
    assert app.order(order_id).failure_reason == "restaurant_timeout" and len(app.payments.refunds) == 1


def test_a_stale_timer_resumes_a_saga_left_running_only_once_it_is_old_enough() -> None:
    app = build_world()
    order_id = app.place_id()
    state = app.sagas.get(order_id)
    state.status = SagaStatus.RUNNING  # its last driver died mid-step
    app.sagas.save(state)
    stale = ScheduledMessage("old-timer", app.clock.now(), TIMER_TIMEOUT, {"sagaId": order_id})

    assert app.service.runtime.on_timer(stale) is Outcome.TIMER_STALE  # just written: someone may be driving it
    app.clock.advance(timedelta(seconds=31))
    assert app.service.runtime.on_timer(stale) is Outcome.RESUMED
    assert app.saga(order_id).status is SagaStatus.WAITING


def test_resume_drives_on_and_an_unknown_saga_is_a_malformed_command() -> None:
    app = build_world()
    order_id = app.place_id()
    assert app.service.runtime.handle(ResumeInput(order_id)) == (Outcome.RESUMED,)
    with pytest.raises(MalformedMessage, match="no saga instance"):
        app.service.runtime.on_resume("ord-nowhere")


def test_without_a_runner_timers_and_resume_commands_are_refused_as_malformed() -> None:
    app = build_world()
    app.service.runtime.runner = None  # a workflow engine keeps its own time
    with pytest.raises(MalformedMessage, match="workflow engine"):
        app.service.runtime.on_timer(ScheduledMessage("t", app.clock.now(), TIMER_TIMEOUT, {"sagaId": "x"}))
    with pytest.raises(MalformedMessage, match="workflow engine"):
        app.service.runtime.on_resume("x")


def test_a_timer_without_a_saga_id_is_malformed() -> None:
    app = build_world()
    with pytest.raises(MalformedMessage):
        app.service.runtime.on_timer(ScheduledMessage("t", app.clock.now(), TIMER_TIMEOUT, {}))


# -- per-caller publishing and the sweep ----------------------------------------------------------------------
def test_a_caller_publishes_only_what_it_committed_and_the_sweep_leaves_others_claims_alone() -> None:
    outbox = InMemoryOrderRepository()
    bus = InMemoryEventPublisher()
    relay = OutboxRelay(outbox, bus, claim_ttl_s=60)
    mine, theirs = make_order(), make_order()
    relay.claim(list(mine.pending_events))
    outbox.add(mine)
    other_thread = threading.Thread(target=lambda: (relay.claim(list(theirs.pending_events)), outbox.add(theirs)))
    other_thread.start()
    other_thread.join()

    assert relay.publish_own() == 1  # mine only
    assert [e.order_id for e in bus.published] == [mine.order_id]
    assert relay.flush() == 0  # theirs is claimed by a caller that may still publish it
    relay.claim_ttl_s = 0  # ... until its claim is old
    assert relay.flush() == 1
    assert outbox.outbox_size == 0


def test_a_claim_is_aged_from_the_start_of_the_first_sweep_after_it() -> None:
    outbox = InMemoryOrderRepository()
    bus = InMemoryEventPublisher()
    now = [100.0]
    relay = OutboxRelay(outbox, bus, claim_ttl_s=10, monotonic=lambda: now[0])
    first, second = make_order(), make_order()

    def commit_in_another_thread(order: Order) -> None:  # a caller that has not published yet
        thread = threading.Thread(target=lambda: (relay.claim(list(order.pending_events)), outbox.add(order)))
        thread.start()
        thread.join()

    commit_in_another_thread(first)  # its claim reads no clock: stamped with the sweeps started so far (none)
    assert relay.flush() == 0  # sweep 1 starts at 100: the first claim is at least 0 s old
    commit_in_another_thread(second)
    now[0] = 105.0
    assert relay.flush() == 0  # sweep 2 at 105: the first claim is at least 5 s old, the second 0 s
    now[0] = 110.0
    assert relay.flush() == 1  # sweep 3 at 110: the first claim is at least 10 s old (sweep 1 came after it)
    assert [e.order_id for e in bus.published] == [first.order_id]
    now[0] = 114.0
    assert relay.flush() == 0  # the second is at least 9 s old (sweep 2 came after it)
    now[0] = 115.0
    assert relay.flush() == 1 and outbox.outbox_size == 0
    assert [e.order_id for e in bus.published] == [first.order_id, second.order_id]
    now[0] = 1000.0
    relay.flush()
    assert [g for g, _ in relay._sweeps] == [5, 6]  # only the sweeps that still age a claim are kept


def test_with_other_processes_the_sweep_leaves_them_their_fresh_events() -> None:
    # serve --processes N: the other processes' claims are not in this one's memory, so the sweep goes by age
    outbox = InMemoryOrderRepository()
    bus = InMemoryEventPublisher()
    born = T0
    old = make_order()
    outbox.add(old)  # committed by another process long ago, never published (it died)
    fresh = make_order()
    outbox.add(fresh)  # committed by another process a moment ago: it is publishing it now
    events = {r.event.order_id: r.event for r in outbox.pending()}
    old_event, fresh_event = events[old.order_id], events[fresh.order_id]
    assert old_event.occurred_at == fresh_event.occurred_at == born  # the builders' instant
    now = [born + timedelta(seconds=9.999)]
    relay = OutboxRelay(outbox, bus, foreign_claim_s=10, wall_clock=lambda: now[0])
    assert relay.flush() == 0 and bus.published == []  # both younger than 10 s: the other processes' to publish
    now[0] = born + timedelta(seconds=10)
    assert relay.flush() == 2 and outbox.outbox_size == 0  # 10 s old: the sweep's
    assert [e.event_id for e in bus.published] == [old_event.event_id, fresh_event.event_id]
    relay.foreign_claim_s = 0  # one process again: no age at all
    fresh_again = make_order()
    outbox.add(fresh_again)
    now[0] = born
    assert relay.flush() == 1 and outbox.outbox_size == 0


def test_a_failed_publish_releases_the_claims_to_the_sweep_and_counts_the_attempt() -> None:
    outbox = InMemoryOrderRepository()
    bus = InMemoryEventPublisher()
    relay = OutboxRelay(outbox, bus, claim_ttl_s=60)
    order = make_order()
    relay.claim(list(order.pending_events))
    outbox.add(order)
    bus.fail_next()
    with pytest.raises(InfrastructureError):
        relay.publish_own()
    assert [r.attempts for r in outbox.pending()] == [1]
    assert relay.flush() == 1 and outbox.outbox_size == 0


def test_a_consumer_that_raises_leaves_the_batch_it_raised_on_pending_for_the_sweep() -> None:
    # publish, hand to the consumer, mark: the batch the consumer raised on was published but never handled, so it
    # is not marked (at-least-once: the sweep publishes it again and hands it over); the batch before it is marked
    outbox = InMemoryOrderRepository()
    bus = InMemoryEventPublisher()
    order = make_order()
    handled: list[str] = []
    follow_up: list[DomainEvent] = []
    broken = [True]

    def consumer(batch: Any) -> None:
        if broken and follow_up and batch[0].event_id == follow_up[0].event_id:
            raise RuntimeError("the consumer broke")
        handled.extend(e.event_id for e in batch)
        if not follow_up:  # the saga reacts: commits the order's next event, published by this same call
            confirmed = advance(order, OrderStatus.CONFIRMED)
            follow_up.extend(confirmed.pending_events)
            relay.claim(follow_up)
            outbox.save(confirmed)

    relay = OutboxRelay(outbox, bus, consumer, claim_ttl_s=60)
    relay.claim(list(order.pending_events))
    outbox.add(order)
    placed = [r.event.event_id for r in outbox.pending()]
    with pytest.raises(RuntimeError, match="the consumer broke"):
        relay.publish_own()

    assert handled == placed
    assert [r.event.event_id for r in outbox.pending()] == [follow_up[0].event_id]  # never handled: pending
    assert relay._claims == {}  # released to the sweep
    broken.clear()
    assert relay.flush() == 1 and outbox.outbox_size == 0
    assert handled == [*placed, follow_up[0].event_id]
    # it was on the bus before the consumer raised: published twice (at-least-once), never lost
    assert [e.event_id for e in bus.published] == [*placed, follow_up[0].event_id, follow_up[0].event_id]


def test_with_a_change_stream_a_caller_publishes_nothing_and_keeps_nothing() -> None:
    outbox = InMemoryOrderRepository()
    bus = InMemoryEventPublisher()
    relay = OutboxRelay(outbox, bus, publish_after_commit=False)
    order = make_order()
    relay.claim(list(order.pending_events))
    outbox.add(order)
    assert relay.publish_own() == 0 and bus.published == [] and outbox.outbox_size == 1


def test_with_a_change_stream_the_sweep_still_publishes_and_marks_what_is_pending() -> None:
    # the sweep's batches go through publish_own, which no longer looks at publish_after_commit: it must not start
    # to (a stream's missed records would then stay pending for ever)
    outbox = InMemoryOrderRepository()
    bus = InMemoryEventPublisher()
    relay = OutboxRelay(outbox, bus, publish_after_commit=False)
    orders = [make_order(), make_order()]
    for order in orders:
        relay.claim(list(order.pending_events))  # nothing claimed: a change stream publishes
        outbox.add(order)
    assert relay.flush() == 2
    assert [e.order_id for e in bus.published] == [o.order_id for o in orders]
    assert outbox.outbox_size == 0 and relay.flush() == 0 and bus.duplicates == 0


# -- the change-stream relay ----------------------------------------------------------------------------------
class _RefusingAfter:
    """A bus that takes events until ``refused`` and refuses that one and the rest of the call."""

    def __init__(self, bus: InMemoryEventPublisher, refused: str) -> None:
        self.bus, self.refused = bus, refused

    def publish(self, events: Any) -> None:
        ids = [e.event_id for e in events]
        cut = ids.index(self.refused) if self.refused in ids else len(ids)
        self.bus.publish(events[:cut])
        if cut < len(ids):
            raise InfrastructureError("refused", failed_ids=ids[cut:])


def test_the_change_stream_relay_stops_at_the_first_refusal_and_names_its_position() -> None:
    outbox = InMemoryOrderRepository()
    orders = [make_order() for _ in range(3)]
    for order in orders:
        outbox.add(order)
    records = [ChangeRecord(f"seq-{i}", r.event) for i, r in enumerate(outbox.pending())]
    records.insert(1, ChangeRecord("seq-skip", None))  # not an outbox insert
    bus = InMemoryEventPublisher()

    result = ChangeStreamRelay(_RefusingAfter(bus, records[2].event.event_id), outbox).relay(records)  # type: ignore[union-attr]

    assert result.retry_from == "seq-1"
    assert result.published == (records[0].event.event_id,)  # type: ignore[union-attr]
    assert [r.event.event_id for r in outbox.pending()] == [r.event.event_id for r in records[2:]]  # type: ignore[union-attr]
    assert ChangeStreamRelay(bus, outbox).relay(records[2:]).retry_from is None
    assert outbox.outbox_size == 0


# -- the fan-out ----------------------------------------------------------------------------------------------
def test_the_fan_out_sends_the_runtimes_events_to_its_queue_and_every_event_to_the_bus() -> None:
    bus, queue = InMemoryEventPublisher(), InMemoryEventPublisher()
    placed = make_event(type=EventType.ORDER_PLACED)
    captured = make_event(type=EventType.PAYMENT_CAPTURED)
    delivered = make_event(type=EventType.ORDER_STATUS_CHANGED, payload={"to": "DELIVERED"})
    preparing = make_event(type=EventType.ORDER_STATUS_CHANGED, payload={"to": "PREPARING"})

    FanOutPublisher(bus, queue).publish([placed, captured, delivered, preparing])

    assert queue.published == [placed, delivered]
    assert bus.published == [placed, captured, delivered, preparing]


def test_when_the_queue_refuses_nothing_past_the_gap_reaches_the_bus() -> None:
    bus, queue = InMemoryEventPublisher(), InMemoryEventPublisher()
    events = [make_event(type=EventType.PAYMENT_CAPTURED), make_event(type=EventType.ORDER_PLACED)]
    queue.fail_next()
    with pytest.raises(InfrastructureError) as caught:
        FanOutPublisher(bus, queue).publish(events)
    assert caught.value.context["failed_ids"] == [events[1].event_id]
    assert caught.value.context["destination"] == "runtime_queue"
    assert bus.published == events[:1]


def test_an_event_whose_handling_failed_stays_in_the_outbox_and_a_new_process_delivers_it() -> None:
    app = build_world()
    start = app.runner.start
    calls: list[str] = []

    def unavailable(saga_id: str, data: Any = None) -> Any:
        calls.append(saga_id)
        raise InfrastructureError("saga store unavailable")

    app.runner.start = unavailable  # type: ignore[method-assign]
    order_id = app.place_id()
    assert calls == [order_id]
    assert [(r.event.type, r.attempts) for r in app.orders.pending()] == [(EventType.ORDER_PLACED, 1)]
    app.runner.start = start  # type: ignore[method-assign]

    # the process dies with its in-memory dead letters; a new one over the same stores sweeps the outbox
    again = bootstrap(
        Settings(),
        clock=app.clock,
        ids=SequentialIdGenerator("again"),
        **{port: app.boot.adapters[port] for port in ("orders", "restaurants", "drivers", "sagas", "payments",
                                                      "notifier", "scheduler", "publisher", "location")},
    )
    assert again.service.dead_letters == []
    assert again.service.pump() == 5  # OrderPlaced, then the saga's PaymentCaptured, DriverAssigned and two notices
    assert app.saga(order_id).status is SagaStatus.WAITING and len(app.payments.charges) == 1
    assert app.orders.outbox_size == 0
