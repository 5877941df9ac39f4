"""A manual driver assignment (``POST /orders/{id}/assign``) dying or racing at every point of its three writes.

The assignment claims the driver on the order, reserves the driver, then records it on the order. Whatever dies
or interleaves, a driver is held by an order exactly when the order names it, no claim outlives the settlement,
and one driver never serves two orders.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from fooddelivery.application.saga.runner import StepContext
from fooddelivery.domain import Actor, ConcurrencyConflict, DriverStatus, InvalidTransition, OrderStatus
from fooddelivery.domain.errors import InfrastructureError, NoDriverAvailable
from fooddelivery.ports.saga_store import SagaStatus
from tests.service._world import NO_DRIVER_LAYOUT, REST_ID, World, build_world, make_driver
from tests.service.test_crash_recovery import SimulatedCrash, fail_nth_call, restart

RESTAURANT = Actor.restaurant(REST_ID)

#: Every write of a manual assignment, as (adapter, method, nth call, after it took effect).
CRASH_POINTS: list[tuple[str, str, int, bool]] = [
    ("orders", "save", 1, False),  # before the claim: nothing written
    ("orders", "save", 1, True),  # the claim is stored, the driver is not reserved
    ("drivers", "save", 1, False),  # the same, dying inside the reservation call
    ("drivers", "save", 1, True),  # the driver is reserved, the order only claims it
    ("orders", "save", 2, False),  # the same, dying inside the recording call
    ("orders", "save", 2, True),  # recorded; the answer is lost
]
CRASH_IDS = [f"{store}.{method}#{n}-{'after' if after else 'before'}" for store, method, n, after in CRASH_POINTS]


def _assert_consistent(app: World) -> None:
    """Every held driver is named by the order it holds, every order's driver holds it, and no claim is left."""
    held = app.held_drivers()
    for driver_id, order_id in held.items():
        assert app.order(order_id).driver_id == driver_id, (driver_id, order_id)
    for order_id in app.placed:
        order = app.order(order_id)
        assert order.driver_claim is None, order_id
        if order.driver_id is not None and not order.status.is_terminal:
            assert held.get(order.driver_id) == order_id, order_id


def _hook(adapter: Any, method: str, n: int, action: Callable[[], object], *, after: bool = False) -> None:
    """Run ``action`` just before (or after) the ``n``-th call of ``adapter.method``: another process's work
    landing in that window."""
    original = getattr(adapter, method)
    calls = 0

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        mine = calls == n
        if mine and not after:
            action()
        result = original(*args, **kwargs)
        if mine and after:
            action()
        return result

    setattr(adapter, method, wrapped)


def _waiting_for_a_driver() -> tuple[World, str]:
    """An order whose saga retries ``AssignDriver`` (no driver nearby), then drv-new appears 1 km away."""
    app = build_world(drivers=NO_DRIVER_LAYOUT)
    order_id = app.place_id()
    assert app.runner.status(order_id) is SagaStatus.RETRY_WAIT
    app.drivers.add(make_driver("drv-new", 1.0))
    return app, order_id


def _crash_in_assignment(app: World, order_id: str, point: tuple[str, str, int, bool]) -> None:
    store, method, n, after = point
    fail_nth_call(getattr(app, store), method, n, after=after)
    with pytest.raises(SimulatedCrash):
        app.service.assign_driver(RESTAURANT, order_id)


# -- a process dying at every point ----------------------------------------------------------------------------
@pytest.mark.parametrize("point", CRASH_POINTS, ids=CRASH_IDS)
def test_a_manual_assignment_dying_at_any_write_ends_with_the_driver_held_by_the_order_that_names_it(
    point: tuple[str, str, int, bool],
) -> None:
    app, order_id = _waiting_for_a_driver()
    _crash_in_assignment(app, order_id, point)

    restart(app)
    app.advance(30)  # the saga's retry of AssignDriver settles the claim (or finds the driver itself)

    assert app.order(order_id).driver_id == "drv-new"
    assert app.held_drivers() == {"drv-new": order_id}
    assert app.runner.status(order_id) is SagaStatus.WAITING  # on to the restaurant's confirmation
    _assert_consistent(app)


def test_the_claim_is_what_a_dead_assignment_leaves_between_its_reservation_and_its_record() -> None:
    app, order_id = _waiting_for_a_driver()
    _crash_in_assignment(app, order_id, ("drivers", "save", 1, True))

    order = app.order(order_id)
    assert (order.driver_id, order.driver_claim) == (None, "drv-new")
    assert app.held_drivers() == {"drv-new": order_id}  # held, and only the claim says by whom


@pytest.mark.parametrize("point", CRASH_POINTS, ids=CRASH_IDS)
def test_the_same_manual_assignment_sent_again_after_a_crash_finishes_it(point: tuple[str, str, int, bool]) -> None:
    app, order_id = _waiting_for_a_driver()
    _crash_in_assignment(app, order_id, point)

    if point == ("orders", "save", 2, True):  # it was recorded: the order has its driver
        with pytest.raises(InvalidTransition, match="already has a driver"):
            app.service.assign_driver(RESTAURANT, order_id)
    else:
        assert app.service.assign_driver(RESTAURANT, order_id).driver_id == "drv-new"

    assert app.order(order_id).driver_id == "drv-new"
    assert app.held_drivers() == {"drv-new": order_id}
    app.advance(30)  # the saga's retry finds the order assigned and goes on
    assert app.runner.status(order_id) is SagaStatus.WAITING
    assert app.held_drivers() == {"drv-new": order_id}
    _assert_consistent(app)


@pytest.mark.parametrize("point", CRASH_POINTS, ids=CRASH_IDS)
def test_a_dead_manual_assignment_of_an_order_the_saga_then_fails_frees_the_driver(
    point: tuple[str, str, int, bool],
) -> None:
    app = build_world()
    order_id = app.place_id(token="tok_processingError")  # the saga retries the payment, then gives up
    assert app.runner.status(order_id) is SagaStatus.RETRY_WAIT
    _crash_in_assignment(app, order_id, point)

    restart(app)
    for _ in range(4):  # 5, 10 and 20 s: the payment's retries, then its failure
        app.advance(20)

    order = app.order(order_id)
    assert (order.status, order.failure_reason) == (OrderStatus.FAILED, "payment_unavailable")
    assert (order.driver_id, order.driver_claim) == (None, None)
    assert app.held_drivers() == {}
    assert app.drivers.get("drv-near").status is DriverStatus.AVAILABLE


def test_a_claimed_driver_gone_offline_meanwhile_is_dropped_and_the_saga_finds_another() -> None:
    app, order_id = _waiting_for_a_driver()
    _crash_in_assignment(app, order_id, ("orders", "save", 1, True))  # claimed, not reserved
    app.drivers.add(make_driver("drv-other", 2.0))
    app.drivers.save(app.drivers.get("drv-new").evolve(status=DriverStatus.OFFLINE))

    app.advance(30)

    order = app.order(order_id)
    assert (order.driver_id, order.driver_claim) == ("drv-other", None)
    assert app.held_drivers() == {"drv-other": order_id}


# -- two manual assignments of one driver ----------------------------------------------------------------------
def test_one_driver_claiming_two_orders_at_once_gets_exactly_one() -> None:
    app = build_world(drivers=NO_DRIVER_LAYOUT)
    first, second = app.place_id(), app.place_id("cus-other")
    app.drivers.add(make_driver("drv-new", 1.0))
    driver = Actor.driver("drv-new")
    # the second claim runs whole while the first is between its claim and its reservation
    _hook(app.drivers, "save", 1, lambda: app.service.assign_driver(driver, second))

    with pytest.raises(ConcurrencyConflict):
        app.service.assign_driver(driver, first)

    assert app.order(second).driver_id == "drv-new"
    assert (app.order(first).driver_id, app.order(first).driver_claim) == (None, None)
    assert app.held_drivers() == {"drv-new": second}
    _assert_consistent(app)


def test_two_restaurant_assignments_racing_for_the_only_driver_book_it_once() -> None:
    app = build_world(drivers=NO_DRIVER_LAYOUT)
    first, second = app.place_id(), app.place_id("cus-other")
    app.drivers.add(make_driver("drv-new", 1.0))
    _hook(app.drivers, "save", 1, lambda: app.service.assign_driver(RESTAURANT, second))

    with pytest.raises(NoDriverAvailable):
        app.service.assign_driver(RESTAURANT, first)

    assert app.held_drivers() == {"drv-new": second}
    assert (app.order(first).driver_id, app.order(first).driver_claim) == (None, None)
    _assert_consistent(app)


def test_an_assignment_sent_twice_at_once_books_the_driver_once() -> None:
    app, order_id = _waiting_for_a_driver()
    outcomes: list[object] = []

    def duplicate() -> None:
        try:
            outcomes.append(app.service.assign_driver(RESTAURANT, order_id).driver_id)
        except ConcurrencyConflict as exc:  # it found the first one's claim being written
            outcomes.append(type(exc).__name__)

    _hook(app.drivers, "save", 1, duplicate)  # the duplicate arrives between the claim and the reservation

    assert app.service.assign_driver(RESTAURANT, order_id).driver_id == "drv-new"

    assert outcomes == ["drv-new"]  # it settled the first one's claim: the same driver, once
    assert app.held_drivers() == {"drv-new": order_id}
    _assert_consistent(app)


# -- a manual assignment racing the saga's automatic one -------------------------------------------------------
@pytest.mark.parametrize("after", [False, True], ids=["before-reservation", "after-reservation"])
def test_the_sagas_retry_landing_inside_a_manual_assignment_records_the_same_driver_once(after: bool) -> None:
    app, order_id = _waiting_for_a_driver()
    _hook(app.drivers, "save", 1, lambda: app.advance(30), after=after)  # the saga's AssignDriver retry runs

    assigned = app.service.assign_driver(RESTAURANT, order_id)

    assert assigned.driver_id == "drv-new"
    assert app.held_drivers() == {"drv-new": order_id}
    assert app.runner.status(order_id) is SagaStatus.WAITING
    assigned_events = [e for e in app.publisher.published if e.type.value == "DriverAssigned"]
    assert [e.payload["driverId"] for e in assigned_events] == ["drv-new"]
    _assert_consistent(app)


def test_a_manual_assignment_landing_inside_the_sagas_reservation_wins_and_the_saga_gives_its_driver_back() -> None:
    app = build_world(drivers=NO_DRIVER_LAYOUT)
    order_id = app.place_id()
    app.drivers.add(make_driver("drv-a", 1.0))
    app.drivers.add(make_driver("drv-b", 2.0))
    # the saga's retry picks drv-a; before it reserves it, the restaurant assigns drv-a by hand, whole
    _hook(app.drivers, "save", 1, lambda: app.service.assign_driver(RESTAURANT, order_id))

    app.advance(30)

    assert app.order(order_id).driver_id == "drv-a"
    assert app.held_drivers() == {"drv-a": order_id}  # drv-b, which the saga reserved next, was given back
    assert app.drivers.get("drv-b").status is DriverStatus.AVAILABLE
    assert app.runner.status(order_id) is SagaStatus.WAITING
    _assert_consistent(app)


def test_a_manual_assignment_still_running_when_the_saga_fails_the_order_cannot_leave_its_driver_held() -> None:
    """The saga gives up while the assignment sits between its claim and its reservation: the saga's settlement
    must fence the driver off (reserve and give it back), or the assignment's reservation would land afterwards on
    a FAILED order that nothing settles again."""
    app = build_world()
    order_id = app.place_id(token="tok_processingError")

    def saga_gives_up() -> None:
        for _ in range(4):
            app.advance(20)
        assert app.order(order_id).status is OrderStatus.FAILED

    _hook(app.drivers, "save", 1, saga_gives_up)

    with pytest.raises(InvalidTransition):  # its reservation lost; the order is FAILED by the time it looks again
        app.service.assign_driver(RESTAURANT, order_id)

    order = app.order(order_id)
    assert (order.status, order.driver_id, order.driver_claim) == (OrderStatus.FAILED, None, None)
    assert app.held_drivers() == {}


# -- an order stopped before its saga started ------------------------------------------------------------------
def _placed_without_a_saga() -> tuple[World, str, Callable[[], None]]:
    """An order whose saga has not started yet (its start keeps failing: dead-lettered), and what brings the saga
    store back."""
    app = build_world()
    app.service.orders.new_saga = None  # the saga starts when OrderPlaced reaches the runtime (as in a cloud)
    engine = app.service.runtime.engine
    start = engine.start
    down = [True]

    def start_unless_down(*args: Any, **kwargs: Any) -> Any:
        if down[0]:
            raise InfrastructureError("the saga store is down")
        return start(*args, **kwargs)

    engine.start = start_unless_down
    order_id = app.place_id()
    assert app.runner.status(order_id) is None
    return app, order_id, lambda: down.clear() or down.append(False)


@pytest.mark.parametrize("point", [None, *CRASH_POINTS[1:5]], ids=["recorded", *CRASH_IDS[1:5]])
def test_an_order_cancelled_before_its_saga_started_frees_the_driver_a_manual_assignment_gave_it(
    point: tuple[str, str, int, bool] | None,
) -> None:
    app, order_id, back_up = _placed_without_a_saga()
    if point is None:
        assert app.service.assign_driver(RESTAURANT, order_id).driver_id == "drv-near"
    else:
        _crash_in_assignment(app, order_id, point)
    app.cancel(order_id)

    back_up()
    restart(app)  # the saga starts, finds the order cancelled and fails it

    order = app.order(order_id)
    assert order.status is OrderStatus.CANCELLED
    assert order.driver_claim is None
    assert app.held_drivers() == {}
    assert app.drivers.get("drv-near").status is DriverStatus.AVAILABLE


# -- a workflow engine's activity (the step writes the order itself, re-reading it on a conflict) --------------
def _activity(order_id: str, step: str, outcome: str | None = None) -> StepContext:
    """The context a workflow engine's activity (Step Functions, Durable Functions, Workflows) runs a step in: no
    order in a unit of work, so the step reads and writes the order itself."""
    return StepContext(
        saga_id=order_id, step=step, data={}, outcome=outcome, attempt=2, _checkpoint=lambda values: None, order=None
    )


def _assignment_dying_before_its_record_inside_the_first_order_write(app: World, order_id: str) -> None:
    """Just before the step's first order write (its compare-and-set on the order it read before any claim), a
    manual assignment claims and reserves a driver and dies before recording it."""
    original = app.service.orders.save
    calls: list[str] = []

    def save(order: Any) -> Any:
        calls.append(order.order_id)
        if len(calls) == 1:
            with pytest.raises(SimulatedCrash):
                app.service.assign_driver(RESTAURANT, order_id)
        elif len(calls) == 3:  # the assignment's record
            raise SimulatedCrash("orders.save #3")
        return original(order)

    app.service.orders.save = save


def test_an_activitys_assign_driver_retrying_its_write_never_erases_a_claim_whose_driver_holds_the_order() -> None:
    app, order_id = _waiting_for_a_driver()
    app.drivers.add(make_driver("drv-far", 2.0))  # the assignment's driver once the step has taken drv-new
    _assignment_dying_before_its_record_inside_the_first_order_write(app, order_id)

    app.service.steps.assign_driver(_activity(order_id, "AssignDriver"))

    order = app.order(order_id)
    assert order.driver_claim is None
    assert app.held_drivers() == {order.driver_id: order_id}  # drv-far is not left held by an order naming drv-new
    _assert_consistent(app)


def test_an_activitys_fail_order_retrying_its_write_never_leaves_a_claim_on_the_failed_order() -> None:
    app, order_id = _waiting_for_a_driver()
    _assignment_dying_before_its_record_inside_the_first_order_write(app, order_id)

    app.service.steps.fail_order(_activity(order_id, "FailOrder", "no_driver"))

    order = app.order(order_id)
    assert (order.status, order.driver_claim) == (OrderStatus.FAILED, None)
    assert app.held_drivers() == {}


def test_a_reservation_that_landed_though_the_store_reported_a_failure_is_answered_as_the_assignment_it_is() -> None:
    """The driver store fails after writing (a timeout on the way back): the assignment settles its own claim on a
    fresh read, which records the driver; the caller gets the order with its driver, as when the same thing happens
    to the order's record, not a 503 for an assignment that took place (whose retry would then get a 409)."""
    app, order_id = _waiting_for_a_driver()
    original = app.drivers.save
    calls: list[str] = []

    def save(driver: Any) -> Any:
        calls.append(driver.driver_id)
        stored = original(driver)
        if len(calls) == 1:
            raise InfrastructureError("timed out reading the answer")
        return stored

    app.drivers.save = save

    assert app.service.assign_driver(RESTAURANT, order_id).driver_id == "drv-new"

    assert app.held_drivers() == {"drv-new": order_id}
    _assert_consistent(app)


def _in_another_process(action: Callable[[], object]) -> Callable[[], None]:
    """``action`` run as another process would: in its own thread, so in its own call scope (a nested call in this
    thread would share the assignment's scope and let it see the other process's writes for free)."""

    def run() -> None:
        errors: list[BaseException] = []

        def target() -> None:
            try:
                action()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
        assert not errors, errors

    return run


def test_a_saga_in_another_process_failing_the_order_inside_a_manual_assignment_leaves_no_driver_held() -> None:
    """As the test above, with the saga in another process: the assignment's settlement must read the order as
    stored, not the copy its own call kept of the claim it wrote (that copy is PENDING; the order is FAILED)."""
    app = build_world()
    order_id = app.place_id(token="tok_processingError")

    def saga_gives_up() -> None:
        for _ in range(4):
            app.advance(20)
        assert app.order(order_id).status is OrderStatus.FAILED

    _hook(app.drivers, "save", 1, _in_another_process(saga_gives_up))

    with pytest.raises(InvalidTransition):
        app.service.assign_driver(RESTAURANT, order_id)

    order = app.order(order_id)
    assert (order.status, order.driver_id, order.driver_claim) == (OrderStatus.FAILED, None, None)
    assert app.held_drivers() == {}


def test_a_sent_again_assignment_settling_while_the_saga_fails_the_order_elsewhere_leaves_no_driver_held() -> None:
    """A dead assignment left its claim (drv-near, not reserved); it is sent again, and between its settlement's
    read of the driver and its reservation, the saga (another process) fails the order and settles the claim itself
    (reserve, give back, drop). The settlement's reservation then lands for a claim that no longer exists: it must
    be given back when its order write loses."""
    app = build_world()
    order_id = app.place_id(token="tok_processingError")
    _crash_in_assignment(app, order_id, ("orders", "save", 1, True))  # claimed, not reserved
    restart(app)

    def saga_gives_up() -> None:
        for _ in range(4):
            app.advance(20)
        assert app.order(order_id).status is OrderStatus.FAILED

    _hook(app.drivers, "get", 1, _in_another_process(saga_gives_up))

    with pytest.raises(InvalidTransition):  # the order is FAILED by the time it is settled
        app.service.assign_driver(RESTAURANT, order_id)

    order = app.order(order_id)
    assert (order.status, order.driver_id, order.driver_claim) == (OrderStatus.FAILED, None, None)
    assert app.held_drivers() == {}


def test_a_driver_refused_after_settling_another_drivers_claim_publishes_the_assignment_it_recorded() -> None:
    """Driver B asks while driver A's assignment sits between its claim and its reservation (in another process):
    B's settlement records A (``DriverAssigned``) and B is refused; the event it committed must be published with
    its answer, as any committed change is, not left in the outbox for a later sweep (A's own call publishes only
    what A committed). Seen in ``tests/e2e/test_concurrency.py``'s two drivers racing, now and then."""
    app, order_id = _waiting_for_a_driver()
    app.drivers.add(make_driver("drv-b", 2.0))
    outcomes: list[str] = []

    def driver_b() -> None:
        with pytest.raises(InvalidTransition, match="already has a driver"):
            app.service.assign_driver(Actor.driver("drv-b"), order_id)
        outcomes.append("refused")

    _hook(app.drivers, "save", 1, _in_another_process(driver_b))

    assert app.service.assign_driver(Actor.driver("drv-new"), order_id).driver_id == "drv-new"

    assert outcomes == ["refused"]
    assert app.held_drivers() == {"drv-new": order_id}
    assigned = [e for e in app.publisher.of_order(order_id) if e.type.value == "DriverAssigned"]
    assert [e.payload["driverId"] for e in assigned] == ["drv-new"]
    _assert_consistent(app)
