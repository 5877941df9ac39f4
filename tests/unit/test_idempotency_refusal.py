"""The error for a placement whose idempotency key is already bound (``IdempotencyRecord.refused_by``), which every
store's ``add`` raises: the same request again names the first order, another request with the key is refused."""

from __future__ import annotations

from fooddelivery.domain.errors import DuplicateRequest, IdempotencyKeyReused
from fooddelivery.ports.orders import IdempotencyRecord

BOUND = IdempotencyRecord("cus-ana", "checkout-42", "f" * 64, "ord-first")


def test_the_same_request_again_is_a_duplicate_naming_the_first_order() -> None:
    again = IdempotencyRecord("cus-ana", "checkout-42", "f" * 64, "ord-second")
    refusal = again.refused_by(BOUND)
    assert isinstance(refusal, DuplicateRequest)
    assert refusal.resource_id == "ord-first"
    assert refusal.detail == "idempotency key 'checkout-42' already created order ord-first"


def test_another_request_with_the_key_is_a_reused_key_with_its_scope_and_key() -> None:
    other = IdempotencyRecord("cus-ana", "checkout-42", "0" * 64, "ord-second")
    refusal = other.refused_by(BOUND)
    assert isinstance(refusal, IdempotencyKeyReused)
    assert refusal.context == {"scope": "cus-ana", "key": "checkout-42"}
    assert refusal.detail == "idempotency key 'checkout-42' was used with a different request"
