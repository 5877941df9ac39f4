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


def test_a_restaurant_lists_its_orders_newest_first(app: World) -> None:
    placed = []
    for customer in (CUSTOMER, OTHER_CUSTOMER, CUSTOMER):
        placed.append(app.place_id(customer))
        app.clock.advance(1)
    elsewhere = app.place_id(restaurant_id=OTHER_REST_ID)

    page = app.service.list_orders(RESTAURANT)

    assert [o.order_id for o in page.items] == list(reversed(placed))
    assert page.next_cursor is None
    assert [o.order_id for o in app.service.list_orders(Actor.restaurant(OTHER_REST_ID)).items] == [elsewhere]


def test_a_restaurant_finds_what_to_confirm_by_status_page_by_page(app: World) -> None:
    waiting, confirmed = [], []
    for i in range(3):  # three drivers near the restaurant: each order is assigned one and waits
        order_id = app.place_id(CUSTOMER if i % 2 else OTHER_CUSTOMER)
        app.clock.advance(1)
        if i == 1:
            app.confirm(order_id)
            confirmed.append(order_id)
        else:
            waiting.append(order_id)

    pages = [app.service.list_orders(RESTAURANT, status=S.PENDING, limit=1)]
    while pages[-1].next_cursor is not None:
        pages.append(app.service.list_orders(RESTAURANT, status=S.PENDING, limit=1, cursor=pages[-1].next_cursor))

    assert [o.order_id for p in pages for o in p.items] == list(reversed(waiting))
    assert [len(p.items) for p in pages] == [1, 1]
    assert [o.order_id for o in app.service.list_orders(RESTAURANT, status=S.CONFIRMED).items] == confirmed
    by_customer = app.service.list_orders(RESTAURANT, customer_id=OTHER_CUSTOMER)
    assert [o.order_id for o in by_customer.items] == list(reversed(waiting))  # both placed by OTHER_CUSTOMER


def test_a_customer_filters_their_orders_by_status_and_restaurant_across_short_pages(app: World) -> None:
    mine = []
    for i in range(6):
        mine.append(app.place_id(restaurant_id=OTHER_REST_ID if i % 2 else REST_ID))
        app.clock.advance(1)
    ana = Actor.customer(CUSTOMER)

    pages = [app.service.list_orders(ana, restaurant_id=OTHER_REST_ID, limit=2)]
    while pages[-1].next_cursor is not None:
        pages.append(app.service.list_orders(ana, restaurant_id=OTHER_REST_ID, limit=2, cursor=pages[-1].next_cursor))

    assert [o.order_id for p in pages for o in p.items] == [mine[5], mine[3], mine[1]]
    assert app.service.list_orders(ana, status=S.CONFIRMED).items == []
    assert app.service.list_orders(ana, customer_id=CUSTOMER).items  # naming oneself is fine


def test_an_admin_lists_by_customer_or_restaurant_and_must_say_which(app: World) -> None:
    ana = app.place_id()
    app.clock.advance(1)
    bo = app.place_id(OTHER_CUSTOMER)
    admin = Actor.admin()

    assert [o.order_id for o in app.service.list_orders(admin, customer_id=CUSTOMER).items] == [ana]
    assert [o.order_id for o in app.service.list_orders(admin, restaurant_id=REST_ID).items] == [bo, ana]
    both = app.service.list_orders(admin, restaurant_id=REST_ID, customer_id=OTHER_CUSTOMER)
    assert [o.order_id for o in both.items] == [bo]
    with pytest.raises(ValidationError) as exc:
        app.service.list_orders(admin)
    assert [f.field for f in exc.value.fields] == ["customer_id"]


def test_nobody_lists_someone_elses_orders(app: World) -> None:
    app.place_id()
    with pytest.raises(NotAllowed):
        app.service.list_orders(DRIVER)
    with pytest.raises(NotAllowed):
        app.service.list_orders(Actor.customer(CUSTOMER), customer_id=OTHER_CUSTOMER)
    with pytest.raises(NotAllowed):
        app.service.list_orders(RESTAURANT, restaurant_id=OTHER_REST_ID)


def test_a_cursor_only_continues_the_listing_it_came_from(app: World) -> None:
    for _ in range(3):
        app.place_id()
        app.clock.advance(1)
    ana = Actor.customer(CUSTOMER)
    cursor = app.service.list_orders(ana, limit=1).next_cursor
    assert cursor is not None

    for attempt in (
        lambda: app.service.list_orders(ana, status=S.PENDING, limit=1, cursor=cursor),
        lambda: app.service.list_orders(RESTAURANT, limit=1, cursor=cursor),
        lambda: app.service.list_orders(ana, limit=1, cursor=cursor + "x"),
        lambda: app.service.list_orders(ana, limit=1, cursor="not a cursor"),
    ):
        with pytest.raises(ValidationError) as exc:
            attempt()
        assert [f.field for f in exc.value.fields] == ["cursor"]


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


def test_a_filtered_listing_reads_at_most_500_stored_orders_per_page_and_resumes_where_it_stopped() -> None:
    from types import SimpleNamespace
    from typing import Any

    from fooddelivery.application.ordering import MAX_SCANNED, OrderingUseCases
    from fooddelivery.ports.orders import Page

    stored = [SimpleNamespace(n=n, wanted=n % 700 in (7, 8, 9)) for n in range(2100)]  # 3 wanted per 700
    reads: list[int] = []

    def read(limit: int, cursor: str | None) -> Page[Any]:
        start = int(cursor or 0)
        reads.append(limit)
        items = stored[start : start + limit]
        return Page(items, str(start + limit) if start + limit < len(stored) else None)

    found: list[int] = []
    pages: list[tuple[int, bool]] = []  # (items, more to come)
    position: Any = (None, 0)
    while position is not None:
        before = len(reads)
        items, position = OrderingUseCases._scan(read, lambda o: o.wanted, 2, position)
        assert (len(reads) - before) * 100 <= MAX_SCANNED + 100  # one call reads at most ~500 stored orders
        found += [o.n for o in items]
        pages.append((len(items), position is not None))

    assert found == [n for n in range(2100) if n % 700 in (7, 8, 9)]  # each once, in order
    assert (2, True) in pages  # full pages...
    assert any(size < 2 and more for size, more in pages)  # ...and short ones whose cursor goes on
    assert all(r == 100 for r in reads)
