"""Request and response bodies as pydantic v2 models: the validation rules and the OpenAPI schemas
in one place.

Requests are validated strictly from the JSON the HTTP layer parsed with ``parse_float=Decimal`` (so
a JSON number such as ``15.99`` reaches a price field as ``Decimal("15.99")``, never as a float),
with unknown fields refused. Responses use camelCase, money as decimal strings (``"21.97"``) and
times as ISO-8601 with offset (``"2025-01-01T12:00:00+00:00"``). The response models document the
bodies (OpenAPI); :mod:`fooddelivery.http.wire` writes the same documents without pydantic, which is
what the API sends (so a request without a body never imports pydantic), held to these models by
``tests/e2e/test_wire.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from fooddelivery.application.services import PlaceOrder, Tracking
from fooddelivery.domain.catalog import MAX_ID_LENGTH, DeliveryAddress, MenuItem, Restaurant, check_id
from fooddelivery.domain.errors import FieldError, ValidationError
from fooddelivery.domain.events import DomainEvent
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.order import (
    MAX_LINES,
    MAX_QUANTITY,
    LineRequest,
    Order,
    OrderStatus,
    PaymentStatus,
)
from fooddelivery.http.problems import WireValidationError
from fooddelivery.http.schemas import CURSOR_PATTERN, CURSOR_SCHEMA, ID_SCHEMA

__all__ = [
    "CURSOR_PATTERN",
    "CURSOR_SCHEMA",
    "ID_SCHEMA",
    "AssignDriverIn",
    "ChangeStatusIn",
    "FieldErrorOut",
    "GeoOut",
    "HealthOut",
    "LocationIn",
    "LocationOut",
    "OrderOut",
    "OrderPageOut",
    "PlaceOrderIn",
    "ProblemOut",
    "RejectOrderIn",
    "RestaurantDetailOut",
    "RestaurantOut",
    "RestaurantPageOut",
    "SearchRestaurantsIn",
    "TrackingOut",
    "location_out",
    "order_out",
    "restaurant_detail_out",
    "restaurant_out",
    "tracking_out",
    "validation_error",
]


# -- base classes ----------------------------------------------------------------------------------
class _In(BaseModel):
    """A request body: camelCase keys only, strict types, unknown fields refused, immutable.

    Validators are built on first use (``defer_build``), so a cold start pays only for the models of the
    route it serves.
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        hide_input_in_errors=True,
        defer_build=True,
    )


class _Out(BaseModel):
    """A response body, serialized with camelCase keys."""

    model_config = ConfigDict(
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=True,
        serialize_by_alias=True,
        defer_build=True,
    )


# -- field types -----------------------------------------------------------------------------------
# Every rule a field has is stated in its JSON schema (the OpenAPI document) and enforced by the same
# validator: a pattern is written once, in a dialect Python and ECMA-262 (JSON Schema's) read alike.



def _identifier(value: str) -> str:
    try:
        return check_id(value, "id")
    except ValidationError:
        raise PydanticCustomError("invalid", "must not contain control characters or '/'") from None


#: An opaque id: 1..128 characters matching ``ID_PATTERN`` (no control characters, line separators or '/').
Identifier = Annotated[
    str, Field(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(_identifier), WithJsonSchema(ID_SCHEMA)
]


def _integral(value: object) -> object:
    """A JSON number with no fractional part (``2.0``, ``2E1``) is an integer, as JSON Schema counts it."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return value


#: A line's quantity, 1..99, written as JSON writes an integer (``2``) or with a zero fraction (``2.0``).
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY), BeforeValidator(_integral)]
#: A page size, 1..100 (``20`` or ``20.0``).
PageSize = Annotated[int, Field(ge=1, le=100), BeforeValidator(_integral)]

#: A decimal string: no sign but ``-``, no exponent, no whitespace (the JSON number form covers the rest).
_DECIMAL_STRING: Final[str] = r"^-?\d+(\.\d+)?$"
_DECIMAL_STRING_RE: Final[re.Pattern[str]] = re.compile(_DECIMAL_STRING)
#: Longest decimal string accepted.
MAX_DECIMAL_TEXT: Final[int] = 40


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool | float):
        raise PydanticCustomError("type", "must be a decimal string or a JSON number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        if len(value) > MAX_DECIMAL_TEXT or _DECIMAL_STRING_RE.match(value) is None:
            raise PydanticCustomError("type", "is not a decimal number")
        value = Decimal(value)
    if not isinstance(value, Decimal):
        raise PydanticCustomError("type", "must be a decimal string or a JSON number")
    if not value.is_finite():
        raise PydanticCustomError("not_finite", "must be finite")
    return value


#: An exact decimal, read from a JSON number's text or from a decimal string (``15.99`` or
#: ``"15.99"``).
DecimalText = Annotated[
    Decimal,
    BeforeValidator(_decimal),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "pattern": _DECIMAL_STRING, "maxLength": MAX_DECIMAL_TEXT},
            ],
            "description": "An exact decimal; JSON numbers are read through their text, never as binary floats.",
        }
    ),
]


def _bounded_decimal(
    low: int, high: int, places: int | None, string_pattern: str, what: str
) -> tuple[Callable[[object], Decimal], dict[str, Any]]:
    """The validator and JSON schema of an exact decimal in ``[low, high]`` (with at most ``places`` decimals),
    given as a JSON number or as a string matching ``string_pattern``, which must say the same for strings (a
    JSON Schema range does not apply to a string)."""
    compiled = re.compile(string_pattern)
    step = Decimal(1).scaleb(-places) if places is not None else None

    def check(value: object) -> Decimal:
        if isinstance(value, str) and (len(value) > MAX_DECIMAL_TEXT or compiled.match(value) is None):
            raise PydanticCustomError("out_of_range", f"must be {what}")
        number = _decimal(value)
        if not Decimal(low) <= number <= Decimal(high):
            raise PydanticCustomError("out_of_range", f"must be {what}")
        if step is not None and number != number.quantize(step):
            raise PydanticCustomError("precision", f"must have at most {places} decimal places")
        return number

    as_number: dict[str, Any] = {"type": "number", "minimum": low, "maximum": high}
    if step is not None:
        as_number["multipleOf"] = float(step)
    schema = {
        "anyOf": [as_number, {"type": "string", "pattern": string_pattern, "maxLength": MAX_DECIMAL_TEXT}],
        "description": f"An exact decimal, {what}"
        + (f", at most {places} decimal places" if places is not None else "")
        + "; a JSON number or a string.",
    }
    return check, schema


_check_tip, _TIP_SCHEMA = _bounded_decimal(0, 500, 3, r"^(500(\.0{1,3})?|[1-4]?\d{1,2}(\.\d{1,3})?)$", "0..500")
#: A tip: 0..500 (face value in the restaurant's currency), at most 3 decimals (the most an ISO 4217 currency has;
#: more than the restaurant's currency has is a 409 ``catalog_mismatch``).
Tip = Annotated[Decimal, BeforeValidator(_check_tip), WithJsonSchema(_TIP_SCHEMA)]
_check_rating, _RATING_SCHEMA = _bounded_decimal(0, 5, None, r"^(5(\.0+)?|[0-4](\.\d+)?)$", "0..5")
#: A rating, 0..5.
Rating = Annotated[Decimal, BeforeValidator(_check_rating), WithJsonSchema(_RATING_SCHEMA)]


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise PydanticCustomError("type", "must be a number")
    try:
        result = float(value)
    except OverflowError:  # an integer beyond the float range (JSON allows 4300 digits)
        raise PydanticCustomError("out_of_range", "must be a finite number") from None
    if not math.isfinite(result):
        raise PydanticCustomError("out_of_range", "must be a finite number")
    return result


def _bounded(low: float, high: float, *, exclusive_low: bool = False) -> Any:
    bound = {"exclusiveMinimum": low} if exclusive_low else {"minimum": low}
    return WithJsonSchema({"type": "number", **bound, "maximum": high})


#: Latitude in decimal degrees, -90..90.
Latitude = Annotated[float, BeforeValidator(_number), Field(ge=-90, le=90), _bounded(-90, 90)]
#: Longitude in decimal degrees, -180..180.
Longitude = Annotated[float, BeforeValidator(_number), Field(ge=-180, le=180), _bounded(-180, 180)]
#: A search radius in km, (0, 100].
RadiusKm = Annotated[float, BeforeValidator(_number), Field(gt=0, le=100), _bounded(0, 100, exclusive_low=True)]

#: Money on the wire: a decimal string with the currency's decimals.
MoneyText = Annotated[str, Field(pattern=r"^-?\d+(\.\d+)?$", examples=["21.97"])]


def _isoformat(value: datetime) -> str:
    return value.isoformat()


#: A timezone-aware instant, serialized as ISO-8601 with offset (``2025-01-01T12:00:00+00:00``).
Timestamp = Annotated[
    datetime,
    PlainSerializer(_isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


# -- request bodies --------------------------------------------------------------------------------
#: Text with at least one character Python does not call whitespace (``str.isspace``), as a pattern.
NOT_BLANK: Final[str] = (
    "[^\\u0009-\\u000d\\u001c-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
)
_NOT_BLANK: Final[re.Pattern[str]] = re.compile(NOT_BLANK)


def _cursor(value: str) -> str:
    if re.match(CURSOR_PATTERN, value) is None:
        raise PydanticCustomError("invalid", "must be the nextCursor of a previous page (base64url)")
    return value


#: A listing cursor (see :data:`CURSOR_SCHEMA`).
Cursor = Annotated[str, AfterValidator(_cursor), WithJsonSchema(CURSOR_SCHEMA)]


def _not_blank(value: str) -> str:
    if _NOT_BLANK.search(value) is None:
        raise PydanticCustomError("required", "must not be blank")
    return value


#: Free text of 1..500 characters, not all whitespace.
Text500 = Annotated[
    str,
    Field(min_length=1, max_length=500),
    AfterValidator(_not_blank),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 500, "pattern": NOT_BLANK}),
]


def _together(*names: str) -> dict[str, Any]:
    """JSON schema: the properties ``names`` are all given (not null) or none is (absent or null)."""
    return {
        "anyOf": [
            {"required": list(names), "properties": {n: {"not": {"type": "null"}} for n in names}},
            {"properties": {n: {"type": "null"} for n in names}},
        ]
    }


class GeoIn(_In):
    """A WGS84 position: ``{"lat": 40.7128, "lon": -74.006}`` (decimal degrees)."""

    lat: Latitude
    lon: Longitude


class AddressIn(_In):
    """A delivery address: ``{"text": "123 Main St", "lat"?: ..., "lon"?: ...}`` (coordinates
    together or not at all; without them the delivery fee is flat; with them the address must be inside the
    restaurant's delivery area, else 422 ``out_of_delivery_area``).
    """

    model_config = ConfigDict(json_schema_extra=_together("lat", "lon"))

    text: Text500
    lat: Latitude | None = None
    lon: Longitude | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> AddressIn:
        if (self.lat is None) != (self.lon is None):
            raise PydanticCustomError("required", "lat and lon go together")
        return self

    def to_domain(self) -> DeliveryAddress:
        """The domain address."""
        point = GeoPoint(self.lat, self.lon) if self.lat is not None and self.lon is not None else None
        return DeliveryAddress(self.text, point)


#: An address given as text only (``"123 Main St"``): 1..500 characters, not all whitespace.
AddressText = Text500


def _address(value: object) -> object:
    return {"text": value} if isinstance(value, str) else value


class OrderItemIn(_In):
    """One line: a menu item by ``itemId`` or by ``name``, a ``quantity`` (1..99) and optionally the
    ``price`` the client saw (it must equal the menu price, else 409 ``price_changed``; one no menu price can be,
    0 or less, above 10000 or with more than 3 decimals, is 422).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["itemId"], "properties": {"itemId": {"type": "string"}}},
                {"required": ["name"], "properties": {"name": {"type": "string"}}},
            ]
        }
    )

    item_id: Identifier | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    price: DecimalText | None = None
    quantity: Quantity

    def to_domain(self) -> LineRequest:
        """The domain line request."""
        return LineRequest(quantity=self.quantity, item_id=self.item_id, name=self.name, unit_price=self.price)


class PlaceOrderIn(_In):
    """``POST /orders``: the reference payload's shape.

    ``{"userId"?: "user-1", "restaurantId": "rest-1", "items": [{"name": "Pizza", "price": 15.99,
    "quantity": 1}], "deliveryAddress": "123 Main St" | {"text", "lat", "lon"}, "paymentMethod":
    "card", "tip"?: "2.00", "promoCode"?: "WELCOME10"}``. ``userId``, when present, must be the
    authenticated customer (else 403).
    """

    user_id: Identifier | None = None
    restaurant_id: Identifier
    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_LINES)
    delivery_address: Annotated[AddressIn, BeforeValidator(_address, json_schema_input_type=AddressText | AddressIn)]
    payment_method: str = Field(min_length=1, max_length=128)
    tip: Tip | None = None
    promo_code: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    def to_command(self) -> PlaceOrder:
        """The ``PlaceOrder`` command."""
        return PlaceOrder(
            restaurant_id=self.restaurant_id,
            lines=[item.to_domain() for item in self.items],
            delivery_address=self.delivery_address.to_domain(),
            payment_method=self.payment_method,
            tip=self.tip,
            promo_code=self.promo_code,
            customer_id=self.user_id,
        )


class ChangeStatusIn(_In):
    """``PUT /orders/{orderId}``: ``{"status": "PREPARING", "reason"?: "..."}``.

    ``CONFIRMED`` from the restaurant is its confirmation; ``CANCELLED`` cancels (``reason``
    recorded).
    """

    status: OrderStatus = Field(strict=False)
    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None


class RejectOrderIn(_In):
    """``POST /orders/{orderId}/reject``: ``{"reason"?: "out of dough"}``."""

    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None


class SearchRestaurantsIn(_In):
    """``POST /restaurants/search``: ``{"cuisine"?, "minRating"?, "near"?: {"lat", "lon"},
    "radiusKm"?, "limit"?, "cursor"?}`` (``near`` and ``radiusKm`` together).
    """

    model_config = ConfigDict(json_schema_extra=_together("near", "radiusKm"))

    cuisine: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    min_rating: Rating | None = None
    near: GeoIn | None = None
    radius_km: RadiusKm | None = None
    limit: PageSize = 20
    cursor: Cursor | None = None


class AssignDriverIn(_In):
    """``POST /deliveries/assign``: ``{"orderId": "ord-1"}``."""

    order_id: Identifier


class LocationIn(_In):
    """``PUT /deliveries/{orderId}/location``: ``{"lat": 40.71, "lon": -74.0}``."""

    lat: Latitude
    lon: Longitude


# -- response bodies -------------------------------------------------------------------------------
class GeoOut(_Out):
    """A position in decimal degrees."""

    lat: float
    lon: float


class AddressOut(_Out):
    """A delivery address."""

    text: str
    lat: float | None = None
    lon: float | None = None


class LineOut(_Out):
    """A priced line (prices from the menu at order time)."""

    item_id: str
    name: str
    unit_price: MoneyText
    quantity: int
    line_total: MoneyText


class PricingOut(_Out):
    """The full price breakdown (all in ``currency``)."""

    currency: str
    subtotal: MoneyText
    discount: MoneyText
    tax: MoneyText
    delivery_fee: MoneyText
    service_fee: MoneyText
    tip: MoneyText
    total: MoneyText
    promo_code: str | None = None
    distance_km: str | None = None


class OrderOut(_Out):
    """An order."""

    order_id: str
    customer_id: str
    restaurant_id: str
    status: OrderStatus
    payment_status: PaymentStatus
    items: list[LineOut]
    delivery_address: AddressOut
    pricing: PricingOut
    driver_id: str | None = None
    failure_reason: str | None = None
    created_at: Timestamp
    updated_at: Timestamp
    status_times: dict[str, Timestamp]
    version: int


class MenuItemOut(_Out):
    """A dish."""

    item_id: str
    name: str
    price: MoneyText
    available: bool


class RestaurantOut(_Out):
    """A restaurant (without its menu)."""

    restaurant_id: str
    name: str
    cuisine: str
    rating: Annotated[str, Field(examples=["4.5"])]
    location: GeoOut
    currency: str
    tax_rate: Annotated[str, Field(examples=["0.0875"])]
    avg_prep_minutes: int
    accepting_orders: bool


class RestaurantDetailOut(RestaurantOut):
    """A restaurant with its menu."""

    menu: list[MenuItemOut]


class RestaurantPageOut(_Out):
    """One page of restaurants, rating descending; pass ``nextCursor`` back as ``cursor`` for the
    next."""

    items: list[RestaurantOut]
    next_cursor: str | None = None


class OrderPageOut(_Out):
    """One page of orders, newest first; pass ``nextCursor`` back as ``cursor`` (with the same filters) for the
    next. A filtered page may hold fewer than ``limit`` orders and still have a ``nextCursor``."""

    items: list[OrderOut]
    next_cursor: str | None = None


class TrackingOut(_Out):
    """Where a delivery is; ``eta`` is None when the address has no coordinates or the order is
    finished."""

    order_id: str
    status: OrderStatus
    driver_id: str | None = None
    driver_location: GeoOut | None = None
    driver_last_seen: Timestamp | None = None
    eta: Timestamp | None = None
    minutes_remaining: int | None = None


class LocationOut(_Out):
    """A driver position accepted onto the location stream."""

    order_id: str
    driver_id: str
    location: GeoOut
    recorded_at: Timestamp
    event_id: str


class HealthOut(_Out):
    """Health: ``ok`` (200), or ``degraded`` (503) with the failing ``checks`` and a ``detail`` for a human.

    ``checks`` names what the deployment watches, e.g. ``{"storage": "disk_full", "integrity": "ok", "worker":
    "backing_off"}`` from ``fooddelivery serve``; a deployment that watches nothing sends ``{}``.
    """

    status: Literal["ok", "degraded"]
    checks: dict[str, str] = Field(default_factory=dict)
    detail: str | None = None


class FieldErrorOut(_Out):
    """One invalid input: ``field`` is a dotted path (``items.0.quantity``), ``body``, a query
    parameter, a path parameter or a header name.
    """

    field: str
    message: str
    code: str


class ProblemOut(_Out):
    """An RFC 9457 problem-details body (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: str
    request_id: str
    errors: list[FieldErrorOut]


# -- domain -> response ----------------------------------------------------------------------------
def order_out(order: Order) -> OrderOut:
    """The response body of ``order``."""
    address = order.delivery_address
    loc = address.location
    return OrderOut(
        order_id=order.order_id,
        customer_id=order.customer_id,
        restaurant_id=order.restaurant_id,
        status=order.status,
        payment_status=order.payment_status,
        items=[
            LineOut(
                item_id=li.item_id,
                name=li.name,
                unit_price=str(li.unit_price),
                quantity=li.quantity,
                line_total=str(li.line_total),
            )
            for li in order.lines
        ],
        delivery_address=AddressOut(text=address.text, lat=loc.lat if loc else None, lon=loc.lon if loc else None),
        pricing=PricingOut.model_validate(order.pricing.as_dict()),
        driver_id=order.driver_id,
        failure_reason=order.failure_reason,
        created_at=order.created_at,
        updated_at=order.updated_at,
        status_times=dict(order.status_times),
        version=order.version,
    )


def _menu_item_out(item: MenuItem) -> MenuItemOut:
    return MenuItemOut(item_id=item.item_id, name=item.name, price=str(item.price), available=item.available)


def _restaurant_fields(restaurant: Restaurant) -> dict[str, Any]:
    return {
        "restaurant_id": restaurant.restaurant_id,
        "name": restaurant.name,
        "cuisine": restaurant.cuisine,
        "rating": str(restaurant.rating),
        "location": GeoOut(lat=restaurant.location.lat, lon=restaurant.location.lon),
        "currency": restaurant.currency,
        "tax_rate": str(restaurant.tax_rate),
        "avg_prep_minutes": restaurant.avg_prep_minutes,
        "accepting_orders": restaurant.accepting_orders,
    }


def restaurant_out(restaurant: Restaurant) -> RestaurantOut:
    """The listing entry of ``restaurant``."""
    return RestaurantOut(**_restaurant_fields(restaurant))


def restaurant_detail_out(restaurant: Restaurant) -> RestaurantDetailOut:
    """``restaurant`` with its menu."""
    return RestaurantDetailOut(**_restaurant_fields(restaurant), menu=[_menu_item_out(i) for i in restaurant.menu])


def tracking_out(tracking: Tracking) -> TrackingOut:
    """The response body of a tracking view."""
    at = tracking.driver_location
    return TrackingOut(
        order_id=tracking.order_id,
        status=tracking.status,
        driver_id=tracking.driver_id,
        driver_location=GeoOut(lat=at.lat, lon=at.lon) if at else None,
        driver_last_seen=tracking.driver_last_seen,
        eta=tracking.eta,
        minutes_remaining=tracking.minutes_remaining,
    )


def location_out(event: DomainEvent, point: GeoPoint) -> LocationOut:
    """The response body of an accepted ``DeliveryLocationUpdated`` event."""
    return LocationOut(
        order_id=event.order_id,
        driver_id=str(event.payload["driverId"]),
        location=GeoOut(lat=point.lat, lon=point.lon),
        recorded_at=event.occurred_at,
        event_id=event.event_id,
    )


# -- pydantic errors -> the core's ValidationError -------------------------------------------------
_CODES: Final[dict[str, tuple[str, str | None]]] = {
    "missing": ("required", "is required"),
    "extra_forbidden": ("unknown_field", "is not a known field"),
    "enum": ("invalid_choice", None),
    "literal_error": ("invalid_choice", None),
    "string_too_short": ("too_short", None),
    "string_too_long": ("too_long", None),
    "too_short": ("too_short", None),
    "too_long": ("too_long", None),
    "greater_than": ("out_of_range", None),
    "greater_than_equal": ("out_of_range", None),
    "less_than": ("out_of_range", None),
    "less_than_equal": ("out_of_range", None),
    "model_type": ("type", "must be a JSON object"),
    "model_attributes_type": ("type", "must be a JSON object"),
    "dict_type": ("type", "must be a JSON object"),
    "list_type": ("type", "must be a JSON array"),
    "string_type": ("type", "must be a string"),
    "int_type": ("type", "must be an integer"),
    "float_type": ("type", "must be a number"),
    "bool_type": ("type", "must be a boolean"),
}


def validation_error(exc: PydanticValidationError, root: str = "body") -> WireValidationError:
    """The core's :class:`ValidationError` for a pydantic one: each error as ``{field, message,
    code}``.

    Args:
        exc: what pydantic raised.
        root: the field name of the whole document (an error at the top level).
    """
    fields: list[FieldError] = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        field = ".".join(str(p) for p in err["loc"]) or root
        code, message = _CODES.get(err["type"], (err["type"], None))
        fields.append(FieldError(field, message or err["msg"], code))
    summary = "; ".join(f"{f.field}: {f.message}" for f in fields[:5])
    return WireValidationError(f"the request is invalid: {summary}", fields)
