"""The core's one error hierarchy.

Every failure the core reports is a :class:`FoodDeliveryError`. The HTTP layer maps each class to one status
in a single table (see ``fooddelivery.http``); cloud adapters translate vendor errors into these with
``raise ... from exc``. The ``code`` of each class is a stable, machine-readable name that clients may branch on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CatalogMismatch",
    "ConcurrencyConflict",
    "CurrencyMismatch",
    "DataCorrupted",
    "DuplicateRequest",
    "FieldError",
    "FoodDeliveryError",
    "IdempotencyKeyReused",
    "InfrastructureError",
    "InvalidTransition",
    "LateEvent",
    "NoDriverAvailable",
    "NotAllowed",
    "NotAuthenticated",
    "NotFound",
    "PaymentDeclined",
    "PaymentError",
    "PaymentRetryableError",
    "PriceChanged",
    "ValidationError",
]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input field.

    Attributes:
        field: a dotted path into the input, e.g. ``"lines.0.quantity"``.
        message: what is wrong, in plain words.
        code: a stable machine-readable reason, e.g. ``"out_of_range"``.
    """

    field: str
    message: str
    code: str = "invalid"

    def as_dict(self) -> dict[str, str]:
        """Return ``{"field", "message", "code"}`` for problem-details bodies."""
        return {"field": self.field, "message": self.message, "code": self.code}


class FoodDeliveryError(Exception):
    """Base of every error the core raises on purpose.

    Attributes:
        code: stable machine-readable name of the error class.
        detail: human-readable explanation of this occurrence.
    """

    code = "food_delivery_error"

    def __init__(self, detail: str, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.context = context


class ValidationError(FoodDeliveryError):
    """Input that can never succeed as sent (HTTP 422). Names every invalid field.

    Args:
        detail: summary.
        fields: each invalid field with its reason; at least one for input errors.
    """

    code = "validation_error"

    def __init__(self, detail: str, fields: list[FieldError] | None = None, **context: Any) -> None:
        super().__init__(detail, **context)
        self.fields: list[FieldError] = list(fields or [])

    def __str__(self) -> str:
        """The detail, followed by the invalid fields it does not already name (at most five), e.g.
        ``"the order is invalid (lines.0.quantity: must be 1..99)"``: what a traceback or a log line shows.
        ``detail`` itself (what HTTP problem bodies carry, next to ``errors``) is unchanged."""
        named = [f"{e.field}: {e.message}" for e in self.fields]
        missing = [text for text in named if text not in self.detail]
        if not missing:
            return self.detail
        more = f"; and {len(missing) - 5} more" if len(missing) > 5 else ""
        listed = f"{'; '.join(missing[:5])}{more}"
        return f"{self.detail} ({listed})" if self.detail else listed

    @classmethod
    def single(cls, field: str, message: str, code: str = "invalid") -> ValidationError:
        """Build the error for one invalid field."""
        return cls(f"{field}: {message}", [FieldError(field, message, code)])


class CurrencyMismatch(ValidationError):
    """Two amounts in different currencies were combined."""

    code = "currency_mismatch"


class PriceChanged(ValidationError):
    """A client-sent unit price differs from the restaurant's menu price (HTTP 409).

    The client should re-read the menu; the server never trusts client prices.
    """

    code = "price_changed"


class CatalogMismatch(ValidationError):
    """A well-formed request that does not match the restaurant's data as it is now (HTTP 409): an item that is not
    (or no longer) on its menu or not available, a restaurant not accepting orders, an amount with more decimals
    than its currency has, a promo code that is unknown or does not apply. Names every such field.

    The client should re-read the restaurant (its menu, its currency) or drop the promo code; the same request
    may succeed once the restaurant's data changes, which is why it is a conflict and not an invalid request.
    """

    code = "catalog_mismatch"


class NotAuthenticated(FoodDeliveryError):
    """No, or no valid, identity was presented (HTTP 401)."""

    code = "not_authenticated"


class NotAllowed(FoodDeliveryError):
    """The actor is known but may not do this (HTTP 403)."""

    code = "not_allowed"


class NotFound(FoodDeliveryError):
    """The resource does not exist, or the actor may not know that it exists (HTTP 404)."""

    code = "not_found"


class InvalidTransition(FoodDeliveryError):
    """The lifecycle forbids this change from the current state (HTTP 409)."""

    code = "invalid_transition"


class LateEvent(InvalidTransition):
    """A saga event arrived after the step it belongs to ended, e.g. a confirmation after the timeout (409).

    Nothing was changed.
    """

    code = "late_event"


class ConcurrencyConflict(FoodDeliveryError):
    """Optimistic concurrency failed: the stored version is not the one the writer read (HTTP 409)."""

    code = "concurrency_conflict"


class DuplicateRequest(FoodDeliveryError):
    """The same idempotency key arrived with the same body: the stored result stands.

    Attributes:
        resource_id: the id of what the first request created.
    """

    code = "duplicate_request"

    def __init__(self, detail: str, resource_id: str, **context: Any) -> None:
        super().__init__(detail, **context)
        self.resource_id = resource_id


class IdempotencyKeyReused(FoodDeliveryError):
    """The same idempotency key arrived with a different body (HTTP 422)."""

    code = "idempotency_key_reused"


class NoDriverAvailable(FoodDeliveryError):
    """No AVAILABLE driver within the search radius could be reserved (HTTP 409)."""

    code = "no_driver_available"


class PaymentError(FoodDeliveryError):
    """Base of payment failures."""

    code = "payment_error"


class PaymentDeclined(PaymentError):
    """The card issuer declined: retrying will not help (HTTP 402). Nothing was charged."""

    code = "payment_declined"


class PaymentRetryableError(PaymentError):
    """A transient processing failure: nothing was charged and the same request may be retried."""

    code = "payment_retryable"


class InfrastructureError(FoodDeliveryError):
    """A dependency (store, bus, gateway) failed; the request may succeed later (HTTP 503)."""

    code = "infrastructure_error"


class DataCorrupted(InfrastructureError):
    """Stored data cannot be read back: the store itself is damaged (HTTP 500, never worth a retry).

    Unlike its parent, retrying does not help: the data is gone until an operator restores it. ``detail`` names
    what could not be read (an order id when one is known), never the data itself.
    """

    code = "data_corrupted"
