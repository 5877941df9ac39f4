"""``fooddelivery.dlq.depth`` watches each composed service weakly: bootstrapping again and again (tests, a
function host re-bootstrapping) leaves nothing behind, with or without an SDK."""

from __future__ import annotations

import gc

from fooddelivery.bootstrap import bootstrap
from fooddelivery.observability import metrics

from .conftest import Telemetry


def test_bootstrapping_without_an_sdk_registers_nothing() -> None:
    before = len(metrics._dead_letter_sources)
    apps = [bootstrap() for _ in range(50)]
    assert len(metrics._dead_letter_sources) == before
    del apps


def test_bootstrapping_with_an_sdk_keeps_only_the_live_services(telemetry: Telemetry) -> None:
    gc.collect()
    before = len(metrics._dead_letter_sources)
    for _ in range(50):
        bootstrap()
    gc.collect()
    assert len(metrics._dead_letter_sources) == before
    live = bootstrap()
    live.service.dead_letters.append(object())  # type: ignore[arg-type]
    assert len(metrics._dead_letter_sources) == before + 1
    (point,) = telemetry.points("fooddelivery.dlq.depth")
    assert point.value == 1


def test_the_depth_counts_the_events_dead_lettered_as_never_handleable_too(telemetry: Telemetry) -> None:
    # FoodDeliveryService.malformed is the in-process dead-letter queue (handle_events puts an event there and lets it
    # leave the outbox): the gauge did not see it, so nothing but one log line said an event was dropped
    live = bootstrap()
    live.service.malformed.append(object())  # type: ignore[arg-type]
    live.service.dead_letters.append(object())  # type: ignore[arg-type]
    (point,) = telemetry.points("fooddelivery.dlq.depth")
    assert point.value == 2
