"""The fake card processor with its ledger in SQLite: idempotency results, charges and refunds survive a restart,
so a saga resumed after a crash never moves money twice.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.fake_processor import (
    Declined,
    Params,
    Result,
    charge_id_of,
    check_capture,
    check_positive,
    check_refund,
    decline_of,
    injected_failure,
    refund_id_of,
    replay,
    transient_failure,
)
from fooddelivery.adapters.sqlite.database import SqliteDatabase
from fooddelivery.adapters.sqlite.records import dumps, loads, money_from, money_json, utc_text
from fooddelivery.adapters.system import SystemClock
from fooddelivery.domain.errors import FoodDeliveryError, NotFound
from fooddelivery.domain.money import Money
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.payments import Charge, Refund

__all__ = ["SqlitePaymentGateway"]


def _params_json(params: Params) -> str:
    operation, subject, amount = params
    return dumps([operation, subject, money_json(amount)])


def _params_from(text: str) -> Params:
    operation, subject, amount = loads(text)
    return (operation, subject, money_from(amount))


def _result_json(result: Result) -> str:
    if isinstance(result, Charge):
        doc: dict[str, Any] = {
            "kind": "charge",
            "chargeId": result.charge_id,
            "amount": money_json(result.amount),
            "captured": result.captured,
        }
    elif isinstance(result, Refund):
        doc = {
            "kind": "refund",
            "refundId": result.refund_id,
            "chargeId": result.charge_id,
            "amount": money_json(result.amount),
        }
    else:
        doc = {"kind": "declined", "detail": result.detail, "code": result.code}
    return dumps(doc)


def _result_from(text: str) -> Result:
    doc = loads(text)
    if doc["kind"] == "charge":
        return Charge(doc["chargeId"], money_from(doc["amount"]), doc["captured"])
    if doc["kind"] == "refund":
        return Refund(doc["refundId"], doc["chargeId"], money_from(doc["amount"]))
    return Declined(doc["detail"], doc["code"])


class _ChargeRow:
    """One row of ``payment_charges``, as money."""

    __slots__ = ("authorized", "captured", "refunded")

    def __init__(self, currency: str, authorized: int, captured: int | None, refunded: int) -> None:
        self.authorized = Money(authorized, currency)
        self.captured = None if captured is None else Money(captured, currency)
        self.refunded = Money(refunded, currency)


class SqlitePaymentGateway:
    """A deterministic card processor whose ledger lives in SQLite (implements ``PaymentGateway``).

    Behaves exactly like the in-memory ``FakePaymentGateway``: both apply the rules of
    ``fooddelivery.adapters.fake_processor`` (success, decline and ``tok_processingError[_N]`` tokens,
    Stripe-style idempotency across operations, capture at most once and at most the authorized amount, refunds
    within captured minus refunded, deterministic ids ``ch_00000001`` / ``re_00000001``). Each call is one
    ``BEGIN IMMEDIATE`` transaction that reads the key's first result, checks the rules and writes the charge,
    refund and result together; what a call remembers (a decline, a transient attempt of a
    ``tok_processingError_N`` token) is committed before its error is raised. Keys, charges and refunds survive a
    restart, so a repeated key after a crash returns the first result and never moves money twice.

    Counted operations (with ``counters``): ``payments.calls`` per call of any operation.

    Args:
        db: the database (shared with the other SQLite adapters).
        clock: stamps ``created_at`` of charges and refunds (UTC); the system clock by default.
        idempotency_window: remember only the last N keys (Stripe forgets keys after 24 hours), or None to
            remember every key (the strict default).
        counters: optional shared operation counters.

    Raises:
        ValueError: an ``idempotency_window`` < 1.
    """

    def __init__(
        self,
        db: SqliteDatabase,
        *,
        clock: Clock | None = None,
        idempotency_window: int | None = None,
        counters: OperationCounters | None = None,
    ) -> None:
        if idempotency_window is not None and idempotency_window < 1:
            raise ValueError("idempotency_window must be None or >= 1")
        self._db = db
        self._clock = clock or SystemClock()
        self._window = idempotency_window
        self._counters = counters
        self._lock = threading.Lock()
        self._calls = 0
        self._fail_next = 0

    # -- plumbing ------------------------------------------------------------------------------------------
    def _begin(self, operation: str, key: str) -> None:
        if self._counters is not None:
            self._counters.add("payments.calls")
        with self._lock:
            self._calls += 1
            if self._fail_next:
                self._fail_next -= 1
                raise injected_failure(operation, key)

    @staticmethod
    def _first(conn: sqlite3.Connection, key: str) -> tuple[Params, Result] | None:
        row = conn.execute("SELECT params, result FROM payment_keys WHERE idempotency_key = ?", (key,)).fetchone()
        return None if row is None else (_params_from(row[0]), _result_from(row[1]))

    def _remember(self, conn: sqlite3.Connection, key: str, params: Params, result: Result) -> None:
        seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM payment_keys").fetchone()[0])
        conn.execute(
            "INSERT INTO payment_keys (idempotency_key, seq, params, result) VALUES (?, ?, ?, ?)",
            (key, seq, _params_json(params), _result_json(result)),
        )
        if self._window is not None:
            conn.execute("DELETE FROM payment_keys WHERE seq <= ?", (seq - self._window,))

    @staticmethod
    def _transient(conn: sqlite3.Connection, token: str, operation: str, key: str) -> FoodDeliveryError | None:
        row = conn.execute(
            "SELECT failures FROM payment_attempts WHERE operation = ? AND idempotency_key = ?", (operation, key)
        ).fetchone()
        failed_before = 0 if row is None else int(row[0])
        error = transient_failure(token, operation, key, failed_before)
        if error is not None:
            conn.execute(
                "INSERT OR REPLACE INTO payment_attempts (operation, idempotency_key, failures) VALUES (?, ?, ?)",
                (operation, key, failed_before + 1),
            )
        elif row is not None:
            conn.execute("DELETE FROM payment_attempts WHERE operation = ? AND idempotency_key = ?", (operation, key))
        return error

    @staticmethod
    def _charge(conn: sqlite3.Connection, charge_id: str) -> _ChargeRow:
        row = conn.execute(
            "SELECT currency, authorized_minor, captured_minor, refunded_minor FROM payment_charges"
            " WHERE charge_id = ?",
            (charge_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"charge {charge_id} not found", charge_id=charge_id)
        return _ChargeRow(*row)

    # -- PaymentGateway ------------------------------------------------------------------------------------
    def authorize(self, payment_method: str, amount: Money, idempotency_key: str) -> Charge:
        """Hold ``amount`` on the card ``payment_method``; returns an uncaptured ``Charge``.

        Raises:
            PaymentDeclined: a decline token or an unknown token (replayed for a repeated key).
            PaymentRetryableError: a transient token or an injected failure; retry with the same key.
            IdempotencyKeyReused: the key was used for another operation or other parameters.
            ValidationError: a non-positive amount.
            InfrastructureError: the database failed; no money moved.
        """
        self._begin("authorize", idempotency_key)
        params: Params = ("authorize", payment_method, amount)
        failure: FoodDeliveryError | None = None
        charge: Charge | None = None
        with self._db.write() as conn:
            first = replay(idempotency_key, self._first(conn, idempotency_key), params)
            if first is not None:
                assert isinstance(first, Charge)
                return first
            check_positive(amount)
            failure = self._transient(conn, payment_method, "authorize", idempotency_key)
            if failure is None:
                declined = decline_of(payment_method)
                if declined is not None:
                    self._remember(conn, idempotency_key, params, declined)
                    failure = declined.error()
                else:
                    n = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM payment_charges").fetchone()[0])
                    charge = Charge(charge_id_of(n), amount, captured=False)
                    conn.execute(
                        "INSERT INTO payment_charges (seq, charge_id, payment_method, currency, authorized_minor,"
                        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (n, charge.charge_id, payment_method, amount.currency, amount.minor, self._now()),
                    )
                    self._remember(conn, idempotency_key, params, charge)
        if failure is not None:
            raise failure
        assert charge is not None
        return charge

    def capture(self, charge_id: str, amount: Money, idempotency_key: str) -> Charge:
        """Capture ``amount`` (at most the authorized amount) of ``charge_id``; returns the captured ``Charge``.

        Raises:
            PaymentRetryableError: an injected failure; retry with the same key.
            NotFound: unknown charge.
            ValidationError: more than authorized, a non-positive amount, another currency, or a charge already
                captured under another key.
            IdempotencyKeyReused: the key was used for another operation or other parameters.
            InfrastructureError: the database failed; no money moved.
        """
        self._begin("capture", idempotency_key)
        params: Params = ("capture", charge_id, amount)
        with self._db.write() as conn:
            first = replay(idempotency_key, self._first(conn, idempotency_key), params)
            if first is not None:
                assert isinstance(first, Charge)
                return first
            state = self._charge(conn, charge_id)
            check_capture(charge_id, amount, state.authorized, state.captured)
            conn.execute("UPDATE payment_charges SET captured_minor = ? WHERE charge_id = ?", (amount.minor, charge_id))
            charge = Charge(charge_id, amount, captured=True)
            self._remember(conn, idempotency_key, params, charge)
        return charge

    def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> Refund:
        """Return ``amount`` of the captured ``charge_id``; returns the ``Refund``.

        Raises:
            PaymentRetryableError: an injected failure; retry with the same key.
            NotFound: unknown charge.
            ValidationError: nothing captured, more than captured minus refunded, a non-positive amount or another
                currency.
            IdempotencyKeyReused: the key was used for another operation or other parameters.
            InfrastructureError: the database failed; no money moved.
        """
        self._begin("refund", idempotency_key)
        params: Params = ("refund", charge_id, amount)
        with self._db.write() as conn:
            first = replay(idempotency_key, self._first(conn, idempotency_key), params)
            if first is not None:
                assert isinstance(first, Refund)
                return first
            state = self._charge(conn, charge_id)
            check_refund(charge_id, amount, state.authorized, state.captured, state.refunded)
            n = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM payment_refunds").fetchone()[0])
            refund = Refund(refund_id_of(n), charge_id, amount)
            conn.execute(
                "UPDATE payment_charges SET refunded_minor = refunded_minor + ? WHERE charge_id = ?",
                (amount.minor, charge_id),
            )
            conn.execute(
                "INSERT INTO payment_refunds (seq, refund_id, charge_id, currency, amount_minor, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (n, refund.refund_id, charge_id, amount.currency, amount.minor, self._now()),
            )
            self._remember(conn, idempotency_key, params, refund)
        return refund

    def _now(self) -> str:
        return utc_text(self._clock.now())

    # -- failure injection ---------------------------------------------------------------------------------
    def fail_next(self, n: int = 1) -> None:
        """Make the next ``n`` calls (any operation, any token) raise ``PaymentRetryableError`` (not persisted)."""
        with self._lock:
            self._fail_next = n

    # -- what it saw ---------------------------------------------------------------------------------------
    @property
    def calls(self) -> int:
        """How many calls this object received (of every operation and outcome; not persisted)."""
        return self._calls

    @property
    def authorizations(self) -> list[Charge]:
        """Every successful authorization (uncaptured view), oldest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT charge_id, currency, authorized_minor FROM payment_charges ORDER BY seq"
            ).fetchall()
        return [Charge(cid, Money(minor, cur), captured=False) for cid, cur, minor in rows]

    @property
    def charges(self) -> list[Charge]:
        """Every captured charge with its captured amount, in authorization order."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT charge_id, currency, captured_minor FROM payment_charges"
                " WHERE captured_minor IS NOT NULL ORDER BY seq"
            ).fetchall()
        return [Charge(cid, Money(minor, cur), captured=True) for cid, cur, minor in rows]

    @property
    def refunds(self) -> list[Refund]:
        """Every refund, oldest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT refund_id, charge_id, currency, amount_minor FROM payment_refunds ORDER BY seq"
            ).fetchall()
        return [Refund(rid, cid, Money(minor, cur)) for rid, cid, cur, minor in rows]

    def captured_total(self, currency: str) -> Money:
        """The sum of captured amounts in ``currency`` (refunds not deducted)."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT COALESCE(SUM(captured_minor), 0) FROM payment_charges WHERE currency = ?", (currency,)
            ).fetchone()
        return Money(int(row[0]), currency)

    def refunded_total(self, currency: str) -> Money:
        """The sum of refunds in ``currency``."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT COALESCE(SUM(amount_minor), 0) FROM payment_refunds WHERE currency = ?", (currency,)
            ).fetchone()
        return Money(int(row[0]), currency)

    def net_captured(self, charge_id: str) -> Money:
        """Captured minus refunded for ``charge_id`` (zero if only authorized).

        Raises:
            NotFound: unknown charge.
        """
        with self._db.read() as conn:
            state = self._charge(conn, charge_id)
        if state.captured is None:
            return Money(0, state.authorized.currency)
        return state.captured - state.refunded
