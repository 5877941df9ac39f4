"""The order lifecycle: every (from, to) pair for every kind of actor, generated from TRANSITIONS.

Expected outcome of ``order.transition(to, actor)``:

1. an actor unrelated to the order (another customer, restaurant or driver) gets NotFound;
2. a related actor whose role may never set ``to`` (no row of the table ending in ``to`` lists it)
   gets NotAllowed;
3. a role that may set ``to``, but not from the current status, gets InvalidTransition;
4. otherwise the change happens and records exactly one event, bumping the version by exactly one.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fooddelivery.domain import (
    TRANSITIONS,
    Actor,
    EventType,
    FoodDeliveryError,
    InvalidTransition,
    NotAllowed,
    NotFound,
    OrderStatus,
    Role,
)

from ._factories import CUSTOMER_ID, DRIVER_ID, NOW, RESTAURANT_ID, event_id, order_in, place

ACTORS: dict[str, Actor] = {
    "customer-owner": Actor.customer(CUSTOMER_ID),
    "other-customer": Actor.customer("cust-2"),
    "restaurant-owner": Actor.restaurant(RESTAURANT_ID),
    "other-restaurant": Actor.restaurant("rest-2"),
    "assigned-driver": Actor.driver(DRIVER_ID),
    "other-driver": Actor.driver("drv-2"),
    "admin": Actor.admin(),
    "system": Actor.system(),
}
UNRELATED = frozenset({"other-customer", "other-restaurant", "other-driver"})
EVENT_FOR = {
    OrderStatus.CANCELLED: EventType.ORDER_CANCELLED,
    OrderStatus.FAILED: EventType.ORDER_FAILED,
}
LATER = NOW + timedelta(hours=1)


def _roles_that_may_set(to: OrderStatus) -> frozenset[Role]:
    roles: frozenset[Role] = frozenset()
    for (_, target), allowed in TRANSITIONS.items():
        if target is to:
            roles |= allowed
    return roles


def _expected_error(
    frm: OrderStatus, to: OrderStatus, who: str, driver_id: str | None = DRIVER_ID
) -> type[FoodDeliveryError] | None:
    """The error the rules above predict for an order assigned to ``driver_id`` (None: success)."""
    actor = ACTORS[who]
    related = (
        who not in UNRELATED if actor.role is not Role.DRIVER else actor.driver_id == driver_id
    )
    if not related:
        return NotFound
    role = actor.role
    if role not in _roles_that_may_set(to):
        return NotAllowed
    if role not in TRANSITIONS.get((frm, to), frozenset()):
        return InvalidTransition
    return None


ALL_CASES = [(frm, to, who) for frm in OrderStatus for to in OrderStatus for who in ACTORS]
LEGAL = [
    pytest.param(f, t, w, id=f"{f}->{t}-by-{w}")
    for f, t, w in ALL_CASES
    if not _expected_error(f, t, w)
]
ILLEGAL = [
    pytest.param(f, t, w, _expected_error(f, t, w), id=f"{f}->{t}-by-{w}")
    for f, t, w in ALL_CASES
    if _expected_error(f, t, w)
]


def test_the_matrix_covers_every_role_of_every_row_once() -> None:
    # each role maps to exactly one related actor, so each (row, role) of the table is one case
    assert len(LEGAL) == sum(len(roles) for roles in TRANSITIONS.values()) == 24
    assert len(LEGAL) + len(ILLEGAL) == len(OrderStatus) ** 2 * len(ACTORS)


@pytest.mark.parametrize(("frm", "to", "who"), LEGAL)
def test_a_permitted_actor_makes_a_legal_change_and_one_event_records_it(
    frm: OrderStatus, to: OrderStatus, who: str
) -> None:
    order = order_in(frm)
    version = order.version
    reason = "customer_changed_mind" if to.is_terminal else None
    order.transition(to, ACTORS[who], LATER, "evt-change", reason=reason)

    assert order.status is to
    assert order.version == version + 1
    [event] = order.take_events()
    assert (event.event_id, event.type, event.order_id, event.order_version, event.occurred_at) == (
        "evt-change",
        EVENT_FOR.get(to, EventType.ORDER_STATUS_CHANGED),
        order.order_id,
        version + 1,
        LATER,
    )
    expected_payload = {"from": frm.value, "to": to.value, "by": ACTORS[who].role.value}
    if reason is not None:
        expected_payload["reason"] = reason
    assert event.payload == expected_payload
    assert order.status_times[to.value] == LATER
    assert order.updated_at == LATER
    assert order.failure_reason == (reason if to in EVENT_FOR else None)


@pytest.mark.parametrize(("frm", "to", "who", "error"), ILLEGAL)
def test_a_forbidden_change_raises_and_changes_nothing(
    frm: OrderStatus, to: OrderStatus, who: str, error: type[FoodDeliveryError]
) -> None:
    order = order_in(frm)
    before = (
        order.status,
        order.version,
        dict(order.status_times),
        order.updated_at,
        order.failure_reason,
    )
    with pytest.raises(FoodDeliveryError) as info:
        order.transition(to, ACTORS[who], LATER, "evt-change", reason="nope")
    assert type(info.value) is error
    assert (
        order.status,
        order.version,
        order.status_times,
        order.updated_at,
        order.failure_reason,
    ) == before
    assert order.pending_events == []


@pytest.mark.parametrize("frm", [s for s in OrderStatus if s.is_terminal])
@pytest.mark.parametrize("to", list(OrderStatus))
def test_terminal_statuses_never_change_even_for_admin_or_system(
    frm: OrderStatus, to: OrderStatus
) -> None:
    order = order_in(frm)
    for who in ("admin", "system", "customer-owner", "restaurant-owner", "assigned-driver"):
        with pytest.raises((InvalidTransition, NotAllowed)):
            order.transition(to, ACTORS[who], LATER, event_id())
    assert order.status is frm


# -- the rules in plain words (independent of the table-driven oracle)
def test_a_customer_may_cancel_only_before_preparation_starts() -> None:
    for status in (OrderStatus.PENDING, OrderStatus.CONFIRMED):
        order = order_in(status)
        order.cancel(ACTORS["customer-owner"], LATER, event_id(), "changed_mind")
        assert (order.status, order.failure_reason) == (OrderStatus.CANCELLED, "changed_mind")
    with pytest.raises(InvalidTransition):
        order_in(OrderStatus.PREPARING).cancel(
            ACTORS["customer-owner"], LATER, event_id(), "too late"
        )


def test_a_restaurant_may_cancel_until_pickup_but_not_after() -> None:
    order_in(OrderStatus.READY_FOR_PICKUP).cancel(
        ACTORS["restaurant-owner"], LATER, event_id(), "oven broke"
    )
    with pytest.raises(InvalidTransition):
        order_in(OrderStatus.PICKED_UP).cancel(
            ACTORS["restaurant-owner"], LATER, event_id(), "oops"
        )


def test_only_the_assigned_driver_picks_up_and_delivers() -> None:
    order = order_in(OrderStatus.READY_FOR_PICKUP)
    with pytest.raises(NotFound):
        order.transition(OrderStatus.PICKED_UP, ACTORS["other-driver"], LATER, event_id())
    order.transition(OrderStatus.PICKED_UP, ACTORS["assigned-driver"], LATER, event_id())
    order.transition(OrderStatus.DELIVERED, ACTORS["assigned-driver"], LATER, event_id())
    assert order.status is OrderStatus.DELIVERED


def test_a_driver_may_never_cancel_and_a_restaurant_may_never_confirm() -> None:
    with pytest.raises(NotAllowed):
        order_in(OrderStatus.READY_FOR_PICKUP).cancel(
            ACTORS["assigned-driver"], LATER, event_id(), "no"
        )
    with pytest.raises(NotAllowed):
        order_in(OrderStatus.PENDING).transition(
            OrderStatus.CONFIRMED, ACTORS["restaurant-owner"], LATER, "e"
        )


def test_another_customer_cannot_even_learn_the_order_exists() -> None:
    order = order_in(OrderStatus.PENDING)
    assert not order.is_visible_to(ACTORS["other-customer"])
    with pytest.raises(NotFound) as info:
        order.cancel(ACTORS["other-customer"], LATER, event_id(), "mischief")
    assert info.value.context == {"order_id": order.order_id}


def test_fail_is_the_systems_transition_from_pending_only() -> None:
    order = order_in(OrderStatus.PENDING)
    order.fail(LATER, "evt-fail", "payment_declined")
    [event] = order.take_events()
    assert (order.status, order.failure_reason, event.type) == (
        OrderStatus.FAILED,
        "payment_declined",
        EventType.ORDER_FAILED,
    )
    assert event.payload == {
        "from": "PENDING",
        "to": "FAILED",
        "by": "system",
        "reason": "payment_declined",
    }
    with pytest.raises(InvalidTransition):
        order_in(OrderStatus.CONFIRMED).fail(LATER, event_id(), "no_driver")


def test_visibility_follows_the_order_relations() -> None:
    order = order_in(OrderStatus.CONFIRMED)
    visible = {who for who, actor in ACTORS.items() if order.is_visible_to(actor)}
    assert visible == set(ACTORS) - UNRELATED
    order.release_driver(LATER, event_id(), "compensation")
    assert not order.is_visible_to(ACTORS["assigned-driver"])


# -- payment and driver recording
def test_a_payment_is_captured_once() -> None:
    order = place()
    order.take_events()
    order.record_payment_captured("ch_1", LATER, "evt-cap")
    [event] = order.take_events()
    assert (order.payment_status.value, order.charge_id, order.version) == ("CAPTURED", "ch_1", 2)
    assert (event.type, event.order_version) == (EventType.PAYMENT_CAPTURED, 2)
    assert event.payload == {"chargeId": "ch_1", "amount": "27.98", "currency": "USD"}
    with pytest.raises(InvalidTransition):
        order.record_payment_captured("ch_2", LATER, event_id())
    assert (order.charge_id, order.version, order.pending_events) == ("ch_1", 2, [])


@pytest.mark.parametrize("declined", [True, False])
def test_a_failed_payment_cannot_be_captured_afterwards(declined: bool) -> None:
    order = place()
    order.record_payment_failed(declined, LATER)
    assert order.payment_status.value == ("DECLINED" if declined else "FAILED")
    with pytest.raises(InvalidTransition):
        order.record_payment_captured("ch_1", LATER, event_id())


def test_a_refund_needs_a_capture_and_happens_once() -> None:
    order = place()
    with pytest.raises(InvalidTransition):
        order.record_refund("re_0", order.pricing.total, LATER, event_id())
    order.record_payment_captured("ch_1", LATER, event_id())
    order.take_events()
    order.record_refund("re_1", order.pricing.total, LATER, "evt-refund")
    [event] = order.take_events()
    assert (order.payment_status.value, order.version) == ("REFUNDED", 3)
    assert (event.type, event.order_version, event.payload) == (
        EventType.PAYMENT_REFUNDED,
        3,
        {"refundId": "re_1", "amount": "27.98", "currency": "USD"},
    )
    with pytest.raises(InvalidTransition):
        order.record_refund("re_2", order.pricing.total, LATER, event_id())
    assert order.version == 3


def test_a_driver_is_assigned_once() -> None:
    order = place()
    order.take_events()
    order.assign_driver("drv-7", LATER, "evt-assign")
    [event] = order.take_events()
    assert (order.driver_id, order.version, event.type, event.payload) == (
        "drv-7",
        2,
        EventType.DRIVER_ASSIGNED,
        {"driverId": "drv-7"},
    )
    for again in ("drv-7", "drv-8"):
        with pytest.raises(InvalidTransition):
            order.assign_driver(again, LATER, event_id())
    assert (order.driver_id, order.version) == ("drv-7", 2)


@pytest.mark.parametrize("status", [s for s in OrderStatus if s.is_terminal])
def test_a_finished_order_gets_no_driver(status: OrderStatus) -> None:
    order = order_in(status, driver_id=None)
    with pytest.raises(InvalidTransition):
        order.assign_driver("drv-1", LATER, event_id())
    assert order.driver_id is None


def test_releasing_the_driver_returns_its_id_and_allows_a_new_one() -> None:
    order = order_in(OrderStatus.CONFIRMED)
    version = order.version
    assert order.release_driver(LATER, "evt-release", "restaurant_rejected") == DRIVER_ID
    [event] = order.take_events()
    assert (order.driver_id, order.version, event.type, event.payload) == (
        None,
        version + 1,
        EventType.DRIVER_RELEASED,
        {"driverId": DRIVER_ID, "reason": "restaurant_rejected"},
    )
    with pytest.raises(InvalidTransition):
        order.release_driver(LATER, event_id(), "again")
    order.assign_driver("drv-2", LATER, event_id())
    assert order.driver_id == "drv-2"


def test_a_driver_claim_records_no_event_bumps_the_version_and_ends_with_the_assignment() -> None:
    order = place()
    order.take_events()
    order.claim_driver("drv-7", LATER)
    assert (order.driver_claim, order.driver_id, order.version, order.take_events()) == ("drv-7", None, 2, [])
    order.claim_driver("drv-7", LATER)  # the same claim again (a settlement repeated): allowed
    with pytest.raises(InvalidTransition, match="in flight"):
        order.claim_driver("drv-8", LATER)
    order.assign_driver("drv-7", LATER, event_id())
    assert (order.driver_claim, order.driver_id) == (None, "drv-7")
    with pytest.raises(InvalidTransition):
        order.claim_driver("drv-8", LATER)


@pytest.mark.parametrize("status", [s for s in OrderStatus if s.is_terminal] + [OrderStatus.PICKED_UP])
def test_a_picked_up_or_finished_order_takes_no_driver_claim_but_drops_one(status: OrderStatus) -> None:
    order = order_in(status, driver_id=None)
    with pytest.raises(InvalidTransition):
        order.claim_driver("drv-1", LATER)
    order.driver_claim = "drv-1"  # claimed before it finished
    version = order.version
    order.drop_driver_claim(LATER)
    assert (order.driver_claim, order.version) == (None, version + 1)
    order.drop_driver_claim(LATER)  # nothing left to drop: no change
    assert order.version == version + 1


def test_a_snapshot_is_independent_and_carries_no_events() -> None:
    order = order_in(OrderStatus.CONFIRMED)
    order.transition(OrderStatus.PREPARING, ACTORS["restaurant-owner"], LATER, event_id())
    copy = order.snapshot()
    assert copy.same_state(order)
    assert copy.pending_events == [] and len(order.pending_events) == 1
    order.transition(OrderStatus.READY_FOR_PICKUP, ACTORS["restaurant-owner"], LATER, event_id())
    assert copy.status is OrderStatus.PREPARING
    assert "READY_FOR_PICKUP" not in copy.status_times
    assert not copy.same_state(order)


# -- random sequences
class RandomSequencesOfChangesKeepTheOrderConsistent(RuleBasedStateMachine):
    """Any interleaving of transitions, payments and driver changes keeps the invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.order = place()
        self.published = self.order.take_events()
        self.entered = {OrderStatus.PENDING}
        self.finished_as: OrderStatus | None = None
        self.clock = NOW

    def _tick(self) -> None:
        self.clock += timedelta(seconds=30)

    @rule(to=st.sampled_from(list(OrderStatus)), who=st.sampled_from(sorted(ACTORS)))
    def transition(self, to: OrderStatus, who: str) -> None:
        self._tick()
        frm, version = self.order.status, self.order.version
        expected = _expected_error(frm, to, who, self.order.driver_id)
        try:
            self.order.transition(to, ACTORS[who], self.clock, event_id(), reason="r")
        except FoodDeliveryError as exc:
            assert type(exc) is expected
            assert (self.order.status, self.order.version) == (frm, version)
        else:
            assert expected is None
            assert not frm.is_terminal
            assert ACTORS[who].role in TRANSITIONS[(frm, to)]
            assert self.order.version == version + 1
            self.entered.add(to)
            if to.is_terminal and self.finished_as is None:
                self.finished_as = to

    def _legal_options(self, *, forward_only: bool) -> list[tuple[OrderStatus, str]]:
        return [
            (to, who)
            for (frm, to), roles in sorted(TRANSITIONS.items())
            if frm is self.order.status and not (forward_only and to in EVENT_FOR)
            for who, actor in sorted(ACTORS.items())
            if actor.role in roles and _expected_error(frm, to, who, self.order.driver_id) is None
        ]

    @rule(data=st.data())
    def legal_step(self, data: st.DataObject) -> None:
        """Bias towards real lifecycles: one of the changes the table allows from here, if any."""
        if options := self._legal_options(forward_only=False):
            self.transition(*data.draw(st.sampled_from(options)))

    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """Bias further: towards DELIVERED, so long lifecycles are explored too."""
        if options := self._legal_options(forward_only=True):
            self.transition(*data.draw(st.sampled_from(options)))

    @rule(driver=st.sampled_from([DRIVER_ID, "drv-2"]))
    def assign(self, driver: str) -> None:
        self._tick()
        with contextlib.suppress(InvalidTransition):
            self.order.assign_driver(driver, self.clock, event_id())

    @precondition(lambda self: self.order.driver_id is not None)
    @rule()
    def release(self) -> None:
        self._tick()
        self.order.release_driver(self.clock, event_id(), "r")

    @rule()
    def capture(self) -> None:
        with contextlib.suppress(InvalidTransition):
            self.order.record_payment_captured("ch", self.clock, event_id())

    @rule()
    def refund(self) -> None:
        with contextlib.suppress(InvalidTransition):
            self.order.record_refund("re", self.order.pricing.total, self.clock, event_id())

    @rule()
    def save(self) -> None:
        self.published += self.order.take_events()

    @invariant()
    def the_version_counts_the_recorded_events(self) -> None:
        events = self.published + self.order.pending_events
        assert self.order.version == len(events)
        assert [e.order_version for e in events] == list(range(1, self.order.version + 1))
        assert len({e.event_id for e in events}) == len(events)

    @invariant()
    def terminal_is_terminal(self) -> None:
        if self.finished_as is not None:
            assert self.order.status is self.finished_as

    @invariant()
    def status_times_hold_exactly_the_entered_statuses(self) -> None:
        assert set(self.order.status_times) == {s.value for s in self.entered}
        assert self.order.status in self.entered
        times = sorted(self.order.status_times.values())
        assert times[0] == NOW and times[-1] <= self.clock


RandomSequencesOfChangesKeepTheOrderConsistent.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None
)
TestRandomSequencesOfChangesKeepTheOrderConsistent = (
    RandomSequencesOfChangesKeepTheOrderConsistent.TestCase
)
