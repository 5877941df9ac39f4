"""A kill -9 soak of ``fooddelivery serve``: orders placed, confirmed, rejected, cancelled and left to time out by
concurrent clients while the server is SIGKILLed a dozen times and restarted on the same file; then an audit of
the database.

Clients act as a careful client would: every placement carries an ``Idempotency-Key`` and is retried with it
until answered (201, or 200 for a replay), so an order is *acknowledged* only once a response said so. The audit,
after the last restart has settled:

- every acknowledged order exists, and nothing else does (no order a client never learnt of);
- none is stuck: every order ended (FAILED / CANCELLED / DELIVERED) or is CONFIRMED with its saga SUCCEEDED; no
  saga is left RUNNING, WAITING or RETRY_WAIT; no timer or outbox record is left behind;
- one capture per paid order: the captured charges are exactly the paid orders' charges, one each, and no
  authorization is left orphaned;
- one refund per failed paid order (and none for any other), for the full amount;
- no driver held: every ASSIGNED driver holds a CONFIRMED order that names it, and every such order's driver is
  ASSIGNED to it.

Bounded: ``ORDERS`` orders, ``KILLS`` kills, a 1-second confirmation timeout, loopback only. The figures are
printed (``pytest -s``): orders, kills, lost, double charges, stuck.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fooddelivery.adapters.sqlite import open_sqlite_adapters
from fooddelivery.domain import DriverStatus, OrderStatus, PaymentStatus
from fooddelivery.http.auth import DEFAULT_DEV_SECRET, issue_dev_token
from fooddelivery.ports.saga_store import SagaStatus

from ._live import HOST, REFERENCE_PAYLOAD, LiveServer, free_port, wait_for

ORDERS = 240
KILLS = 12
CLIENTS = 4
TIMEOUT_S = 1.0
RESTAURANTS = 40
#: Longest a client keeps retrying one call across restarts (seconds).
CALL_DEADLINE_S = 60.0
#: What each order's client does after placing it (by order index).
PLAN = ("declined", "confirm", "reject", "timeout", "confirm", "cancel", "confirm", "timeout", "reject", "confirm")


def _token(role: str, sub: str, restaurant_id: str | None = None) -> str:
    return issue_dev_token(role, sub, restaurant_id, secret=DEFAULT_DEV_SECRET, ttl_s=3600)


@dataclass
class _Soak:
    """What the clients did and saw."""

    port: int
    acknowledged: dict[str, str] = field(default_factory=dict)  # idempotency key -> order id
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, method: str, path: str, token: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
        """One call, retried across restarts (connection errors, 503) until answered otherwise."""
        headers = {"Authorization": f"Bearer {token}"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if key is not None:
            headers["Idempotency-Key"] = key
        deadline = time.monotonic() + CALL_DEADLINE_S
        while True:
            conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
            try:
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                status, data = response.status, response.read()
            except (OSError, http.client.HTTPException):  # refused, reset, cut short: the server is restarting
                status, data = 0, b""
            finally:
                conn.close()
            if status not in (0, 503):
                return status, json.loads(data) if data else None
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path} unanswered for {CALL_DEADLINE_S} s")
            time.sleep(0.05)

    def client(self, indexes: list[int]) -> None:
        customer = _token("customer", "soak-user")
        try:
            for i in indexes:
                self.one_order(i, customer)
        except BaseException as exc:  # reported by the test, not lost in a thread
            with self.lock:
                self.failures.append(f"order {i}: {type(exc).__name__}: {exc}")

    def one_order(self, i: int, customer: str) -> None:
        plan = PLAN[i % len(PLAN)]
        restaurant_id = f"rest-{i % RESTAURANTS}"
        body = {
            **REFERENCE_PAYLOAD,
            "userId": "soak-user",
            "restaurantId": restaurant_id,
            "paymentMethod": "tok_chargeDeclined" if plan == "declined" else "tok_visa",
        }
        key = f"soak-{i}"
        status, order = self.call("POST", "/orders", customer, body, key)
        assert status in (200, 201), (status, order)
        order_id = order["orderId"]
        with self.lock:
            self.acknowledged[key] = order_id
        staff = _token("restaurant", f"owner-{restaurant_id}", restaurant_id)
        if plan == "confirm":
            status, _ = self._retry_conflict("PUT", f"/orders/{order_id}", staff, {"status": "CONFIRMED"})
        elif plan == "reject":
            status, _ = self._retry_conflict("POST", f"/orders/{order_id}/reject", staff, {"reason": "soak"})
        elif plan == "cancel":
            status, _ = self._retry_conflict("PUT", f"/orders/{order_id}", customer, {"status": "CANCELLED"})
        else:
            status = 0
        with self.lock:
            self.outcomes[f"{plan}:{status}"] += 1

    def _retry_conflict(self, method: str, path: str, token: str, body: Any) -> tuple[int, Any]:
        """A 409 "being processed" (a saga resumed after a restart) is retried a few times; a 409 for a lifecycle
        that moved on (the timeout won) is an answer."""
        for _ in range(20):
            status, answer = self.call(method, path, token, body)
            if status != 409 or "retry shortly" not in str(answer):
                return status, answer
            time.sleep(0.1)
        return status, answer


def _restart(server: LiveServer) -> LiveServer:
    again = LiveServer(server.db, server.port, server.log, server.args)
    return again.start()


def _audit(db: Path, acknowledged: dict[str, str]) -> dict[str, Any]:
    with open_sqlite_adapters(db) as stored:
        conn_db = stored.database
        with conn_db.read() as conn:
            order_ids = {r[0] for r in conn.execute("SELECT order_id FROM orders").fetchall()}
            all_charges = conn.execute("SELECT charge_id, captured_minor FROM payment_charges").fetchall()
            timers = conn.execute("SELECT message_id, kind, due_at, claimed_until FROM timers").fetchall()
        orders = {order_id: stored.orders.get(order_id) for order_id in order_ids}
        sagas = {order_id: stored.sagas.get(order_id) for order_id in order_ids if order_id in stored.sagas.ids()}
        refunds = stored.payments.refunds
        drivers = stored.drivers.all_drivers()
        outbox = stored.orders.outbox_size

    lost = sorted(set(acknowledged.values()) - order_ids)
    unknown = sorted(order_ids - set(acknowledged.values()))
    stuck = sorted(
        o.order_id
        for o in orders.values()
        if not (
            o.status.is_terminal
            or (o.status is OrderStatus.CONFIRMED and sagas.get(o.order_id) is not None
                and sagas[o.order_id].status is SagaStatus.SUCCEEDED)
        )
    )
    open_states = (SagaStatus.RUNNING, SagaStatus.WAITING, SagaStatus.RETRY_WAIT)
    unfinished_sagas = sorted(s for s, state in sagas.items() if state.status in open_states)
    paid_states = (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED)
    paid = {o.order_id: o for o in orders.values() if o.payment_status in paid_states}
    captured = Counter(cid for cid, minor in all_charges if minor is not None)
    paid_charges = Counter(o.charge_id for o in paid.values())
    double_charges = sum(n - 1 for n in paid_charges.values() if n > 1) + sum(
        1 for cid in captured if cid not in paid_charges
    )
    orphan_authorizations = [cid for cid, minor in all_charges if minor is None]
    refunds_by_charge = Counter(r.charge_id for r in refunds)
    refund_problems = []
    for o in paid.values():
        want = 1 if o.status in (OrderStatus.FAILED, OrderStatus.CANCELLED) else 0
        if refunds_by_charge.get(o.charge_id, 0) != want:
            refund_problems.append((o.order_id, o.status.value, refunds_by_charge.get(o.charge_id, 0)))
        if want and o.payment_status is not PaymentStatus.REFUNDED:
            refund_problems.append((o.order_id, "not marked refunded"))
    refund_problems += [r.charge_id for r in refunds if r.charge_id not in paid_charges]
    refund_problems += [
        (r.refund_id, str(r.amount)) for r in refunds for o in paid.values()
        if o.charge_id == r.charge_id and r.amount != o.pricing.total
    ]
    held_problems = []
    for d in drivers:
        if d.status is DriverStatus.ASSIGNED:
            holder = orders.get(d.current_order_id or "")
            if holder is None or holder.status is not OrderStatus.CONFIRMED or holder.driver_id != d.driver_id:
                held_problems.append((d.driver_id, d.current_order_id, holder.status.value if holder else None))
    by_id = {d.driver_id: d for d in drivers}
    for o in orders.values():
        if o.status is OrderStatus.CONFIRMED and o.driver_id is not None:
            d = by_id[o.driver_id]
            if (d.status, d.current_order_id) != (DriverStatus.ASSIGNED, o.order_id):
                held_problems.append((o.order_id, "driver not held", d.status.value))
    return {
        "orders": len(order_ids),
        "lost": lost,
        "unknown": unknown,
        "stuck": stuck,
        "unfinished_sagas": unfinished_sagas,
        "timers_left": timers,  # (id, kind, due, leased until)
        "outbox_left": outbox,
        "double_charges": double_charges,
        "orphan_authorizations": orphan_authorizations,
        "refund_problems": refund_problems,
        "held_problems": held_problems,
        "statuses": Counter(o.status.value for o in orders.values()),
        "refunds": len(refunds),
        "captured": sum(captured.values()),
    }


def _settled(db: Path) -> bool:
    with open_sqlite_adapters(db) as stored, stored.database.read() as conn:
        open_sagas = conn.execute(
            "SELECT COUNT(*) FROM sagas WHERE status IN ('RUNNING', 'WAITING', 'RETRY_WAIT')"
        ).fetchone()[0]
        pending = conn.execute("SELECT COUNT(*) FROM orders WHERE status = 'PENDING'").fetchone()[0]
        outbox = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    return open_sagas == 0 and pending == 0 and outbox == 0


def test_kill_9_a_dozen_times_under_load_loses_nothing_charges_once_and_leaves_nothing_stuck(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "soak.db"
    args = ("--demo", "--confirmation-timeout", str(TIMEOUT_S), "--log-level", "warning")
    server = LiveServer(db, port, tmp_path / "soak.log", args).start()
    soak = _Soak(port)
    indexes = list(range(ORDERS))
    threads = [threading.Thread(target=soak.client, args=(indexes[c::CLIENTS],)) for c in range(CLIENTS)]
    started = time.monotonic()
    rng = random.Random(10)
    kills = 0
    try:
        for thread in threads:
            thread.start()
        # a kill each time another ORDERS / (KILLS + 1) orders were acknowledged, at a random moment after that
        # (in the middle of the next requests, sagas and timers)
        while kills < KILLS and any(t.is_alive() for t in threads):
            threshold = (kills + 1) * ORDERS // (KILLS + 1)

            def reached(threshold: int = threshold) -> bool:
                return len(soak.acknowledged) >= threshold or not any(t.is_alive() for t in threads)

            wait_for(reached, 60)
            time.sleep(rng.uniform(0.0, 0.15))
            server.kill()
            kills += 1
            server = _restart(server)
        for thread in threads:
            thread.join(CALL_DEADLINE_S * 2)
        assert not any(t.is_alive() for t in threads), "a client did not finish"
        assert wait_for(lambda: _settled(db), timeout_s=30, interval_s=0.5), "the orders did not settle"
        assert server.stop() == 0, server.output()[-3000:]
    finally:
        server.kill()
    took = time.monotonic() - started

    audit = _audit(db, soak.acknowledged)
    figures = {
        "orders": audit["orders"],
        "kills": kills,
        "lost": len(audit["lost"]),
        "double_charges": audit["double_charges"],
        "stuck": len(audit["stuck"]),
        "seconds": round(took, 1),
    }
    print("\nsoak:", json.dumps(figures), "statuses:", dict(audit["statuses"]), "refunds:", audit["refunds"],
          "outcomes:", dict(soak.outcomes))

    assert soak.failures == []
    assert kills == KILLS, "the clients finished before every kill: make ORDERS larger"
    assert len(soak.acknowledged) == ORDERS
    assert (audit["lost"], audit["unknown"]) == ([], [])
    assert audit["orders"] == ORDERS
    assert (audit["stuck"], audit["unfinished_sagas"]) == ([], [])
    assert (audit["timers_left"], audit["outbox_left"]) == ([], 0)
    assert (audit["double_charges"], audit["orphan_authorizations"]) == (0, [])
    assert audit["refund_problems"] == []
    assert audit["held_problems"] == []
    assert audit["statuses"]["CONFIRMED"] > 0 and audit["statuses"]["FAILED"] > 0  # the mix really happened
    assert audit["statuses"]["CANCELLED"] > 0
