"""``serve --processes 2``: a second process serves the same port and file, drives the sagas of the orders placed
through it, is replaced when it dies, and ends with the first; timers stay the first process's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fooddelivery.adapters.sqlite import open_sqlite_adapters
from fooddelivery.domain import EventType
from fooddelivery.ports.saga_store import SagaStatus

from ._live import (
    HOST,
    REFERENCE_PAYLOAD,
    LiveServer,
    fooddelivery_command,
    free_port,
    placed_and_settled,
    server_env,
    token,
    wait_for,
)
from .conftest import StartServer

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the child processes")

TIMEOUT_S = 3.0


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
    return kids


def _siblings(server: LiveServer) -> list[int]:
    """The server's serve processes other than the first (its children running fooddelivery.server.sibling)."""
    found = []
    for kid in _children(server.pid):
        try:
            cmdline = Path(f"/proc/{kid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"fooddelivery.server.sibling" in cmdline:
            found.append(kid)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (ended, not yet reaped by its parent) is not running
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _health(server: LiveServer) -> tuple[int, dict[str, object]]:
    response = server.request("GET", "/health")
    return response.status, response.json()


def _started_with_two(start_server: StartServer, *args: str, db: Path | None = None) -> tuple[LiveServer, int]:
    server = start_server("--demo", "--processes", "2", *args, db=db)
    sibling = wait_for(lambda: _siblings(server), 20.0)
    assert sibling, f"no second process:\n{server.output()}"
    assert wait_for(lambda: _health(server)[1]["checks"].get("processes") == "2 of 2 running", 20.0), server.output()
    return server, sibling[0]


def test_the_second_process_alone_takes_orders_and_drives_their_sagas_and_the_first_fires_their_timers(
    start_server: StartServer,
) -> None:
    server, sibling = _started_with_two(start_server, "--confirmation-timeout", str(TIMEOUT_S))
    status, health = _health(server)
    assert status == 200 and health["checks"]["worker"] in ("running", "other_process")
    customer = token("customer", "user-1")
    os.kill(server.pid, signal.SIGSTOP)  # the first process accepts nothing now: only the second can answer
    try:
        placed, order = placed_and_settled(server, customer, REFERENCE_PAYLOAD, timeout_s=20.0)
        assert (order["status"], order["paymentStatus"]) == ("PENDING", "CAPTURED")
        assert order["driverId"]
        assert _health(server)[1]["checks"]["worker"] == "other_process"  # the second process answered
    finally:
        os.kill(server.pid, signal.SIGCONT)
    order_id = placed["orderId"]

    def failed() -> bool:
        body = server.request("GET", f"/orders/{order_id}", token=customer).json()
        return bool(body["status"] == "FAILED")

    # the restaurant never answers: the first process's worker fires the timeout the second process scheduled
    assert wait_for(failed, TIMEOUT_S + 15.0), server.output()
    assert server.stop() == 0
    assert not _alive(sibling)
    with open_sqlite_adapters(server.db) as stored:
        stored_order = stored.orders.get(order_id)
        authorizations = [c for c in stored.payments.authorizations if c.charge_id == stored_order.charge_id]
        refunds = [r for r in stored.payments.refunds if r.charge_id == stored_order.charge_id]
        events = [e.type for e in stored.publisher.of_order(order_id)]
        saga = stored.sagas.get(order_id)
        assert stored.orders.outbox_size == 0
    assert (len(authorizations), len(refunds)) == (1, 1)
    assert events.count(EventType.ORDER_PLACED) == 1 and events.count(EventType.PAYMENT_REFUNDED) == 1
    assert (saga.status, saga.outcome) == (SagaStatus.FAILED, "restaurant_timeout")


def test_a_killed_second_process_is_replaced_and_health_says_so_meanwhile(start_server: StartServer) -> None:
    server, sibling = _started_with_two(start_server)
    os.kill(sibling, signal.SIGKILL)
    degraded = wait_for(lambda: _health(server)[1]["checks"].get("processes") == "1 of 2 running", 5.0)
    assert degraded, server.output()
    status, health = _health(server)
    if health["checks"].get("processes") == "1 of 2 running":  # (it may be back already)
        assert status == 503 and "not running" in str(health["detail"])
    replaced = wait_for(lambda: [p for p in _siblings(server) if p != sibling], 20.0)
    assert replaced, server.output()
    assert wait_for(lambda: _health(server) == (200, {"status": "ok", "checks": {
        "storage": "ok", "integrity": "ok", "worker": "running", "processes": "2 of 2 running"}}), 20.0)  # fmt: skip
    assert f"exited with status {-signal.SIGKILL}; starting another" in server.output()
    assert server.stop() == 0
    assert not _alive(replaced[0])


def test_sigterm_stops_both_and_the_second_ends_when_the_first_dies(start_server: StartServer) -> None:
    server, sibling = _started_with_two(start_server)
    started = time.monotonic()
    assert server.stop() == 0
    assert not _alive(sibling)
    assert time.monotonic() - started < 10.0
    # a first process killed outright: its pipe closes and the second shuts down by itself
    server2, sibling2 = _started_with_two(start_server, db=server.db)
    server2.kill()
    assert wait_for(lambda: not _alive(sibling2), 15.0), server2.output()


def test_many_orders_through_both_processes_are_each_paid_once_and_published_once(start_server: StartServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    server, _ = _started_with_two(start_server)
    customers = [token("customer", f"user-{n}") for n in range(4)]

    def place(n: int) -> str:
        body = dict(REFERENCE_PAYLOAD, userId=f"user-{n % 4}", restaurantId=f"rest-{n % 10}")
        placed, order = placed_and_settled(server, customers[n % 4], body, timeout_s=30.0)
        assert order["paymentStatus"] == "CAPTURED"
        return str(placed["orderId"])

    with ThreadPoolExecutor(8) as pool:  # one new connection per request: the kernel spreads them
        order_ids = list(pool.map(place, range(80)))
    assert len(set(order_ids)) == 80

    def outbox_drained() -> bool:
        with open_sqlite_adapters(server.db) as stored:
            return stored.orders.outbox_size == 0

    # A settled order's last events may still be on their way out (a process publishes its commits just after
    # them; what one leaves is the first process's sweep's once 10 s old). A graceful stop does not sweep: what
    # is left goes out at the next start (README, "Stop the server"). So the outbox is asserted empty while both
    # processes run, within a deadline, not right after the stop.
    assert wait_for(outbox_drained, 30.0, interval_s=0.2), server.output()
    assert server.stop() == 0
    with open_sqlite_adapters(server.db) as stored:
        for order_id in order_ids:
            order = stored.orders.get(order_id)
            assert len([c for c in stored.payments.authorizations if c.charge_id == order.charge_id]) == 1
            published = [e.event_id for e in stored.publisher.of_order(order_id)]
            assert len(published) == len(set(published)), f"{order_id}: an event published twice"
        assert stored.orders.outbox_size == 0


def test_a_second_process_killed_three_times_soon_after_its_start_is_still_replaced(start_server: StartServer) -> None:
    # SIGKILL (the OOM killer, an operator) ends a process that started: it is no failure to start, so no give-up
    server, sibling = _started_with_two(start_server)
    for _ in range(3):
        os.kill(sibling, signal.SIGKILL)
        replaced = wait_for(lambda old=sibling: [p for p in _siblings(server) if p != old and _alive(p)], 20.0)
        assert replaced, server.output()
        sibling = replaced[0]
    assert "not starting it again" not in server.output()
    assert wait_for(lambda: _health(server)[1]["checks"].get("processes") == "2 of 2 running", 20.0), server.output()
    assert server.stop() == 0
    assert not _alive(sibling)


def test_a_new_server_is_refused_while_a_second_process_of_a_killed_first_one_still_runs(
    start_server: StartServer,
) -> None:
    # the second process of a SIGKILLed first one drains and drives its sagas for a while; a server started
    # meanwhile must not recover the file under it (both would publish the same events and resume the same sagas)
    server, sibling = _started_with_two(start_server)
    os.kill(sibling, signal.SIGSTOP)  # still running when the first one dies
    try:
        server.kill()
        refused = subprocess.run(
            [*fooddelivery_command(), "serve", "--db", str(server.db), "--host", HOST, "--port", str(free_port())],
            cwd=server.db.parent,
            env=server_env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert _alive(sibling)
    finally:
        os.kill(sibling, signal.SIGCONT)
    assert refused.returncode == 1, refused.stderr
    assert f"{server.db.name} is in use by fooddelivery serve" in refused.stderr
    assert "recovered" not in refused.stderr
    assert wait_for(lambda: not _alive(sibling), 20.0)  # its pipe closed: it ends by itself, and frees the file
    restarted = start_server("--demo", db=server.db)
    assert "recovered" in restarted.output()
    assert restarted.stop() == 0


def test_the_second_process_runs_the_code_the_first_one_runs_not_a_package_in_the_working_directory(
    start_server: StartServer, tmp_path: Path
) -> None:
    # `python -m` puts the working directory first on sys.path: a checkout's (or any) `fooddelivery` package there
    # would be what the second process runs, while the first one runs the installed one
    shadow = tmp_path / "fooddelivery"  # the server's working directory is its database's
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise SystemExit('the package in the working directory was imported')\n")
    server, sibling = _started_with_two(start_server)
    assert wait_for(lambda: f"serve process 2 (pid {sibling}) serving" in server.output(), 20.0), server.output()
    assert "the package in the working directory was imported" not in server.output()
    assert server.stop() == 0
