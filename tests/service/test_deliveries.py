"""Assigning drivers, reporting locations and tracking deliveries."""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from fooddelivery.bootstrap import Settings
from fooddelivery.domain import (
    Actor,
    ConcurrencyConflict,
    DeliveryAddress,
    DriverStatus,
    EtaPolicy,
    EventType,
    GeoPoint,
    InvalidTransition,
    NoDriverAvailable,
    NotAllowed,
    NotFound,
    OrderStatus,
    ValidationError,
    haversine_km,
)
from fooddelivery.ports.saga_store import SagaStatus

from ._world import (
    CUSTOMER,
    HOME,
    OTHER_CUSTOMER,
    OTHER_REST_ID,
    PARIS,
    REST_ID,
    World,
    build_world,
    make_driver,
    north_of,
)

RESTAURANT = Actor.restaurant(REST_ID)
DRIVER = Actor.driver("drv-near")


def km(a: GeoPoint, b: GeoPoint) -> float:
    return haversine_km(a.lat, a.lon, b.lat, b.lon)


# -- assign_driver -------------------------------------------------------------------------------------------
@pytest.fixture
def unassigned_order(app_without_drivers: World) -> str:
    """An order whose saga is waiting to retry driver assignment (nobody within 8 km yet)."""
    order_id = app_without_drivers.place_id()
    assert app_without_drivers.order(order_id).driver_id is None
    return order_id


def test_a_driver_who_claims_an_order_gets_it_and_the_saga_carries_on_with_them(
    app_without_drivers: World, unassigned_order: str
) -> None:
    app = app_without_drivers
    app.drivers.add(make_driver("drv-new", 6.0))
    app.drivers.add(make_driver("drv-closer", 1.0))

    order = app.service.assign_driver(Actor.driver("drv-new"), unassigned_order)

    assert order.driver_id == "drv-new"
    assert app.driver("drv-new").status is DriverStatus.ASSIGNED
    assert app.driver("drv-new").current_order_id == unassigned_order
    assert app.event_types(unassigned_order)[-1] is EventType.DRIVER_ASSIGNED
    app.advance(30)  # the saga's retry finds the order already has a driver
    assert app.saga(unassigned_order).status is SagaStatus.WAITING
    assert app.order(unassigned_order).driver_id == "drv-new"
    assert app.held_drivers() == {"drv-new": unassigned_order}
    assert app.driver("drv-closer").status is DriverStatus.AVAILABLE


@pytest.mark.parametrize("actor", [Actor.admin(), RESTAURANT], ids=["admin", "restaurant"])
def test_an_admin_or_the_restaurant_assigns_the_nearest_available_driver(
    app_without_drivers: World, unassigned_order: str, actor: Actor
) -> None:
    app = app_without_drivers
    app.drivers.add(make_driver("drv-b", 2.0))
    app.drivers.add(make_driver("drv-a", -1.0))
    app.drivers.add(make_driver("drv-z", 0.1, DriverStatus.OFFLINE))

    order = app.service.assign_driver(actor, unassigned_order)

    assert order.driver_id == "drv-a"
    assert app.held_drivers() == {"drv-a": unassigned_order}


def test_equally_distant_drivers_are_chosen_by_id(app_without_drivers: World, unassigned_order: str) -> None:
    app = app_without_drivers
    app.drivers.add(make_driver("drv-y", 1.0))
    app.drivers.add(make_driver("drv-x", -1.0))

    assert app.service.assign_driver(Actor.admin(), unassigned_order).driver_id == "drv-x"


def test_assigning_with_nobody_in_range_is_refused_and_changes_nothing(
    app_without_drivers: World, unassigned_order: str
) -> None:
    before = app_without_drivers.observable()

    with pytest.raises(NoDriverAvailable):
        app_without_drivers.service.assign_driver(Actor.admin(), unassigned_order)

    after = app_without_drivers.observable()
    assert after["orders"] == before["orders"] and after["drivers"] == before["drivers"]


def test_customers_do_not_assign_drivers(app_without_drivers: World, unassigned_order: str) -> None:
    with pytest.raises(NotAllowed):
        app_without_drivers.service.assign_driver(Actor.customer(CUSTOMER), unassigned_order)
    with pytest.raises(NotFound):
        app_without_drivers.service.assign_driver(Actor.customer(OTHER_CUSTOMER), unassigned_order)


def test_another_restaurant_cannot_assign_a_driver(app_without_drivers: World, unassigned_order: str) -> None:
    with pytest.raises(NotFound):
        app_without_drivers.service.assign_driver(Actor.restaurant(OTHER_REST_ID), unassigned_order)


def test_an_order_that_has_a_driver_cannot_be_claimed(app: World, waiting_order: str) -> None:
    before = app.observable()

    with pytest.raises(InvalidTransition):
        app.service.assign_driver(Actor.driver("drv-mid"), waiting_order)

    assert app.observable() == before


def test_a_driver_who_is_not_available_cannot_claim(app_without_drivers: World, unassigned_order: str) -> None:
    app = app_without_drivers
    app.drivers.add(make_driver("drv-off", 1.0, DriverStatus.OFFLINE))

    with pytest.raises(InvalidTransition):
        app.service.assign_driver(Actor.driver("drv-off"), unassigned_order)

    assert app.order(unassigned_order).driver_id is None
    assert app.driver("drv-off").status is DriverStatus.OFFLINE


def test_a_finished_order_cannot_get_a_driver(app_without_drivers: World, unassigned_order: str) -> None:
    app = app_without_drivers
    for seconds in (30, 60, 120):
        app.advance(seconds)
    assert app.order(unassigned_order).failure_reason == "no_driver"
    app.drivers.add(make_driver("drv-new", 1.0))

    with pytest.raises(InvalidTransition):
        app.service.assign_driver(Actor.driver("drv-new"), unassigned_order)

    assert app.driver("drv-new").status is DriverStatus.AVAILABLE


def race_claims(app: World, order_id: str, driver_ids: list[str]) -> tuple[list[str], list[Exception]]:
    """Let the drivers claim the order at the same moment from their own threads; returns winners, losses."""
    barrier = threading.Barrier(len(driver_ids))
    won: list[str] = []
    lost: list[Exception] = []

    def claim(driver_id: str) -> None:
        barrier.wait()
        try:
            app.service.assign_driver(Actor.driver(driver_id), order_id)
            won.append(driver_id)
        except (ConcurrencyConflict, InvalidTransition) as exc:
            lost.append(exc)

    threads = [threading.Thread(target=claim, args=(d,)) for d in driver_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, lost


@pytest.mark.usefixtures("busy_switching")
def test_of_two_drivers_racing_for_one_order_exactly_one_wins(app_without_drivers: World) -> None:
    app = app_without_drivers
    for round_no in range(20):
        order_id = app.place_id()
        racers = [f"drv-r{round_no}-a", f"drv-r{round_no}-b"]
        for i, driver_id in enumerate(racers):
            app.drivers.add(make_driver(driver_id, 1.0 + i))

        won, lost = race_claims(app, order_id, racers)

        assert len(won) == 1 and len(lost) == 1
        assert app.order(order_id).driver_id == won[0]
        (loser,) = set(racers) - set(won)
        assert app.driver(won[0]).current_order_id == order_id
        assert app.driver(loser).status is DriverStatus.AVAILABLE
        app.advance(30)  # the saga's assignment retry keeps the winner
        assert app.held_drivers() == {won[0]: order_id}
        app.advance(300)  # the restaurant never answers: the winner is released; both go home
        for driver_id in racers:
            app.drivers.save(replace(app.driver(driver_id), status=DriverStatus.OFFLINE))
    assert app.held_drivers() == {}
    assert len(app.payments.refunds) == 20


# -- report_location -----------------------------------------------------------------------------------------
def test_the_assigned_driver_reports_a_position_to_the_stream_keyed_by_driver(app: World, confirmed_order: str) -> None:
    app.clock.advance(90)
    point = north_of(PARIS, 0.25)

    event = app.service.report_location(DRIVER, confirmed_order, point)

    assert event.type is EventType.DELIVERY_LOCATION_UPDATED
    assert event.order_id == confirmed_order
    assert event.order_version == app.order(confirmed_order).version
    assert event.occurred_at == app.clock.now()
    assert event.payload == {"driverId": "drv-near", "lat": repr(point.lat), "lon": repr(point.lon)}
    assert app.location.partitions == ["drv-near"]
    assert app.location.events("drv-near") == [event]
    driver = app.driver("drv-near")
    assert driver.location == point and driver.last_seen == app.clock.now()
    assert driver.status is DriverStatus.ASSIGNED and driver.current_order_id == confirmed_order


def test_successive_positions_are_appended_in_order(app: World, confirmed_order: str) -> None:
    points = [north_of(PARIS, k / 10) for k in range(5)]
    for p in points:
        app.service.report_location(DRIVER, confirmed_order, p)

    assert [e.payload["lat"] for e in app.location.events("drv-near")] == [repr(p.lat) for p in points]
    assert app.location.latest("drv-near").payload["lat"] == repr(points[-1].lat)


@pytest.mark.parametrize(
    ("actor", "error"),
    [
        (Actor.driver("drv-mid"), NotFound),
        (Actor.customer(CUSTOMER), NotAllowed),
        (RESTAURANT, NotAllowed),
        (Actor.admin(), NotAllowed),
        (Actor.customer(OTHER_CUSTOMER), NotFound),
    ],
    ids=["another driver", "the customer", "the restaurant", "an admin", "another customer"],
)
def test_only_the_assigned_driver_reports_locations(
    app: World, confirmed_order: str, actor: Actor, error: type[Exception]
) -> None:
    before = app.observable()

    with pytest.raises(error):
        app.service.report_location(actor, confirmed_order, north_of(PARIS, 0.1))

    assert app.observable() == before
    assert app.location.total == 0


@pytest.mark.parametrize(
    ("lat", "lon", "bad"),
    [(91.0, 2.0, {"lat"}), (48.0, -180.5, {"lon"}), (math.nan, 2.0, {"lat"}), (100.0, math.inf, {"lat", "lon"})],
    ids=["latitude above 90", "longitude below -180", "NaN latitude", "both out of range"],
)
def test_an_invalid_position_is_a_validation_error_naming_the_coordinates(
    app: World, confirmed_order: str, lat: float, lon: float, bad: set[str]
) -> None:
    before = app.observable()

    with pytest.raises(ValidationError) as exc:
        app.service.report_location(DRIVER, confirmed_order, GeoPoint(lat, lon))

    assert {f.field for f in exc.value.fields} == bad
    assert app.observable() == before


def test_a_delivered_order_takes_no_more_positions(app: World, confirmed_order: str) -> None:
    for actor, status in [
        (RESTAURANT, OrderStatus.PREPARING),
        (RESTAURANT, OrderStatus.READY_FOR_PICKUP),
        (DRIVER, OrderStatus.PICKED_UP),
        (DRIVER, OrderStatus.DELIVERED),
    ]:
        app.service.change_status(actor, confirmed_order, status)

    with pytest.raises(InvalidTransition):
        app.service.report_location(DRIVER, confirmed_order, HOME)

    assert app.location.total == 0


# -- track_delivery ------------------------------------------------------------------------------------------
POLICY = EtaPolicy()  # 25 km/h, 2 minutes of handover: the defaults bootstrap uses


def minutes(distance_km: float) -> float:
    return distance_km / POLICY.average_speed_kmh * 60


def assert_eta(tracking: object, now: datetime, expected_minutes: float) -> None:
    eta = tracking.eta  # type: ignore[attr-defined]
    assert eta is not None
    assert abs((eta - (now + timedelta(minutes=expected_minutes))).total_seconds()) < 0.001
    assert tracking.minutes_remaining == math.ceil(expected_minutes - 1e-9)  # type: ignore[attr-defined]


def test_before_confirmation_the_eta_counts_the_whole_preparation_time(app: World, waiting_order: str) -> None:
    tracking = app.service.track_delivery(Actor.customer(CUSTOMER), waiting_order)

    driver_leg = minutes(km(north_of(PARIS, 0.5), PARIS))  # 1.2 min: less than the 15 min of preparation
    assert driver_leg < 15
    assert_eta(tracking, app.clock.now(), 15 + POLICY.handover_minutes + minutes(km(PARIS, HOME)))
    assert tracking.status is OrderStatus.PENDING
    assert tracking.driver_id == "drv-near"
    assert tracking.driver_location == north_of(PARIS, 0.5)


def test_after_confirmation_the_eta_counts_the_preparation_left(app: World, confirmed_order: str) -> None:
    confirmed_at = app.clock.now()
    app.clock.advance(timedelta(minutes=6))

    tracking = app.service.track_delivery(RESTAURANT, confirmed_order)

    prep_left = (confirmed_at + timedelta(minutes=15) - app.clock.now()).total_seconds() / 60  # 9 minutes
    assert prep_left == 9
    assert_eta(tracking, app.clock.now(), prep_left + POLICY.handover_minutes + minutes(km(PARIS, HOME)))


def test_when_the_food_is_ready_the_eta_counts_the_driver_getting_there(app: World, confirmed_order: str) -> None:
    app.service.change_status(RESTAURANT, confirmed_order, OrderStatus.PREPARING)
    app.service.change_status(RESTAURANT, confirmed_order, OrderStatus.READY_FOR_PICKUP)
    far = north_of(PARIS, 5.0)
    app.service.report_location(DRIVER, confirmed_order, far)

    tracking = app.service.track_delivery(DRIVER, confirmed_order)

    expected = minutes(km(far, PARIS)) + POLICY.handover_minutes + minutes(km(PARIS, HOME))
    assert_eta(tracking, app.clock.now(), expected)
    assert tracking.driver_location == far
    assert tracking.driver_last_seen == app.clock.now()


def test_after_pickup_the_eta_is_the_drive_from_the_driver_to_the_door(app: World, confirmed_order: str) -> None:
    for actor, status in [
        (RESTAURANT, OrderStatus.PREPARING),
        (RESTAURANT, OrderStatus.READY_FOR_PICKUP),
        (DRIVER, OrderStatus.PICKED_UP),
    ]:
        app.service.change_status(actor, confirmed_order, status)
    halfway = north_of(PARIS, -1.5)
    app.service.report_location(DRIVER, confirmed_order, halfway)

    tracking = app.service.track_delivery(Actor.customer(CUSTOMER), confirmed_order)

    assert_eta(tracking, app.clock.now(), minutes(km(halfway, HOME)) + POLICY.handover_minutes)
    assert tracking.minutes_remaining == 6  # 1.5 km at 25 km/h = 3.6 min, plus 2 min of handover


def test_a_delivered_order_has_arrived(app: World, confirmed_order: str) -> None:
    for actor, status in [
        (RESTAURANT, OrderStatus.PREPARING),
        (RESTAURANT, OrderStatus.READY_FOR_PICKUP),
        (DRIVER, OrderStatus.PICKED_UP),
        (DRIVER, OrderStatus.DELIVERED),
    ]:
        app.service.change_status(actor, confirmed_order, status)

    tracking = app.service.track_delivery(Actor.customer(CUSTOMER), confirmed_order)

    assert tracking.eta == app.clock.now() and tracking.minutes_remaining == 0


def test_a_failed_order_has_no_eta(app: World, waiting_order: str) -> None:
    app.advance(300)

    tracking = app.service.track_delivery(Actor.customer(CUSTOMER), waiting_order)

    assert tracking.status is OrderStatus.FAILED
    assert tracking.eta is None and tracking.minutes_remaining is None
    assert tracking.driver_id is None and tracking.driver_location is None


def test_an_address_without_coordinates_has_no_eta(app: World) -> None:
    order_id = app.place_id(address=DeliveryAddress("Somewhere without a map"))

    tracking = app.service.track_delivery(Actor.customer(CUSTOMER), order_id)

    assert tracking.eta is None and tracking.minutes_remaining is None
    assert app.order(order_id).pricing.distance_km is None


def test_a_configured_speed_changes_the_eta() -> None:
    world = build_world(settings=Settings(average_speed_kmh=12.0))
    order_id = world.place_id()

    tracking = world.service.track_delivery(Actor.customer(CUSTOMER), order_id)

    assert_eta(tracking, world.clock.now(), 15 + 2 + km(PARIS, HOME) / 12.0 * 60)


def test_another_customer_cannot_track_an_order(app: World, waiting_order: str) -> None:
    with pytest.raises(NotFound):
        app.service.track_delivery(Actor.customer(OTHER_CUSTOMER), waiting_order)
