"""The HTTP API of the core, defined once: routes, body parsing, authentication, the use cases, the
error table.

Every cloud entrypoint (and ``fooddelivery serve``) translates its platform's event into an
:class:`~fooddelivery.http.messages.HttpRequest`, calls :meth:`HttpApi.handle`, and translates the
:class:`~fooddelivery.http.messages.HttpResponse` back::

    api = HttpApi(bootstrap().service, JwksAuthenticator.for_cognito(...))
    response = api.handle(
        HttpRequest.build("GET", "/orders/ord-1", headers={"Authorization": "Bearer ..."})
    )

Routes (the reference design's nine, same methods and paths, plus four marked "+"):

- ``POST /orders``: place an order (201 + ``Location``; honours ``Idempotency-Key``).
- ``GET /orders/{orderId}``: read an order (404 for anyone unrelated to it).
- ``PUT /orders/{orderId}``: change its status under the lifecycle and actor rules.
- ``GET /restaurants``: list (``cuisine``, ``minRating``, ``near`` + ``radiusKm``, ``limit``,
  ``cursor``).
- ``GET /restaurants/{restaurantId}``: one restaurant with its menu.
- ``POST /restaurants/search``: the listing, filters in a JSON body.
- ``POST /deliveries/assign``: assign a driver (a driver claims the order; restaurant or admin get
  the nearest one).
- ``GET /deliveries/{orderId}/track``: status, driver position, ETA.
- ``PUT /deliveries/{orderId}/location``: the assigned driver reports a position.
- + ``POST /orders/{orderId}/reject``: the restaurant rejects the order.
- + ``GET /openapi.json``: OpenAPI 3.1 from the same models; no credentials needed.
- + ``GET /health``: 200 ``ok``, or 503 ``degraded`` with what fails (a deployment's ``health`` callback);
  no credentials needed.
- + ``OPTIONS`` on any route: 204 with ``Allow``; no credentials needed.

Order of checks: route (404/405) -> credentials (401) -> the roles that may ever call the route
(403) -> path parameters (422) -> undeclared query parameters (422; a cloud adapter strips its
platform's own, such as an Azure function key's ``code``) -> body size (413) -> media type (415)
-> JSON syntax (400) -> JSON shape (422) -> the use case (which applies the per-order rules: 404 to
the unrelated, 403 to a role that may not make this change, 409 for the lifecycle). Nothing is
stored or published before the use case runs, so every refusal before it leaves no trace.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, TypeVar

from fooddelivery.domain.actors import Actor, Role
from fooddelivery.domain.errors import (
    FieldError,
    FoodDeliveryError,
    InfrastructureError,
    NotAllowed,
    ValidationError,
)
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.ids import check_id
from fooddelivery.domain.status import IDEMPOTENCY_KEY_PATTERN, OrderStatus
from fooddelivery.http import wire
from fooddelivery.http.messages import HttpRequest, HttpResponse
from fooddelivery.http.problems import (
    RequestRejected,
    WireValidationError,
    internal_error_response,
    problem_response,
)
from fooddelivery.http.routing import Router
from fooddelivery.http.schemas import CURSOR_SCHEMA, ID_SCHEMA
from fooddelivery.observability.tracing import http_server_span, set_http_route, set_http_status
from fooddelivery.ports.auth import Authenticator
from fooddelivery.ports.paging import Page

if TYPE_CHECKING:
    from pydantic import BaseModel

    from fooddelivery.application.services import FoodDeliveryService
    from fooddelivery.domain.catalog import Restaurant
    from fooddelivery.ports.restaurants import RestaurantQuery

__all__ = ["MAX_BODY_BYTES", "ROUTES", "HealthReport", "HttpApi", "QueryParam", "RouteSpec"]

log = logging.getLogger("fooddelivery.http")

#: Largest request body accepted (bytes); larger ones get 413.
MAX_BODY_BYTES: Final[int] = 256 * 1024
#: Header carrying the request id in and out.
REQUEST_ID_HEADER: Final[str] = "X-Request-Id"
#: Header telling whether a confirmation/rejection changed anything: ``ACCEPTED`` or ``DUPLICATE``.
OUTCOME_HEADER: Final[str] = "Signal-Outcome"
_REQUEST_ID_CHARS: Final[frozenset[str]] = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:"
)

M = TypeVar("M", bound="BaseModel")


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What a deployment says of itself on ``GET /health``.

    Attributes:
        ok: whether it can do its work (200 ``ok``) or not (503 ``degraded``).
        checks: named states, e.g. ``{"storage": "disk_full", "integrity": "ok"}``.
        detail: one sentence for a human when not ok.
    """

    ok: bool = True
    checks: Mapping[str, str] = field(default_factory=dict)
    detail: str | None = None


# -- route table -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QueryParam:
    """A documented query parameter; the server enforces its schema exactly as written (see
    :func:`_query_values`).

    Attributes:
        name: its name.
        schema: its JSON schema (OpenAPI 3.1): ``type`` string (``minLength``, ``maxLength``, ``pattern``,
            ``enum``) or integer (``minimum``, ``maximum``).
        description: what it does.
        group: parameters of one group are given together or not at all (``near`` + ``radiusKm``); the document
            shows a group as one exploded object parameter, the only way OpenAPI can say so.
        example: a value that works on ``fooddelivery serve --demo`` (the value, not its query-string text).
    """

    name: str
    schema: Mapping[str, Any]
    description: str
    group: str | None = None
    example: object = None


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One operation: its method and path, handler, models, and documented statuses.

    Attributes:
        method: HTTP method.
        path: template (``/orders/{orderId}``).
        operation_id: OpenAPI ``operationId`` and the name of the :class:`HttpApi` handler method.
        summary: one line for the OpenAPI document.
        request_body: the name of the body's model in :mod:`fooddelivery.http.models`, or None for no body
            (:attr:`request_model` is the class; the models, and pydantic, are imported on first use).
        response_body: the name of the success body's model there (None: any JSON object); the API writes it
            with :mod:`fooddelivery.http.wire`.
        success: the success status.
        errors: the documented error statuses.
        auth: whether credentials are required.
        query: documented query parameters.
        headers: documented request headers (name -> (description, JSON schema)).
        tag: OpenAPI tag.
        roles: the roles that may ever call it, or None for any authenticated caller; others get 403
            before their body is read (finer rules, per order and status, are the use cases').
    """

    method: str
    path: str
    operation_id: str
    summary: str
    request_body: str | None
    response_body: str | None
    success: int = 200
    errors: tuple[int, ...] = ()
    auth: bool = True
    query: tuple[QueryParam, ...] = ()
    headers: Mapping[str, tuple[str, Mapping[str, Any]]] = field(default_factory=dict)
    tag: str = "orders"
    roles: frozenset[Role] | None = None

    @property
    def request_model(self) -> type[BaseModel] | None:
        """The body's pydantic model (imports :mod:`fooddelivery.http.models`), or None."""
        return _model(self.request_body)

    @property
    def response_model(self) -> type[BaseModel] | None:
        """The success body's pydantic model (imports :mod:`fooddelivery.http.models`), or None."""
        return _model(self.response_body)

    @property
    def query_names(self) -> frozenset[str]:
        """The names of the documented query parameters (any other is refused with 422)."""
        return frozenset(q.name for q in self.query)


def _model(name: str | None) -> type[BaseModel] | None:
    if name is None:
        return None
    from fooddelivery.http import models

    model: type[BaseModel] = getattr(models, name)
    return model


_AUTH_ERRORS = (401, 403)
_BODY_ERRORS = (400, 413, 415, 422)
_LIMIT = QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "Page size.", example=10)
_CURSOR = QueryParam("cursor", CURSOR_SCHEMA, "The nextCursor of the previous page (same filters).")
#: Latitude -90..90 and longitude -180..180 in decimal degrees, as 'lat,lon'.
_NEAR_PATTERN: Final[str] = r"^-?(90(\.0+)?|[1-8]?\d(\.\d+)?),-?(180(\.0+)?|(1[0-7]\d|[1-9]?\d)(\.\d+)?)$"
_LIST_QUERY = (
    QueryParam(
        "cuisine",
        {"type": "string", "minLength": 1, "maxLength": 64},
        "Only this cuisine (case-insensitive).",
        example="pizza",
    ),
    QueryParam(
        "minRating",
        {"type": "string", "pattern": r"^(5(\.0+)?|[0-4](\.\d+)?)$", "maxLength": 40},
        "Only restaurants rated at least this (0..5).",
        example="3",
    ),
    QueryParam(
        "near",
        {"type": "string", "pattern": _NEAR_PATTERN, "maxLength": 81},
        "Centre of a radius filter as 'lat,lon' in decimal degrees; given with radiusKm.",
        group="nearby",
        example="40.7128,-74.0060",
    ),
    QueryParam(
        "radiusKm",
        {"type": "string", "pattern": r"^(100(\.0+)?|[1-9]\d?(\.\d+)?|0\.\d*[1-9]\d*)$", "maxLength": 40},
        "Radius around 'near' in km, (0, 100]; given with near.",
        group="nearby",
        example="25",
    ),
    _LIMIT,
    _CURSOR,
)
_ORDERS_QUERY = (
    QueryParam(
        "status",
        {"type": "string", "enum": [s.value for s in OrderStatus]},
        "Only orders in this status (a restaurant's PENDING orders are the ones waiting for its confirmation).",
        example="PENDING",
    ),
    QueryParam(
        "customerId",
        ID_SCHEMA,
        "Only this customer's orders: an admin's filter; a customer may name only themselves (else 403).",
    ),
    QueryParam(
        "restaurantId",
        ID_SCHEMA,
        "Only this restaurant's orders: an admin's filter; a restaurant may name only itself (else 403); a "
        "customer's orders placed with it.",
    ),
    _LIMIT,
    _CURSOR,
)

#: Every operation of the API, in documentation order.
ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec(
        "POST",
        "/orders",
        "create_order",
        "Place an order",
        "PlaceOrderIn",
        "OrderOut",
        201,
        (*_BODY_ERRORS, *_AUTH_ERRORS, 404, 409),
        headers={
            "Idempotency-Key": (
                "1..255 characters without control characters; the same key and body return the first order "
                "(200), the same key with another body is 422.",
                {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
            )
        },
        roles=frozenset({Role.CUSTOMER}),
    ),
    RouteSpec(
        "GET",
        "/orders",
        "list_orders",
        "List orders",
        None,
        "OrderPageOut",
        200,
        (*_AUTH_ERRORS, 404, 422),
        query=_ORDERS_QUERY,
        roles=frozenset({Role.CUSTOMER, Role.RESTAURANT, Role.ADMIN}),
    ),
    RouteSpec(
        "GET",
        "/orders/{orderId}",
        "get_order",
        "Read an order",
        None,
        "OrderOut",
        200,
        (*_AUTH_ERRORS, 404, 422),
    ),
    RouteSpec(
        "PUT",
        "/orders/{orderId}",
        "change_order_status",
        "Change an order's status",
        "ChangeStatusIn",
        "OrderOut",
        200,
        (*_BODY_ERRORS, *_AUTH_ERRORS, 404, 409),
    ),
    RouteSpec(
        "POST",
        "/orders/{orderId}/reject",
        "reject_order",
        "The restaurant rejects an order",
        "RejectOrderIn",
        "OrderOut",
        200,
        (*_BODY_ERRORS, *_AUTH_ERRORS, 404, 409),
        roles=frozenset({Role.RESTAURANT, Role.ADMIN}),
    ),
    RouteSpec(
        "GET",
        "/restaurants",
        "list_restaurants",
        "List restaurants",
        None,
        "RestaurantPageOut",
        200,
        (*_AUTH_ERRORS, 404, 422),
        query=_LIST_QUERY,
        tag="restaurants",
    ),
    RouteSpec(
        "GET",
        "/restaurants/{restaurantId}",
        "get_restaurant",
        "Read a restaurant and its menu",
        None,
        "RestaurantDetailOut",
        200,
        (*_AUTH_ERRORS, 404, 422),
        tag="restaurants",
    ),
    RouteSpec(
        "POST",
        "/restaurants/search",
        "search_restaurants",
        "Search restaurants",
        "SearchRestaurantsIn",
        "RestaurantPageOut",
        200,
        (*_BODY_ERRORS, *_AUTH_ERRORS, 404),
        tag="restaurants",
    ),
    RouteSpec(
        "POST",
        "/deliveries/assign",
        "assign_driver",
        "Assign a driver to an order",
        "AssignDriverIn",
        "OrderOut",
        200,
        (*_BODY_ERRORS, *_AUTH_ERRORS, 404, 409),
        tag="deliveries",
        roles=frozenset({Role.RESTAURANT, Role.DRIVER, Role.ADMIN}),
    ),
    RouteSpec(
        "GET",
        "/deliveries/{orderId}/track",
        "track_delivery",
        "Track a delivery",
        None,
        "TrackingOut",
        200,
        (*_AUTH_ERRORS, 404, 422),
        tag="deliveries",
    ),
    RouteSpec(
        "PUT",
        "/deliveries/{orderId}/location",
        "update_location",
        "Report the driver's position",
        "LocationIn",
        "LocationOut",
        200,
        (*_BODY_ERRORS, *_AUTH_ERRORS, 404, 409),
        tag="deliveries",
        roles=frozenset({Role.DRIVER}),
    ),
    RouteSpec(
        "GET",
        "/openapi.json",
        "openapi",
        "This document",
        None,
        None,
        200,
        (),
        auth=False,
        tag="meta",
    ),
    RouteSpec("GET", "/health", "health", "Health", None, "HealthOut", 200, (), auth=False, tag="meta"),
)


@dataclass(frozen=True, slots=True)
class _Call:
    request: HttpRequest
    actor: Actor | None
    params: dict[str, str]
    request_id: str
    query: dict[str, str]

    @property
    def who(self) -> Actor:
        assert self.actor is not None, "an authenticated route"
        return self.actor


_Handler = Callable[[_Call], HttpResponse]


# -- JSON bodies -----------------------------------------------------------------------------------
class _DuplicateKey(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"duplicate key {key!r}")
        result[key] = value
    return result


def _bad_json(detail: str) -> RequestRejected:
    return RequestRejected(
        400,
        "malformed_json",
        "Malformed JSON",
        detail,
        fields=[FieldError("body", detail, "malformed_json")],
    )


def _check_media_type(request: HttpRequest) -> None:
    """Refuse (415) a ``Content-Type`` other than UTF-8 JSON (``application/json``, ``*/*+json``)."""
    raw = request.header("content-type")
    media, _, params = (raw or "").partition(";")
    media = media.strip().lower()
    main, _, sub = media.partition("/")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    encoding = (request.header("content-encoding") or "identity").strip().lower()
    if main != "application" or (sub != "json" and not sub.endswith("+json")) or charset not in (None, "utf-8"):
        sent = repr(raw[:100]) if raw and raw.strip() else "a request without a Content-Type"
        raise RequestRejected(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            f"the body must be JSON sent as 'Content-Type: application/json' (UTF-8), not {sent}",
            fields=[FieldError("Content-Type", "must be application/json", "unsupported_media_type")],
            headers={"Accept": "application/json"},
        )
    if encoding != "identity":
        raise RequestRejected(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            "compressed request bodies are not accepted",
            fields=[FieldError("Content-Encoding", "must be identity", "unsupported_media_type")],
        )


def parse_json_object(request: HttpRequest, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request body as a JSON object, with every number that has a fraction or exponent as
    ``Decimal``.

    Raises:
        RequestRejected: 413 over ``max_bytes``; 415 not JSON by ``Content-Type``; 400 empty, not
            UTF-8, malformed or truncated JSON, ``NaN``/``Infinity``, duplicate keys, or nesting too
            deep.
        ValidationError: valid JSON that is not an object (``null``, an array, a string...), field
            ``body``.
    """
    body = request.body
    if len(body) > max_bytes:
        # the server stops reading one byte past the limit (fooddelivery.http.asgi), so the size is the declared one
        # when there is one, else only "more than"
        declared = (request.header("content-length") or "").strip()
        size = f"{int(declared)} bytes" if declared.isdigit() and int(declared) > max_bytes else "larger"
        raise RequestRejected(
            413,
            "payload_too_large",
            "Payload too large",
            f"the body is {size}; at most {max_bytes} bytes are accepted",
            fields=[FieldError("body", f"must be at most {max_bytes} bytes", "too_large")],
        )
    _check_media_type(request)
    if not body.strip():
        raise RequestRejected(
            400,
            "empty_body",
            "Empty body",
            "the request needs a JSON object body",
            fields=[FieldError("body", "is empty", "required")],
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_json("the body is not UTF-8") from None
    try:
        document = json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except json.JSONDecodeError as exc:
        raise _bad_json(f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except _DuplicateKey as exc:
        raise _bad_json(f"the body has a {exc}") from None
    except ValueError as exc:  # NaN/Infinity, an integer with more than 4300 digits
        raise _bad_json(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise _bad_json("the body is nested too deeply") from None
    if not isinstance(document, dict):
        kind = "null" if document is None else type(document).__name__
        raise WireValidationError(
            f"the body must be a JSON object, not {kind}",
            [FieldError("body", "must be a JSON object", "type")],
        )
    return document


# -- listing cursors -------------------------------------------------------------------------------
def _unknown_cursor() -> RequestRejected:
    """A cursor of the right form that this listing did not issue, or issued for other filters: there is no such
    page (404), as there is no such order for an id no one issued. (A cursor of the wrong form is a 422.)"""
    return RequestRejected(
        404,
        "unknown_cursor",
        "Unknown cursor",
        "this cursor is not the nextCursor of a page of this listing with these filters",
        fields=[FieldError("cursor", "is not a cursor of this listing", "unknown_cursor")],
    )


def _is_cursor_error(exc: ValidationError) -> bool:
    return bool(exc.fields) and all(f.field == "cursor" for f in exc.fields)


def _filters_fingerprint(query: RestaurantQuery) -> str:
    near = query.near
    doc = [
        query.cuisine,
        None if query.min_rating is None else str(query.min_rating),
        None if near is None else [near.lat, near.lon],
        query.radius_km,
    ]
    import hashlib  # (here: a cold start answering GET /health does not load OpenSSL's hashes)

    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:16]


def _wrap_cursor(store_cursor: str | None, fingerprint: str) -> str | None:
    if store_cursor is None:
        return None
    raw = json.dumps({"c": store_cursor, "f": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unwrap_cursor(cursor: str, fingerprint: str) -> str:
    """The store cursor inside a cursor :func:`_wrap_cursor` made for these filters.

    Raises:
        RequestRejected: 404 ``unknown_cursor`` for anything else.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise _unknown_cursor() from None
    if not isinstance(doc, dict) or doc.get("f") != fingerprint or not isinstance(doc.get("c"), str):
        raise _unknown_cursor()
    return str(doc["c"])


# -- query strings ---------------------------------------------------------------------------------
_MAX_INT_DIGITS: Final[int] = 12
_INTEGER: Final[re.Pattern[str]] = re.compile(r"-?\d+")


def _violation(raw: str, schema: Mapping[str, Any]) -> tuple[str, str] | None:
    """What is wrong with the query value ``raw`` under ``schema`` (``(message, code)``), or None: exactly the
    keywords the document states, nothing more."""
    if schema.get("type") == "integer":
        if _INTEGER.fullmatch(raw) is None:
            return "must be an integer", "type"
        digits = raw.lstrip("-").lstrip("0")
        value = int(raw) if len(digits) <= _MAX_INT_DIGITS else (-1 if raw.startswith("-") else 1) * 10**_MAX_INT_DIGITS
        low, high = schema.get("minimum"), schema.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            return f"must be an integer {low}..{high}", "out_of_range"
        return None
    if "enum" in schema and raw not in schema["enum"]:
        return f"must be one of {', '.join(schema['enum'])}", "invalid_choice"
    if len(raw) < schema.get("minLength", 0) or len(raw) > schema.get("maxLength", len(raw)):
        return f"must be {schema.get('minLength', 0)}..{schema.get('maxLength')} characters", "length"
    pattern = schema.get("pattern")
    if pattern is not None and re.search(pattern, raw) is None:
        return f"must match {pattern}", "invalid"
    if not _is_utf8(raw):  # a lone surrogate (from a cloud event's JSON): no store can hold it
        return "must be Unicode text", "invalid"
    return None


def _query_values(request: HttpRequest, spec: RouteSpec) -> dict[str, str]:
    """The route's query parameters, each checked against its documented schema, groups given together.

    Raises:
        ValidationError: naming every parameter that is repeated, violates its schema, or lacks its group.
    """
    errors: list[FieldError] = []
    values: dict[str, str] = {}
    for param in spec.query:
        given = request.query.get(param.name)
        if not given:
            continue
        if len(given) > 1:
            errors.append(FieldError(param.name, "must be given once", "duplicate"))
            continue
        problem = _violation(given[0], param.schema)
        if problem is not None:
            errors.append(FieldError(param.name, *problem))
        else:
            values[param.name] = given[0]
    groups: dict[str, list[str]] = {}
    for param in spec.query:
        if param.group is not None:
            groups.setdefault(param.group, []).append(param.name)
    for members in groups.values():
        present = [n for n in members if n in request.query]
        if present and len(present) < len(members):
            for name in members:
                if name not in present:
                    errors.append(FieldError(name, f"is required with {', '.join(present)}", "required"))
    if errors:
        raise ValidationError("invalid query parameters", errors)
    return values


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _list_query(values: Mapping[str, str]) -> RestaurantQuery:
    """The restaurant query of checked parameters (see :data:`_LIST_QUERY`)."""
    # (imported by the first listing, not with the module: the restaurant port loads the catalog's entities, which
    # a cold start answering GET /health does not need)
    from fooddelivery.ports.restaurants import RestaurantQuery

    near = None
    if "near" in values:
        lat, _, lon = values["near"].partition(",")
        near = GeoPoint(float(Decimal(lat)), float(Decimal(lon)))
    return RestaurantQuery(
        cuisine=values["cuisine"].lower() if "cuisine" in values else None,
        min_rating=Decimal(values["minRating"]) if "minRating" in values else None,
        near=near,
        radius_km=float(Decimal(values["radiusKm"])) if "radiusKm" in values else None,
        limit=int(values.get("limit", "20")),
        cursor=values.get("cursor"),
    )


# -- the API ---------------------------------------------------------------------------------------
class HttpApi:
    """The provider-neutral HTTP API over
    :class:`~fooddelivery.application.services.FoodDeliveryService`.

    Thread-safe: :meth:`handle` keeps no per-request state on the instance.

    Args:
        service: the use cases (``bootstrap().service``), or a function that builds them: called once, on the
            first request that needs them (a cloud entrypoint's cold start answers ``GET /health``,
            ``GET /openapi.json`` and ``OPTIONS`` without building its stores and saga; concurrent first requests
            build once). A failure it raises is the deployment's, never the request's: it is logged and answered
            as a 503 problem naming nothing of it (not the 422 of a setting's ValidationError, not a 500), and the
            next request calls it again.
        authenticator: turns credentials into an actor (``fooddelivery.http.auth``).
        max_body_bytes: largest request body accepted (413 above).
        base_path: prefix of ``Location`` headers (e.g. an API Gateway stage, ``"/prod"``).
        request_ids: makes request ids when the client sends no valid ``X-Request-Id`` (uuid4 hex by
            default).
        title: the OpenAPI ``info.title``.
        version: the OpenAPI ``info.version``.
        health: what ``GET /health`` reports (called per request; keep it cheap), or None for always ``ok``.
    """

    def __init__(
        self,
        service: FoodDeliveryService | Callable[[], FoodDeliveryService],
        authenticator: Authenticator,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        base_path: str = "",
        request_ids: Callable[[], str] | None = None,
        title: str = "fooddelivery",
        version: str = "0.1.0",
        health: Callable[[], HealthReport] | None = None,
    ) -> None:
        self._service: FoodDeliveryService | None = None
        self._build_service: Callable[[], FoodDeliveryService] | None = None
        if callable(service):
            self._build_service = service
        else:
            self._service = service
        self._service_lock = threading.Lock()
        self.health = health
        self.authenticator = authenticator
        self.max_body_bytes = max_body_bytes
        self.base_path = base_path.rstrip("/")
        self.title = title
        self.version = version
        self._request_ids = request_ids or (lambda: uuid.uuid4().hex)
        self._router: Router[tuple[RouteSpec, _Handler]] = Router()
        for spec in ROUTES:
            self._router.add(spec.method, spec.path, (spec, getattr(self, f"_{spec.operation_id}")))
        self._openapi_bytes: bytes | None = None
        self._openapi_lock = threading.Lock()

    @property
    def service(self) -> FoodDeliveryService:
        """The use cases (built on first use when a function to build them was given).

        Raises:
            InfrastructureError: building them failed (whatever the build raised, a setting's ValidationError
                included, is its cause and is logged with its traceback): the deployment's fault, never the
                request's, so a 503 problem that names nothing of it; the next use builds again.
        """
        service = self._service
        if service is None:
            with self._service_lock:
                service = self._service
                if service is None:
                    assert self._build_service is not None  # one of the two is always set
                    try:
                        service = self._service = self._build_service()
                    except Exception as exc:
                        log.error("the use cases could not be built (the next request tries again)", exc_info=exc)
                        raise InfrastructureError(
                            "the use cases could not be built", reason="build_failed", retryable=True
                        ) from exc
        return service

    # -- entry point -------------------------------------------------------------------------------
    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request. Never raises: every failure becomes a problem-details response.

        Returns:
            The response, always with ``X-Request-Id`` (the client's, when valid: 1..128 characters
            of ``[A-Za-z0-9-_.:]``; else a new one) and ``Cache-Control``.
        """
        request_id = self._request_id(request)
        instance = request.path if request.path.isprintable() and len(request.path) <= 2048 else None
        with http_server_span(request.method, request.path, request.headers) as request_span:
            try:
                response = self._dispatch(request, request_id)
            except FoodDeliveryError as exc:
                response = problem_response(exc, request_id, instance)
            except Exception as exc:
                response = internal_error_response(exc, request_id, instance)
            set_http_status(request_span, response.status)
        response.headers[REQUEST_ID_HEADER] = request_id
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def _request_id(self, request: HttpRequest) -> str:
        given = request.header(REQUEST_ID_HEADER)
        if given and len(given) <= 128 and all(c in _REQUEST_ID_CHARS for c in given):
            return given
        return self._request_ids()

    def _dispatch(self, request: HttpRequest, request_id: str) -> HttpResponse:
        if request.method == "OPTIONS":
            allowed = self._router.allowed(request.path)
            if not allowed:
                self._router.match(request.method, request.path)  # raises the 404
            return HttpResponse(204, {"Allow": ", ".join([*allowed, "OPTIONS"])})
        match = self._router.match(request.method, request.path)
        set_http_route(request.method, match.template)
        spec, handler = match.route
        actor = self.authenticator.authenticate(request) if spec.auth else None
        if actor is not None and spec.roles is not None and actor.role not in spec.roles:
            raise NotAllowed(f"a {actor.role.value} may not call {spec.method} {spec.path}")
        for name, value in match.params.items():
            check_id(value, name)
        unknown = [name for name in request.query if name not in spec.query_names]
        if unknown:
            raise WireValidationError(
                f"unknown query parameters: {', '.join(repr(n) for n in unknown[:5])}",
                [FieldError(n or "query", "is not a query parameter of this route", "unknown_field") for n in unknown],
            )
        query = _query_values(request, spec)
        return handler(_Call(request, actor, match.params, request_id, query))

    # -- helpers -----------------------------------------------------------------------------------
    def _body(self, call: _Call, model: type[M]) -> M:
        document = parse_json_object(call.request, self.max_body_bytes)
        from pydantic import ValidationError as PydanticValidationError

        try:
            return model.model_validate(document)
        except PydanticValidationError as exc:
            from fooddelivery.http.models import validation_error

            raise validation_error(exc) from None

    @staticmethod
    def _ok(document: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> HttpResponse:
        return HttpResponse.from_json_bytes(status, wire.dumps(document), headers=headers)

    def _page(self, query: RestaurantQuery, page: Page[Restaurant], fingerprint: str) -> HttpResponse:
        return self._ok(wire.restaurant_page_json(list(page.items), _wrap_cursor(page.next_cursor, fingerprint)))

    def _search(self, call: _Call, query: RestaurantQuery) -> HttpResponse:
        from fooddelivery.ports.restaurants import RestaurantQuery

        fingerprint = _filters_fingerprint(query)
        if query.cursor is not None:
            query = RestaurantQuery(
                query.cuisine,
                query.min_rating,
                query.near,
                query.radius_km,
                query.limit,
                _unwrap_cursor(query.cursor, fingerprint),
            )
        try:
            page = self.service.search_restaurants(call.who, query)
        except ValidationError as exc:
            if query.cursor is not None and _is_cursor_error(exc):  # ours in form, not the store's
                raise _unknown_cursor() from None
            raise
        return self._page(query, page, fingerprint)

    # -- orders ------------------------------------------------------------------------------------
    def _create_order(self, call: _Call) -> HttpResponse:
        from fooddelivery.http.models import PlaceOrderIn

        body = self._body(call, PlaceOrderIn)
        key = call.request.header("Idempotency-Key")
        result = self.service.place_order(call.who, body.to_command(), key)
        order = result.order
        location = f"{self.base_path}/orders/{order.order_id}"
        return self._ok(wire.order_json(order), 201 if result.created else 200, {"Location": location})

    def _list_orders(self, call: _Call) -> HttpResponse:
        q = call.query
        try:
            page = self.service.list_orders(
                call.who,
                status=OrderStatus(q["status"]) if "status" in q else None,
                customer_id=q.get("customerId"),
                restaurant_id=q.get("restaurantId"),
                limit=int(q.get("limit", "20")),
                cursor=q.get("cursor"),
            )
        except ValidationError as exc:
            if "cursor" in q and _is_cursor_error(exc):
                raise _unknown_cursor() from None
            raise
        return self._ok(wire.order_page_json(list(page.items), page.next_cursor))

    def _get_order(self, call: _Call) -> HttpResponse:
        return self._ok(wire.order_json(self.service.get_order(call.who, call.params["orderId"])))

    def _change_order_status(self, call: _Call) -> HttpResponse:
        from fooddelivery.http.models import ChangeStatusIn

        body = self._body(call, ChangeStatusIn)
        order_id = call.params["orderId"]
        actor = call.who
        if body.status is OrderStatus.CONFIRMED:
            # A confirmation is a signal to the waiting saga, from the restaurant or an admin acting for
            # it (service.change_status would move an admin's CONFIRMED past the saga, whose timeout then
            # fails on a CONFIRMED order); called directly so the response says whether it changed anything.
            outcome = self.service.confirm_order(actor, order_id)
            order = self.service.get_order(actor, order_id)
            return self._ok(wire.order_json(order), headers={OUTCOME_HEADER: outcome.value})
        order = self.service.change_status(actor, order_id, body.status, body.reason)
        return self._ok(wire.order_json(order))

    def _reject_order(self, call: _Call) -> HttpResponse:
        from fooddelivery.http.models import RejectOrderIn

        body = self._body(call, RejectOrderIn)
        order_id = call.params["orderId"]
        outcome = self.service.reject_order(call.who, order_id, body.reason or "rejected by the restaurant")
        order = self.service.get_order(call.who, order_id)
        return self._ok(wire.order_json(order), headers={OUTCOME_HEADER: outcome.value})

    # -- restaurants -------------------------------------------------------------------------------
    def _list_restaurants(self, call: _Call) -> HttpResponse:
        return self._search(call, _list_query(call.query))

    def _get_restaurant(self, call: _Call) -> HttpResponse:
        restaurant = self.service.get_restaurant(call.who, call.params["restaurantId"])
        return self._ok(wire.restaurant_detail_json(restaurant))

    def _search_restaurants(self, call: _Call) -> HttpResponse:
        from fooddelivery.http.models import SearchRestaurantsIn
        from fooddelivery.ports.restaurants import RestaurantQuery

        body = self._body(call, SearchRestaurantsIn)
        near = GeoPoint(body.near.lat, body.near.lon) if body.near is not None else None
        query = RestaurantQuery(
            cuisine=body.cuisine.lower() if body.cuisine is not None else None,
            min_rating=body.min_rating,
            near=near,
            radius_km=body.radius_km,
            limit=body.limit,
            cursor=body.cursor,
        )
        return self._search(call, query)

    # -- deliveries --------------------------------------------------------------------------------
    def _assign_driver(self, call: _Call) -> HttpResponse:
        from fooddelivery.http.models import AssignDriverIn

        body = self._body(call, AssignDriverIn)
        return self._ok(wire.order_json(self.service.assign_driver(call.who, body.order_id)))

    def _track_delivery(self, call: _Call) -> HttpResponse:
        return self._ok(wire.tracking_json(self.service.track_delivery(call.who, call.params["orderId"])))

    def _update_location(self, call: _Call) -> HttpResponse:
        from fooddelivery.http.models import LocationIn

        body = self._body(call, LocationIn)
        point = GeoPoint(body.lat, body.lon)
        event = self.service.report_location(call.who, call.params["orderId"], point)
        return self._ok(wire.location_json(event, point))

    # -- meta --------------------------------------------------------------------------------------
    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of this API (built from :data:`ROUTES` and the pydantic
        models)."""
        from fooddelivery.http.openapi import build_openapi

        return build_openapi(ROUTES, title=self.title, version=self.version)

    def _openapi(self, call: _Call) -> HttpResponse:
        with self._openapi_lock:
            if self._openapi_bytes is None:
                self._openapi_bytes = json.dumps(self.openapi(), separators=(",", ":")).encode()
            body = self._openapi_bytes
        return HttpResponse.from_json_bytes(200, body, headers={"Cache-Control": "public, max-age=300"})

    def _health(self, call: _Call) -> HttpResponse:
        report = self.health() if self.health is not None else HealthReport()
        body = wire.health_json(report.ok, report.checks, report.detail)
        return HttpResponse.from_json_bytes(
            200 if report.ok else 503,
            wire.dumps(body),
            headers=None if report.ok else {"Retry-After": "5"},
        )
