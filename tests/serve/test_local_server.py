"""``LocalServer`` in process, on a SQLite file and a virtual clock: the demo catalog, recovery at start-up, and
the background worker's passes (no HTTP server, no threads: each pass is called directly)."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.adapters.sqlite import open_sqlite_adapters
from fooddelivery.bootstrap import Settings
from fooddelivery.domain import EventType, InfrastructureError, OrderStatus, PaymentStatus
from fooddelivery.domain.events import DomainEvent
from fooddelivery.http import DevAuthenticator, HttpRequest, issue_dev_token
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery.server import BackgroundWorker, DemoCatalog, LocalServer, load_demo_catalog
from fooddelivery.server.demo import DRIVER_SPREAD_KM
from fooddelivery.server.worker import Pass
from tests.serve._live import REFERENCE_PAYLOAD, wait_for
from tests.sqlite._damage import damage_table

T0 = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
SECRET = "serve-tests-development-secret-of-32+bytes"
TIMEOUT_S = 300.0


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
def start(tmp_path: Path, clock: VirtualClock) -> Iterator[Callable[..., LocalServer]]:
    """Build a ``LocalServer`` on the test's database (a new "process" per call; keyword arguments go to
    ``LocalServer``); all are closed at the end."""
    servers: list[LocalServer] = []

    def start_(**options: Any) -> LocalServer:
        server = LocalServer(
            tmp_path / "local.db",
            settings=Settings(confirmation_timeout_s=TIMEOUT_S),
            demo=True,
            clock=clock,
            authenticator=DevAuthenticator(SECRET, clock=clock),
            **options,
        )
        servers.append(server)
        return server

    yield start_
    for server in servers:
        server.close()


def _place(server: LocalServer, clock: VirtualClock) -> str:
    customer = issue_dev_token("customer", "user-1", secret=SECRET, now=clock.now())
    headers = {"Authorization": f"Bearer {customer}"}
    response = server.api.handle(HttpRequest.build("POST", "/orders", headers=headers, json_body=REFERENCE_PAYLOAD))
    assert response.status == 201, response.body
    assert server.sagas.drain(), "the saga queue did not run the new order's saga"  # it follows the answer
    return str(response.json()["orderId"])


def _start_passes_by_hand(server: LocalServer) -> None:
    """``server.start()`` (recovery, the saga queue), then stop the worker's thread: the test runs every pass itself
    (``worker.run_once``). A thread polling every ``poll_s`` would race it -- take the due timers, publish the outbox,
    run the recovery sweep between two of the test's lines -- and the pass the test looks at would find nothing."""
    server.start()
    server.worker.stop()
    assert not server.worker.running


class _RefusingBus:
    """An event bus that is down: its publish calls, and the SQLite outbox's writes to its log, which append and mark
    in one write (``OutboxPublication``: what ``serve`` uses)."""

    publisher = None

    def publish(self, events: Any) -> None:
        raise InfrastructureError("the bus is down")

    def publish_and_mark(self, events: Any, unhandled: Any = (), handed: Any = None) -> list[str]:
        self.publish(events)
        return []


# -- the demo catalog --------------------------------------------------------------------------------------
def test_the_demo_catalog_has_the_reference_restaurants_with_its_items_and_drivers_nearby(
    tmp_path: Path, clock: VirtualClock
) -> None:
    with open_sqlite_adapters(tmp_path / "demo.db") as stored:
        loaded = load_demo_catalog(stored.restaurants, stored.drivers, clock)

        assert loaded == DemoCatalog(restaurants_added=100, drivers_added=500, restaurants=100, drivers=500)
        for index in (0, 42, 99):
            restaurant = stored.restaurants.get(f"rest-{index}")
            prices = {item.name: str(item.price.amount) for item in restaurant.menu if item.available}
            assert (prices["Pizza"], prices["Soda"], restaurant.currency) == ("15.99", "2.99", "USD")
            driver = stored.drivers.get(f"drv-{index}-0")
            assert driver.location.distance_km(restaurant.location) <= DRIVER_SPREAD_KM + 0.01
        assert stored.restaurants.get("rest-0").name.startswith("New York")


def test_loading_the_demo_catalog_again_adds_nothing_and_keeps_what_changed(
    tmp_path: Path, clock: VirtualClock
) -> None:
    with open_sqlite_adapters(tmp_path / "demo.db") as stored:
        load_demo_catalog(stored.restaurants, stored.drivers, clock)
        moved = stored.drivers.get("drv-3-1")
        stored.drivers.save(replace(moved, location=replace(moved.location, lat=moved.location.lat + 0.01)))

        again = load_demo_catalog(stored.restaurants, stored.drivers, clock)

        assert (again.restaurants_added, again.drivers_added) == (0, 0)
        assert stored.drivers.get("drv-3-1").location.lat == pytest.approx(moved.location.lat + 0.01)


def test_a_demo_catalog_cut_short_is_completed_on_the_next_load(tmp_path: Path, clock: VirtualClock) -> None:
    from fooddelivery.server.demo import demo_drivers, demo_restaurants

    with open_sqlite_adapters(tmp_path / "demo.db") as stored:
        first = demo_restaurants()[:3]
        for restaurant in first:
            stored.restaurants.add(restaurant)
            for driver in demo_drivers(restaurant, clock):
                stored.drivers.add(driver)

        loaded = load_demo_catalog(stored.restaurants, stored.drivers, clock)

        assert (loaded.restaurants_added, loaded.drivers_added) == (97, 485)


def test_the_documented_order_example_places_an_order_with_its_promo_code_on_the_demo(
    start: Callable[[], LocalServer], clock: VirtualClock
) -> None:
    server = start()
    server.start()
    document = server.api.handle(HttpRequest.build("GET", "/openapi.json")).json()
    example = document["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert example["promoCode"] == "WELCOME10" and example["restaurantId"] == "rest-0"
    customer = issue_dev_token("customer", "user-1", secret=SECRET, now=clock.now())

    response = server.api.handle(
        HttpRequest.build("POST", "/orders", headers={"Authorization": f"Bearer {customer}"}, json_body=example)
    )

    assert response.status == 201, response.body
    pricing = response.json()["pricing"]
    # Pizza 15.99 + 2 x Soda 2.99 = 21.97; WELCOME10 takes 10 %: 2.197 -> 2.20 (half-up)
    assert (pricing["subtotal"], pricing["promoCode"], pricing["discount"]) == ("21.97", "WELCOME10", "2.20")
    assert float(pricing["distanceKm"]) < 15  # New York's centre is inside rest-0's delivery area
    assert server.sagas.drain()


def test_without_demo_the_server_offers_no_promo_code(tmp_path: Path, clock: VirtualClock) -> None:
    server = LocalServer(
        tmp_path / "plain.db",
        settings=Settings(),
        clock=clock,
        lock=False,
        authenticator=DevAuthenticator(SECRET, clock=clock),
    )
    try:
        load_demo_catalog(server.adapters.restaurants, server.adapters.drivers, clock)  # restaurants, no promotions
        customer = issue_dev_token("customer", "user-1", secret=SECRET, now=clock.now())
        body = {**REFERENCE_PAYLOAD, "promoCode": "WELCOME10"}
        response = server.api.handle(
            HttpRequest.build("POST", "/orders", headers={"Authorization": f"Bearer {customer}"}, json_body=body)
        )
        assert response.status == 409, response.body
        assert response.json()["errors"] == [{"field": "promoCode", "message": "is unknown", "code": "unknown"}]
    finally:
        server.close()


# -- recovery ----------------------------------------------------------------------------------------------
def test_start_up_publishes_what_the_outbox_still_holds_and_starts_its_saga(
    start: Callable[[], LocalServer], clock: VirtualClock
) -> None:
    crashed = start()
    crashed.start()
    # the order commits, and the process dies before it publishes: its OrderPlaced stays in the outbox
    crashed.boot.service.relay.publish_own = lambda: 0  # type: ignore[method-assign]
    order_id = _place(crashed, clock)
    assert crashed.boot.orders.get(order_id).payment_status is PaymentStatus.PENDING
    crashed.close()

    server = start()
    recovery = server.start()

    assert recovery.events_published >= 1
    order = server.boot.orders.get(order_id)
    assert (order.payment_status, order.driver_id is not None) == (PaymentStatus.CAPTURED, True)
    assert server.adapters.sagas.get(order_id).status is SagaStatus.WAITING


def test_start_up_drives_on_a_saga_left_running_between_two_steps(
    start: Callable[[], LocalServer], clock: VirtualClock
) -> None:
    crashed = start()
    crashed.start()
    order_id = _place(crashed, clock)
    # The restaurant's confirmation was saved (RUNNING, at ConfirmOrder), then the process died.
    state = crashed.adapters.sagas.get(order_id)
    assert crashed.adapters.scheduler.cancel(str(state.timer_id))
    state.status, state.current, state.timer_id = SagaStatus.RUNNING, "ConfirmOrder", None
    state.data["signals"] = ["RestaurantConfirmed"]
    state.data["waited"] = True
    crashed.adapters.sagas.save(state)
    crashed.close()

    server = start()
    recovery = server.start()

    assert (recovery.sagas_resumed, recovery.sagas_failed) == (1, 0)
    assert server.boot.orders.get(order_id).status is OrderStatus.CONFIRMED
    assert server.adapters.sagas.get(order_id).status is SagaStatus.SUCCEEDED


def test_a_timer_kept_across_a_restart_fires_at_its_due_time_with_one_refund(
    start: Callable[[], LocalServer], clock: VirtualClock
) -> None:
    first = start()
    first.start()
    order_id = _place(first, clock)
    first.close()
    clock.advance(TIMEOUT_S - 1)

    server = start()
    assert server.start().timers_pending == 1
    assert server.worker.run_once().timers_delivered == 0
    clock.advance(1)
    assert server.worker.run_once().timers_delivered == 1

    order = server.boot.orders.get(order_id)
    assert (order.status, order.failure_reason, order.payment_status) == (
        OrderStatus.FAILED,
        "restaurant_timeout",
        PaymentStatus.REFUNDED,
    )
    assert len([r for r in server.adapters.payments.refunds if r.charge_id == order.charge_id]) == 1


# -- the worker --------------------------------------------------------------------------------------------
def test_a_timer_whose_delivery_fails_stays_leased_and_the_others_are_delivered(
    start: Callable[[], LocalServer], clock: VirtualClock
) -> None:
    server = start()
    _start_passes_by_hand(server)
    broken, fine = _place(server, clock), _place(server, clock)
    service = server.boot.service
    deliver = service.deliver_timer

    def flaky(message: ScheduledMessage) -> None:
        if message.body["sagaId"] == broken:
            raise RuntimeError("a bug in a step")
        deliver(message)

    service.deliver_timer = flaky  # type: ignore[method-assign]
    clock.advance(TIMEOUT_S)

    first = server.worker.run_once()

    assert (first.timers_delivered, first.timers_failed) == (1, 1)
    assert server.boot.orders.get(fine).status is OrderStatus.FAILED
    assert server.adapters.scheduler.claimed_count == 1
    service.deliver_timer = deliver  # type: ignore[method-assign]
    assert server.worker.run_once().timers_delivered == 0  # still leased
    clock.advance(server.worker.lease.total_seconds())
    assert server.worker.run_once().timers_delivered == 1
    assert server.boot.orders.get(broken).status is OrderStatus.FAILED


def _stuck_running(server: LocalServer, clock: VirtualClock, order_id: str) -> None:
    """Leave ``order_id``'s saga RUNNING at ConfirmOrder with no timer, saved now, as a process that stopped while
    driving it would."""
    state = server.adapters.sagas.get(order_id)
    server.adapters.scheduler.cancel(str(state.timer_id))
    state.status, state.current, state.timer_id = SagaStatus.RUNNING, "ConfirmOrder", None
    state.data["waited"] = True
    state.updated_at = clock.now()
    server.adapters.sagas.save(state)


def test_a_saga_stuck_running_is_resumed_by_a_sweep_once_it_is_stale(
    start: Callable[[], LocalServer], clock: VirtualClock
) -> None:
    server = start()
    _start_passes_by_hand(server)
    order_id = _place(server, clock)
    _stuck_running(server, clock, order_id)

    assert server.worker.run_once(sweep=True).sagas_resumed == 0  # a request may still be driving it
    clock.advance(server.worker.stale_after.total_seconds())
    assert server.worker.run_once(sweep=True).sagas_resumed == 1
    assert server.adapters.sagas.get(order_id).status is SagaStatus.SUCCEEDED


def test_the_first_pass_after_an_outage_resumes_the_sagas_it_stopped_without_waiting_for_them_to_be_stale(
    start: Callable[[], LocalServer], clock: VirtualClock
) -> None:
    # A full disk refused a saga step's write: the saga stays RUNNING, not saved since the outage began, and no
    # thread drives it any more. The regular sweep would take it only once stale (30 s) and at its turn (15 s):
    # CI saw an order still PENDING 20 s after the disk had room again.
    server = start()
    _start_passes_by_hand(server)

    stopped = _place(server, clock)
    _stuck_running(server, clock, stopped)
    server.worker.note(Pass(failure="disk_full: commit: the disk is full"))  # the outage begins
    clock.advance(3)
    driven = _place(server, clock)  # saved during the outage (a write that still fitted): a thread may drive it
    _stuck_running(server, clock, driven)
    clock.advance(2)
    server.worker.note(Pass())  # a pass succeeds: the outage is over, 5 s after it began

    outcome = server.worker.run_once()  # not a regular sweep's turn (15 s), and 5 s is not stale (30 s)

    assert server.worker.outage is None
    assert server.adapters.sagas.get(stopped).status is SagaStatus.SUCCEEDED
    assert server.adapters.sagas.get(driven).status is SagaStatus.RUNNING  # saved since the outage began
    assert outcome.sagas_resumed == 1
    assert server.worker.run_once().sagas_resumed == 0  # once: the next passes wait for the regular sweep


def test_the_worker_publishes_what_a_request_could_not(start: Callable[[], LocalServer], clock: VirtualClock) -> None:
    server = start()
    _start_passes_by_hand(server)
    relay = server.boot.service.relay
    bus, publication = relay.publisher, relay.publication
    assert publication is not None  # serve's SQLite outbox appends to its bus log in the write that marks
    relay.publisher = relay.publication = _RefusingBus()  # type: ignore[assignment]
    order_id = _place(server, clock)  # the saga ran (the consumer comes before the write); nothing reached the bus
    assert server.worker.run_once().events_published == 0  # still down: logged, kept in the outbox
    pending = [r.event.event_id for r in server.adapters.orders.pending()]
    assert len(pending) == 5 and server.adapters.publisher.of_order(order_id) == []

    relay.publisher, relay.publication = bus, publication
    assert server.worker.run_once().events_published == 5
    assert server.sagas.drain()  # the saga start it handed over again runs on the saga queue's thread: no change

    published: list[DomainEvent] = server.adapters.publisher.of_order(order_id)
    assert [e.event_id for e in published] == pending  # each once, in commit order
    assert published[0].type is EventType.ORDER_PLACED
    assert server.adapters.sagas.get(order_id).status is SagaStatus.WAITING
    assert len(server.adapters.payments.charges) == 1


def test_the_worker_thread_starts_once_and_stops(start: Callable[[], LocalServer]) -> None:
    server = start()
    server.start()
    assert server.worker.running
    with pytest.raises(RuntimeError, match="already started"):
        server.worker.start()

    server.stop()

    assert not server.worker.running


# -- a failing store: back-off, health, leases handed back ---------------------------------------------------
class _FullDiskScheduler:
    """The server's scheduler, failing like a full disk while ``full`` is set; counts the passes that tried."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.full = True
        self.attempts: list[float] = []

    def next_due(self) -> Any:
        if self.full:
            self.attempts.append(time.monotonic())
            raise InfrastructureError("read: the disk is full (database or disk is full)", reason="disk_full")
        return self.inner.next_due()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_while_the_store_fails_the_worker_backs_off_logs_each_change_once_and_health_says_so(
    start: Callable[[], LocalServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = start()
    flaky = _FullDiskScheduler(server.adapters.scheduler)
    server.worker = BackgroundWorker(
        server.boot.service, flaky, server.adapters.sagas, poll_s=0.05, backoff_min_s=0.05, backoff_max_s=0.4
    )
    caplog.set_level(logging.INFO, "fooddelivery.server")
    server.start()

    assert wait_for(lambda: len(flaky.attempts) >= 6, timeout_s=5)
    degraded = server.api.handle(HttpRequest.build("GET", "/health"))
    time.sleep(0.5)
    attempts = list(flaky.attempts)
    flaky.full = False
    recovered = wait_for(lambda: server.worker.outage is None, timeout_s=2)
    healthy = server.api.handle(HttpRequest.build("GET", "/health"))
    server.stop()

    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    # 0.05 s doubling to at most 0.4 s: never sooner (a busy machine may make them a little later)
    expected = [min(0.4, 0.05 * 2**i) for i in range(len(gaps))]
    assert len(gaps) >= 5, gaps
    assert all(want * 0.9 <= gap <= want + 0.3 for gap, want in zip(gaps, expected, strict=True)), (gaps, expected)
    assert recovered
    assert (degraded.status, degraded.header("Retry-After")) == (503, "5")
    assert degraded.json()["status"] == "degraded"
    assert degraded.json()["checks"]["worker"] == "backing_off"
    assert "disk_full" in degraded.json()["detail"]
    assert (healthy.status, healthy.json()["status"]) == (200, "ok")
    lines = [r.getMessage() for r in caplog.records if r.name == "fooddelivery.server" and r.levelno >= logging.WARNING]
    assert len(lines) == 2, lines  # it began to fail; it succeeds again: not one per attempt
    assert lines[0].startswith("background work fails (disk_full:")
    assert lines[1].startswith("background work succeeds again after")
    assert all(r.exc_info is None for r in caplog.records)  # an outage is not a bug: no traceback


def test_a_timer_leased_when_the_store_failed_is_handed_back_and_delivered_once_it_works(
    start: Callable[[], LocalServer], clock: VirtualClock
) -> None:
    server = start()
    server.start()
    server.stop()  # passes are driven by hand here
    order_id = _place(server, clock)
    service = server.boot.service
    deliver = service.deliver_timer

    def full_disk(message: ScheduledMessage) -> None:
        raise InfrastructureError("commit: the disk is full", reason="disk_full")

    service.deliver_timer = full_disk  # type: ignore[method-assign]
    clock.advance(TIMEOUT_S)
    failed = server.worker.run_once()
    assert failed.failure is not None and failed.failure.startswith("disk_full")
    assert (failed.timers_delivered, server.adapters.scheduler.claimed_count) == (0, 1)

    service.deliver_timer = deliver  # type: ignore[method-assign]
    back = server.worker.run_once()  # the lease is handed back at once, not after lease_s

    assert (back.failure, back.timers_delivered, server.adapters.scheduler.claimed_count) == (None, 1, 0)
    order = server.boot.orders.get(order_id)
    assert (order.status, order.payment_status) == (OrderStatus.FAILED, PaymentStatus.REFUNDED)


def test_a_damaged_file_is_served_read_only_without_recovery(
    start: Callable[[], LocalServer], clock: VirtualClock, tmp_path: Path
) -> None:
    first = start()
    first.start()
    order_id = _place(first, clock)
    first.close()
    damage_table(tmp_path / "local.db", "orders")

    server = start()
    recovery = server.start()
    customer = issue_dev_token("customer", "user-1", secret=SECRET, now=clock.now())
    headers = {"Authorization": f"Bearer {customer}"}
    health = server.api.handle(HttpRequest.build("GET", "/health"))
    read = server.api.handle(HttpRequest.build("GET", f"/orders/{order_id}", headers=headers))
    place = server.api.handle(HttpRequest.build("POST", "/orders", headers=headers, json_body=REFERENCE_PAYLOAD))

    assert recovery is None and not server.worker.running
    assert health.status == 503
    assert health.json()["checks"] == {"storage": "ok", "integrity": "corrupt", "worker": "stopped"}
    assert (read.status, read.json()["code"]) == (500, "data_corrupted")
    assert f"order {order_id} cannot be read" in read.json()["detail"]
    assert read.header("Retry-After") is None
    assert (place.status, place.json()["code"]) == (500, "data_corrupted")
    restaurant = server.api.handle(HttpRequest.build("GET", "/restaurants/rest-0", headers=headers))
    assert restaurant.status == 200  # what is not damaged can still be read


def test_timers_a_crashed_process_had_leased_are_due_at_once_after_a_restart(
    start: Callable[[], LocalServer], clock: VirtualClock
) -> None:
    crashed = start()
    crashed.start()
    crashed.stop()
    order_id = _place(crashed, clock)
    clock.advance(TIMEOUT_S)
    leased = crashed.adapters.scheduler.claim_due(clock.now())  # then the process died, before handling it
    assert [m.body["sagaId"] for m in leased] == [order_id]
    crashed.close()

    server = start()
    recovery = server.start()

    assert recovery is not None and recovery.timers_released == 1
    assert recovery.timers_delivered == 1  # not 60 s later, when the dead process's lease would have ended
    assert server.boot.orders.get(order_id).status is OrderStatus.FAILED


def test_the_worker_checkpoints_the_wal_and_truncates_it(start: Callable[[], LocalServer], clock: VirtualClock) -> None:
    server = start()
    server.start()
    server.stop()
    for _ in range(3):
        _place(server, clock)
    database = server.adapters.database
    assert database.wal_bytes > 0
    worker = BackgroundWorker(
        server.boot.service,
        server.adapters.scheduler,
        server.adapters.sagas,
        checkpoint=database.checkpoint,
        checkpoint_s=0.05,
    )

    time.sleep(0.06)
    assert worker.run_once().failure is None

    assert database.wal_bytes == 0
    assert len(server.boot.orders) == 3  # folded into the database file, not lost


def test_a_write_behind_a_writers_lock_another_process_keeps_is_answered_503_with_retry_after(
    start: Callable[..., LocalServer], tmp_path: Path, clock: VirtualClock
) -> None:
    # serve --processes N: a process stopped (SIGSTOP, a debugger) while it holds <db>.writers must not block every
    # other process's writes forever; the request fails like SQLite's own "database is locked": retryable, 503
    import fcntl
    import os

    from fooddelivery.adapters.sqlite.database import writers_lock_path

    server = start(shared_writes=True, writers_timeout_s=0.3)
    _start_passes_by_hand(server)
    customer = issue_dev_token("customer", "user-1", secret=SECRET, now=clock.now())
    request = HttpRequest.build(
        "POST", "/orders", headers={"Authorization": f"Bearer {customer}"}, json_body=REFERENCE_PAYLOAD
    )
    hung = os.open(writers_lock_path(tmp_path / "local.db"), os.O_RDWR)  # its own open file: another holder
    fcntl.flock(hung, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        started = time.monotonic()
        refused = server.api.handle(request)
        waited = time.monotonic() - started
    finally:
        fcntl.flock(hung, fcntl.LOCK_UN)
        os.close(hung)
    assert refused.status == 503, refused.body
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["code"] == "infrastructure_error"
    assert 0.3 <= waited < 5.0
    assert server.adapters.orders.count_by_status() == {}  # nothing half-written

    placed = server.api.handle(request)  # the lock is free again: the same request goes through
    assert placed.status == 201, placed.body
