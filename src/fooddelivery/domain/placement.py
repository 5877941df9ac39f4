"""Placing an order, step by step: parse the request against the menu, then price it (``Order.place`` records the
event). Field paths in errors are the domain's own (``lines.0.unit_price``); each entrypoint maps them to its wire
names (the HTTP layer: ``items.0.price``).

- :func:`parse_request` -- every check of the request that does not need pricing: the payment token, the
  restaurant taking orders, 1..50 lines, each line's quantity (an ``int`` 1..99), its menu item (by id or by name,
  available) and the price the client saw (which must equal the menu's), and the tip as an exact amount. It reports
  every invalid field at once.
- :func:`price` -- the breakdown (``fooddelivery.domain.pricing.price_order``) of the parsed lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal
from typing import Final

from fooddelivery.domain._frozen import fast_frozen_init
from fooddelivery.domain.catalog import MAX_MENU_PRICE, DeliveryAddress, MenuItem, Restaurant
from fooddelivery.domain.errors import CatalogMismatch, FieldError, PriceChanged, ValidationError
from fooddelivery.domain.money import MINOR_UNITS, Money, parse_decimal
from fooddelivery.domain.pricing import PriceBreakdown, PricingPolicy, PromoCode, price_order

__all__ = ["MAX_LINES", "MAX_QUANTITY", "LineItem", "LineRequest", "ParsedRequest", "parse_request", "price"]

#: Most decimals a menu price can have (ISO 4217: no currency has more than 3), and the step they give.
_PRICE_PLACES: Final[int] = max(MINOR_UNITS.values())
_PRICE_STEP: Final[Decimal] = Decimal(1).scaleb(-_PRICE_PLACES)
#: Exact for any price up to MAX_MENU_PRICE, whatever the thread's decimal context says.
_PRICE_CONTEXT: Final[Context] = Context(prec=60)

#: Most lines one order may have.
MAX_LINES: Final[int] = 50
#: Largest quantity of one line.
MAX_QUANTITY: Final[int] = 99


@dataclass(frozen=True, slots=True)
class LineRequest:
    """One line as a client asks for it (unvalidated).

    Attributes:
        quantity: must be an ``int`` 1..99 (bools, floats and strings are refused).
        item_id: the menu item's id, or None to look it up by ``name``.
        name: the menu item's name (case-insensitive), used when ``item_id`` is None.
        unit_price: the price the client saw, or None; when given it must equal the menu price.
    """

    quantity: object
    item_id: str | None = None
    name: str | None = None
    unit_price: object = None


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class LineItem:
    """A priced line of an order; the price comes from the menu at order time.

    Attributes:
        item_id: the menu item's id.
        name: the menu item's name as on the menu.
        unit_price: menu price at order time.
        quantity: 1..99.
        line_total: ``unit_price x quantity``.
    """

    item_id: str
    name: str
    unit_price: Money
    quantity: int
    line_total: Money


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """A request that passed every check of :func:`parse_request`.

    Attributes:
        lines: the priced lines, in the request's order.
        subtotal: the sum of the line totals.
        tip: the tip (zero when none was given), in the restaurant's currency.
    """

    lines: tuple[LineItem, ...]
    subtotal: Money
    tip: Money


def _quantity(value: object, i: int, errors: list[FieldError]) -> int | None:
    if type(value) is not int:
        errors.append(FieldError(f"lines.{i}.quantity", "must be an integer", "type"))
        return None
    if not 1 <= value <= MAX_QUANTITY:
        errors.append(FieldError(f"lines.{i}.quantity", f"must be 1..{MAX_QUANTITY}", "out_of_range"))
        return None
    return value


def _menu_item(
    restaurant: Restaurant, req: LineRequest, i: int, errors: list[FieldError], catalog: list[FieldError]
) -> MenuItem | None:
    if req.item_id is not None and not isinstance(req.item_id, str):
        errors.append(FieldError(f"lines.{i}.item_id", "must be a string", "type"))
        return None
    if req.name is not None and not isinstance(req.name, str):
        errors.append(FieldError(f"lines.{i}.name", "must be a string", "type"))
        return None
    if req.item_id is not None:
        item, ref = restaurant.item_by_id(req.item_id), f"id {req.item_id!r}"
    elif req.name is not None:
        item, ref = restaurant.item_by_name(req.name), f"name {req.name!r}"
    else:
        errors.append(FieldError(f"lines.{i}", "must name a menu item by item id or name", "required"))
        return None
    if item is None:
        catalog.append(FieldError(f"lines.{i}", f"no menu item with {ref}", "unknown_item"))
        return None
    if not item.available:
        catalog.append(FieldError(f"lines.{i}", f"{item.name!r} is not available", "unavailable"))
        return None
    return item


def _seen_price(item: MenuItem, req: LineRequest, i: int, errors: list[FieldError], changed: list[FieldError]) -> None:
    """Check the price the client saw (if it sent one) against the menu."""
    if req.unit_price is None:
        return
    try:
        sent = parse_decimal(req.unit_price, f"lines.{i}.unit_price")
    except ValidationError as exc:
        errors.extend(exc.fields)
        return
    if not 0 < sent <= MAX_MENU_PRICE:  # no menu price is there, whatever the restaurant does: never valid (422)
        errors.append(
            FieldError(f"lines.{i}.unit_price", f"must be above 0 and at most {MAX_MENU_PRICE}", "out_of_range")
        )
        return
    if sent != sent.quantize(_PRICE_STEP, context=_PRICE_CONTEXT):  # 1E-400: no menu price either (422)
        errors.append(
            FieldError(f"lines.{i}.unit_price", f"must have at most {_PRICE_PLACES} decimal places", "precision")
        )
        return
    if sent != item.price.amount:
        changed.append(
            FieldError(
                f"lines.{i}.unit_price", f"menu price of {item.name!r} is {item.price}, not {sent}", "price_changed"
            )
        )


def parse_request(
    restaurant: Restaurant, lines: Sequence[LineRequest], payment_method: str, tip: object = None
) -> ParsedRequest:
    """Check a placement request against the restaurant as stored now (its menu is the only source of prices).

    Args:
        restaurant: the restaurant.
        lines: what the customer asks for, 1..50 lines.
        payment_method: an opaque card token, 1..128 characters.
        tip: a decimal string / ``Decimal`` / ``int`` in the restaurant's currency, or None for no tip.

    Returns:
        The priced lines, their subtotal and the tip.

    Raises:
        ValidationError: naming every invalid field (``lines.N.quantity``, ``lines.N.unit_price``,
            ``payment_method``, ``tip``...): the request can never succeed as sent (the catalog fields below are
            named too).
        CatalogMismatch: well-formed, but not for this restaurant as it is now: an item not on its menu or not
            available (``lines.N``), the restaurant not accepting orders (``restaurant_id``), a tip with more
            decimals than its currency (``tip``); changed prices are named too.
        PriceChanged: the request is otherwise valid but a price the client saw differs from the menu (the
            fields name each line).
    """
    errors: list[FieldError] = []
    changed: list[FieldError] = []
    catalog: list[FieldError] = []  # well-formed, but not for this restaurant as it is now
    if not isinstance(payment_method, str) or not payment_method or len(payment_method) > 128:
        errors.append(FieldError("payment_method", "must be a payment token of 1..128 characters", "required"))
    if not restaurant.accepting_orders:
        catalog.append(FieldError("restaurant_id", "is not accepting orders", "not_accepting_orders"))
    if not lines:
        errors.append(FieldError("lines", "must contain at least one line", "required"))
    elif len(lines) > MAX_LINES:
        errors.append(FieldError("lines", f"must have at most {MAX_LINES} lines", "too_many"))
    currency = restaurant.currency
    priced: list[LineItem] = []
    subtotal_minor = 0
    for i, req in enumerate(lines if 0 < len(lines) <= MAX_LINES else ()):
        quantity = _quantity(req.quantity, i, errors)
        item = _menu_item(restaurant, req, i, errors, catalog)
        if item is None:
            continue
        _seen_price(item, req, i, errors, changed)
        if quantity is not None:
            total = item.price.times(quantity)
            subtotal_minor += total.minor
            priced.append(LineItem(item.item_id, item.name, item.price, quantity, total))
    tip_money = Money(0, currency)
    if tip is not None:
        try:
            tip_money = Money.of(tip, currency, "tip")
        except ValidationError as exc:
            for f in exc.fields:  # too many decimals depends on the restaurant's currency
                (catalog if f.code == "precision" else errors).append(f)
    if errors:
        raise ValidationError("the order is invalid", errors + catalog + changed)
    if catalog:
        raise CatalogMismatch("the order does not match the restaurant as it is now: re-read it", catalog + changed)
    if changed:
        raise PriceChanged("prices changed: re-read the menu", changed)
    return ParsedRequest(tuple(priced), Money(subtotal_minor, currency), tip_money)


#: :meth:`PricingPolicy.for_currency` by currency, built once (a policy is immutable).
_DEFAULT_POLICIES: dict[str, PricingPolicy] = {}


def _default_policy(currency: str) -> PricingPolicy:
    """The default fees in ``currency`` (:meth:`PricingPolicy.for_currency`, cached).

    Raises:
        ValidationError: an unsupported currency.
    """
    policy = _DEFAULT_POLICIES.get(currency)
    if policy is None:
        policy = _DEFAULT_POLICIES[currency] = PricingPolicy.for_currency(currency)
    return policy


def price(
    parsed: ParsedRequest,
    restaurant: Restaurant,
    delivery_address: DeliveryAddress,
    now: datetime,
    policy: PricingPolicy | None = None,
    promo: PromoCode | None = None,
) -> PriceBreakdown:
    """The breakdown of a parsed request (the formula and its rounding points: ``fooddelivery.domain.pricing``).

    Raises:
        ValidationError: the tip is negative or too large (field ``tip``).
        CatalogMismatch: the promo code does not apply (expired, a subtotal below its minimum, another currency;
            field ``promo_code``).
    """
    try:
        return price_order(
            subtotal=parsed.subtotal,
            tax_rate=restaurant.tax_rate,
            policy=policy or _default_policy(restaurant.currency),
            restaurant_location=restaurant.location,
            address_location=delivery_address.location,
            tip=parsed.tip,
            promo=promo,
            now=now,
        )
    except ValidationError as exc:
        if exc.fields and all(f.field == "promo_code" for f in exc.fields):
            raise CatalogMismatch(f"the promo code does not apply: {exc.detail}", exc.fields) from None
        raise
