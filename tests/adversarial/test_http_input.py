"""Client input that used to reach an uncaught exception (a 500) through ``HttpApi.handle``.

Each request is a client mistake: it must get a 4xx problem naming what is wrong, and nothing may be stored.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.adapters.sqlite import SqliteAdapters, open_sqlite_adapters
from fooddelivery.http import HttpRequest
from tests.e2e._world import World, assert_problem, build_world

#: A JSON integer with 400 digits: valid JSON (under the 4300-digit limit), far beyond any float.
HUGE_INT = "9" * 400


@pytest.fixture
def world() -> World:
    return build_world()


@pytest.fixture
def sqlite_adapters(tmp_path: Path) -> Iterator[SqliteAdapters]:
    adapters = open_sqlite_adapters(tmp_path / "fooddelivery.db")
    yield adapters
    adapters.close()


def _b64(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def _unb64(text: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _tampered_cursor(world: World, position: dict[str, Any]) -> str:
    """A listing cursor whose outer envelope (filters fingerprint) is genuine and whose store position is
    ``position``: what a client gets by decoding a real cursor and editing it."""
    page = world.call("GET", "/restaurants", query="limit=1")
    assert page.status == 200, page.body
    outer = _unb64(page.json()["nextCursor"])
    return _b64({"c": _b64(position), "f": outer["f"]})


# -- numbers too large for a float ----------------------------------------------------------------------------
def test_a_driver_location_with_a_400_digit_integer_latitude_is_422_naming_lat(world: World) -> None:
    order_id = world.place()
    before = world.footprint()
    body = f'{{"lat": {HUGE_INT}, "lon": 0}}'.encode()

    response = world.call("PUT", f"/deliveries/{order_id}/location", as_="driver", body=body)

    problem = assert_problem(response, 422, "validation_error", "lat")
    assert [e["code"] for e in problem["errors"]] == ["out_of_range"]
    assert world.footprint() == before


def test_a_delivery_address_with_a_400_digit_integer_longitude_is_422_and_nothing_is_stored(world: World) -> None:
    before = world.footprint()
    body = (
        '{"restaurantId": "rest-1", "items": [{"name": "Pizza", "quantity": 1}], "paymentMethod": "card",'
        f' "deliveryAddress": {{"text": "123 Main St", "lat": 40.7, "lon": -{HUGE_INT}}}}}'
    ).encode()

    response = world.call("POST", "/orders", body=body)

    assert_problem(response, 422, "validation_error", "deliveryAddress.lon")
    assert world.footprint() == before


def test_a_search_near_a_400_digit_integer_latitude_is_422_naming_near_lat(world: World) -> None:
    body = f'{{"near": {{"lat": {HUGE_INT}, "lon": 0}}, "radiusKm": 5}}'.encode()

    response = world.call("POST", "/restaurants/search", body=body)

    assert_problem(response, 422, "validation_error", "near.lat")


# -- tampered listing cursors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("rating", ["1E+999999999", "-1E+999999999", "6", "-1"])
def test_a_listing_cursor_edited_to_an_impossible_rating_is_404_naming_the_cursor(world: World, rating: str) -> None:
    cursor = _tampered_cursor(world, {"k": "rs", "r": rating, "id": "rest-2"})

    listed = world.call("GET", "/restaurants", query=f"limit=1&cursor={cursor}")
    searched = world.call("POST", "/restaurants/search", json_body={"limit": 1, "cursor": cursor})

    # of the right form (base64url) but no page of this listing: no such page
    assert_problem(listed, 404, "unknown_cursor", "cursor")
    assert_problem(searched, 404, "unknown_cursor", "cursor")


def test_a_listing_cursor_whose_position_holds_a_lone_surrogate_is_404_on_sqlite(
    sqlite_adapters: SqliteAdapters,
) -> None:
    world = build_world(**sqlite_adapters.ports())
    cursor = _tampered_cursor(world, {"k": "rs", "r": "4.8", "id": "\ud800"})

    response = world.call("GET", "/restaurants", query=f"limit=1&cursor={cursor}")

    assert_problem(response, 404, "unknown_cursor", "cursor")


def test_a_listing_cursor_whose_position_holds_a_lone_surrogate_is_404_in_memory(world: World) -> None:
    cursor = _tampered_cursor(world, {"k": "rs", "r": "4.8", "id": "\udfff"})

    response = world.call("GET", "/restaurants", query=f"limit=1&cursor={cursor}")

    assert_problem(response, 404, "unknown_cursor", "cursor")


def test_a_genuine_listing_cursor_still_pages_on_sqlite(sqlite_adapters: SqliteAdapters) -> None:
    world = build_world(**sqlite_adapters.ports())
    first = world.call("GET", "/restaurants", query="limit=2").json()

    second = world.call("GET", "/restaurants", query=f"limit=2&cursor={first['nextCursor']}")

    assert second.status == 200
    assert [r["restaurantId"] for r in first["items"]] == ["rest-2", "rest-1"]
    assert [r["restaurantId"] for r in second.json()["items"]] == ["rest-5", "rest-3"]


# -- text that UTF-8 cannot encode (lone surrogates), as a cloud adapter may hand it over ---------------------
def _request(world: World, method: str, path: str, **kwargs: Any) -> HttpRequest:
    headers = {"Authorization": f"Bearer {world.token('customer')}"}
    return HttpRequest.build(method, path, headers=headers, **kwargs)


def test_an_undeclared_query_parameter_named_with_a_lone_surrogate_is_a_422_body_in_utf8(world: World) -> None:
    # e.g. an API Gateway event whose queryStringParameters hold the JSON escape "\ud800" as a name
    response = world.api.handle(_request(world, "GET", "/restaurants", query={"\ud800": "1"}))

    problem = assert_problem(response, 422, "validation_error")
    assert response.body.decode("utf-8")  # the body is valid UTF-8
    assert [e["field"] for e in problem["errors"]] == ["\ud800"]  # named, JSON-escaped


def test_a_method_with_a_lone_surrogate_is_a_405_not_an_exception(world: World) -> None:
    response = world.api.handle(_request(world, "\ud800", "/orders"))

    assert_problem(response, 405, "method_not_allowed")
    assert response.header("Allow") == "GET, OPTIONS, POST"


def test_a_cuisine_filter_holding_a_lone_surrogate_is_422_naming_it_on_sqlite(sqlite_adapters: SqliteAdapters) -> None:
    world = build_world(**sqlite_adapters.ports())

    response = world.api.handle(_request(world, "GET", "/restaurants", query={"cuisine": "pizza\ud800"}))

    assert_problem(response, 422, "validation_error", "cuisine")
