"""The saga runner's own semantics, on small definitions (the order saga's paths are in test_saga_paths)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from fooddelivery.adapters.memory import InMemorySagaStateStore, InMemoryScheduler, VirtualClock
from fooddelivery.application.saga import (
    Catch,
    Fail,
    Retry,
    SagaDefinition,
    SagaRunner,
    StepContext,
    Succeed,
    Task,
)
from fooddelivery.domain.errors import InfrastructureError, NoDriverAvailable, ValidationError
from fooddelivery.metering import Quantity, UsageMeter
from fooddelivery.metering import operations as ops
from fooddelivery.ports.saga_store import SagaStatus

START = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


class Scripted:
    """An action that raises the scripted errors in turn, then succeeds; records when it ran."""

    def __init__(self, clock: VirtualClock, *errors: Exception) -> None:
        self.clock = clock
        self.errors = list(errors)
        self.ran_at: list[float] = []

    def __call__(self, ctx: StepContext) -> Mapping[str, Any] | None:
        self.ran_at.append((self.clock.now() - START).total_seconds())
        if self.errors:
            raise self.errors.pop(0)
        return {"done": True}


def _definition(*retry: Retry) -> SagaDefinition:
    return SagaDefinition(
        name="t",
        version=1,
        start="Step",
        states={
            "Step": Task(
                "Step", action="step", next="Done", retry=retry, catch=(Catch(("States.ALL",), "Failed", "gave_up"),)
            ),
            "Done": Succeed("Done"),
            "Failed": Fail("Failed", error="GaveUp"),
        },
    )


def _run(
    definition: SagaDefinition, action: Scripted, clock: VirtualClock, meter: UsageMeter | None = None
) -> SagaStatus:
    store, scheduler = InMemorySagaStateStore(), InMemoryScheduler()
    runner = SagaRunner(definition, {"step": action}, store, scheduler, clock, meter=meter)
    runner.start("s-1")
    for _ in range(20):
        due = scheduler.next_due()
        if due is None:
            break
        clock.set(due)
        for message in scheduler.pop_due(clock.now()):
            runner.deliver(message)
    return store.get("s-1").status


def test_each_retry_policy_keeps_its_own_counter_as_in_asl() -> None:
    clock = VirtualClock(START)
    action = Scripted(clock, InfrastructureError("blip"), NoDriverAvailable("none"), NoDriverAvailable("none"))
    definition = _definition(
        Retry(("InfrastructureError",), interval_seconds=1, backoff_rate=2, max_attempts=1),
        Retry(("NoDriverAvailable",), interval_seconds=10, backoff_rate=2, max_attempts=2),
    )

    assert _run(definition, action, clock) is SagaStatus.SUCCEEDED
    # the infrastructure blip did not use up (or lengthen) the no-driver back-off: 1 s, then 10 s, then 20 s
    assert action.ran_at == [0.0, 1.0, 11.0, 31.0]


def test_retries_stop_after_max_attempts_and_the_catch_route_fails_the_saga() -> None:
    clock = VirtualClock(START)
    action = Scripted(clock, *[InfrastructureError("down")] * 5)
    definition = _definition(Retry(("InfrastructureError",), interval_seconds=5, backoff_rate=2, max_attempts=3))

    assert _run(definition, action, clock) is SagaStatus.FAILED
    assert action.ran_at == [0.0, 5.0, 15.0, 35.0]


def test_an_error_no_route_catches_is_raised_not_swallowed() -> None:
    clock = VirtualClock(START)
    definition = SagaDefinition(
        name="t",
        version=1,
        start="Step",
        states={"Step": Task("Step", action="step", next="Done"), "Done": Succeed("Done")},
    )
    store = InMemorySagaStateStore()
    runner = SagaRunner(
        definition, {"step": Scripted(clock, ValidationError("bad"))}, store, InMemoryScheduler(), clock
    )
    with pytest.raises(ValidationError):
        runner.start("s-1")
    assert store.get("s-1").status is SagaStatus.RUNNING  # resumable


def test_a_definition_routing_to_an_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown states"):
        SagaDefinition(name="t", version=1, start="Nowhere", states={"Done": Succeed("Done")})


def test_a_runner_without_an_action_for_a_step_is_refused() -> None:
    with pytest.raises(ValueError, match="no action registered"):
        SagaRunner(_definition(), {}, InMemorySagaStateStore(), InMemoryScheduler(), VirtualClock(START))


class _WatchedMeter(UsageMeter):
    """A user's meter: a :class:`UsageMeter` whose ``record`` override also keeps every call it receives."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Quantity]] = []

    def record(self, name: str, quantity: Quantity = 1, *, size: int | None = None) -> None:
        self.calls.append((name, quantity))
        super().record(name, quantity, size=size)


def _metered(meter: UsageMeter) -> dict[str, Quantity]:
    clock = VirtualClock(START)
    action = Scripted(clock, InfrastructureError("blip"), InfrastructureError("blip"))
    retry = Retry(("InfrastructureError",), interval_seconds=1, backoff_rate=2, max_attempts=3)
    assert _run(_definition(retry), action, clock, meter) is SagaStatus.SUCCEEDED
    return {name: tally.quantity for name, tally in meter.usage().items()}


def test_a_usage_meter_and_a_subclass_overriding_record_get_the_same_totals_and_the_override_sees_every_record() -> (
    None
):
    # three attempts of Step (two retried blips), Step and Done entered, one transition per retry
    expected = {ops.SAGA_START: 1, ops.SAGA_TASK: 3, ops.SAGA_TRANSITION: 4}
    assert _metered(UsageMeter()) == expected
    watched = _WatchedMeter()
    assert _metered(watched) == expected
    # a subclass is called for each record (the runner adds to a plain UsageMeter's sums itself)
    assert sorted(watched.calls) == [
        (ops.SAGA_START, 1),
        (ops.SAGA_TASK, 1),
        (ops.SAGA_TASK, 1),
        (ops.SAGA_TASK, 1),
        (ops.SAGA_TRANSITION, 1),
        (ops.SAGA_TRANSITION, 1),
        (ops.SAGA_TRANSITION, 1),
        (ops.SAGA_TRANSITION, 1),
    ]


def test_a_meter_set_on_the_runner_after_it_was_built_gets_its_records() -> None:
    # runner.meter is public: a meter set after construction (a fresh UsageMeter per measured run, a wrapper) gets
    # every record, and the meter it replaced none; the runner's shortcut to a UsageMeter's sums follows it
    clock = VirtualClock(START)
    store, scheduler = InMemorySagaStateStore(), InMemoryScheduler()
    first, second, watched = UsageMeter(), UsageMeter(), _WatchedMeter()
    runner = SagaRunner(_definition(), {"step": Scripted(clock)}, store, scheduler, clock, meter=first)
    runner.meter = second
    assert runner.meter is second
    runner.start("s-1")
    runner.meter = watched
    runner.start("s-2")

    expected = {ops.SAGA_START: 1, ops.SAGA_TASK: 1, ops.SAGA_TRANSITION: 2}
    assert {name: tally.quantity for name, tally in second.usage().items()} == expected
    assert {name: tally.quantity for name, tally in watched.usage().items()} == expected
    assert len(watched.calls) == 4  # called for each record
    assert first.usage() == {}
