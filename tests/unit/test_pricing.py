"""Pricing: the one formula, checked against breakdowns computed by hand, and its invariants."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fooddelivery.domain import (
    CurrencyMismatch,
    DeliveryAddress,
    GeoPoint,
    LineRequest,
    Money,
    PriceBreakdown,
    PricingPolicy,
    PromoCode,
    PromoKind,
    ValidationError,
    price_order,
)

from ._factories import NOW, PARIS, field_codes, menu_item, money, north_of, place, restaurant

TAX = Decimal("0.0875")
SUBTOTAL = money("21.97")  # Pizza 15.99 x 1 + Soda 2.99 x 2


def _price(
    subtotal: Money = SUBTOTAL,
    *,
    tax_rate: Decimal = TAX,
    policy: PricingPolicy | None = None,
    restaurant_at: GeoPoint | None = None,
    address_at: GeoPoint | None = None,
    tip: Money | None = None,
    promo: PromoCode | None = None,
    now: datetime = NOW,
) -> PriceBreakdown:
    cur = subtotal.currency
    return price_order(
        subtotal=subtotal,
        tax_rate=tax_rate,
        policy=policy or PricingPolicy.for_currency(cur),
        restaurant_location=restaurant_at,
        address_location=address_at,
        tip=tip or Money.zero(cur),
        promo=promo,
        now=now,
    )


# -- the reference order
def test_the_reference_order_prices_to_the_cent() -> None:
    order = place(tip="3.00")
    assert [
        (line.item_id, str(line.unit_price), line.quantity, str(line.line_total))
        for line in order.lines
    ] == [
        ("pizza", "15.99", 1, "15.99"),
        ("soda", "2.99", 2, "5.98"),
    ]
    # By hand: tax 21.97 x 0.0875 = 1.922375 -> 1.92; service 21.97 x 5 % = 1.0985 -> 1.10
    # (above the 0.99 floor); no coordinates -> flat 2.99; total 21.97 + 1.92 + 2.99 + 1.10 + 3.00
    # = 30.98.
    assert order.pricing.as_dict() == {
        "currency": "USD",
        "subtotal": "21.97",
        "discount": "0.00",
        "tax": "1.92",
        "deliveryFee": "2.99",
        "serviceFee": "1.10",
        "tip": "3.00",
        "total": "30.98",
        "promoCode": None,
        "distanceKm": None,
    }


def test_the_default_policy_is_the_documented_usd_fees() -> None:
    assert PricingPolicy() == PricingPolicy(
        currency="USD",
        delivery_base=money("1.99"),
        delivery_per_km=money("0.50"),
        delivery_flat=money("2.99"),
        max_delivery_fee=money("14.99"),
        service_rate=Decimal("0.05"),
        service_min=money("0.99"),
        max_tip=money("500.00"),
        max_delivery_km=Decimal(15),
    )


# -- delivery fee
def test_with_both_coordinates_the_fee_is_base_plus_per_km() -> None:
    # 0.027 degrees of latitude is 6371.0088 km x 0.027 x pi / 180 = 3.0023 km -> "3.002" km;
    # 0.50 x 3.002 = 1.501 -> 1.50; 1.99 + 1.50 = 3.49.
    b = _price(restaurant_at=GeoPoint(48.8566, 2.3522), address_at=GeoPoint(48.8836, 2.3522))
    assert (b.distance_km, str(b.delivery_fee)) == ("3.002", "3.49")
    assert str(b.total) == "28.48"  # 21.97 + 1.92 + 3.49 + 1.10


def test_the_per_km_part_rounds_half_up() -> None:
    b = _price(restaurant_at=PARIS, address_at=north_of(PARIS, 3.010))
    # 0.50 x 3.010 = 1.505 -> 1.51 (half-even would give 1.50); 1.99 + 1.51 = 3.50.
    assert (b.distance_km, str(b.delivery_fee)) == ("3.010", "3.50")


@pytest.mark.parametrize(
    ("km", "fee"),
    [
        (0.0, "1.99"),
        (10.0, "6.99"),
        (25.98, "14.98"),  # 1.99 + 12.99
        (26.0, "14.99"),  # 1.99 + 13.00, exactly the cap
        (26.02, "14.99"),  # 1.99 + 13.01 = 15.00, capped
        (343.5, "14.99"),
    ],
)
def test_the_distance_based_fee_is_capped(km: float, fee: str) -> None:
    # the default 15 km area never reaches the cap (1.99 + 0.50 x 15 = 9.49): a wider area does
    wide = dataclasses.replace(PricingPolicy(), max_delivery_km=Decimal(400))
    assert str(_price(policy=wide, restaurant_at=PARIS, address_at=north_of(PARIS, km)).delivery_fee) == fee


# -- delivery area
@pytest.mark.parametrize(
    ("km", "shown", "fee"),
    [
        (15.0, "15.000", "9.49"),  # exactly the limit: delivered (1.99 + 0.50 x 15)
        (15.0004, "15.000", "9.49"),  # rounds to the metre first, as the fee does: 15.000 km
        (14.9996, "15.000", "9.49"),
    ],
)
def test_an_address_at_the_edge_of_the_delivery_area_is_priced(km: float, shown: str, fee: str) -> None:
    b = _price(restaurant_at=PARIS, address_at=north_of(PARIS, km))
    assert (b.distance_km, str(b.delivery_fee)) == (shown, fee)


@pytest.mark.parametrize(
    ("km", "shown"),
    [
        (15.0006, "15.001"),  # one metre over, after rounding to the metre
        (15.001, "15.001"),
        (343.5, "343.500"),  # Paris -> London
    ],
)
def test_an_address_beyond_the_delivery_area_is_refused_naming_the_distance_and_the_limit(
    km: float, shown: str
) -> None:
    with pytest.raises(ValidationError) as info:
        _price(restaurant_at=PARIS, address_at=north_of(PARIS, km))
    error = info.value
    assert type(error) is ValidationError  # not a CatalogMismatch: no change of the restaurant's data fixes it
    assert field_codes(error) == {"delivery_address": "out_of_delivery_area"}
    assert error.context == {"distance_km": shown, "max_delivery_km": "15"}
    assert error.fields[0].message == f"is {shown} km from the restaurant, outside its delivery area of 15 km"
    assert error.detail == f"delivery_address: {error.fields[0].message}"


def test_the_delivery_area_is_the_policy_s_and_survives_a_policy_in_another_currency() -> None:
    narrow = dataclasses.replace(PricingPolicy(), max_delivery_km=Decimal("2.5"))
    assert _price(policy=narrow, restaurant_at=PARIS, address_at=north_of(PARIS, 2.5)).distance_km == "2.500"
    with pytest.raises(ValidationError) as info:
        # a USD policy for a EUR order: the fees become the EUR defaults, the area stays 2.5 km
        _price(money("10.00", "EUR"), policy=narrow, restaurant_at=PARIS, address_at=north_of(PARIS, 2.6))
    assert info.value.context == {"distance_km": "2.600", "max_delivery_km": "2.5"}


def test_an_address_without_coordinates_has_no_distance_to_check() -> None:
    b = _price(restaurant_at=PARIS, address_at=None)
    assert (b.distance_km, str(b.delivery_fee)) == (None, "2.99")


def test_the_delivery_area_is_checked_before_the_promo_code() -> None:
    expired = PromoCode("OLD", PromoKind.PERCENT, percent=Decimal(10), expires_at=NOW - timedelta(days=1))
    with pytest.raises(ValidationError) as info:
        _price(restaurant_at=PARIS, address_at=north_of(PARIS, 20.0), promo=expired)
    assert field_codes(info.value) == {"delivery_address": "out_of_delivery_area"}


@pytest.mark.parametrize("km", [Decimal(0), Decimal(-1), Decimal("NaN"), Decimal("Infinity"), 15, 15.0])
def test_a_delivery_area_that_is_not_a_positive_finite_decimal_is_refused(km: object) -> None:
    with pytest.raises(ValidationError) as info:
        PricingPolicy(max_delivery_km=km)  # type: ignore[arg-type]
    assert field_codes(info.value) == {"max_delivery_km": "out_of_range"}


def test_placing_an_order_beyond_the_delivery_area_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        place(address=DeliveryAddress("New York, as seen from Paris", GeoPoint(40.7128, -74.006)))
    assert field_codes(info.value) == {"delivery_address": "out_of_delivery_area"}


@pytest.mark.parametrize(
    ("restaurant_at", "address_at"), [(PARIS, None), (None, PARIS), (None, None)]
)
def test_without_both_coordinates_the_fee_is_flat(
    restaurant_at: GeoPoint | None, address_at: GeoPoint | None
) -> None:
    b = _price(restaurant_at=restaurant_at, address_at=address_at)
    assert (str(b.delivery_fee), b.distance_km) == ("2.99", None)


def test_placing_an_order_to_an_address_with_coordinates_charges_by_distance() -> None:
    order = place(address=DeliveryAddress("5 km north", north_of(PARIS, 5.0)))
    assert (order.pricing.distance_km, str(order.pricing.delivery_fee)) == ("5.000", "4.49")


# -- service fee
@pytest.mark.parametrize(
    ("subtotal", "fee"),
    [
        ("5.00", "0.99"),  # 0.25 -> floor
        ("19.70", "0.99"),  # 0.985 -> 0.99
        ("19.80", "0.99"),  # exactly the floor
        ("19.90", "1.00"),  # 0.995 -> 1.00 half-up
        ("100.00", "5.00"),
        ("0.00", "0.99"),
    ],
)
def test_the_service_fee_is_five_percent_with_a_floor(subtotal: str, fee: str) -> None:
    assert str(_price(money(subtotal)).service_fee) == fee


# -- tax
@pytest.mark.parametrize(
    ("tax_rate", "tax"), [("0", "0.00"), ("0.0875", "1.92"), ("0.1", "2.20"), ("0.5", "10.99")]
)
def test_tax_is_the_rate_of_the_subtotal_rounded_half_up(tax_rate: str, tax: str) -> None:
    # 21.97 x 0.1 = 2.197 -> 2.20; 21.97 x 0.5 = 10.985 -> 10.99
    assert str(_price(tax_rate=Decimal(tax_rate)).tax) == tax


# -- promo codes
def test_a_percent_promo_discounts_before_tax() -> None:
    b = _price(promo=PromoCode("save10", PromoKind.PERCENT, percent=Decimal(10)))
    # 10 % of 21.97 = 2.197 -> 2.20; tax (21.97 - 2.20) x 0.0875 = 1.729875 -> 1.73;
    # service stays on the subtotal (1.10); total 19.77 + 1.73 + 2.99 + 1.10 = 25.59.
    assert (str(b.discount), str(b.tax), str(b.service_fee), str(b.total)) == (
        "2.20",
        "1.73",
        "1.10",
        "25.59",
    )
    assert b.promo_code == "SAVE10"


def test_a_fixed_promo_discounts_its_amount() -> None:
    b = _price(promo=PromoCode("FIVE", PromoKind.FIXED, amount=money("5.00")))
    # tax (21.97 - 5.00) x 0.0875 = 1.484875 -> 1.48; total 16.97 + 1.48 + 2.99 + 1.10 = 22.54
    assert (str(b.discount), str(b.tax), str(b.total)) == ("5.00", "1.48", "22.54")


@pytest.mark.parametrize(
    "promo",
    [
        PromoCode("BIG", PromoKind.FIXED, amount=money("30.00")),
        PromoCode("ALL", PromoKind.PERCENT, percent=Decimal(100)),
    ],
)
def test_a_discount_is_capped_at_the_subtotal(promo: PromoCode) -> None:
    b = _price(promo=promo)
    # nothing left to tax; fees still apply: 0 + 0 + 2.99 + 1.10 = 4.09
    assert (str(b.discount), str(b.tax), str(b.total)) == ("21.97", "0.00", "4.09")


def test_a_minimum_subtotal_is_inclusive() -> None:
    exact = PromoCode("MIN", PromoKind.FIXED, amount=money("1.00"), min_subtotal=money("21.97"))
    assert str(_price(promo=exact).discount) == "1.00"
    above = PromoCode("MIN", PromoKind.FIXED, amount=money("1.00"), min_subtotal=money("21.98"))
    with pytest.raises(ValidationError) as info:
        _price(promo=above)
    assert field_codes(info.value) == {"promo_code": "min_subtotal"}


def test_a_promo_expires_at_its_expiry_instant() -> None:
    promo = PromoCode("SOON", PromoKind.PERCENT, percent=Decimal(10), expires_at=NOW)
    assert str(_price(promo=promo, now=NOW - timedelta(microseconds=1)).discount) == "2.20"
    for now in (NOW, NOW + timedelta(days=1)):
        with pytest.raises(ValidationError) as info:
            _price(promo=promo, now=now)
        assert field_codes(info.value) == {"promo_code": "expired"}


def test_a_fixed_promo_in_another_currency_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        _price(promo=PromoCode("EURO", PromoKind.FIXED, amount=money("5.00", "EUR")))
    assert field_codes(info.value) == {"promo_code": "currency_mismatch"}


@pytest.mark.parametrize(
    ("kind", "values", "field"),
    [
        (PromoKind.PERCENT, {"percent": Decimal(0)}, "promo.percent"),
        (PromoKind.PERCENT, {"percent": Decimal("100.01")}, "promo.percent"),
        (PromoKind.PERCENT, {"percent": Decimal(-5)}, "promo.percent"),
        (PromoKind.PERCENT, {"percent": Decimal("NaN")}, "promo.percent"),
        (PromoKind.PERCENT, {}, "promo.percent"),
        (PromoKind.PERCENT, {"amount": money("5.00")}, "promo.percent"),
        (PromoKind.FIXED, {}, "promo.amount"),
        (PromoKind.FIXED, {"amount": money("0.00")}, "promo.amount"),
        (PromoKind.FIXED, {"amount": money("-1.00")}, "promo.amount"),
    ],
)
def test_invalid_promo_codes_are_refused(
    kind: PromoKind, values: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        PromoCode("X", kind, **values)  # type: ignore[arg-type]
    assert field_codes(info.value) == {field: "out_of_range"}


# -- tip
@pytest.mark.parametrize(("tip", "code"), [("-0.01", "out_of_range"), ("500.01", "out_of_range")])
def test_a_negative_or_too_large_tip_is_refused(tip: str, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        _price(tip=money(tip))
    assert field_codes(info.value) == {"tip": code}


def test_a_tip_of_exactly_the_maximum_is_accepted() -> None:
    b = _price(tip=money("500.00"))
    assert (str(b.tip), str(b.total)) == ("500.00", "527.98")  # 21.97 + 1.92 + 2.99 + 1.10 + 500


def test_a_tip_in_another_currency_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        _price(tip=money("1.00", "EUR"))
    assert field_codes(info.value) == {"tip": "currency_mismatch"}


@pytest.mark.parametrize(
    ("tip", "code"),
    [("-1", "out_of_range"), ("1000", "out_of_range"), (2.5, "type"), ("1.001", "precision")],
)
def test_placing_an_order_with_a_bad_tip_names_the_tip(tip: object, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        place(tip=tip)
    assert field_codes(info.value) == {"tip": code}


# -- other currencies
def test_a_euro_restaurant_prices_in_euros_with_the_same_face_values() -> None:
    menu = (menu_item("pizza", "Pizza", "15.99", "EUR"), menu_item("soda", "Soda", "2.99", "EUR"))
    order = place(rest=restaurant(currency="EUR", menu=menu), tip="3")
    assert order.pricing.as_dict() == {
        "currency": "EUR",
        "subtotal": "21.97",
        "discount": "0.00",
        "tax": "1.92",
        "deliveryFee": "2.99",
        "serviceFee": "1.10",
        "tip": "3.00",
        "total": "30.98",
        "promoCode": None,
        "distanceKm": None,
    }


def test_a_yen_restaurant_prices_in_whole_yen() -> None:
    menu = (menu_item("ramen", "ラーメン", "980", "JPY"), menu_item("gyoza", "餃子", "450", "JPY"))
    rest = restaurant(currency="JPY", tax_rate="0.08", menu=menu)
    order = place(
        rest=rest, lines=[LineRequest(1, item_id="ramen"), LineRequest(2, name="餃子")], tip=100
    )
    # subtotal 980 + 2 x 450 = 1880; tax 1880 x 0.08 = 150.4 -> 150; flat fee 2.99 at face value
    # -> 3;
    # service 1880 x 5 % = 94; total 1880 + 150 + 3 + 94 + 100 = 2227.
    assert order.pricing.as_dict() == {
        "currency": "JPY",
        "subtotal": "1880",
        "discount": "0",
        "tax": "150",
        "deliveryFee": "3",
        "serviceFee": "94",
        "tip": "100",
        "total": "2227",
        "promoCode": None,
        "distanceKm": None,
    }


def test_a_yen_tip_with_decimals_is_refused() -> None:
    menu = (menu_item("ramen", "Ramen", "980", "JPY"),)
    with pytest.raises(ValidationError) as info:
        place(
            rest=restaurant(currency="JPY", menu=menu),
            lines=[LineRequest(1, item_id="ramen")],
            tip="1.5",
        )
    assert field_codes(info.value) == {"tip": "precision"}


@pytest.mark.parametrize(
    ("currency", "expected"),
    [
        # base, per km, flat, cap, service minimum, maximum tip
        ("JPY", ("2", "1", "3", "15", "1", "500")),  # face values rounded half-up to whole yen
        ("KWD", ("1.990", "0.500", "2.990", "14.990", "0.990", "500.000")),
        ("EUR", ("1.99", "0.50", "2.99", "14.99", "0.99", "500.00")),
    ],
)
def test_default_fees_in_other_currencies_are_the_usd_face_values(
    currency: str, expected: tuple[str, ...]
) -> None:
    p = PricingPolicy.for_currency(currency)
    fees = (
        p.delivery_base,
        p.delivery_per_km,
        p.delivery_flat,
        p.max_delivery_fee,
        p.service_min,
        p.max_tip,
    )
    assert p.currency == currency
    assert tuple(str(m) for m in fees) == expected
    assert {m.currency for m in fees} == {currency}


def test_mixing_currencies_inside_a_hand_built_policy_fails_loudly() -> None:
    broken = PricingPolicy(currency="EUR")  # keeps the USD default amounts
    with pytest.raises(CurrencyMismatch):
        _price(money("10.00", "EUR"), policy=broken, restaurant_at=PARIS, address_at=PARIS)


def test_a_flat_delivery_fee_in_another_currency_fails_loudly_too() -> None:
    # only the flat fee is foreign: the total, summed in minor units, still checks every part's currency
    eur = PricingPolicy.for_currency("EUR")
    broken = dataclasses.replace(eur, delivery_flat=money("2.99", "USD"))
    with pytest.raises(CurrencyMismatch):
        _price(money("10.00", "EUR"), policy=broken)


# -- invariants for all inputs
points = st.builds(GeoPoint, lat=st.floats(-89.9, 89.9), lon=st.floats(-179.9, 179.9))


@st.composite
def pricing_inputs(draw: st.DrawFn) -> dict[str, object]:
    cur = draw(st.sampled_from(["USD", "EUR", "JPY", "KWD"]))
    # an area wider than half the globe (20,015 km): any two points are priced (the area has its own tests)
    policy = dataclasses.replace(PricingPolicy.for_currency(cur), max_delivery_km=Decimal(20_100))
    promo = draw(
        st.one_of(
            st.none(),
            st.builds(
                PromoCode,
                code=st.text("abcXYZ019", min_size=1, max_size=8),
                kind=st.just(PromoKind.PERCENT),
                percent=st.integers(1, 10_000).map(lambda n: Decimal(n).scaleb(-2)),
            ),
            st.builds(
                PromoCode,
                code=st.just("fixed"),
                kind=st.just(PromoKind.FIXED),
                amount=st.integers(1, 10**7).map(lambda n: Money(n, cur)),
            ),
        )
    )
    near = draw(st.booleans())
    restaurant_at = draw(st.one_of(st.none(), points))
    if near and restaurant_at is not None:
        km = draw(st.floats(0, 30))  # towards the equator, so the point stays on the globe
        address_at: GeoPoint | None = north_of(restaurant_at, -km if restaurant_at.lat > 0 else km)
    else:
        address_at = draw(st.one_of(st.none(), points))
    return {
        "subtotal": Money(draw(st.integers(0, 10**7)), cur),
        "tax_rate": Decimal(draw(st.integers(0, 5000))).scaleb(-4),
        "policy": policy,
        "restaurant_location": restaurant_at,
        "address_location": address_at,
        "tip": Money(draw(st.integers(0, policy.max_tip.minor)), cur),
        "promo": promo,
        "now": NOW,
    }


@settings(max_examples=300, deadline=None)
@given(inputs=pricing_inputs())
def test_the_breakdown_always_adds_up_and_is_never_negative(inputs: dict[str, object]) -> None:
    b = price_order(**inputs)  # type: ignore[arg-type]
    subtotal = inputs["subtotal"]
    assert isinstance(subtotal, Money)
    components = (b.subtotal, b.discount, b.tax, b.delivery_fee, b.service_fee, b.tip, b.total)
    assert {m.currency for m in components} == {subtotal.currency}
    assert b.total.minor == (
        b.subtotal.minor
        - b.discount.minor
        + b.tax.minor
        + b.delivery_fee.minor
        + b.service_fee.minor
        + b.tip.minor
    )
    assert b.subtotal == subtotal and b.tip == inputs["tip"]
    assert Money.zero(subtotal.currency) <= b.discount <= b.subtotal
    assert all(m.minor >= 0 for m in components)
    policy = inputs["policy"]
    assert isinstance(policy, PricingPolicy)
    assert b.service_fee >= policy.service_min
    assert b.delivery_fee <= max(
        policy.max_delivery_fee, policy.delivery_flat, key=lambda m: m.minor
    )


@settings(max_examples=150, deadline=None)
@given(inputs=pricing_inputs())
def test_the_breakdown_never_holds_a_float(inputs: dict[str, object]) -> None:
    b = price_order(**inputs)  # type: ignore[arg-type]
    for f in dataclasses.fields(b):
        value = getattr(b, f.name)
        assert isinstance(value, Money | str | type(None)), f.name
        if isinstance(value, Money):
            assert type(value.minor) is int
    as_dict = b.as_dict()
    assert all(isinstance(v, str | type(None)) for v in as_dict.values())
    assert Decimal(str(as_dict["total"])) == b.total.amount
    if b.distance_km is not None:
        assert len(b.distance_km.split(".")[1]) == 3
