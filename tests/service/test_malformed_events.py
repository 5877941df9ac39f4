"""An event the runtime can never handle (``MalformedMessage``) is dead-lettered once, not handed again each sweep."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from fooddelivery.application.messages import MalformedMessage
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent, EventType

from ._world import build_world


def test_an_event_that_can_never_be_handled_is_dead_lettered_once_and_leaves_the_outbox(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = build_world()
    runtime = world.service.runtime
    on_event = runtime.on_event
    handed: list[str] = []

    def refuse_cancellations(event: DomainEvent) -> Any:
        if event.type is EventType.ORDER_CANCELLED:
            handed.append(event.event_id)
            raise MalformedMessage.single("payload.by", "a cancellation this runtime cannot read", "invalid")
        return on_event(event)

    runtime.on_event = refuse_cancellations
    order_id = world.place_id()
    with caplog.at_level(logging.ERROR, logger="fooddelivery.application.services"):
        world.cancel(order_id)
        for _ in range(3):  # the worker's sweeps
            world.service.relay.flush()
            world.service.resume_sagas()

    cancelled = [e for e in world.publisher.of_order(order_id) if e.type is EventType.ORDER_CANCELLED]
    assert len(cancelled) == 1  # on the bus once, not once per sweep
    assert handed == [cancelled[0].event_id]  # handed to the runtime once
    assert [(e.event_id, type(x)) for e, x in world.service.malformed] == [(cancelled[0].event_id, MalformedMessage)]
    assert world.service.dead_letters == []  # nothing to retry
    assert list(world.boot.outbox.pending()) == []
    logged = [r for r in caplog.records if "can never be handled" in r.getMessage()]
    assert len(logged) == 1 and cancelled[0].event_id in logged[0].getMessage()


def test_an_outage_is_still_retried_by_the_sweep() -> None:
    world = build_world()
    runtime = world.service.runtime
    on_event = runtime.on_event
    down = [True]

    def flaky(event: DomainEvent) -> Any:
        if event.type is EventType.ORDER_CANCELLED and down[0]:
            raise InfrastructureError("the saga store is down", reason="unavailable")
        return on_event(event)

    runtime.on_event = flaky
    order_id = world.place_id()
    world.cancel(order_id)
    assert [e.type for e, _ in world.service.dead_letters] == [EventType.ORDER_CANCELLED]
    assert world.service.malformed == []
    down[0] = False
    assert world.service.resume_sagas() == 1
    assert world.service.dead_letters == []
