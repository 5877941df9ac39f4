"""The SQLite fake card processor behaves like the in-memory one, call for call (they share their rules)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fooddelivery.adapters.memory import FakePaymentGateway
from fooddelivery.adapters.sqlite import MEMORY, SqliteDatabase, SqlitePaymentGateway
from fooddelivery.domain.errors import FoodDeliveryError
from fooddelivery.domain.money import Money

TOKENS = (
    "tok_visa",
    "card",
    "tok_chargeDeclined",
    "tok_chargeDeclinedInsufficientFunds",
    "tok_processingError",
    "tok_processingError_2",
    "4242424242424242",
)
AMOUNTS = (
    Money.of("1.00", "USD"),
    Money.of("5.00", "USD"),
    Money.of("21.97", "USD"),
    Money.of("0.00", "USD"),
    Money.of("5.00", "EUR"),
)
KEYS = tuple(f"k{i}" for i in range(6))
CHARGES = ("ch_00000001", "ch_00000002", "ch_00000003", "ch_missing")

operation = st.one_of(
    st.tuples(st.just("authorize"), st.sampled_from(TOKENS), st.sampled_from(AMOUNTS), st.sampled_from(KEYS)),
    st.tuples(st.just("capture"), st.sampled_from(CHARGES), st.sampled_from(AMOUNTS), st.sampled_from(KEYS)),
    st.tuples(st.just("refund"), st.sampled_from(CHARGES), st.sampled_from(AMOUNTS), st.sampled_from(KEYS)),
    st.tuples(st.just("fail_next"), st.integers(1, 2)),
)


def outcome(gateway: Any, op: tuple[Any, ...]) -> object:
    """What one call returned, or the error it raised (class, detail and context)."""
    if op[0] == "fail_next":
        gateway.fail_next(op[1])
        return None
    try:
        return getattr(gateway, op[0])(*op[1:])
    except FoodDeliveryError as exc:
        return (type(exc).__name__, exc.detail, exc.context)


def ledger(gateway: Any) -> object:
    """Everything the processor reports about the money it moved."""
    return (
        gateway.calls,
        gateway.authorizations,
        gateway.charges,
        gateway.refunds,
        [gateway.captured_total(c) for c in ("USD", "EUR")],
        [gateway.refunded_total(c) for c in ("USD", "EUR")],
    )


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(operation, max_size=40), window=st.sampled_from([None, 2]))
def test_any_sequence_of_calls_gets_the_same_answers_from_both_fakes(
    ops: list[tuple[Any, ...]], window: int | None
) -> None:
    memory = FakePaymentGateway(idempotency_window=window)
    db = SqliteDatabase(MEMORY)
    try:
        sqlite = SqlitePaymentGateway(db, idempotency_window=window)
        for op in ops:
            assert outcome(sqlite, op) == outcome(memory, op), op
        assert ledger(sqlite) == ledger(memory)
    finally:
        db.close()
