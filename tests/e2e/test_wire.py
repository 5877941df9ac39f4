"""The response bodies the API writes without pydantic (``fooddelivery.http.wire``) are, byte for byte, what the
documented pydantic models (``fooddelivery.http.models``) serialize for the same values -- fully populated ones,
unicode names, absent optional fields, whole-number coordinates -- and a request without a body never imports
pydantic."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest

from fooddelivery.application.commands import Tracking
from fooddelivery.domain.actors import Actor
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.order import Order, OrderStatus
from fooddelivery.http import models as m
from fooddelivery.http import wire
from fooddelivery.testing.builders import (
    DOWNTOWN,
    T0,
    advance,
    make_address,
    make_location_event,
    make_order,
    make_restaurant,
)


def _orders() -> list[Order]:
    full = advance(make_order(), OrderStatus.PICKED_UP)
    failed = make_order(promo=None, tip="0", address=make_address(location=None))
    failed.transition(OrderStatus.FAILED, Actor.system(), T0 + timedelta(minutes=5), "evt-fail", "restaurant_timeout")
    # an address in whole degrees (its restaurant 10 km north of it: inside the delivery area)
    near_whole = make_restaurant(location=GeoPoint(40.09, -74))
    whole = make_order(near_whole, address=make_address(location=GeoPoint(40, -74)))
    return [full, failed, whole]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["picked-up-with-driver", "failed-no-coordinates", "whole-degrees"])
def test_an_order_is_written_as_its_model_serializes_it(index: int) -> None:
    order = _orders()[index]
    assert wire.dumps(wire.order_json(order)) == m.order_out(order).model_dump_json().encode()


def test_order_and_restaurant_pages_are_written_as_their_models_serialize_them() -> None:
    orders = _orders()
    page = m.OrderPageOut(items=[m.order_out(o) for o in orders], next_cursor="abc_-1")
    assert wire.dumps(wire.order_page_json(orders, "abc_-1")) == page.model_dump_json().encode()
    assert wire.dumps(wire.order_page_json([], None)) == m.OrderPageOut(items=[]).model_dump_json().encode()
    restaurants = [make_restaurant(), make_restaurant(location=GeoPoint(41, 2))]
    listing = m.RestaurantPageOut(items=[m.restaurant_out(r) for r in restaurants], next_cursor=None)
    assert wire.dumps(wire.restaurant_page_json(restaurants, None)) == listing.model_dump_json().encode()


def test_a_restaurant_with_its_unicode_menu_is_written_as_its_model_serializes_it() -> None:
    restaurant = make_restaurant()
    assert any(not item.name.isascii() for item in restaurant.menu)
    assert wire.dumps(wire.restaurant_detail_json(restaurant)) == (
        m.restaurant_detail_out(restaurant).model_dump_json().encode()
    )


@pytest.mark.parametrize(
    "tracking",
    [
        Tracking("ord-1", OrderStatus.PICKED_UP, "drv-1", DOWNTOWN, T0, T0 + timedelta(minutes=12), 12),
        Tracking("ord-2", OrderStatus.PENDING, None, None, None, None, None),
    ],
    ids=["on-its-way", "no-driver-yet"],
)
def test_tracking_is_written_as_its_model_serializes_it(tracking: Tracking) -> None:
    assert wire.dumps(wire.tracking_json(tracking)) == m.tracking_out(tracking).model_dump_json().encode()


def test_an_accepted_position_is_written_as_its_model_serializes_it() -> None:
    event = make_location_event()
    point = GeoPoint(40.7130, -74.0050)
    assert wire.dumps(wire.location_json(event, point)) == m.location_out(event, point).model_dump_json().encode()


@pytest.mark.parametrize(
    ("ok", "checks", "detail"),
    [(True, {}, None), (False, {"storage": "disk_full", "integrity": "ok"}, "the disk is full")],
)
def test_health_is_written_as_its_model_serializes_it(ok: bool, checks: dict[str, str], detail: str | None) -> None:
    model = m.HealthOut(status="ok" if ok else "degraded", checks=checks, detail=detail)
    assert wire.dumps(wire.health_json(ok, checks, detail)) == model.model_dump_json(exclude_none=True).encode()


def test_a_request_without_a_body_is_answered_without_importing_pydantic() -> None:
    code = """
import sys
from fooddelivery.bootstrap import bootstrap
from fooddelivery.http import DevAuthenticator, HttpApi, HttpRequest, issue_dev_token
from fooddelivery.testing.builders import make_restaurant
app = bootstrap()
restaurant = app.restaurants.add(make_restaurant())
api = HttpApi(app.service, DevAuthenticator())
token = issue_dev_token("customer", "cus-1")
for path in ("/health", "/restaurants", f"/restaurants/{restaurant.restaurant_id}", "/orders"):
    answer = api.handle(HttpRequest.build("GET", path, headers={"Authorization": f"Bearer {token}"}))
    assert answer.status == 200, (path, answer.body)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("pydantic", "pydantic_core")))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.replace("'", '"')) == []
