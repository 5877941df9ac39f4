"""A fake card processor: deterministic behaviour per card token, Stripe-style idempotency."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

from fooddelivery.adapters.counters import OperationCounters, meter_of
from fooddelivery.adapters.fake_processor import (
    ALWAYS_TRANSIENT_TOKEN,
    DECLINE_TOKENS,
    SUCCESS_TOKENS,
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
from fooddelivery.domain.errors import NotFound
from fooddelivery.domain.money import Money
from fooddelivery.metering.operations import PAYMENT_CALL
from fooddelivery.ports.payments import Charge, Refund

__all__ = ["ALWAYS_TRANSIENT_TOKEN", "DECLINE_TOKENS", "SUCCESS_TOKENS", "FakePaymentGateway"]


class _ChargeState:
    """What the processor knows of one charge (compact: one small object per charge)."""

    __slots__ = ("authorized", "captured", "payment_method", "refunded")

    def __init__(self, payment_method: str, authorized: Money) -> None:
        self.payment_method = payment_method
        self.authorized = authorized
        self.captured: Money | None = None
        self.refunded = Money(0, authorized.currency)


class FakePaymentGateway:
    """A deterministic card processor (implements ``PaymentGateway``). Thread-safe.

    Behaviour by card token (``payment_method`` of ``authorize``; the rules live in
    ``fooddelivery.adapters.fake_processor``, shared with ``SqlitePaymentGateway``):

    - :data:`SUCCESS_TOKENS` (``tok_visa``, ``tok_mastercard``, ``pm_card_visa``, ``card``):
      succeed.
    - :data:`DECLINE_TOKENS` (``tok_chargeDeclined``, ``tok_chargeDeclinedInsufficientFunds``,
      ``pm_card_chargeDeclined``): ``authorize`` raises ``PaymentDeclined`` (``decline_code`` in
      context).
    - ``tok_processingError_N`` (N an integer): the first N ``authorize`` attempts with one idempotency key
      raise ``PaymentRetryableError``, the next succeeds (so a payment step sees exactly N transient failures).
    - ``tok_processingError``: every ``authorize`` attempt raises ``PaymentRetryableError``.
    - ``capture`` and ``refund`` fail transiently only when injected with :meth:`fail_next`.
    - anything else: ``PaymentDeclined("unknown payment method")``.

    Idempotency follows Stripe: keys share one namespace across operations; a repeated key with the
    same operation and parameters returns the first result (or replays its decline) without moving
    money; with anything else it raises ``IdempotencyKeyReused``. Transient failures, validation
    errors and unknown charges are not stored against the key, so a retry with the same key runs
    again.

    Money rules: a charge is captured at most once, for at most its authorized amount (partial
    capture allowed); refunds never exceed captured minus already refunded; all amounts positive and
    in the charge's currency. Ids are deterministic: ``ch_00000001``, ``re_00000001``.

    Counted operations (with ``counters``): ``payments.calls`` per call of any operation.

    Args:
        idempotency_window: remember only the last N keys (Stripe forgets keys after 24 hours), or
            None to remember every key (the strict default).
        counters: optional shared operation counters.

    Raises:
        ValueError: an ``idempotency_window`` < 1.
    """

    def __init__(self, *, idempotency_window: int | None = None, counters: OperationCounters | None = None) -> None:
        if idempotency_window is not None and idempotency_window < 1:
            raise ValueError("idempotency_window must be None or >= 1")
        self._lock = threading.Lock()
        self._counters = counters
        self._meter = meter_of(counters)
        self._window = idempotency_window
        self._key_order: deque[str] = deque()
        self._results: dict[str, tuple[Params, Result]] = {}
        self._attempts: dict[tuple[str, str], int] = {}
        self._charges: dict[str, _ChargeState] = {}
        self._refunds: list[Refund] = []
        self._refunds_by_charge: dict[str, list[Refund]] = {}
        self._captured_by_currency: dict[str, int] = {}
        self._refunded_by_currency: dict[str, int] = {}
        self._calls = 0
        self._fail_next = 0
        self._next_charge = 1
        self._next_refund = 1

    # -- plumbing (call with the lock held) --------------------------------------------------------
    def _begin(self, operation: str, key: str) -> None:
        self._calls += 1
        if self._fail_next:
            self._fail_next -= 1
            raise injected_failure(operation, key)

    def _remember(self, key: str, params: Params, result: Result) -> None:
        self._results[key] = (params, result)
        if self._window is not None:
            order = self._key_order
            order.append(key)
            if len(order) > self._window:
                self._results.pop(order.popleft(), None)

    def _transient(self, token: str, operation: str, key: str) -> None:
        failed_before = self._attempts.get((operation, key), 0)
        error = transient_failure(token, operation, key, failed_before)
        if error is not None:
            self._attempts[(operation, key)] = failed_before + 1
            raise error
        self._attempts.pop((operation, key), None)

    def _charge(self, charge_id: str) -> _ChargeState:
        state = self._charges.get(charge_id)
        if state is None:
            raise NotFound(f"charge {charge_id} not found", charge_id=charge_id)
        return state

    def _count(self) -> None:
        if self._counters is not None:
            self._counters.local.counts["payments.calls"] += 1
        if self._meter is not None:
            self._meter.local.unsized[PAYMENT_CALL] += 1  # meter.record, without the call

    # -- PaymentGateway ----------------------------------------------------------------------------
    def authorize(self, payment_method: str, amount: Money, idempotency_key: str) -> Charge:
        """Hold ``amount`` on the card ``payment_method``; returns an uncaptured ``Charge``.

        Raises:
            PaymentDeclined: a decline token or an unknown token (replayed for a repeated key).
            PaymentRetryableError: a transient token or an injected failure; retry with the same
                key.
            IdempotencyKeyReused: the key was used for another operation or other parameters.
            ValidationError: a non-positive amount.
        """
        if self._counters is not None or self._meter is not None:
            self._count()
        params: Params = ("authorize", payment_method, amount)
        with self._lock:
            # self._begin(...), written out (every payment passes here)
            self._calls += 1
            if self._fail_next:
                self._fail_next -= 1
                raise injected_failure("authorize", idempotency_key)
            stored = self._results.get(idempotency_key)
            if stored is not None:  # replay() answers None for a first call
                first = replay(idempotency_key, stored, params)
                if first is not None:
                    assert isinstance(first, Charge)
                    return first
            check_positive(amount)
            self._transient(payment_method, "authorize", idempotency_key)
            declined = decline_of(payment_method)
            if declined is not None:
                self._remember(idempotency_key, params, declined)
                raise declined.error()
            charge_id = charge_id_of(self._next_charge)
            self._next_charge += 1
            self._charges[charge_id] = _ChargeState(payment_method, amount)
            charge = Charge(charge_id, amount, captured=False)
            self._remember(idempotency_key, params, charge)
            return charge

    def capture(self, charge_id: str, amount: Money, idempotency_key: str) -> Charge:
        """Capture ``amount`` (at most the authorized amount) of ``charge_id``.

        Returns:
            The captured ``Charge``.

        Raises:
            PaymentRetryableError: a transient token or an injected failure; retry with the same
                key.
            NotFound: unknown charge.
            ValidationError: more than authorized, a non-positive amount, another currency, or a
                charge already captured under another key.
            IdempotencyKeyReused: the key was used for another operation or other parameters.
        """
        if self._counters is not None or self._meter is not None:
            self._count()
        params: Params = ("capture", charge_id, amount)
        with self._lock:
            # self._begin(...), written out
            self._calls += 1
            if self._fail_next:
                self._fail_next -= 1
                raise injected_failure("capture", idempotency_key)
            stored = self._results.get(idempotency_key)
            if stored is not None:
                first = replay(idempotency_key, stored, params)
                if first is not None:
                    assert isinstance(first, Charge)
                    return first
            state = self._charges.get(charge_id)  # self._charge(charge_id), written out
            if state is None:
                state = self._charge(charge_id)  # raises NotFound
            check_capture(charge_id, amount, state.authorized, state.captured)
            state.captured = amount
            cur = amount.currency
            self._captured_by_currency[cur] = self._captured_by_currency.get(cur, 0) + amount.minor
            charge = Charge(charge_id, amount, captured=True)
            self._remember(idempotency_key, params, charge)
            return charge

    def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> Refund:
        """Return ``amount`` of the captured ``charge_id``; returns the ``Refund``.

        Raises:
            PaymentRetryableError: a transient token or an injected failure; retry with the same
                key.
            NotFound: unknown charge.
            ValidationError: nothing captured, more than captured minus refunded, a non-positive
                amount or another currency.
            IdempotencyKeyReused: the key was used for another operation or other parameters.
        """
        self._count()
        params: Params = ("refund", charge_id, amount)
        with self._lock:
            self._begin("refund", idempotency_key)
            first = replay(idempotency_key, self._results.get(idempotency_key), params)
            if first is not None:
                assert isinstance(first, Refund)
                return first
            state = self._charge(charge_id)
            check_refund(charge_id, amount, state.authorized, state.captured, state.refunded)
            state.refunded = state.refunded + amount
            cur = amount.currency
            self._refunded_by_currency[cur] = self._refunded_by_currency.get(cur, 0) + amount.minor
            refund = Refund(refund_id_of(self._next_refund), charge_id, amount)
            self._next_refund += 1
            self._refunds.append(refund)
            self._refunds_by_charge.setdefault(charge_id, []).append(refund)
            self._remember(idempotency_key, params, refund)
            return refund

    # -- retention -------------------------------------------------------------------------------
    def release(self, charge_id: str | None, idempotency_keys: Sequence[str] = ()) -> None:
        """Forget a settled charge (None: no charge, e.g. a declined authorization) and the results and transient
        failure counts stored under ``idempotency_keys`` (the totals by currency and the refunds list stay). Not a
        port operation (see ``InMemoryOrderRepository.release``): a replay of a forgotten key runs again, as at a
        processor that forgot it (Stripe forgets keys after 24 hours).
        """
        with self._lock:
            if charge_id is not None:
                self._charges.pop(charge_id, None)
                self._refunds_by_charge.pop(charge_id, None)
            for key in idempotency_keys:
                self._results.pop(key, None)
                for operation in ("authorize", "capture", "refund"):
                    self._attempts.pop((operation, key), None)

    def refunds_of(self, charge_id: str) -> list[Refund]:
        """The refunds of one charge, oldest first (inspection: not counted)."""
        with self._lock:
            return list(self._refunds_by_charge.get(charge_id, ()))

    def refunded_charges(self) -> set[str]:
        """The charges with refunds (that were not released), for audits."""
        with self._lock:
            return set(self._refunds_by_charge)

    # -- failure injection -------------------------------------------------------------------------
    def fail_next(self, n: int = 1) -> None:
        """Make the next ``n`` calls (any operation, any token) raise ``PaymentRetryableError``."""
        with self._lock:
            self._fail_next = n

    # -- what it saw -------------------------------------------------------------------------------
    @property
    def calls(self) -> int:
        """How many calls were made, of every operation and outcome."""
        return self._calls

    @property
    def authorizations(self) -> list[Charge]:
        """Every successful authorization (uncaptured view), oldest first."""
        with self._lock:
            return [Charge(cid, s.authorized, captured=False) for cid, s in self._charges.items()]

    @property
    def charges(self) -> list[Charge]:
        """Every captured charge with its captured amount, in authorization order."""
        with self._lock:
            return [
                Charge(cid, s.captured, captured=True) for cid, s in self._charges.items() if s.captured is not None
            ]

    @property
    def refunds(self) -> list[Refund]:
        """Every refund, oldest first."""
        with self._lock:
            return list(self._refunds)

    def captured_total(self, currency: str) -> Money:
        """The sum of captured amounts in ``currency`` (refunds not deducted)."""
        with self._lock:
            return Money(self._captured_by_currency.get(currency, 0), currency)

    def refunded_total(self, currency: str) -> Money:
        """The sum of refunds in ``currency``."""
        with self._lock:
            return Money(self._refunded_by_currency.get(currency, 0), currency)

    def net_captured(self, charge_id: str) -> Money:
        """Captured minus refunded for ``charge_id`` (zero if only authorized).

        Raises:
            NotFound: unknown charge.
        """
        with self._lock:
            state = self._charge(charge_id)
            if state.captured is None:
                return Money(0, state.authorized.currency)
            return state.captured - state.refunded
