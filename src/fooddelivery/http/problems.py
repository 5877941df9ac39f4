"""The one error table: every error class of the core -> an HTTP status, as RFC 9457 problem
details.

Standard library only. Clients branch on ``code`` (stable, machine-readable) or ``status``;
``errors`` names every invalid field as ``{"field", "message", "code"}``.

Problem body (``Content-Type: application/problem+json``)::

    {"type": "urn:fooddelivery:problem:validation_error", "title": "Invalid request", "status": 422,
     "detail": "...", "instance": "/orders", "code": "validation_error", "requestId": "...",
     "errors": [{"field": "items.0.quantity", "message": "must be 1..99", "code": "out_of_range"}]}
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

from fooddelivery.domain.errors import (
    CatalogMismatch,
    ConcurrencyConflict,
    CurrencyMismatch,
    DataCorrupted,
    DuplicateRequest,
    FieldError,
    FoodDeliveryError,
    IdempotencyKeyReused,
    InfrastructureError,
    InvalidTransition,
    LateEvent,
    NoDriverAvailable,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    PaymentDeclined,
    PaymentError,
    PaymentRetryableError,
    PriceChanged,
    ValidationError,
)
from fooddelivery.http.messages import HttpResponse

__all__ = [
    "ERROR_TABLE",
    "PROBLEM_CONTENT_TYPE",
    "PROBLEM_TYPE_PREFIX",
    "RequestRejected",
    "internal_error_response",
    "problem_response",
    "status_for",
    "wire_field",
]

log = logging.getLogger("fooddelivery.http")

#: Media type of every error body (RFC 9457 section 3).
PROBLEM_CONTENT_TYPE: Final[str] = "application/problem+json"
#: ``type`` of a problem is this prefix + its ``code``: a URN, absolute and never dereferenced (RFC
#: 9457 section 3.1.1 lets a type URI be a non-resolvable identifier).
PROBLEM_TYPE_PREFIX: Final[str] = "urn:fooddelivery:problem:"
#: ``WWW-Authenticate`` challenge of a 401 (RFC 6750 section 3).
_REALM: Final[str] = 'Bearer realm="fooddelivery"'


class RequestRejected(FoodDeliveryError):
    """A request the HTTP layer refuses before any use case runs (bad JSON, wrong media type, no
    route...).

    Args:
        status: the HTTP status (400, 404, 405, 413, 415...).
        code: stable machine-readable name (``"malformed_json"``...).
        title: short summary of the problem type.
        detail: what is wrong with this request.
        fields: invalid fields, if any.
        headers: extra response headers (``Allow`` for a 405).
    """

    code = "request_rejected"

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        fields: list[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.fields = list(fields or [])
        self.headers = dict(headers or {})


#: Error class -> (status, title). The most specific class of an error's MRO wins, so subclasses
#: (``PriceChanged`` under ``ValidationError``, ``LateEvent`` under ``InvalidTransition``) get their
#: own row.
ERROR_TABLE: Final[Mapping[type[FoodDeliveryError], tuple[int, str]]] = {
    ValidationError: (422, "Invalid request"),
    CurrencyMismatch: (422, "Currency mismatch"),
    PriceChanged: (409, "Prices changed"),
    CatalogMismatch: (409, "Does not match the restaurant"),
    NotAuthenticated: (401, "Not authenticated"),
    NotAllowed: (403, "Forbidden"),
    NotFound: (404, "Not found"),
    InvalidTransition: (409, "Invalid state transition"),
    LateEvent: (409, "Too late"),
    ConcurrencyConflict: (409, "Concurrent update"),
    DuplicateRequest: (409, "Duplicate request"),
    IdempotencyKeyReused: (422, "Idempotency key reused"),
    NoDriverAvailable: (409, "No driver available"),
    PaymentDeclined: (402, "Payment declined"),
    PaymentRetryableError: (503, "Payment processor unavailable"),
    PaymentError: (502, "Payment failed"),
    InfrastructureError: (503, "Service unavailable"),
    DataCorrupted: (500, "Stored data damaged"),
}

#: Statuses whose ``detail`` is replaced by a generic sentence (the real one may name internals; it
#: is logged instead).
_GENERIC_DETAIL: Final[Mapping[int, str]] = {
    502: "The payment processor failed; nothing was charged twice. Retry later.",
    503: "A service this API depends on is unavailable. Retry later.",
}


class _ThrottledLog:
    """Logs a dependency failure at most once per ``interval_s`` per (status, code, reason), saying how many were
    left out meanwhile: a full disk fails every request that writes, and the log must not grow with the traffic."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._last: dict[tuple[int, str, object], tuple[float, int]] = {}

    def warn(self, status: int, error: FoodDeliveryError, request_id: str) -> None:
        key = (status, error.code, error.context.get("reason"))
        now = time.monotonic()
        with self._lock:
            last, left_out = self._last.get(key, (float("-inf"), 0))
            if now - last < self.interval_s:
                self._last[key] = (last, left_out + 1)
                return
            self._last[key] = (now, 0)
        more = f" ({left_out} more like it in the last {now - last:.1f} s)" if left_out else ""
        log.warning(
            "dependency failure (%s %s): %s%s",
            status,
            error.code,
            error.detail,
            more,
            extra={"request_id": request_id},
        )


_DEPENDENCY_LOG: Final[_ThrottledLog] = _ThrottledLog()


def status_for(error: FoodDeliveryError) -> tuple[int, str]:
    """The ``(status, title)`` of ``error`` from :data:`ERROR_TABLE` (most specific class first).

    A :class:`RequestRejected` carries its own; an error class missing from the table maps to
    ``(500, "Internal server error")``.
    """
    if isinstance(error, RequestRejected):
        return error.status, error.title
    for klass in type(error).__mro__:
        row = ERROR_TABLE.get(klass)
        if row is not None:
            return row
    return 500, "Internal server error"


class WireValidationError(ValidationError):
    """A validation error the HTTP layer raised itself: its fields are named as the client sent them (an unknown
    body key, a query parameter, ``body``), so they reach the problem body unchanged. The core's own validation
    errors name the core's attributes instead, and are renamed on the way out (:func:`wire_field`)."""


#: Domain field paths whose wire name is not their camel-case form (whole paths, then single segments).
_WIRE_PATHS: Final[Mapping[str, str]] = {"idempotency_key": "Idempotency-Key"}
_WIRE_SEGMENTS: Final[Mapping[str, str]] = {"lines": "items", "unit_price": "price"}


def _camel(segment: str) -> str:
    head, *rest = segment.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def wire_field(path: str) -> str:
    """The API's name of a field the core names by its own attributes: ``lines.0.unit_price`` -> ``items.0.price``,
    ``payment_method`` -> ``paymentMethod``, ``idempotency_key`` -> ``Idempotency-Key``. Names already in wire form
    (``items.0.quantity``, ``minRating``, ``body``, a header) come back unchanged.
    """
    if path in _WIRE_PATHS:
        return _WIRE_PATHS[path]
    if "-" in path:  # a header name
        return path
    return ".".join(_WIRE_SEGMENTS.get(segment, _camel(segment)) for segment in path.split("."))


def _on_the_wire(detail: str, fields: list[FieldError]) -> tuple[str, list[FieldError]]:
    """``fields`` with wire names, and ``detail`` with a leading ``<field>:`` renamed the same way."""
    wired = [FieldError(wire_field(f.field), f.message, f.code) for f in fields]
    for before, after in zip(fields, wired, strict=True):
        if detail.startswith(before.field + ":"):
            detail = after.field + detail[len(before.field) :]
            break
    return detail, wired


def _problem(
    *,
    status: int,
    title: str,
    code: str,
    detail: str,
    request_id: str,
    instance: str | None,
    fields: list[FieldError],
    headers: Mapping[str, str],
) -> HttpResponse:
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_PREFIX}{code}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body["code"] = code
    body["requestId"] = request_id
    body["errors"] = [f.as_dict() for f in fields]
    return HttpResponse.from_json(status, body, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def problem_response(error: FoodDeliveryError, request_id: str, instance: str | None = None) -> HttpResponse:
    """The problem-details response for ``error``.

    Args:
        error: any error of the core's hierarchy (or a :class:`RequestRejected`).
        request_id: the request's id, echoed as ``requestId``.
        instance: the request path, echoed as ``instance``.

    Returns:
        A response with the table's status, ``Content-Type: application/problem+json`` and, for 401,
        a ``WWW-Authenticate: Bearer`` challenge (RFC 6750 section 3); for 503 a ``Retry-After``. A
        :class:`DataCorrupted` is a 500 whose detail says what cannot be read (retrying will not help).
    """
    status, title = status_for(error)
    if isinstance(error, DataCorrupted):
        # Not a bug and not an outage: the data is gone until an operator restores it. Say which (the detail
        # names the order), never "retry later", and log one line, no traceback.
        log.error("stored data damaged: %s", error.detail, extra={"request_id": request_id})
        return _problem(
            status=status,
            title=title,
            code=error.code,
            detail=error.detail,
            request_id=request_id,
            instance=instance,
            fields=[],
            headers={},
        )
    if status >= 500:
        if status == 500:
            return internal_error_response(error, request_id, instance)
        _DEPENDENCY_LOG.warn(status, error, request_id)
    fields: list[FieldError] = list(getattr(error, "fields", ()) or ())
    detail = _GENERIC_DETAIL.get(status, error.detail)
    if not isinstance(error, WireValidationError):
        detail, fields = _on_the_wire(detail, fields)
    headers: dict[str, str] = {}
    if isinstance(error, RequestRejected):
        headers.update(error.headers)
    if status == 401:
        # no bearer credentials at all (none, or another scheme): the challenge carries no error code (RFC 6750
        # section 3.1); a bearer token that was refused: error="invalid_token"
        no_bearer = error.context.get("reason") in ("missing", "other_scheme")
        headers["WWW-Authenticate"] = _REALM if no_bearer else f'{_REALM}, error="invalid_token"'
    if status == 503:
        headers["Retry-After"] = "1"
    return _problem(
        status=status,
        title=title,
        code=error.code,
        detail=detail,
        request_id=request_id,
        instance=instance,
        fields=fields,
        headers=headers,
    )


def internal_error_response(error: BaseException, request_id: str, instance: str | None = None) -> HttpResponse:
    """The single generic 500: logs ``error`` with its traceback and the request id; reveals
    nothing.

    Args:
        error: the unexpected exception.
        request_id: the request's id (logged, and returned so an operator can find the log line).
        instance: the request path.
    """
    log.error(
        "unhandled error in request %s",
        request_id,
        exc_info=error,
        extra={"request_id": request_id},
    )
    return _problem(
        status=500,
        title="Internal server error",
        code="internal_error",
        detail=f"An unexpected error occurred. Quote request id {request_id} when reporting it.",
        request_id=request_id,
        instance=instance,
        fields=[],
        headers={},
    )
