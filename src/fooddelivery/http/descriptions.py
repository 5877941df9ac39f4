"""What the OpenAPI document says of each operation beyond its schemas: who may call it, what it does, and
examples that work on ``fooddelivery serve --demo``.

The lifecycle table of ``PUT /orders/{orderId}`` is generated from
:data:`fooddelivery.domain.order.TRANSITIONS`, the table the aggregate enforces, so the document cannot drift from
it. Standard library and the domain only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fooddelivery.domain.actors import Role
from fooddelivery.domain.catalog import MAX_MENU_PRICE
from fooddelivery.domain.order import TRANSITIONS, OrderStatus
from fooddelivery.domain.pricing import DEFAULT_MAX_DELIVERY_KM, OUT_OF_DELIVERY_AREA

__all__ = ["DESCRIPTIONS", "PATH_EXAMPLES", "REQUEST_EXAMPLES", "transition_table"]

#: The roles a client can hold, in the table's column order.
_CLIENT_ROLES: Final[tuple[Role, ...]] = (Role.CUSTOMER, Role.RESTAURANT, Role.DRIVER, Role.ADMIN)


def transition_table() -> str:
    """A Markdown table: each legal status change (from ``TRANSITIONS``) and which role may ask for it with
    ``PUT /orders/{orderId}``.

    ``SYSTEM`` (the saga) is not a client and has no column. ``CONFIRMED`` is special: the restaurant's (or an
    admin's) ``CONFIRMED`` is the confirmation the order's saga waits for, and the saga then confirms the order.
    """
    header = "| from | to | " + " | ".join(r.value for r in _CLIENT_ROLES) + " |"
    rule = "|---|---|" + "---|" * len(_CLIENT_ROLES)
    rows = [header, rule]
    for (source, target), roles in TRANSITIONS.items():
        allowed = set(roles)
        if target is OrderStatus.CONFIRMED:
            allowed |= {Role.RESTAURANT}  # its confirmation, which the saga turns into the change
        cells = ["yes" if role in allowed else "-" for role in _CLIENT_ROLES]
        rows.append(f"| {source.value} | {target.value} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


_ORDER_VISIBILITY = (
    "An order is visible to its customer, its restaurant's staff, its assigned driver and admins; anyone else "
    "gets 404, as if it did not exist."
)

#: operationId -> the operation's description (CommonMark).
DESCRIPTIONS: Final[Mapping[str, str]] = {
    "create_order": (
        "**Customers only.** Prices the order from the restaurant's menu (a `price` the client sends must equal "
        f"it, else 409 `price_changed`; one no menu price can be, 0 or less, above {MAX_MENU_PRICE} or with more "
        "than 3 decimals, is 422), stores it with its `OrderPlaced` event, and starts the order saga: the "
        "payment is authorized and captured, the restaurant and the customer notified and the nearest driver "
        "assigned before the answer (201, `Location`). An item not on the menu, a restaurant not accepting "
        "orders, a tip with more decimals than its currency or a promo code that does not apply is 409 "
        "`catalog_mismatch`. A `deliveryAddress` with coordinates farther from the restaurant than the delivery "
        f"area ({DEFAULT_MAX_DELIVERY_KM} km unless the deployment's pricing policy sets another `max_delivery_km`; "
        "the haversine distance rounded to the metre, as for the distance-based fee) is 422 with the error code "
        f"`{OUT_OF_DELIVERY_AREA}` on `deliveryAddress`, its message giving the distance and the limit. "
        "With an `Idempotency-Key`, the same key and body return the first order (200). "
        "Test card tokens of the local fake processor: `card`, `tok_visa`, `tok_mastercard`, `pm_card_visa` "
        "succeed; `tok_chargeDeclined` is declined (the order fails with nothing charged); "
        "`tok_processingError_N` fails N times, then succeeds on the saga's retries."
    ),
    "list_orders": (
        "**Customers, restaurants and admins.** Newest first, one page at a time (`nextCursor`). A customer "
        "lists their own orders; a restaurant the orders placed with it (with `status=PENDING`: the ones "
        "waiting for its confirmation); an admin the orders of a `customerId` or of a `restaurantId` (one is "
        "required: 422 without). A filter the listing is not keyed on (`status` or `restaurantId` for a "
        "customer, `customerId` for a restaurant) is applied to at most 500 stored orders per call, so a page "
        "may hold fewer than `limit` orders and still have a `nextCursor`. Drivers get 403."
    ),
    "get_order": f"**Any role.** {_ORDER_VISIBILITY}",
    "change_order_status": (
        "**Any role, by the lifecycle table below** (status changes a role may not make are 403; changes the "
        "lifecycle does not allow from the current status are 409). Sending the status the order has already (a "
        "retry) changes nothing and answers 200 with the order. `CONFIRMED` from the restaurant (or an "
        "admin) is the confirmation the order's saga waits for: the answer's `Signal-Outcome` is `ACCEPTED`, or "
        "`DUPLICATE` when it was already confirmed. `CANCELLED` refunds a captured payment once and frees the "
        "driver; `FAILED` is for admins only. "
        f"{_ORDER_VISIBILITY}\n\n{transition_table()}"
    ),
    "reject_order": (
        "**The order's restaurant, or an admin.** Rejects an order waiting for confirmation: the saga refunds "
        "the payment once, frees the driver and fails the order (`restaurant_rejected`). `Signal-Outcome`: "
        "`ACCEPTED`, or `DUPLICATE` when it was already rejected."
    ),
    "list_restaurants": (
        "**Any role.** Rating descending, one page at a time (`nextCursor`). `near` and `radiusKm` are given "
        "together (the document shows them as the exploded object parameter `nearby`)."
    ),
    "get_restaurant": "**Any role.** The restaurant with its menu (item ids, names, prices, availability).",
    "search_restaurants": (
        "**Any role.** The listing of `GET /restaurants`, its filters in a JSON body (`near` and `radiusKm` "
        "together)."
    ),
    "assign_driver": (
        "**A restaurant, a driver or an admin.** For an order that has no driver (the saga assigns one when "
        "the order is paid, so this is for orders that found none): a driver claims it for themselves; a "
        "restaurant or an admin gets the nearest available one. 409 when it already has a driver or none is "
        "available. An attempt cut short (a lost answer, a dead server) is finished by the next one or by the "
        "saga: a driver is never left reserved for an order that does not name it."
    ),
    "track_delivery": (
        f"**Any role.** The order's status, its driver's last position and an ETA (when the delivery address "
        f"has coordinates and the order is not finished). {_ORDER_VISIBILITY}"
    ),
    "update_location": "**The order's assigned driver only.** Appends a position to the location stream.",
    "openapi": "**No credentials.** This document (OpenAPI 3.1), generated from the route table and the models.",
    "health": (
        "**No credentials.** 200 `ok` while the deployment can do its work; 503 `degraded` with the failing "
        "`checks` (`fooddelivery serve`: `storage`, `integrity`, `worker`) and a `detail` otherwise."
    ),
}

#: operationId -> a request body that works on ``fooddelivery serve --demo`` (the reference payload on ``rest-0``).
REQUEST_EXAMPLES: Final[Mapping[str, Mapping[str, Any]]] = {
    "create_order": {
        "restaurantId": "rest-0",
        "items": [{"name": "Pizza", "price": "15.99", "quantity": 1}, {"name": "Soda", "quantity": 2}],
        "deliveryAddress": {"text": "123 Main St", "lat": 40.7128, "lon": -74.006},
        "paymentMethod": "tok_visa",
        "tip": "2.00",
        "promoCode": "WELCOME10",
    },
    "change_order_status": {"status": "CONFIRMED"},
    "reject_order": {"reason": "out of dough"},
    "search_restaurants": {"cuisine": "pizza", "near": {"lat": 40.7128, "lon": -74.006}, "radiusKm": 25},
    "update_location": {"lat": 40.713, "lon": -74.005},
}

#: path parameter name -> an example that works on ``fooddelivery serve --demo`` (order ids are minted per order).
PATH_EXAMPLES: Final[Mapping[str, str]] = {"restaurantId": "rest-0"}
