"""Reading, listing and moving orders along their lifecycle, with the actor rules inside the use cases."""

from __future__ import annotations

import pytest

from fooddelivery.domain import (
    Actor,
    DriverStatus,
    EventType,
    InvalidTransition,
    NotAllowed,
    NotFound,
    OrderStatus,
    ValidationError,
)
from fooddelivery.ports.saga_store import SagaStatus

from ._world import CUSTOMER, OTHER_CUSTOMER, OTHER_REST_ID, REST_ID, World

S = OrderStatus
RESTAURANT = Actor.restaurant(REST_ID)
DRIVER = Actor.driver("drv-near")


# -- get_order -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "actor",
    [Actor.customer(CUSTOMER), RESTAURANT, Actor.restaurant(REST_ID, "cook-2"), DRIVER, Actor.admin()],
    ids=["its customer", "its restaurant", "another user of its restaurant", "its driver", "an admin"],
)
def test_an_order_is_visible_to_its_customer_restaurant_driver_and_admins(
    app: World, waiting_order: str, actor: Actor
) -> None:
    order = app.service.get_order(actor, waiting_order)

    assert order.order_id == waiting_order
    assert order.same_state(app.orders.get(waiting_order))


@pytest.mark.parametrize(
    "actor",
    [Actor.customer(OTHER_CUSTOMER), Actor.restaurant(OTHER_REST_ID), Actor.driver("drv-mid")],
    ids=["another customer", "another restaurant", "another driver"],
)
def test_an_order_is_not_found_for_anyone_else(app: World, waiting_order: str, actor: Actor) -> None:
    with pytest.raises(NotFound):
        app.service.get_order(actor, waiting_order)


def test_an_unknown_order_is_not_found_even_for_an_admin(app: World) -> None:
    with pytest.raises(NotFound):
        app.service.get_order(Actor.admin(), "ord-nope")


def test_a_malformed_order_id_is_a_validation_error_naming_it(app: World) -> None:
    with pytest.raises(ValidationError) as exc:
        app.service.get_order(Actor.admin(), "a/b")

    assert [f.field for f in exc.value.fields] == ["order_id"]


def test_a_released_driver_no_longer_sees_the_order(app: World, waiting_order: str) -> None:
    app.advance(300)  # timeout: driver released

    with pytest.raises(NotFound):
        app.service.get_order(DRIVER, waiting_order)


# -- change_status -------------------------------------------------------------------------------------------
def test_an_order_moves_from_confirmed_to_delivered_by_the_right_actors(app: World, confirmed_order: str) -> None:
    steps = [
        (RESTAURANT, S.PREPARING),
        (RESTAURANT, S.READY_FOR_PICKUP),
        (DRIVER, S.PICKED_UP),
        (DRIVER, S.DELIVERED),
    ]
    for i, (actor, status) in enumerate(steps, start=1):
        app.clock.advance(600)
        order = app.service.change_status(actor, confirmed_order, status)
        assert order.status is status
        assert order.status_times[status.value] == app.clock.now()
        assert app.order(confirmed_order).version == 7 + i

    changes = [e for e in app.publisher.of_order(confirmed_order) if e.type is EventType.ORDER_STATUS_CHANGED]
    assert [(e.payload["from"], e.payload["to"], e.payload["by"]) for e in changes] == [
        ("PENDING", "CONFIRMED", "system"),
        ("CONFIRMED", "PREPARING", "restaurant"),
        ("PREPARING", "READY_FOR_PICKUP", "restaurant"),
        ("READY_FOR_PICKUP", "PICKED_UP", "driver"),
        ("PICKED_UP", "DELIVERED", "driver"),
    ]
    assert app.saga(confirmed_order).status is SagaStatus.SUCCEEDED
    assert app.payments.refunds == []


def test_delivering_frees_the_driver_for_the_next_order(app: World, confirmed_order: str) -> None:
    for actor, status in [(RESTAURANT, S.PREPARING), (RESTAURANT, S.READY_FOR_PICKUP), (DRIVER, S.PICKED_UP)]:
        app.service.change_status(actor, confirmed_order, status)
    assert app.driver("drv-near").status is DriverStatus.ASSIGNED

    app.service.change_status(DRIVER, confirmed_order, S.DELIVERED)

    assert app.driver("drv-near").status is DriverStatus.AVAILABLE
    assert app.driver("drv-near").current_order_id is None
    assert app.order(confirmed_order).driver_id == "drv-near"  # the record of who delivered it stays
    assert app.order(app.place_id()).driver_id == "drv-near"


@pytest.mark.parametrize(
    ("actor", "status"),
    [
        (Actor.customer(CUSTOMER), S.PREPARING),
        (DRIVER, S.PREPARING),
        (RESTAURANT, S.PICKED_UP),
        (Actor.customer(CUSTOMER), S.DELIVERED),
    ],
    ids=["customer prepares", "driver prepares", "restaurant picks up", "customer delivers"],
)
def test_a_related_actor_whose_role_may_not_make_a_change_is_not_allowed(
    app: World, confirmed_order: str, actor: Actor, status: OrderStatus
) -> None:
    before = app.observable()

    with pytest.raises(NotAllowed):
        app.service.change_status(actor, confirmed_order, status)

    assert app.observable() == before


@pytest.mark.parametrize(
    "actor",
    [Actor.restaurant(OTHER_REST_ID), Actor.customer(OTHER_CUSTOMER), Actor.driver("drv-mid")],
    ids=["another restaurant", "another customer", "another driver"],
)
def test_an_unrelated_actor_changing_the_status_is_told_the_order_does_not_exist(
    app: World, confirmed_order: str, actor: Actor
) -> None:
    before = app.observable()

    with pytest.raises(NotFound):
        app.service.change_status(actor, confirmed_order, S.PREPARING)

    assert app.observable() == before


@pytest.mark.parametrize(
    ("actor", "status"),
    [(RESTAURANT, S.READY_FOR_PICKUP), (DRIVER, S.DELIVERED), (DRIVER, S.PICKED_UP)],
    ids=["ready before preparing", "delivered before picked up", "picked up before ready"],
)
def test_skipping_a_step_is_an_invalid_transition(
    app: World, confirmed_order: str, actor: Actor, status: OrderStatus
) -> None:
    before = app.observable()

    with pytest.raises(InvalidTransition):
        app.service.change_status(actor, confirmed_order, status)

    assert app.observable() == before


def test_the_restaurant_cannot_start_preparing_before_the_order_is_confirmed(app: World, waiting_order: str) -> None:
    before = app.observable()

    with pytest.raises(InvalidTransition):
        app.service.change_status(RESTAURANT, waiting_order, S.PREPARING)

    assert app.observable() == before


def test_a_restaurant_confirming_through_change_status_completes_the_saga(app: World, waiting_order: str) -> None:
    order = app.service.change_status(RESTAURANT, waiting_order, S.CONFIRMED)

    assert order.status is S.CONFIRMED
    assert app.saga(waiting_order).status is SagaStatus.SUCCEEDED


def test_only_the_system_fails_orders(app: World, waiting_order: str) -> None:
    before = app.observable()

    with pytest.raises(NotAllowed):
        app.service.change_status(RESTAURANT, waiting_order, S.FAILED)
    with pytest.raises(NotFound):
        app.service.change_status(Actor.restaurant(OTHER_REST_ID), waiting_order, S.FAILED)

    assert app.observable() == before


def test_cancelling_through_change_status_refunds_once(app: World, waiting_order: str) -> None:
    order = app.service.change_status(Actor.customer(CUSTOMER), waiting_order, S.CANCELLED)

    assert order.status is S.CANCELLED
    assert order.failure_reason == "cancelled by customer"
    assert len(app.payments.refunds) == 1


def test_a_customer_cannot_cancel_once_the_food_is_being_prepared(app: World, confirmed_order: str) -> None:
    app.service.change_status(RESTAURANT, confirmed_order, S.PREPARING)
    before = app.observable()

    with pytest.raises(InvalidTransition):
        app.cancel(confirmed_order)

    assert app.observable() == before


def test_a_delivered_order_cannot_be_cancelled(app: World, confirmed_order: str) -> None:
    for actor, status in [
        (RESTAURANT, S.PREPARING),
        (RESTAURANT, S.READY_FOR_PICKUP),
        (DRIVER, S.PICKED_UP),
        (DRIVER, S.DELIVERED),
    ]:
        app.service.change_status(actor, confirmed_order, status)
    before = app.observable()

    with pytest.raises(InvalidTransition):
        app.service.cancel_order(Actor.admin(), confirmed_order, "too late")

    assert app.observable() == before
    assert app.payments.refunds == []


def test_another_customer_cannot_cancel(app: World, waiting_order: str) -> None:
    with pytest.raises(NotFound):
        app.cancel(waiting_order, customer=OTHER_CUSTOMER)

    assert app.order(waiting_order).status is S.PENDING


# -- list_orders ---------------------------------------------------------------------------------------------
def test_a_customer_lists_their_own_orders_newest_first_page_by_page(app: World) -> None:
    mine = []
    for _ in range(5):
        mine.append(app.place_id())
        app.place_id(OTHER_CUSTOMER)
        app.clock.advance(60)

    first = app.service.list_orders(Actor.customer(CUSTOMER), limit=2)
    second = app.service.list_orders(Actor.customer(CUSTOMER), limit=2, cursor=first.next_cursor)
    third = app.service.list_orders(Actor.customer(CUSTOMER), limit=2, cursor=second.next_cursor)

    listed = [o.order_id for page in (first, second, third) for o in page.items]
    assert listed == list(reversed(mine))
    assert third.next_cursor is None
    assert all(o.customer_id == CUSTOMER for page in (first, second, third) for o in page.items)


def test_a_restaurant_lists_its_orders_oldest_first(app: World) -> None:
    placed = []
    for customer in (CUSTOMER, OTHER_CUSTOMER, CUSTOMER):
        placed.append(app.place_id(customer))
        app.clock.advance(1)
    elsewhere = app.place_id(restaurant_id=OTHER_REST_ID)

    page = app.service.list_orders(RESTAURANT)

    assert [o.order_id for o in page.items] == placed
    assert page.next_cursor is None
    assert [o.order_id for o in app.service.list_orders(Actor.restaurant(OTHER_REST_ID)).items] == [elsewhere]


@pytest.mark.parametrize("actor", [DRIVER, Actor.admin()], ids=["driver", "admin"])
def test_drivers_and_admins_do_not_list_orders_this_way(app: World, actor: Actor) -> None:
    with pytest.raises(NotAllowed):
        app.service.list_orders(actor)


def test_a_page_size_outside_1_to_100_is_a_validation_error(app: World) -> None:
    with pytest.raises(ValidationError) as exc:
        app.service.list_orders(Actor.customer(CUSTOMER), limit=0)

    assert [f.field for f in exc.value.fields] == ["limit"]


def test_a_cursor_from_another_customer_is_refused(app: World) -> None:
    for _ in range(3):
        app.place_id(OTHER_CUSTOMER)
    theirs = app.service.list_orders(Actor.customer(OTHER_CUSTOMER), limit=1).next_cursor

    with pytest.raises(ValidationError) as exc:
        app.service.list_orders(Actor.customer(CUSTOMER), limit=1, cursor=theirs)

    assert [f.field for f in exc.value.fields] == ["cursor"]
