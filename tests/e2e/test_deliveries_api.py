"""Deliveries through the HTTP API: assigning a driver, tracking with an ETA, and driver positions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from fooddelivery.domain import DriverStatus, EventType, OrderStatus

from ._world import REFERENCE_PAYLOAD, T0, World, assert_problem

#: The reference payload with an address 5.004 km north of rest-1.
WITH_COORDINATES = json.dumps(
    {**json.loads(REFERENCE_PAYLOAD), "deliveryAddress": {"text": "5th Avenue", "lat": 40.7578, "lon": -74.006}}
).encode()


# -- assigning ------------------------------------------------------------------------------------------------
def test_a_driver_claims_an_order_that_has_no_driver_and_the_saga_carries_on(driverless_world: World) -> None:
    world = driverless_world
    order_id = world.place()
    assert world.order(order_id).driver_id is None  # no driver near: the saga retries in 30 s

    response = world.call("POST", "/deliveries/assign", json_body={"orderId": order_id}, as_="other_driver")

    assert response.status == 200
    assert response.json()["driverId"] == "drv-far"
    assert world.driver("drv-far").status is DriverStatus.ASSIGNED
    assert world.driver("drv-far").current_order_id == order_id
    assert [e.type for e in world.boot.publisher.of_order(order_id)].count(EventType.DRIVER_ASSIGNED) == 1
    world.advance(30)  # the saga's retry finds the driver and waits for the restaurant
    confirmed = world.call("PUT", f"/orders/{order_id}", json_body={"status": "CONFIRMED"}, as_="restaurant")
    assert (confirmed.status, confirmed.json()["status"], confirmed.json()["driverId"]) == (200, "CONFIRMED", "drv-far")


def test_the_restaurant_gets_the_nearest_available_driver(driverless_world: World) -> None:
    world = driverless_world
    order_id = world.place()
    world.set_driver("drv-near", DriverStatus.AVAILABLE)

    response = world.call("POST", "/deliveries/assign", json_body={"orderId": order_id}, as_="restaurant")

    assert (response.status, response.json()["driverId"]) == (200, "drv-near")


def test_the_restaurant_gets_409_when_no_driver_is_near(driverless_world: World) -> None:
    world = driverless_world
    order_id = world.place()
    before = world.footprint()

    response = world.call("POST", "/deliveries/assign", json_body={"orderId": order_id}, as_="restaurant")

    assert_problem(response, 409, "no_driver_available")
    assert world.footprint() == before


def test_an_order_that_has_a_driver_cannot_be_claimed_again(world: World, waiting_order: str) -> None:
    before = world.footprint()

    response = world.call("POST", "/deliveries/assign", json_body={"orderId": waiting_order}, as_="other_driver")

    assert_problem(response, 409, "invalid_transition")
    assert world.footprint() == before
    assert world.driver("drv-far").status is DriverStatus.AVAILABLE


def test_assigning_an_unknown_order_is_404(world: World) -> None:
    assert_problem(
        world.call("POST", "/deliveries/assign", json_body={"orderId": "ord-404"}, as_="admin"), 404, "not_found"
    )


# -- tracking -------------------------------------------------------------------------------------------------
def test_tracking_gives_the_driver_position_and_an_eta_in_minutes(world: World) -> None:
    order_id = world.place(WITH_COORDINATES)

    response = world.call("GET", f"/deliveries/{order_id}/track")

    assert response.status == 200
    body = response.json()
    assert body["orderId"] == order_id
    assert body["status"] == "PENDING"
    assert body["driverId"] == "drv-near"
    assert body["driverLocation"]["lat"] == pytest.approx(40.7173, abs=1e-4)  # 0.5 km north
    assert body["driverLastSeen"] == "2025-03-14T12:00:00+00:00"
    # Not confirmed: ready in 15 min (average prep) > 1.2 min driving to the restaurant; + 2 min handover
    # + 5.004 km at 25 km/h (12.01 min) = 29.01 min.
    eta = datetime.fromisoformat(body["eta"])
    assert eta - T0 == pytest.approx(timedelta(minutes=29.0096), abs=timedelta(seconds=1))
    assert body["minutesRemaining"] == 30


def test_tracking_without_coordinates_has_no_eta(world: World, waiting_order: str) -> None:
    body = world.call("GET", f"/deliveries/{waiting_order}/track").json()

    assert (body["eta"], body["minutesRemaining"]) == (None, None)


# -- positions ------------------------------------------------------------------------------------------------
def test_the_assigned_driver_reports_a_position_onto_the_location_stream(world: World) -> None:
    order_id = world.place(WITH_COORDINATES)
    world.clock.advance(60)

    response = world.call(
        "PUT", f"/deliveries/{order_id}/location", json_body={"lat": 40.7200, "lon": -74.0060}, as_="driver"
    )

    assert response.status == 200
    body = response.json()
    assert body["orderId"] == order_id
    assert body["driverId"] == "drv-near"
    assert body["location"] == {"lat": 40.72, "lon": -74.006}
    assert body["recordedAt"] == "2025-03-14T12:01:00+00:00"
    event = world.boot.location.latest("drv-near")
    assert event.event_id == body["eventId"]
    assert event.type is EventType.DELIVERY_LOCATION_UPDATED
    assert world.driver("drv-near").location.lat == pytest.approx(40.72)
    tracked = world.call("GET", f"/deliveries/{order_id}/track").json()
    assert tracked["driverLocation"]["lat"] == pytest.approx(40.72)
    assert tracked["driverLastSeen"] == "2025-03-14T12:01:00+00:00"


def test_positions_of_a_delivered_order_are_409(world: World, waiting_order: str) -> None:
    path = f"/orders/{waiting_order}"
    world.call("PUT", path, json_body={"status": "CONFIRMED"}, as_="restaurant")
    for persona, status in [
        ("restaurant", "PREPARING"),
        ("restaurant", "READY_FOR_PICKUP"),
        ("driver", "PICKED_UP"),
        ("driver", "DELIVERED"),
    ]:
        world.call("PUT", path, json_body={"status": status}, as_=persona)
    assert world.order(waiting_order).status is OrderStatus.DELIVERED

    # The driver still holds the order's relation, but the order is final: no more positions.
    response = world.call(
        "PUT", f"/deliveries/{waiting_order}/location", json_body={"lat": 40.7, "lon": -74.0}, as_="driver"
    )

    assert_problem(response, 409, "invalid_transition")
