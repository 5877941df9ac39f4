"""The use cases' commands and results: plain, frozen values (``PlaceOrder``, ``PlaceOrderResult``, ``Tracking``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from fooddelivery.domain._frozen import fast_frozen_init
from fooddelivery.domain.catalog import DeliveryAddress
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.order import LineRequest, Order, OrderStatus

__all__ = ["PlaceOrder", "PlaceOrderResult", "Tracking"]


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """The command to place an order (the customer is the acting actor).

    Attributes:
        restaurant_id: where to order.
        lines: what to order (see :class:`LineRequest`).
        delivery_address: where to deliver.
        payment_method: an opaque card token.
        tip: decimal string/``Decimal``/``int`` in the restaurant's currency, or None.
        promo_code: a promo code, or None.
        customer_id: optional; when given it must equal the acting customer's id.
    """

    restaurant_id: str
    lines: Sequence[LineRequest]
    delivery_address: DeliveryAddress
    payment_method: str
    tip: object = None
    promo_code: str | None = None
    customer_id: str | None = None

    def fingerprint(self) -> str:
        """A digest of the request's content, for idempotency (hex SHA-256 of a canonical JSON form).

        Equal content written differently has one fingerprint: decimals by value (``15.99``, ``"15.990"`` and
        ``1599e-2``; a tip of ``2`` and ``"2.00"``; no tip and a zero tip), promo codes in upper case (they match
        case-insensitively).
        """
        loc = self.delivery_address.location
        tip = _canonical_decimal(self.tip)
        doc = {
            "r": self.restaurant_id,
            "l": [[li.item_id, li.name, repr(li.quantity), _canonical_decimal(li.unit_price)] for li in self.lines],
            "a": [self.delivery_address.text, [loc.lat, loc.lon] if loc else None],
            "p": self.payment_method,
            "t": "None" if tip == "0" else tip,  # no tip is a zero tip ("None": the form keys were stored with)
            "c": self.promo_code.upper() if isinstance(self.promo_code, str) else self.promo_code,
        }
        raw = json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(raw).hexdigest()


def _canonical_decimal(value: object) -> str:
    """One text per decimal value, for fingerprints: ``"15.99"`` for ``15.99``, ``"15.990"`` and ``1599e-2``;
    ``"2"`` for ``2`` and ``"2.00"``; ``"0"`` for every zero. Exact (no context rounding) and short: exponents
    beyond 40 are written ``<digits>E<exponent>`` instead of spelled out. Anything that is not a finite decimal
    keeps ``str()`` (so ``None`` stays ``"None"``, the form of fingerprints stored before this one).
    """
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        return str(value)
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        return str(value)
    if not number.is_finite():
        return str(value)
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite
    coefficient = "".join(map(str, digits)).lstrip("0")
    significant = coefficient.rstrip("0")
    if not significant:
        return "0"
    exponent += len(coefficient) - len(significant)
    minus = "-" if sign else ""
    if not -40 <= exponent <= 40:
        return f"{minus}{significant}E{exponent}"
    if exponent >= 0:
        return minus + significant + "0" * exponent
    whole, fraction = significant[:exponent], significant[exponent:].rjust(-exponent, "0")
    return f"{minus}{whole or '0'}.{fraction}"


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class PlaceOrderResult:
    """The outcome of placing an order.

    Attributes:
        order: the order.
        created: False when an earlier request with the same idempotency key created it.
    """

    order: Order
    created: bool


@dataclass(frozen=True, slots=True)
class Tracking:
    """Where a delivery is.

    Attributes:
        order_id: the order.
        status: its status.
        driver_id: the assigned driver, or None.
        driver_location: the driver's last position, or None.
        driver_last_seen: when it was reported, or None.
        eta: expected arrival at the door (UTC), or None when unknown.
        minutes_remaining: ``eta - now`` in whole minutes (rounded up), or None.
    """

    order_id: str
    status: OrderStatus
    driver_id: str | None
    driver_location: GeoPoint | None
    driver_last_seen: datetime | None
    eta: datetime | None
    minutes_remaining: int | None
