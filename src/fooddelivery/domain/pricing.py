"""Order pricing: the one formula, with every rounding point named.

Formula (all amounts in the restaurant's currency, held in integer minor units):

1. ``line_total = unit_price x quantity`` (exact; menu prices are already in minor units).
2. ``subtotal = sum(line_total)`` (exact).
3. ``discount``: a promo code applies when ``subtotal >= promo.min_subtotal`` and ``now < promo.expires_at``.
   Percent codes: ``round_half_up(subtotal x percent / 100)`` **(rounding point 1)**; fixed codes: the amount.
   Either way capped at the subtotal.
4. ``tax = round_half_up((subtotal - discount) x restaurant.tax_rate)`` **(rounding point 2)**.
5. ``delivery_fee``: with both the restaurant's and the address's coordinates, the haversine distance is
   rounded to the metre (3 decimals of a km); a rounded distance over ``max_delivery_km`` is outside the
   delivery area and refused (field ``delivery_address``, code ``out_of_delivery_area``: 15.000 km is
   delivered under the default 15 km, 15.001 km is not); otherwise ``base + round_half_up(per_km x
   distance_km)`` **(rounding point 3)**, capped at ``max_delivery_fee``. Without both coordinates the flat
   fee (and no distance check: there is no distance).
6. ``service_fee = max(service_min, round_half_up(subtotal x service_rate))`` **(rounding point 4)**.
7. ``tip``: as given by the customer, >= 0 and at most ``max_tip``; exact.
8. ``total = subtotal - discount + tax + delivery_fee + service_fee + tip`` (exact).

Half-up means ``0.005 -> 0.01`` and ``-0.005 -> -0.01`` (away from zero at the half).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final

from fooddelivery.domain._frozen import fast_frozen_init
from fooddelivery.domain.errors import FieldError, ValidationError
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import MINOR_UNITS, Money

__all__ = [
    "DEFAULT_MAX_DELIVERY_KM",
    "OUT_OF_DELIVERY_AREA",
    "PriceBreakdown",
    "PricingPolicy",
    "PromoCode",
    "PromoKind",
    "price_order",
]

#: The default delivery area: the farthest (haversine, rounded to the metre) an address may be from its restaurant,
#: in km. Our choice, not an external figure: a city-scale radius a courier covers in well under the half hour the
#: delivery estimate assumes at city speeds; the simulated world and the demo catalog keep every address within it.
DEFAULT_MAX_DELIVERY_KM: Final[Decimal] = Decimal(15)

#: The field-error code of an address outside the delivery area (field ``delivery_address``).
OUT_OF_DELIVERY_AREA: Final[str] = "out_of_delivery_area"


class PromoKind(StrEnum):
    """How a promo code discounts."""

    PERCENT = "PERCENT"
    FIXED = "FIXED"


@dataclass(frozen=True, slots=True)
class PromoCode:
    """A promotion.

    Attributes:
        code: what the customer types (matched case-insensitively).
        kind: PERCENT or FIXED.
        percent: for PERCENT, 0 < percent <= 100.
        amount: for FIXED, the discount (> 0).
        min_subtotal: the subtotal required, or None.
        expires_at: the first instant the code no longer works (UTC), or None.
    """

    code: str
    kind: PromoKind
    percent: Decimal | None = None
    amount: Money | None = None
    min_subtotal: Money | None = None
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind is PromoKind.PERCENT and not (
            isinstance(self.percent, Decimal)
            and self.percent.is_finite()
            and Decimal(0) < self.percent <= Decimal(100)
        ):
            raise ValidationError.single("promo.percent", "must be in (0, 100]", "out_of_range")
        if self.kind is PromoKind.FIXED and not (self.amount is not None and self.amount.minor > 0):
            raise ValidationError.single("promo.amount", "must be positive", "out_of_range")


@dataclass(frozen=True, slots=True)
class PricingPolicy:
    """Fees of the platform, in one currency.

    Attributes:
        currency: ISO 4217 code these fees are in.
        delivery_base: fixed part of a distance-based delivery fee.
        delivery_per_km: added per km of haversine distance restaurant -> address.
        delivery_flat: fee when either end has no coordinates.
        max_delivery_fee: cap of the distance-based fee.
        service_rate: fraction of the subtotal.
        service_min: floor of the service fee.
        max_tip: largest tip accepted.
        max_delivery_km: the delivery area: the farthest an address with coordinates may be from its restaurant
            (km, haversine, compared after rounding to the metre as the fee does); a positive finite ``Decimal``,
            :data:`DEFAULT_MAX_DELIVERY_KM` by default. Not money: the same in every currency. With the default
            fees the distance-based fee then stays under ``max_delivery_fee`` (1.99 + 0.50 x 15 = 9.49 USD); the
            cap matters for a policy with a wider area.

    Raises:
        ValidationError: ``max_delivery_km`` is not a positive finite ``Decimal`` (field ``max_delivery_km``).
    """

    currency: str = "USD"
    delivery_base: Money = Money(199, "USD")
    delivery_per_km: Money = Money(50, "USD")
    delivery_flat: Money = Money(299, "USD")
    max_delivery_fee: Money = Money(1499, "USD")
    service_rate: Decimal = Decimal("0.05")
    service_min: Money = Money(99, "USD")
    max_tip: Money = Money(50_000, "USD")
    max_delivery_km: Decimal = DEFAULT_MAX_DELIVERY_KM

    def __post_init__(self) -> None:
        km = self.max_delivery_km
        if not (isinstance(km, Decimal) and km.is_finite() and km > 0):
            raise ValidationError.single("max_delivery_km", "must be a positive finite Decimal (km)", "out_of_range")

    @classmethod
    def for_currency(cls, currency: str) -> PricingPolicy:
        """The default fees, scaled to ``currency`` by face value (a documented simplification), and the default
        delivery area."""
        if currency == "USD":
            return cls()
        base = cls()

        def conv(m: Money) -> Money:
            return Money.of(_rescale(m, currency), currency)

        return cls(
            currency=currency,
            delivery_base=conv(base.delivery_base),
            delivery_per_km=conv(base.delivery_per_km),
            delivery_flat=conv(base.delivery_flat),
            max_delivery_fee=conv(base.max_delivery_fee),
            service_rate=base.service_rate,
            service_min=conv(base.service_min),
            max_tip=conv(base.max_tip),
        )


def _rescale(m: Money, currency: str) -> Decimal:
    """``m``'s face value quantized half-up to ``currency``'s minor unit."""
    return m.amount.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency]), rounding=ROUND_HALF_UP)


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class PriceBreakdown:
    """Every component of an order's price (all one currency).

    Attributes:
        subtotal: sum of line totals.
        discount: promo discount (>= 0, <= subtotal).
        tax: sales tax on ``subtotal - discount``.
        delivery_fee: distance-based or flat.
        service_fee: platform fee.
        tip: for the driver.
        total: what is captured.
        promo_code: the applied code, or None.
        distance_km: restaurant -> address distance used for the fee (3 decimals as text), or None.
    """

    subtotal: Money
    discount: Money
    tax: Money
    delivery_fee: Money
    service_fee: Money
    tip: Money
    total: Money
    promo_code: str | None = None
    distance_km: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """JSON-ready view: money as decimal strings."""
        return {
            "currency": self.total.currency,
            "subtotal": str(self.subtotal),
            "discount": str(self.discount),
            "tax": str(self.tax),
            "deliveryFee": str(self.delivery_fee),
            "serviceFee": str(self.service_fee),
            "tip": str(self.tip),
            "total": str(self.total),
            "promoCode": self.promo_code,
            "distanceKm": self.distance_km,
        }


def price_order(
    *,
    subtotal: Money,
    tax_rate: Decimal,
    policy: PricingPolicy,
    restaurant_location: GeoPoint | None,
    address_location: GeoPoint | None,
    tip: Money,
    promo: PromoCode | None,
    now: datetime,
) -> PriceBreakdown:
    """Apply the module's formula.

    A ``policy`` in another currency than the subtotal's is replaced by the default fees in that currency
    (:meth:`PricingPolicy.for_currency`), keeping its ``max_delivery_km`` (a distance, not money).

    Raises:
        ValidationError: currency mismatches; a negative or too-large tip; an address farther from the restaurant
            than ``policy.max_delivery_km`` (field ``delivery_address``, code ``out_of_delivery_area``, context
            ``distance_km`` and ``max_delivery_km`` as decimal strings); a promo code whose minimum subtotal is not
            met or that has expired (field ``promo_code``).
    """
    cur = subtotal.currency
    if policy.currency != cur:
        policy = replace(PricingPolicy.for_currency(cur), max_delivery_km=policy.max_delivery_km)
    if tip.currency != cur:
        raise ValidationError.single("tip", f"must be in {cur}", "currency_mismatch")
    if tip.is_negative():
        raise ValidationError.single("tip", "must not be negative", "out_of_range")
    if tip > policy.max_tip:
        raise ValidationError.single("tip", f"must be at most {policy.max_tip}", "out_of_range")

    # the distance the fee is computed on: haversine, rounded to the metre (the delivery area is checked on it too,
    # before the promo code's terms, so an address no promotion can fix comes first here; a code that is not on
    # offer at all is refused earlier, by the placing use case, with a 409)
    distance: float | None = None
    distance_km: Decimal | None = None
    if restaurant_location is not None and address_location is not None:
        distance = restaurant_location.distance_km(address_location)
        distance_km = Decimal(repr(round(distance, 3)))
        if distance_km > policy.max_delivery_km:
            raise _out_of_area(distance_km, policy.max_delivery_km)

    discount = Money(0, cur)
    if promo is not None:
        if promo.expires_at is not None and now >= promo.expires_at:
            raise ValidationError.single("promo_code", "has expired", "expired")
        if promo.min_subtotal is not None and subtotal < promo.min_subtotal:
            raise ValidationError.single(
                "promo_code", f"needs a subtotal of at least {promo.min_subtotal}", "min_subtotal"
            )
        if promo.kind is PromoKind.PERCENT:
            assert promo.percent is not None
            discount = subtotal.percent(promo.percent)
        else:
            assert promo.amount is not None
            if promo.amount.currency != cur:
                raise ValidationError.single("promo_code", f"is not valid for {cur}", "currency_mismatch")
            discount = promo.amount
        discount = discount.min(subtotal)

    tax = (subtotal - discount).multiply(tax_rate)

    if distance_km is not None:
        fee = policy.delivery_base + policy.delivery_per_km.multiply(distance_km)
        delivery_fee = fee.min(policy.max_delivery_fee)
    else:
        delivery_fee = policy.delivery_flat

    service_fee = subtotal.multiply(policy.service_rate).max(policy.service_min)
    # subtotal - discount + tax + delivery_fee + service_fee + tip, in integer minor units once every part is
    # known to be in the subtotal's currency (the same exact sum; every partial sum is at most the total, as only
    # the discount, at most the subtotal, is subtracted, so Money's range check on the total covers them all)
    for part in (discount, tax, delivery_fee, service_fee):
        if part.currency != cur:
            subtotal._same(part)  # raises CurrencyMismatch, as the Money arithmetic would
    total = Money(
        subtotal.minor - discount.minor + tax.minor + delivery_fee.minor + service_fee.minor + tip.minor, cur
    )
    return PriceBreakdown(
        subtotal=subtotal,
        discount=discount,
        tax=tax,
        delivery_fee=delivery_fee,
        service_fee=service_fee,
        tip=tip,
        total=total,
        promo_code=promo.code.upper() if promo else None,
        distance_km=f"{distance:.3f}" if distance is not None else None,
    )


def _out_of_area(distance_km: Decimal, max_km: Decimal) -> ValidationError:
    """The error of an address ``distance_km`` (rounded to the metre) from its restaurant, beyond ``max_km``."""
    distance, limit = f"{distance_km:.3f}", str(max_km)
    message = f"is {distance} km from the restaurant, outside its delivery area of {limit} km"
    return ValidationError(
        f"delivery_address: {message}",
        [FieldError("delivery_address", message, OUT_OF_DELIVERY_AREA)],
        distance_km=distance,
        max_delivery_km=limit,
    )
