"""The package's Cloud Functions served by functions-framework (one server per function, as deployed), over HTTP,
against the Firestore and Pub/Sub emulators:

- every route of the HTTP API, and the bad-input list (400/422, never 500);
- the journey: ``POST /orders`` with the reference payload -> Firestore (order + outbox, one commit) -> published
  after commit -> the runtime topic -> the emulator's push subscription -> the ``runtime_event`` function (raw
  Pub/Sub push converted to a CloudEvent by functions-framework) -> the saga (payment, driver, notifications) ->
  the restaurant's confirmation -> CONFIRMED;
- a restaurant that never answers: the saga's timeout task (recorded by the Cloud Tasks stand-in, as built by the
  adapter) delivered to ``saga_timer`` with an OIDC token -> FAILED, refunded once; a wrong token -> 401;
- the outbox sweep publishes what a caller could not.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.domain.catalog import Driver, DriverStatus, MenuItem, Restaurant
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import Money
from fooddelivery.http.auth import issue_dev_token
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery_gcp.firestore import (
    FirestoreDriverRepository,
    FirestoreRestaurantRepository,
    FirestoreSagaStateStore,
)
from fooddelivery_gcp.tasks import task_id
from gcp_stack import (
    SCHEDULER_SA,
    TASKS_SA,
    FunctionServer,
    OidcKeys,
    PubSubAdmin,
    TasksStandIn,
    call,
    function_env,
    task_body,
)

#: The reference load test's order payload, as is (floats and all).
REFERENCE_PAYLOAD = (
    b'{"userId": "user-1", "restaurantId": "rest-0", "items": [{"name": "Pizza", "price": 15.99, "quantity": 1},'
    b' {"name": "Soda", "price": 2.99, "quantity": 2}], "deliveryAddress": "123 Main St", "paymentMethod": "card"}'
)
NYC = GeoPoint(40.7128, -74.0060)


class Deployment:
    """One test deployment: its topics and collections, the functions, the stand-ins."""

    def __init__(self, firestore_client: Any, tmp: Path) -> None:
        self.prefix = f"e{uuid.uuid4().hex[:10]}_"
        self.keys = OidcKeys(tmp)
        self.tasks = TasksStandIn()
        self.admin = PubSubAdmin()
        self.env = function_env(
            self.admin,
            self.prefix,
            self.keys,
            self.tasks,
            FOODDELIVERY_PAYMENT_GATEWAY="gcp_payments:shared_gateway",
            TEST_PAYMENTS_DB=str(tmp / "payments.db"),
            PYTHONPATH=str(Path(__file__).resolve().parents[1]),
        )
        self.order_events = self.admin.subscribe(self.env["ORDER_EVENTS_TOPIC"])
        self.dead_letters = self.admin.subscribe(self.env["DEAD_LETTER_TOPIC"])
        self.servers: list[FunctionServer] = []
        try:
            self._start(firestore_client)
        except BaseException:
            self.close()
            raise

    def _start(self, firestore_client: Any) -> None:
        self.http = self._serve("http_api")
        self.runtime = self._serve("runtime_event")
        self.timer = self._serve("saga_timer")
        self.sweep = self._serve("outbox_sweep")
        self.admin.subscribe(self.env["RUNTIME_TOPIC"], push=self.runtime.url + "/")
        self.restaurants = FirestoreRestaurantRepository(firestore_client, prefix=self.prefix)
        self.drivers = FirestoreDriverRepository(firestore_client, prefix=self.prefix)
        self.sagas = FirestoreSagaStateStore(firestore_client, prefix=self.prefix)
        self.restaurants.add(
            Restaurant(
                "rest-0",
                "Luigi's",
                "pizza",
                Decimal("4.6"),
                NYC,
                "USD",
                Decimal("0.08875"),
                15,
                (
                    MenuItem("pizza", "Pizza", Money.of("15.99", "USD")),
                    MenuItem("soda", "Soda", Money.of("2.99", "USD")),
                ),
            )
        )
        now = datetime.now(UTC)
        for i in range(3):
            self.drivers.add(
                Driver(
                    f"drv-{i}",
                    f"Dana {i}",
                    DriverStatus.AVAILABLE,
                    GeoPoint(40.715 + 0.001 * i, -74.002),
                    "scooter",
                    now,
                )
            )

    def _serve(self, target: str) -> FunctionServer:
        server = FunctionServer(target, self.env)
        self.servers.append(server)
        return server

    def token(self, role: str, sub: str, **binding: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_dev_token(role, sub, **binding)}"}

    def api(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> tuple[int, dict[str, str], Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        status, out_headers, out = call(method, self.http.url + path, data, hdrs)
        try:
            parsed = json.loads(out) if out else None
        except ValueError:
            parsed = out
        return status, out_headers, parsed

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        self.tasks.stop()
        self.admin.close()


@pytest.fixture(scope="module")
def deployment(
    firestore_client: Any, pubsub_host: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    d = Deployment(firestore_client, tmp_path_factory.mktemp("gcp-deploy"))
    try:
        yield d
    finally:
        d.close()


def customer(d: Deployment, sub: str = "user-1") -> dict[str, str]:
    return d.token("customer", sub)


def restaurant(d: Deployment) -> dict[str, str]:
    return d.token("restaurant", "owner-0", restaurant_id="rest-0")


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def place(d: Deployment, sub: str = "user-1", key: str | None = None) -> dict[str, Any]:
    headers = customer(d, sub)
    if key:
        headers["Idempotency-Key"] = key
    body = json.loads(REFERENCE_PAYLOAD)
    body["userId"] = sub
    status, headers_out, created = d.api("POST", "/orders", body, headers)
    assert status == 201, created
    assert headers_out["Location"] == f"/orders/{created['orderId']}"
    return dict(created)


def paid_and_assigned(d: Deployment, order_id: str, sub: str = "user-1") -> dict[str, Any]:
    def ready() -> Any:
        status, _, order = d.api("GET", f"/orders/{order_id}", headers=customer(d, sub))
        assert status == 200
        return order if order.get("paymentStatus") == "CAPTURED" and order.get("driverId") else None

    order = dict(wait_for(ready, what=f"order {order_id} paid and assigned"))
    wait_for(lambda: d.sagas.get(order_id).status is SagaStatus.WAITING, what=f"saga {order_id} waiting")
    return order


# -- the journey --------------------------------------------------------------------------------------------------
def test_an_order_placed_over_http_is_paid_assigned_and_confirmed_through_pubsub_and_the_saga(
    deployment: Deployment,
) -> None:
    d = deployment
    created = place(d, key=f"checkout-{uuid.uuid4().hex[:6]}")
    assert created["status"] == "PENDING" and created["pricing"]["subtotal"] == "21.97"
    order = paid_and_assigned(d, created["orderId"])
    assert order["driverId"] == "drv-0"
    status, headers, body = d.api("PUT", f"/orders/{created['orderId']}", {"status": "CONFIRMED"}, restaurant(d))
    assert status == 200, body
    assert headers.get("Signal-Outcome") == "ACCEPTED"
    status, _, order = d.api("GET", f"/orders/{created['orderId']}", headers=customer(d))
    assert order["status"] == "CONFIRMED"
    mine: list[Any] = []
    wanted = {"OrderPlaced", "PaymentCaptured", "DriverAssigned", "RestaurantNotified", "OrderStatusChanged"}

    def all_published() -> bool:
        mine.extend(m for m in d.admin.pull(d.order_events, timeout=2) if m.attributes["orderId"] == created["orderId"])
        return wanted <= {m.attributes["eventType"] for m in mine}

    wait_for(all_published, what="the order's events on order-events")
    # one order's events keep their order per publisher; the runtime's own events may overtake the placement on
    # order-events (it reacts to OrderPlaced on the runtime topic), so consumers order by orderVersion
    versions = {m.attributes["eventType"]: int(m.attributes["orderVersion"]) for m in mine}
    assert versions["OrderPlaced"] == 1 and versions["PaymentCaptured"] > 1
    assert all(m.ordering_key == created["orderId"] and m.attributes["schemaVersion"] == "1" for m in mine)
    first = json.loads(mine[0].data)
    assert first["type"] == "com.fooddelivery.OrderPlaced" and first["subject"] == created["orderId"]


# -- every route --------------------------------------------------------------------------------------------------
def test_every_route_answers_through_the_http_function(deployment: Deployment) -> None:
    d = deployment
    assert d.api("GET", "/health")[0] == 200
    status, _, spec = d.api("GET", "/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.1")
    status, _, listing = d.api("GET", "/restaurants?cuisine=pizza", headers=customer(d))
    assert status == 200 and [r["restaurantId"] for r in listing["items"]] == ["rest-0"]
    status, _, one = d.api("GET", "/restaurants/rest-0", headers=customer(d))
    assert status == 200 and one["name"] == "Luigi's"
    near = {"near": {"lat": 40.7128, "lon": -74.0060}, "radiusKm": 5, "cuisine": "pizza"}
    status, _, found = d.api("POST", "/restaurants/search", near, customer(d))
    assert status == 200 and [r["restaurantId"] for r in found["items"]] == ["rest-0"], found
    order_id = place(d, sub="user-2")["orderId"]
    order = paid_and_assigned(d, order_id, sub="user-2")
    status, _, body = d.api("POST", "/deliveries/assign", {"orderId": order_id}, restaurant(d))
    assert status == 409 and body["status"] == 409
    driver = d.token("driver", "courier-1", driver_id=order["driverId"])
    status, _, body = d.api("PUT", f"/deliveries/{order_id}/location", {"lat": 40.7130, "lon": -74.0050}, driver)
    assert status == 200, body
    status, _, track = d.api("GET", f"/deliveries/{order_id}/track", headers=customer(d, "user-2"))
    assert status == 200 and track["orderId"] == order_id
    status, _, rejected = d.api("POST", f"/orders/{order_id}/reject", {"reason": "closed"}, restaurant(d))
    assert status == 200, rejected
    status, _, after = d.api("GET", f"/orders/{order_id}", headers=customer(d, "user-2"))
    assert after["status"] == "FAILED" and after["paymentStatus"] == "REFUNDED"
    assert d.api("GET", "/nowhere")[0] == 404
    assert d.api("GET", "/orders/ord-unknown", headers=customer(d))[0] == 404
    assert d.api("GET", "/orders/ord-unknown")[0] == 401


@pytest.mark.parametrize(
    ("name", "raw", "status"),
    [
        ("empty body", b"", 400),
        ("a JSON string instead of an object", b'"order"', 422),
        ("truncated JSON", REFERENCE_PAYLOAD[:-20], 400),
        ("not JSON", b"restaurantId=rest-0", 400),
        ("a JSON array", b"[1, 2]", 422),
        ("not UTF-8", b'{"restaurantId": "\xff\xfe"}', 400),
    ],
)
def test_bad_input_is_a_problem_response_never_a_500(
    deployment: Deployment, name: str, raw: bytes, status: int
) -> None:
    got, headers, body = deployment.api("POST", "/orders", raw=raw, headers=customer(deployment))
    assert got == status, (name, body)
    assert headers["Content-Type"].startswith("application/problem+json")
    assert body["status"] == status


# -- timers (Cloud Tasks) ---------------------------------------------------------------------------------------
def test_a_restaurant_that_never_answers_fails_with_one_refund_when_its_timeout_task_arrives(
    deployment: Deployment,
) -> None:
    d = deployment
    order_id = place(d, sub="user-3")["orderId"]
    paid_and_assigned(d, order_id, sub="user-3")
    message_id = f"{order_id}:WaitForRestaurantConfirmation:timeout"
    name = f"{d.env['TASKS_QUEUE']}/tasks/{task_id(message_id)}"
    task = wait_for(lambda: d.tasks.tasks.get(name), what="the timeout task")
    assert task["httpRequest"]["url"] == d.env["TIMER_URL"]
    assert task["httpRequest"]["oidcToken"] == {"serviceAccountEmail": TASKS_SA, "audience": d.env["TIMER_URL"]}
    timer = json.loads(task_body(task))
    assert timer["messageType"] == "fooddelivery.saga.timer" and timer["body"]["sagaId"] == order_id
    due = datetime.fromisoformat(task["scheduleTime"].replace("Z", "+00:00"))
    assert due == datetime.fromisoformat(timer["dueAt"])
    # a call without Google's token is refused, and changes nothing
    status, _, _ = call("POST", d.timer.url + "/", task_body(task), {"Content-Type": "application/json"})
    assert status == 401
    forged = d.keys.token(d.env["TIMER_URL"], "someone@evil.example")
    status, _, _ = call("POST", d.timer.url + "/", task_body(task), {"Authorization": f"Bearer {forged}"})
    assert status == 401
    # Cloud Tasks delivers it (twice: at-least-once)
    token = d.keys.token(d.env["TIMER_URL"], TASKS_SA)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for _ in range(2):
        status, _, body = call("POST", d.timer.url + "/", task_body(task), headers)
        assert status == 204, body
    status, _, order = d.api("GET", f"/orders/{order_id}", headers=customer(d, "user-3"))
    assert (order["status"], order["paymentStatus"], order["failureReason"]) == (
        "FAILED",
        "REFUNDED",
        "restaurant_timeout",
    )


def test_a_timer_body_that_can_never_be_handled_is_dead_lettered_with_its_reason(deployment: Deployment) -> None:
    d = deployment
    token = d.keys.token(d.env["TIMER_URL"], TASKS_SA)
    status, _, _ = call("POST", d.timer.url + "/", b"{not json", {"Authorization": f"Bearer {token}"})
    assert status == 204
    letters = d.admin.pull(d.dead_letters, at_least=1)
    assert any(m.data == b"{not json" and m.attributes["deadLetterSource"] == "saga_timer" for m in letters)


# -- the sweep ----------------------------------------------------------------------------------------------------
def test_the_sweep_needs_the_schedulers_token_and_publishes_nothing_young(deployment: Deployment) -> None:
    d = deployment
    assert call("POST", d.sweep.url + "/")[0] == 401
    token = d.keys.token(d.env["SWEEP_URL"], SCHEDULER_SA)
    status, _, body = call("POST", d.sweep.url + "/", b"", {"Authorization": f"Bearer {token}"})
    assert status == 200 and json.loads(body) == {"published": 0}


def test_the_schedule_time_of_a_timer_is_its_due_time(deployment: Deployment) -> None:
    # every timer recorded so far carries a schedule time equal to its body's due time, within 30 days
    d = deployment
    assert d.tasks.created, "no timer was scheduled"
    for task in d.tasks.created:
        due = datetime.fromisoformat(json.loads(task_body(task))["dueAt"])
        scheduled = datetime.fromisoformat(task["scheduleTime"].replace("Z", "+00:00"))
        assert scheduled == due and scheduled - datetime.now(UTC) < timedelta(days=30)


# -- the runtime function: CloudEvents in both modes, acks, nacks and dead letters --------------------------------
def _pubsub_data(body: bytes | str, attributes: dict[str, str] | None = None) -> dict[str, Any]:
    import base64

    raw = body if isinstance(body, str) else base64.b64encode(body).decode()
    return {
        "message": {
            "data": raw,
            "attributes": attributes or {},
            "messageId": uuid.uuid4().hex,
            "publishTime": "2026-12-06T10:00:00Z",
        },
        "subscription": "projects/fooddelivery-test/subscriptions/runtime",
    }


def _binary(d: Deployment, data: dict[str, Any]) -> int:
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": "//pubsub.googleapis.com/projects/fooddelivery-test/topics/runtime",
        "ce-id": uuid.uuid4().hex,
    }
    return call("POST", d.runtime.url + "/", json.dumps(data).encode(), headers)[0]


def _structured(d: Deployment, data: dict[str, Any]) -> int:
    event = {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/projects/fooddelivery-test/topics/runtime",
        "id": uuid.uuid4().hex,
        "datacontenttype": "application/json",
        "data": data,
    }
    headers = {"Content-Type": "application/cloudevents+json"}
    return call("POST", d.runtime.url + "/", json.dumps(event).encode(), headers)[0]


def _event_body(event_type: str, order_id: str, payload: dict[str, Any]) -> bytes:
    from fooddelivery.application.envelope import to_json
    from fooddelivery.domain.events import DomainEvent, EventType

    return to_json(DomainEvent(uuid.uuid4().hex, EventType(event_type), datetime.now(UTC), order_id, 2, payload))


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_a_runtime_message_in_either_cloudevents_mode_is_acked_when_handled(deployment: Deployment, mode: str) -> None:
    send = _binary if mode == "binary" else _structured
    body = _event_body("DeliveryLocationUpdated", "ord-anything", {"lat": "40.7"})  # no reaction: acked
    assert send(deployment, _pubsub_data(body)) == 200


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_a_runtime_message_that_fails_for_now_is_nacked(deployment: Deployment, mode: str) -> None:
    send = _binary if mode == "binary" else _structured
    body = _event_body("OrderStatusChanged", f"ord-missing-{mode}", {"to": "DELIVERED"})  # the order is unknown
    assert send(deployment, _pubsub_data(body)) == 500


@pytest.mark.parametrize(
    ("mode", "data", "reason"),
    [
        ("binary", _pubsub_data(b"not json at all"), "not JSON"),
        ("structured", _pubsub_data("%%% not base64 %%%"), "is not base64"),
        ("binary", _pubsub_data(b'{"messageType": "something.else"}'), "neither a CloudEvent"),
        ("structured", _pubsub_data(b'["a", "list"]'), "not a JSON object"),
    ],
    ids=["not-json", "not-base64", "unknown-shape", "not-an-object"],
)
def test_a_message_that_can_never_be_handled_goes_to_the_dead_letter_topic_with_its_reason(
    deployment: Deployment, mode: str, data: dict[str, Any], reason: str
) -> None:
    d = deployment
    send = _binary if mode == "binary" else _structured
    marker = uuid.uuid4().hex
    data["message"]["attributes"] = {"marker": marker}
    assert send(d, data) == 200  # acked: retrying could never succeed
    letters = wait_for(
        lambda: [m for m in d.admin.pull(d.dead_letters, timeout=2) if m.attributes.get("marker") == marker],
        what="the dead letter",
    )
    (letter,) = letters
    assert reason in letter.attributes["deadLetterReason"]
    assert letter.attributes["deadLetterSource"].startswith("//pubsub.googleapis.com")
