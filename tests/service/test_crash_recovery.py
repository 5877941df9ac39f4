"""A crash at every step boundary resumes to the same end state as an uninterrupted run.

Every write-like call on every port (store writes, outbox marks, payment calls, notifications, timers, bus
publishes) is wrapped. A clean run of a scenario lists those calls in order; then, for every position N in
that list, the scenario is run again with a failure injected at the N-th call:

- ``crash-before``: a ``RuntimeError`` (the process dies) before the call takes effect;
- ``crash-after``: the call takes effect, then the process dies before the caller sees the result;
- ``error-before`` / ``error-after``: the same with the port's own transient error (``InfrastructureError``,
  ``PaymentRetryableError`` for the gateway), which the saga may retry.

After a failure the world "restarts": dead-lettered saga starts are retried, every saga is resumed, the outbox is
pumped and due timers run; then the client repeats the command that failed (with the same idempotency key).
The end state must equal the clean run's: one capture, at most one refund, each notification sent once, no
driver held twice, the same order and payment status, the same events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from fooddelivery.domain import (
    DriverStatus,
    InfrastructureError,
    InvalidTransition,
    OrderStatus,
    PaymentRetryableError,
)
from fooddelivery.domain.order import order_id_for_key

from ._world import CUSTOMER, NO_DRIVER_LAYOUT, World, build_world

#: Port -> the calls that write or have a side effect.
WRITES: dict[str, tuple[str, ...]] = {
    "orders": ("add", "save", "mark_published", "mark_failed"),
    "sagas": ("create", "save"),
    "unit_of_work": ("commit",),
    "drivers": ("save",),
    "payments": ("authorize", "capture", "refund"),
    "notifier": ("send",),
    "scheduler": ("schedule", "cancel"),
    "publisher": ("publish",),
}
MODES = ("crash-before", "crash-after", "error-before", "error-after")


class SimulatedCrash(RuntimeError):
    """The process died."""


@dataclass
class FailurePlan:
    """Counts wrapped calls and fails the ``at``-th one (1-based) in the given mode, once."""

    at: int | None = None
    mode: str = "crash-before"
    counting: bool = False
    calls: list[str] = field(default_factory=list)
    fired: str | None = None

    def _failure(self, op: str) -> Exception:
        if self.mode.startswith("crash"):
            return SimulatedCrash(f"crash at call {self.at}: {op}")
        if op.startswith("payments."):
            return PaymentRetryableError(f"injected at call {self.at}: {op}")
        return InfrastructureError(f"injected at call {self.at}: {op}")

    def call(self, op: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self.counting:
            return fn(*args, **kwargs)
        self.calls.append(op)
        hit = self.fired is None and len(self.calls) == self.at
        if hit and self.mode.endswith("before"):
            self.fired = op
            raise self._failure(op)
        result = fn(*args, **kwargs)
        if hit:
            self.fired = op
            raise self._failure(op)
        return result


def instrumented_world(plan: FailurePlan, scenario: str) -> World:
    world = build_world(drivers=NO_DRIVER_LAYOUT if scenario == "no_driver" else None)
    for port, methods in WRITES.items():
        adapter = getattr(world, port)
        for name in methods:
            original = getattr(adapter, name)

            def wrapped(*args: Any, _op: str = f"{port}.{name}", _fn: Any = original, **kwargs: Any) -> Any:
                return plan.call(_op, _fn, *args, **kwargs)

            setattr(adapter, name, wrapped)  # instance attribute: shadows the method, keeps the type
    plan.counting = True
    return world


def restart(world: World) -> None:
    """What a fresh process does: retry dead-lettered starts, resume every saga, pump, run due timers."""
    world.service.resume_sagas()
    for saga_id in world.sagas.ids():
        world.runner.resume(saga_id)
    world.service.pump()
    world.boot.run_due()


KEY = "idem-1"


def _place(world: World) -> None:
    world.place(key=KEY)


def _run_due(world: World) -> None:
    world.boot.run_due()


def _confirm(world: World) -> None:
    outcome = world.confirm(world.placed[0])
    assert outcome in ("ACCEPTED", "DUPLICATE")


def _cancel(world: World) -> None:
    try:
        world.cancel(world.placed[0])
    except InvalidTransition:
        # A repeated cancel of an order that is already cancelled: the client takes it as done.
        if world.order(world.placed[0]).status is not OrderStatus.CANCELLED:
            raise


def _clock(seconds: float) -> Callable[[World], None]:
    def advance(world: World) -> None:
        world.clock.advance(seconds)

    return advance


#: Each scenario is a list of client-side steps; a failed step is repeated after the restart.
SCENARIOS: dict[str, list[Callable[[World], None]]] = {
    "happy": [_place, _clock(60), _run_due, _confirm, _clock(3600), _run_due],
    "timeout": [_place, _clock(300), _run_due, _clock(3600), _run_due],
    "cancel": [_place, _clock(20), _run_due, _cancel, _clock(3600), _run_due],
    "no_driver": [_place, _clock(30), _run_due, _clock(60), _run_due, _clock(120), _run_due, _clock(3600), _run_due],
}


def run(scenario: str, plan: FailurePlan) -> World:
    world = instrumented_world(plan, scenario)
    for step in SCENARIOS[scenario]:
        fired_before = plan.fired
        try:
            step(world)
        except (SimulatedCrash, InfrastructureError, PaymentRetryableError):
            assert plan.fired is not None
        if plan.fired != fired_before:
            restart(world)
            step(world)  # the client (or the queue) tries again
            restart(world)
    return world


def end_state(world: World) -> dict[str, Any]:
    """What must not depend on where a run was interrupted (ids of the one order normalized)."""
    assert len(world.placed) == 1 and len(world.orders) == 1
    order_id = world.placed[0]
    order = world.orders.get(order_id)

    def norm(text: str | None) -> str | None:
        return None if text is None else text.replace(order_id, "<order>")

    seen: dict[str, Any] = {}
    for e in world.publisher.published:
        seen[e.event_id] = e
    events = sorted(seen.values(), key=lambda e: e.order_version)
    versions = [e.order_version for e in events]
    assert len(versions) == len(set(versions)), "two different events claim the same order version"
    saga = world.sagas.get(order_id)
    sent = world.notifier.sent
    return {
        "order": (
            order.status,
            order.payment_status,
            order.failure_reason,
            order.driver_id,
            order.version,
            order.charge_id is not None,
            tuple(norm(n) for n in order.notified),
            sorted(order.status_times),
        ),
        "events": [(e.order_version, e.type.value) for e in events],
        "charges": [c.amount for c in world.payments.charges],
        "authorizations": len(world.payments.authorizations),
        "refunds": [r.amount for r in world.payments.refunds],
        "notifications": sorted((n.kind.value, norm(n.recipient_id), n.template) for n in sent),
        "notifications_each_once": world.notifier.total == len({n.notification_id for n in sent}),
        "drivers": {d.driver_id: (d.status, norm(d.current_order_id)) for d in world.drivers.all_drivers()},
        "saga": (saga.status, saga.outcome, saga.current, saga.completed, saga.compensated),
        "pending_timers": world.scheduler.pending_count,
        "outbox": world.orders.outbox_size,
        "dead_letters": len(world.service.dead_letters),
    }


def clean_calls(scenario: str) -> list[str]:
    plan = FailurePlan()
    run(scenario, plan)
    return list(plan.calls)


CLEAN_CALLS = {name: clean_calls(name) for name in SCENARIOS}
CASES = [
    pytest.param(name, n, mode, id=f"{name}-{n:02d}-{op}-{mode}")
    for name, calls in CLEAN_CALLS.items()
    for n, op in enumerate(calls, start=1)
    for mode in MODES
]


@pytest.fixture(scope="module")
def clean_end_states() -> dict[str, dict[str, Any]]:
    return {name: end_state(run(name, FailurePlan())) for name in SCENARIOS}


def test_a_clean_happy_run_touches_every_port_it_depends_on() -> None:
    ops = set(CLEAN_CALLS["happy"])

    assert {
        "unit_of_work.commit",  # the order with its saga: placed, paid, waiting, confirmed
        "orders.mark_published",
        "drivers.save",
        "payments.authorize",
        "payments.capture",
        "notifier.send",
        "scheduler.schedule",
        "scheduler.cancel",
        "publisher.publish",
    } <= ops
    assert "payments.refund" not in ops


def test_a_clean_timeout_run_refunds_alerts_and_releases(clean_end_states: dict[str, dict[str, Any]]) -> None:
    assert "payments.refund" in CLEAN_CALLS["timeout"]
    state = clean_end_states["timeout"]
    assert state["order"][0] == "FAILED" and state["order"][2] == "restaurant_timeout"
    assert len(state["refunds"]) == 1
    assert ("operations_alert", "operations", "restaurant_did_not_confirm") in state["notifications"]
    assert state["drivers"]["drv-near"] == (DriverStatus.AVAILABLE, None)


def test_a_clean_happy_run_ends_confirmed(clean_end_states: dict[str, dict[str, Any]]) -> None:
    state = clean_end_states["happy"]
    assert state["order"][0] == "CONFIRMED" and state["order"][1] == "CAPTURED"
    assert state["drivers"]["drv-near"] == (DriverStatus.ASSIGNED, "<order>")
    assert state["refunds"] == []


@pytest.mark.parametrize(("scenario", "at", "mode"), CASES)
def test_a_failure_at_any_step_boundary_resumes_to_the_uninterrupted_end_state(
    scenario: str, at: int, mode: str, clean_end_states: dict[str, dict[str, Any]]
) -> None:
    plan = FailurePlan(at=at, mode=mode)

    world = run(scenario, plan)

    assert plan.fired == CLEAN_CALLS[scenario][at - 1]
    state = end_state(world)
    expected = clean_end_states[scenario]
    assert state == expected
    assert len(state["charges"]) == 1
    assert len(state["refunds"]) <= 1
    assert state["notifications_each_once"]
    held = world.held_drivers()
    assert len(set(held.values())) == len(held)


# -- the failures the matrix found, one by one -----------------------------------------------------------------
def fail_nth_call(adapter: Any, method: str, n: int, *, after: bool) -> list[str]:
    """Make the ``n``-th call of ``adapter.method`` crash, before or after it takes effect; returns a log."""
    original = getattr(adapter, method)
    log: list[str] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        log.append(method)
        if len(log) == n and not after:
            raise SimulatedCrash(f"{method} #{n}")
        result = original(*args, **kwargs)
        if len(log) == n:
            raise SimulatedCrash(f"{method} #{n}")
        return result

    setattr(adapter, method, wrapped)
    return log


def test_a_process_dying_right_after_reserving_a_driver_does_not_leak_the_driver() -> None:
    world = build_world()
    fail_nth_call(world.drivers, "save", 1, after=True)
    world.place()  # the saga start dies inside AssignDriver: dead-lettered
    assert len(world.service.dead_letters) == 1

    restart(world)

    order_id = world.placed[0]
    assert world.order(order_id).driver_id == "drv-near"
    assert world.held_drivers() == {"drv-near": order_id}
    assert world.driver("drv-mid").status is DriverStatus.AVAILABLE


def test_a_process_dying_right_after_order_placed_was_marked_published_still_starts_the_saga_once() -> None:
    world = build_world()
    fail_nth_call(world.orders, "mark_published", 1, after=True)
    with pytest.raises(SimulatedCrash):
        world.place(key=KEY)

    restart(world)

    order = world.order(order_id_for_key(CUSTOMER, KEY))  # the client never got the answer; its key names the order
    assert order.payment_status == "CAPTURED"
    assert world.sagas.get(order.order_id).status == "WAITING"
    assert len(world.payments.charges) == 1


def test_a_timer_whose_handling_died_is_delivered_again() -> None:
    world = build_world()
    order_id = world.place_id()
    fail_nth_call(world.unit_of_work, "commit", 1, after=False)  # the timeout's first write dies
    world.clock.advance(300)
    with pytest.raises(SimulatedCrash):
        world.boot.run_due()
    assert world.order(order_id).status is OrderStatus.PENDING

    assert world.boot.run_due() == 1

    assert world.order(order_id).failure_reason == "restaurant_timeout"
    assert len(world.payments.refunds) == 1


def test_a_confirmation_that_died_before_it_was_saved_leaves_the_restaurant_timeout_armed() -> None:
    world = build_world()
    order_id = world.place_id()
    fail_nth_call(world.unit_of_work, "commit", 1, after=False)  # the confirmation's first write dies
    with pytest.raises(SimulatedCrash):
        world.confirm(order_id)  # ... and the restaurant never sends it again

    world.clock.advance(300)
    world.boot.run_due()

    order = world.order(order_id)
    assert order.status is OrderStatus.FAILED and order.failure_reason == "restaurant_timeout"
    assert len(world.payments.refunds) == 1
    assert world.held_drivers() == {}


def test_a_confirmed_order_cancelled_by_a_process_that_died_before_telling_the_saga_is_refunded_once() -> None:
    world = build_world()
    order_id = world.place_id()
    world.confirm(order_id)
    fail_nth_call(world.orders, "save", 1, after=True)  # the cancelled order is stored, then the process dies
    with pytest.raises(SimulatedCrash):
        world.cancel(order_id)
    assert world.order(order_id).status is OrderStatus.CANCELLED
    assert world.payments.refunds == []

    restart(world)  # no client retry: the committed OrderCancelled event is enough

    order = world.order(order_id)
    assert order.payment_status == "REFUNDED"
    assert [r.amount for r in world.payments.refunds] == [order.pricing.total]
    assert world.held_drivers() == {}
    assert world.sagas.get(order_id).outcome == "cancelled"
    assert world.alerts() == []
