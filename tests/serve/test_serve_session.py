"""``fooddelivery serve`` as a real process over real HTTP: the reference order from placement to the door, and a
restart that keeps it."""

from __future__ import annotations

from ._live import REFERENCE_PAYLOAD, placed_and_settled, token
from .conftest import StartServer


def test_the_reference_order_goes_from_placement_to_the_door_over_http_and_survives_a_restart(
    start_server: StartServer,
) -> None:
    server = start_server("--demo", "--confirmation-timeout", "3")
    customer = token("customer", "user-1")
    restaurant = token("restaurant", "owner-0", "--restaurant-id", "rest-0")
    admin = token("admin", "ops-1")

    health = server.request("GET", "/health")
    assert (health.status, health.json()) == (
        200,
        {"status": "ok", "checks": {"storage": "ok", "integrity": "ok", "worker": "running"}},
    )
    assert health.headers["x-request-id"]

    answered, order = placed_and_settled(server, customer, REFERENCE_PAYLOAD)
    order_id = answered["orderId"]
    assert answered["pricing"]["subtotal"] == "21.97"
    # the answer comes once the order is committed; its saga runs right after it
    assert (answered["status"], answered["paymentStatus"]) == ("PENDING", "PENDING")
    assert (order["status"], order["paymentStatus"]) == ("PENDING", "CAPTURED")
    assert order["driverId"], "the saga assigns the nearest driver once the payment is captured"

    fetched = server.request("GET", f"/orders/{order_id}", token=customer)
    assert fetched.status == 200
    assert fetched.json()["orderId"] == order_id

    confirmed = server.request("PUT", f"/orders/{order_id}", token=restaurant, json_body={"status": "CONFIRMED"})
    assert confirmed.status == 200, confirmed.body
    assert confirmed.json()["status"] == "CONFIRMED"
    assert confirmed.headers["signal-outcome"] == "ACCEPTED"

    # The saga already assigned a driver: a manual assignment is refused, and names the reason.
    assign = server.request("POST", "/deliveries/assign", token=restaurant, json_body={"orderId": order_id})
    assert assign.status == 409
    assert assign.headers["content-type"] == "application/problem+json"
    assert "already has a driver" in assign.json()["detail"]

    driver_id = order["driverId"]
    driver = token("driver", "courier-1", "--driver-id", driver_id)
    reported = server.request(
        "PUT", f"/deliveries/{order_id}/location", token=driver, json_body={"lat": 40.7130, "lon": -74.0050}
    )
    assert reported.status == 200, reported.body
    assert reported.json()["driverId"] == driver_id

    tracked = server.request("GET", f"/deliveries/{order_id}/track", token=customer)
    assert tracked.status == 200
    assert tracked.json()["driverLocation"] == {"lat": 40.713, "lon": -74.005}
    assert tracked.json()["status"] == "CONFIRMED"

    for who, status in (
        (restaurant, "PREPARING"),
        (restaurant, "READY_FOR_PICKUP"),
        (driver, "PICKED_UP"),
        (driver, "DELIVERED"),
    ):
        moved = server.request("PUT", f"/orders/{order_id}", token=who, json_body={"status": status})
        assert moved.status == 200, (status, moved.body)
    before = server.request("GET", f"/orders/{order_id}", token=admin).json()
    assert before["status"] == "DELIVERED"

    assert server.stop() == 0, server.output()
    assert "stopped; database" in server.output()

    restarted = start_server("--demo", "--confirmation-timeout", "3", db=server.db)
    after = restarted.request("GET", f"/orders/{order_id}", token=customer)
    assert after.status == 200
    assert after.json() == before
    other = restarted.request("GET", f"/orders/{order_id}", token=token("customer", "user-2"))
    assert other.status == 404
    assert restarted.stop() == 0, restarted.output()
