"""HTTP parity: one scripted list of requests that every entrypoint must answer alike.

``fooddelivery serve`` (its ASGI app), the AWS Lambda HTTP function (REST and HTTP API events), the Azure HTTP
function and the Cloud Function all translate their platform's requests into the core's
:class:`~fooddelivery.http.HttpApi`. This module holds what makes them comparable:

- :data:`PERSONAS` -- who calls (a customer, another customer, the restaurant, its driver, an admin, nobody); each
  entrypoint turns a persona into its own credentials (a development token for ``serve``, verified authorizer
  claims for API Gateway, ``X-MS-CLIENT-PRINCIPAL`` for Azure...);
- :func:`seed` -- the catalog every deployment starts from;
- :data:`SCRIPT` -- the requests, every route with its successes and its errors, each with the status it must get;
- :func:`serve_baseline` -- the script's answers from ``fooddelivery serve`` (its ASGI app, on SQLite);
- :func:`run_script` -- sends the script through an entrypoint (a :data:`Send` callable), filling the ids and
  listing cursors that earlier answers returned (``{order}``, ``{mine}``), and lets the deployment settle (its queues
  run) after each request;
- :func:`comparable` / :func:`assert_same` -- what must be identical: the status, the headers that matter
  (:data:`COMPARED_HEADERS`) and the body, ids that are random by design, times and listing cursors (opaque,
  each store writes its own position in them: compared by presence) aside.

Orders are placed with an ``Idempotency-Key``, so their ids are derived from (customer, key) and equal across
deployments. A request that starts asynchronous work (placing an order) is marked ``eventual``: its answer is
compared once that work's fields are set aside (on a queue-driven cloud the saga has not run yet when the answer
is sent; in process it has), and the next read, after the deployment settled, compares in full.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from urllib.parse import quote

from fooddelivery.domain.catalog import Driver, DriverStatus, MenuItem, Restaurant
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import Money
from fooddelivery.ports.drivers import DriverRepository
from fooddelivery.ports.restaurants import RestaurantRepository

__all__ = [
    "COMPARED_HEADERS",
    "PERSONAS",
    "SCRIPT",
    "Answer",
    "Exchange",
    "ParityRequest",
    "Persona",
    "Send",
    "asgi_send",
    "assert_same",
    "comparable",
    "dev_token_credentials",
    "run_script",
    "seed",
    "serve_baseline",
]


@dataclass(frozen=True, slots=True)
class Persona:
    """Who calls: a role and its bindings, as every identity provider can express them.

    Attributes:
        role: ``customer``, ``restaurant``, ``driver`` or ``admin``.
        subject: the user's id (the JWT ``sub``).
        restaurant_id: the restaurant a restaurant user works for.
        driver_id: the driver a driver user is.
    """

    role: str
    subject: str
    restaurant_id: str | None = None
    driver_id: str | None = None


#: The callers of the script, by name (None in a request: no credentials).
PERSONAS: Final[Mapping[str, Persona]] = {
    "customer": Persona("customer", "parity-user-1"),
    "other_customer": Persona("customer", "parity-user-2"),
    "restaurant": Persona("restaurant", "parity-owner-1", restaurant_id="rest-parity-1"),
    "driver": Persona("driver", "parity-dana", driver_id="drv-parity-near"),
    "admin": Persona("admin", "parity-ops"),
}

_WHERE: Final[GeoPoint] = GeoPoint(41.8781, -87.6298)  # Chicago: far from every other test catalog


def seed(restaurants: RestaurantRepository, drivers: DriverRepository, now: datetime) -> None:
    """Add the parity catalog: ``rest-parity-1`` (pizza, USD, Pizza 15.99 and Soda 2.99: the reference payload's
    items), ``rest-parity-2`` (sushi), drivers ``drv-parity-near`` 0.5 km from the first, ``drv-parity-mid`` 1 km and
    ``drv-parity-far`` 40 km.

    Raises:
        ConcurrencyConflict: the catalog is already there (seed a fresh store).
    """
    menu = (MenuItem("pizza", "Pizza", Money.of("15.99", "USD")), MenuItem("soda", "Soda", Money.of("2.99", "USD")))
    restaurants.add(
        Restaurant("rest-parity-1", "Luigi's", "pizza", Decimal("4.6"), _WHERE, "USD", Decimal("0.08875"), 15, menu)
    )
    restaurants.add(
        Restaurant(
            "rest-parity-2",
            "Sora",
            "sushi",
            Decimal("4.8"),
            GeoPoint(_WHERE.lat, _WHERE.lon + 0.02),
            "USD",
            Decimal("0.08875"),
            25,
            (MenuItem("nigiri", "Nigiri", Money.of("12.00", "USD")),),
        )
    )
    near = GeoPoint(_WHERE.lat + 0.0045, _WHERE.lon)
    mid = GeoPoint(_WHERE.lat + 0.009, _WHERE.lon)
    far = GeoPoint(_WHERE.lat + 0.36, _WHERE.lon)
    drivers.add(Driver("drv-parity-near", "Dana", DriverStatus.AVAILABLE, near, "bicycle", now))
    drivers.add(Driver("drv-parity-mid", "Mo", DriverStatus.AVAILABLE, mid, "scooter", now))
    drivers.add(Driver("drv-parity-far", "Femi", DriverStatus.AVAILABLE, far, "car", now))


@dataclass(frozen=True, slots=True)
class ParityRequest:
    """One request of the script.

    Attributes:
        name: what it checks, in words (also the key of a mismatch report).
        method: the HTTP method.
        path: the path; ``{name}`` is replaced by the id an earlier request saved under ``name``.
        persona: a key of :data:`PERSONAS`, or None for no credentials.
        status: the status it must get.
        body: the raw body (sent with ``Content-Type: application/json`` unless ``headers`` names another).
        headers: extra request headers.
        query: the raw query string.
        save: remember the answer's ``orderId`` under this name.
        save_cursor: remember the answer's ``nextCursor`` (a listing's) under this name; a later ``{name}`` in the
            path, body or query is replaced by it.
        eventual: the answer shows asynchronous work in progress: compare it without those fields.
        own_words: the problem's ``detail`` is in the platform's own words (which credential it expected): compare
            the rest of the problem only.
        own_fields: top-level body fields whose content is each deployment's own (``GET /health``'s ``checks``:
            ``serve`` reports its database and worker, a function app has neither): compared by presence only.
    """

    name: str
    method: str
    path: str
    persona: str | None
    status: int
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    query: str = ""
    save: str | None = None
    save_cursor: str | None = None
    eventual: bool = False
    own_words: bool = False
    own_fields: frozenset[str] = frozenset()


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


#: The reference design's load-test payload (a JSON number for each price, a text address), for ``rest-parity-1``.
REFERENCE_ORDER: Final[bytes] = _json(
    {
        "userId": "parity-user-1",
        "restaurantId": "rest-parity-1",
        "items": [{"name": "Pizza", "price": 15.99, "quantity": 1}, {"name": "Soda", "price": 2.99, "quantity": 2}],
        "deliveryAddress": "123 Main St",
        "paymentMethod": "card",
    }
)
_OTHER_BODY: Final[bytes] = REFERENCE_ORDER.replace(b'"quantity": 1}', b'"quantity": 3}')
_ADDRESS_WITH_COORDINATES: Final[bytes] = REFERENCE_ORDER.replace(
    b'"deliveryAddress": "123 Main St"',
    b'"deliveryAddress": {"text": "233 S Wacker Dr", "lat": 41.8789, "lon": -87.6359}',
)

_P = ParityRequest
#: The script: every route, its successes and its errors, in an order that builds on itself.
SCRIPT: Final[tuple[ParityRequest, ...]] = (
    _P("liveness", "GET", "/health", None, 200, own_fields=frozenset({"checks"})),
    _P("list restaurants", "GET", "/restaurants", "customer", 200),
    _P("filter restaurants", "GET", "/restaurants", "customer", 200, query="cuisine=pizza&minRating=4.5"),
    _P("a bad filter", "GET", "/restaurants", "customer", 422, query="minRating=six"),
    _P("near without a radius", "GET", "/restaurants", "customer", 422, query="near=41.87,-87.62"),
    _P("read a restaurant", "GET", "/restaurants/rest-parity-1", "customer", 200),
    _P("an unknown restaurant", "GET", "/restaurants/rest-nowhere", "customer", 404),
    _P("search restaurants", "POST", "/restaurants/search", "customer", 200, body=_json({"cuisine": "sushi"})),
    _P("search with broken JSON", "POST", "/restaurants/search", "customer", 400, body=b'{"cuisine": '),
    _P("place without credentials", "POST", "/orders", None, 401, body=REFERENCE_ORDER, own_words=True),
    _P("place as a restaurant", "POST", "/orders", "restaurant", 403, body=REFERENCE_ORDER),
    _P("place with an empty body", "POST", "/orders", "customer", 400, body=b""),
    # well-formed JSON of the wrong type: 422 (the body parses, its content is invalid), never 500
    _P("place with a JSON string", "POST", "/orders", "customer", 422, body=b'"an order"'),
    _P("place with truncated JSON", "POST", "/orders", "customer", 400, body=REFERENCE_ORDER[:40]),
    _P("place as text/plain", "POST", "/orders", "customer", 415, body=REFERENCE_ORDER,
       headers={"Content-Type": "text/plain"}),
    _P("place zero pizzas", "POST", "/orders", "customer", 422,
       body=REFERENCE_ORDER.replace(b'"quantity": 1}', b'"quantity": 0}')),
    _P("place at a stale price", "POST", "/orders", "customer", 409,
       body=REFERENCE_ORDER.replace(b"15.99", b"14.99")),
    _P("place for another customer", "POST", "/orders", "customer", 403,
       body=REFERENCE_ORDER.replace(b'"parity-user-1"', b'"parity-user-2"')),
    _P("place at an unknown restaurant", "POST", "/orders", "customer", 404,
       body=REFERENCE_ORDER.replace(b'"rest-parity-1"', b'"rest-nowhere"')),
    _P("place the reference order", "POST", "/orders", "customer", 201, body=_ADDRESS_WITH_COORDINATES,
       headers={"Idempotency-Key": "parity-checkout-1"}, save="order", eventual=True),
    _P("place it again with the same key", "POST", "/orders", "customer", 200, body=_ADDRESS_WITH_COORDINATES,
       headers={"Idempotency-Key": "parity-checkout-1"}),
    _P("reuse the key for another body", "POST", "/orders", "customer", 422, body=_OTHER_BODY,
       headers={"Idempotency-Key": "parity-checkout-1"}),
    _P("read the order", "GET", "/orders/{order}", "customer", 200),
    _P("read it as another customer", "GET", "/orders/{order}", "other_customer", 404),
    _P("read it without credentials", "GET", "/orders/{order}", None, 401, own_words=True),
    _P("read it as its restaurant", "GET", "/orders/{order}", "restaurant", 200),
    _P("read an unknown order", "GET", "/orders/ord-nowhere", "admin", 404),
    _P("confirm as the customer", "PUT", "/orders/{order}", "customer", 403, body=_json({"status": "CONFIRMED"})),
    _P("confirm as the restaurant", "PUT", "/orders/{order}", "restaurant", 200, body=_json({"status": "CONFIRMED"})),
    _P("confirm again", "PUT", "/orders/{order}", "restaurant", 200, body=_json({"status": "CONFIRMED"})),
    _P("an unknown status", "PUT", "/orders/{order}", "restaurant", 422, body=_json({"status": "EATEN"})),
    _P("start preparing", "PUT", "/orders/{order}", "restaurant", 200, body=_json({"status": "PREPARING"})),
    _P("deliver before pickup", "PUT", "/orders/{order}", "driver", 409, body=_json({"status": "DELIVERED"})),
    _P("assign a second driver", "POST", "/deliveries/assign", "restaurant", 409, body=_json({"orderId": "{order}"})),
    _P("report a position", "PUT", "/deliveries/{order}/location", "driver", 200,
       body=_json({"lat": 41.8785, "lon": -87.6310})),
    _P("report it as the customer", "PUT", "/deliveries/{order}/location", "customer", 403,
       body=_json({"lat": 41.8785, "lon": -87.6310})),
    _P("report an impossible latitude", "PUT", "/deliveries/{order}/location", "driver", 422,
       body=_json({"lat": 91, "lon": -87.6310})),
    _P("track the delivery", "GET", "/deliveries/{order}/track", "customer", 200),
    _P("place a second order", "POST", "/orders", "customer", 201, body=REFERENCE_ORDER,
       headers={"Idempotency-Key": "parity-checkout-2"}, save="second", eventual=True),
    _P("reject it", "POST", "/orders/{second}/reject", "restaurant", 200, body=_json({"reason": "out of dough"})),
    _P("read the rejected order", "GET", "/orders/{second}", "customer", 200),
    _P("cancel the rejected order", "PUT", "/orders/{second}", "customer", 409,
       body=_json({"status": "CANCELLED", "reason": "too late"})),
    _P("another customer places an order", "POST", "/orders", "other_customer", 201,
       body=REFERENCE_ORDER.replace(b'"parity-user-1"', b'"parity-user-2"'),
       headers={"Idempotency-Key": "parity-checkout-3"}, save="third", eventual=True),
    # GET /orders: the customer has two orders (the first in preparation, the second rejected), the other customer
    # one waiting for the restaurant's confirmation
    _P("list my orders", "GET", "/orders", "customer", 200),
    _P("list my orders one at a time", "GET", "/orders", "customer", 200, query="limit=1", save_cursor="mine"),
    _P("the next page of my orders", "GET", "/orders", "customer", 200, query="limit=1&cursor={mine}"),
    _P("my orders from a pizza restaurant", "GET", "/orders", "customer", 200, query="restaurantId=rest-parity-1"),
    _P("another customer's orders", "GET", "/orders", "customer", 403, query="customerId=parity-user-2"),
    _P("the restaurant's orders, newest first", "GET", "/orders", "restaurant", 200),
    _P("the restaurant's orders two at a time", "GET", "/orders", "restaurant", 200, query="limit=2",
       save_cursor="kitchen"),
    _P("the restaurant's next page", "GET", "/orders", "restaurant", 200, query="limit=2&cursor={kitchen}"),
    _P("the restaurant's orders in preparation", "GET", "/orders", "restaurant", 200, query="status=PREPARING"),
    _P("the restaurant's orders to confirm", "GET", "/orders", "restaurant", 200, query="status=PENDING&limit=5"),
    _P("another restaurant's orders", "GET", "/orders", "restaurant", 403, query="restaurantId=rest-parity-2"),
    _P("an admin lists a customer's orders", "GET", "/orders", "admin", 200, query="customerId=parity-user-1"),
    _P("an admin lists a restaurant's failed orders", "GET", "/orders", "admin", 200,
       query="restaurantId=rest-parity-1&status=FAILED"),
    _P("an admin lists every order", "GET", "/orders", "admin", 422),
    _P("a driver lists orders", "GET", "/orders", "driver", 403),
    _P("an unknown status filter", "GET", "/orders", "restaurant", 422, query="status=EATEN"),
    _P("a page of a thousand", "GET", "/orders", "customer", 422, query="limit=1000"),
    _P("a cursor no listing issued", "GET", "/orders", "customer", 404, query="cursor=bm90LWEtY3Vyc29y"),
    _P("my cursor in another listing", "GET", "/orders", "admin", 404,
       query="customerId=parity-user-1&limit=1&cursor={mine}"),
    _P("a method the resource lacks", "DELETE", "/orders/{order}", "customer", 405),
    _P("a path with no resource", "GET", "/nowhere", "customer", 404),
)

#: The response headers that must be equal (case-insensitive names; ``Location`` relative to the base path).
COMPARED_HEADERS: Final[tuple[str, ...]] = (
    "content-type",
    "location",
    "allow",
    "signal-outcome",
    "cache-control",
    "www-authenticate",
    "retry-after",
)
#: Body fields whose values are times, random ids or the clock's progress: compared by presence only.
_VOLATILE: Final[frozenset[str]] = frozenset(
    {
        "createdAt",
        "updatedAt",
        "requestId",
        "eventId",
        "recordedAt",
        "driverLastSeen",
        "eta",
        "minutesRemaining",
        "nextCursor",
    }
)
#: Fields that show the saga's progress, set aside in an ``eventual`` answer.
_PROGRESS: Final[frozenset[str]] = frozenset({"status", "paymentStatus", "driverId", "version", "statusTimes"})
_TIME: Final[re.Pattern[str]] = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


@dataclass(frozen=True, slots=True)
class Answer:
    """An entrypoint's answer, as the platform's client would see it.

    Attributes:
        status: the HTTP status.
        headers: the response headers (any case; ``Location`` as a path relative to the deployment's base path).
        body: the raw body.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes


#: Sends one request through an entrypoint: ``(method, path, query, headers, body, persona or None) -> Answer``.
Send = Callable[[str, str, str, Mapping[str, str], bytes | None, Persona | None], Answer]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request of the script and what came back."""

    request: ParityRequest
    answer: Answer


def run_script(
    send: Send, *, settle: Callable[[], object] = lambda: None, script: Sequence[ParityRequest] = SCRIPT
) -> list[Exchange]:
    """Send every request of ``script`` through ``send``, in order, calling ``settle`` after each.

    Raises:
        AssertionError: a request got another status than the script says (the message names it and shows the
            body), or a saved id or cursor is missing.
    """
    saved: dict[str, str] = {}
    exchanges: list[Exchange] = []
    for request in script:
        path = _fill(request.path, saved)
        body = None if request.body is None else _fill(request.body.decode(), saved).encode()
        query = _fill(request.query, saved)
        headers = dict(request.headers)
        if body is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        persona = None if request.persona is None else PERSONAS[request.persona]
        answer = send(request.method, path, query, headers, body, persona)
        assert answer.status == request.status, (
            f"{request.name}: {request.method} {path} answered {answer.status}, not {request.status}: "
            f"{answer.body[:500]!r}"
        )
        if request.save is not None:
            saved[request.save] = str(json.loads(answer.body)["orderId"])
        if request.save_cursor is not None:
            cursor = json.loads(answer.body).get("nextCursor")
            assert isinstance(cursor, str) and cursor, f"{request.name}: no nextCursor in {answer.body[:500]!r}"
            saved[request.save_cursor] = quote(cursor, safe="")
        exchanges.append(Exchange(request, answer))
        settle()
    return exchanges


def _fill(text: str, saved: Mapping[str, str]) -> str:
    for name, value in saved.items():
        text = text.replace("{" + name + "}", value)
    return text


def comparable(exchange: Exchange) -> dict[str, Any]:
    """What must be equal between entrypoints for one exchange (see the module docstring)."""
    answer = exchange.answer
    headers = {k.lower(): v for k, v in answer.headers.items()}
    try:
        body: Any = json.loads(answer.body) if answer.body else None
    except ValueError:
        body = answer.body.decode("utf-8", errors="replace")
    out: dict[str, Any] = {
        "status": answer.status,
        "headers": {name: headers.get(name) for name in COMPARED_HEADERS},
        "body": _mask(body, eventual=exchange.request.eventual, own_words=exchange.request.own_words),
    }
    if isinstance(body, dict):
        for name in exchange.request.own_fields:
            if name in body:
                out["body"][name] = "<set>" if body[name] is not None else None
    return out


def _mask(value: Any, *, eventual: bool, own_words: bool = False) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if eventual and key in _PROGRESS:
                out[key] = "<in progress>"
            elif key in _VOLATILE or (own_words and key == "detail"):
                out[key] = "<set>" if item is not None else None
            else:
                out[key] = _mask(item, eventual=eventual)
        return out
    if isinstance(value, list):
        return [_mask(item, eventual=eventual) for item in value]
    if isinstance(value, str) and _TIME.match(value):
        return "<time>"
    return value


def assert_same(expected: Iterable[Exchange], actual: Iterable[Exchange], *, label: str = "entrypoint") -> None:
    """Assert both runs answered every request alike (see :func:`comparable`).

    Raises:
        AssertionError: naming every request whose answers differ, with both sides.
    """
    differences = []
    for left, right in zip(expected, actual, strict=True):
        a, b = comparable(left), comparable(right)
        if a != b:
            differences.append(f"- {left.request.name}:\n    expected {a}\n    {label} {b}")
    assert not differences, f"{len(differences)} answers differ:\n" + "\n".join(differences)


# -- the baseline: `fooddelivery serve`'s ASGI app ----------------------------------------------------------------
def asgi_send(app: Any, credentials: Callable[[Persona], Mapping[str, str]]) -> Send:
    """A :data:`Send` through an ASGI 3 application (``fooddelivery serve``'s ``LocalServer.app``), in process.

    Args:
        app: the ASGI application.
        credentials: the request headers that authenticate a persona (for ``serve``: a development token in
            ``Authorization``; see :func:`dev_token_credentials`).
    """
    import asyncio

    def send(
        method: str, path: str, query: str, headers: Mapping[str, str], body: bytes | None, persona: Persona | None
    ) -> Answer:
        all_headers = {**(credentials(persona) if persona is not None else {}), **headers}
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in all_headers.items()]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "headers": raw,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        messages = [{"type": "http.request", "body": body or b"", "more_body": False}]
        sent: list[Mapping[str, Any]] = []

        async def receive() -> Mapping[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def collect(message: Mapping[str, Any]) -> None:
            sent.append(message)

        asyncio.run(app(scope, receive, collect))
        start = next(m for m in sent if m["type"] == "http.response.start")
        payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        answer_headers = {bytes(k).decode("latin-1"): bytes(v).decode("latin-1") for k, v in start["headers"]}
        return Answer(int(start["status"]), answer_headers, payload)

    return send


def dev_token_credentials(secret: str) -> Callable[[Persona], Mapping[str, str]]:
    """``Authorization: Bearer <development token>`` for a persona (what ``fooddelivery token`` prints)."""
    from fooddelivery.http.auth import issue_dev_token

    def credentials(persona: Persona) -> Mapping[str, str]:
        token = issue_dev_token(
            persona.role, persona.subject, persona.restaurant_id, persona.driver_id, secret=secret
        )
        return {"Authorization": f"Bearer {token}"}

    return credentials


def serve_baseline(db: Any, secret: str = "parity-development-secret-0123456789abcdef") -> list[Exchange]:
    """The script's answers from ``fooddelivery serve`` (its ASGI app on a fresh SQLite file ``db``, the parity
    catalog seeded): the baseline every cloud entrypoint is compared with (:func:`assert_same`).

    Args:
        db: a path for the database file (it must not hold the catalog yet).
        secret: the development token secret of the server.
    """
    from datetime import UTC
    from datetime import datetime as _datetime

    from fooddelivery.bootstrap import Settings
    from fooddelivery.http.auth import DevAuthenticator
    from fooddelivery.server.app import LocalServer

    server = LocalServer(db, settings=Settings(), authenticator=DevAuthenticator(secret))
    try:
        seed(server.adapters.restaurants, server.adapters.drivers, _datetime.now(UTC))
        server.recover()
        return run_script(asgi_send(server.app, dev_token_credentials(secret)))
    finally:
        server.close()
