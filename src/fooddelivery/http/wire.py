"""Response bodies as plain JSON, without pydantic: what :class:`~fooddelivery.http.HttpApi` sends.

The pydantic models of :mod:`fooddelivery.http.models` (``OrderOut``, ``RestaurantOut``...) define the response
bodies in the OpenAPI document; the functions here write the same documents -- the same camelCase keys in the same
order, money and decimals as strings, times as ISO-8601 with offset, coordinates as JSON numbers, ``null`` for
absent optional fields -- with the standard library only. So a request that sends no body (``GET /health``,
``GET /orders/{id}``, every listing) is answered without importing pydantic or building a model's serializer: on a
function's cold start that is most of the time a first GET would otherwise take (pydantic, its plugin loader's
``importlib.metadata`` and the models' schemas: about 100 ms of 200 on a Lambda-sized CPU; ``bench/cold_start.py``).
Requests with a body are still validated by the pydantic models (imported then). ``tests/e2e/test_wire.py`` holds
each function to its model's ``model_dump_json`` for fully populated values, so the document and the answers
cannot drift.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fooddelivery.application.commands import Tracking
    from fooddelivery.domain.catalog import MenuItem, Restaurant
    from fooddelivery.domain.events import DomainEvent
    from fooddelivery.domain.geo import GeoPoint
    from fooddelivery.domain.order import Order

__all__ = [
    "dumps",
    "health_json",
    "location_json",
    "order_json",
    "order_page_json",
    "restaurant_detail_json",
    "restaurant_json",
    "restaurant_page_json",
    "tracking_json",
]


def dumps(document: Any) -> bytes:
    """``document`` as compact UTF-8 JSON (no spaces, non-ASCII characters as they are: as pydantic writes it)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _geo(point: GeoPoint) -> dict[str, float]:
    return {"lat": float(point.lat), "lon": float(point.lon)}


def order_json(order: Order) -> dict[str, Any]:
    """``OrderOut`` of ``order``."""
    address = order.delivery_address
    loc = address.location
    return {
        "orderId": order.order_id,
        "customerId": order.customer_id,
        "restaurantId": order.restaurant_id,
        "status": order.status.value,
        "paymentStatus": order.payment_status.value,
        "items": [
            {
                "itemId": line.item_id,
                "name": line.name,
                "unitPrice": str(line.unit_price),
                "quantity": line.quantity,
                "lineTotal": str(line.line_total),
            }
            for line in order.lines
        ],
        "deliveryAddress": {
            "text": address.text,
            "lat": float(loc.lat) if loc else None,
            "lon": float(loc.lon) if loc else None,
        },
        "pricing": dict(order.pricing.as_dict()),
        "driverId": order.driver_id,
        "failureReason": order.failure_reason,
        "createdAt": _time(order.created_at),
        "updatedAt": _time(order.updated_at),
        "statusTimes": {name: _time(at) for name, at in order.status_times.items()},
        "version": order.version,
    }


def order_page_json(orders: list[Order], next_cursor: str | None) -> dict[str, Any]:
    """``OrderPageOut``."""
    return {"items": [order_json(o) for o in orders], "nextCursor": next_cursor}


def _menu_item(item: MenuItem) -> dict[str, Any]:
    return {"itemId": item.item_id, "name": item.name, "price": str(item.price), "available": item.available}


def restaurant_json(restaurant: Restaurant) -> dict[str, Any]:
    """``RestaurantOut`` of ``restaurant`` (without its menu)."""
    return {
        "restaurantId": restaurant.restaurant_id,
        "name": restaurant.name,
        "cuisine": restaurant.cuisine,
        "rating": str(restaurant.rating),
        "location": _geo(restaurant.location),
        "currency": restaurant.currency,
        "taxRate": str(restaurant.tax_rate),
        "avgPrepMinutes": restaurant.avg_prep_minutes,
        "acceptingOrders": restaurant.accepting_orders,
    }


def restaurant_detail_json(restaurant: Restaurant) -> dict[str, Any]:
    """``RestaurantDetailOut``: the restaurant with its menu."""
    return {**restaurant_json(restaurant), "menu": [_menu_item(i) for i in restaurant.menu]}


def restaurant_page_json(restaurants: list[Restaurant], next_cursor: str | None) -> dict[str, Any]:
    """``RestaurantPageOut``."""
    return {"items": [restaurant_json(r) for r in restaurants], "nextCursor": next_cursor}


def tracking_json(tracking: Tracking) -> dict[str, Any]:
    """``TrackingOut``."""
    at = tracking.driver_location
    return {
        "orderId": tracking.order_id,
        "status": tracking.status.value,
        "driverId": tracking.driver_id,
        "driverLocation": _geo(at) if at is not None else None,
        "driverLastSeen": _time(tracking.driver_last_seen),
        "eta": _time(tracking.eta),
        "minutesRemaining": tracking.minutes_remaining,
    }


def location_json(event: DomainEvent, point: GeoPoint) -> dict[str, Any]:
    """``LocationOut`` of an accepted ``DeliveryLocationUpdated`` event."""
    return {
        "orderId": event.order_id,
        "driverId": str(event.payload["driverId"]),
        "location": _geo(point),
        "recordedAt": _time(event.occurred_at),
        "eventId": event.event_id,
    }


def health_json(ok: bool, checks: Mapping[str, str], detail: str | None) -> dict[str, Any]:
    """``HealthOut`` (``detail`` left out when None)."""
    body: dict[str, Any] = {"status": "ok" if ok else "degraded", "checks": dict(checks)}
    if detail is not None:
        body["detail"] = detail
    return body
