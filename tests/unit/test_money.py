"""Money: exact construction, the wire form, exact arithmetic, named half-up rounding."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fooddelivery.domain import CurrencyMismatch, Money, ValidationError
from fooddelivery.domain.money import MAX_MINOR, MINOR_UNITS

from ._factories import field_codes

FAST = settings(max_examples=200, deadline=None)

currencies = st.sampled_from(["USD", "EUR", "JPY", "KWD"])


# -- construction
@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("15.99", "USD", 1599),
        ("0.5", "USD", 50),
        ("  7.10 ", "USD", 710),
        ("-2.50", "USD", -250),
        ("-0", "USD", 0),
        ("1e2", "USD", 10_000),
        ("15.990", "USD", 1599),
        (15, "USD", 1500),
        (0, "EUR", 0),
        (-3, "EUR", -300),
        (Decimal("15.99"), "USD", 1599),
        (Decimal("1.2E+1"), "GBP", 1200),
        ("1200", "JPY", 1200),
        ("1.000", "JPY", 1),
        (1200, "JPY", 1200),
        ("1.234", "KWD", 1234),
        ("0.001", "KWD", 1),
        ("-0.005", "KWD", -5),
        ("10000000000000", "USD", MAX_MINOR),
        ("-10000000000000.00", "USD", -MAX_MINOR),
        ("1000000000000000", "JPY", MAX_MINOR),
    ],
)
def test_amounts_are_read_exactly_into_minor_units(
    amount: object, currency: str, minor: int
) -> None:
    m = Money.of(amount, currency)
    assert (m.minor, m.currency) == (minor, currency)


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        (15.99, "USD", "type"),
        (1.0, "USD", "type"),
        (0.0, "JPY", "type"),
        (True, "USD", "type"),
        (None, "USD", "type"),
        ([1], "USD", "type"),
        ("", "USD", "type"),
        ("   ", "USD", "type"),
        ("abc", "USD", "type"),
        ("1,50", "USD", "type"),
        ("$1.50", "USD", "type"),
        ("1" * 41, "USD", "type"),
        ("NaN", "USD", "not_finite"),
        ("-nan", "USD", "not_finite"),
        ("sNaN", "USD", "not_finite"),
        ("Infinity", "USD", "not_finite"),
        ("-Infinity", "USD", "not_finite"),
        ("inf", "USD", "not_finite"),
        (Decimal("NaN"), "USD", "not_finite"),
        (Decimal("-Infinity"), "USD", "not_finite"),
        ("1.001", "USD", "precision"),
        ("0.005", "EUR", "precision"),
        ("1.5", "JPY", "precision"),
        ("0.1", "JPY", "precision"),
        ("1.0001", "KWD", "precision"),
        (Decimal("0.0001"), "KWD", "precision"),
        # more significant digits than Decimal's default 28-digit context: must not round to 1.00
        ("1.00000000000000000000000000001", "USD", "precision"),
        # an exponent below the context's Emin: must not underflow to 0.00
        ("1E-999999999", "USD", "precision"),
        ("10000000000000.01", "USD", "out_of_range"),
        ("-10000000000000.01", "USD", "out_of_range"),
        ("1E+16", "JPY", "out_of_range"),
        (10**14, "USD", "out_of_range"),
        ("99999999999999999999", "USD", "out_of_range"),
        # an exponent above the context's Emax: a ValidationError, not decimal.Overflow
        ("1E+999999", "USD", "out_of_range"),
        (Decimal("1E+999999999"), "USD", "out_of_range"),
    ],
)
def test_amounts_that_cannot_be_held_exactly_are_refused(
    amount: object, currency: str, code: str
) -> None:
    with pytest.raises(ValidationError) as info:
        Money.of(amount, currency)
    assert field_codes(info.value) == {"amount": code}


def test_the_field_named_in_a_refusal_is_the_callers() -> None:
    with pytest.raises(ValidationError) as info:
        Money.of("1.001", "USD", field="tip")
    assert field_codes(info.value) == {"tip": "precision"}


@pytest.mark.parametrize("currency", ["XXX", "usd", "", "US", "BTC"])
def test_unsupported_currencies_are_refused(currency: str) -> None:
    with pytest.raises(ValidationError) as info:
        Money.of("1.00", currency)
    assert field_codes(info.value) == {"currency": "currency"}
    with pytest.raises(ValidationError):
        Money(100, currency)


@pytest.mark.parametrize(
    ("minor", "code"),
    [(1.5, "type"), (True, "type"), ("100", "type"), (MAX_MINOR + 1, "out_of_range")],
)
def test_the_minor_unit_constructor_takes_only_integers_in_range(minor: object, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        Money(minor, "USD")  # type: ignore[arg-type]
    assert field_codes(info.value) == {"amount": code}


def test_minor_units_follow_iso_4217_for_zero_and_three_decimal_currencies() -> None:
    assert (MINOR_UNITS["USD"], MINOR_UNITS["JPY"], MINOR_UNITS["KWD"]) == (2, 0, 3)
    assert Money.zero("KWD") == Money(0, "KWD")


# -- wire form
@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (2197, "USD", "21.97"),
        (5, "USD", "0.05"),
        (-5, "USD", "-0.05"),
        (-150, "USD", "-1.50"),
        (0, "USD", "0.00"),
        (MAX_MINOR, "USD", "10000000000000.00"),
        (1200, "JPY", "1200"),
        (-1200, "JPY", "-1200"),
        (0, "JPY", "0"),
        (1, "KWD", "0.001"),
        (-1500, "KWD", "-1.500"),
    ],
)
def test_str_is_the_decimal_wire_form_with_the_currencys_decimals(
    minor: int, currency: str, text: str
) -> None:
    m = Money(minor, currency)
    assert str(m) == text
    assert m.amount == Decimal(text)
    assert repr(m) == f"Money({text!r}, {currency!r})"


def test_amount_is_a_decimal_with_the_currencys_exponent() -> None:
    assert Money(2197, "USD").amount.as_tuple() == Decimal("21.97").as_tuple()
    assert Money(5, "KWD").amount.as_tuple() == Decimal("0.005").as_tuple()


# -- arithmetic
def test_adding_tenths_is_exact_unlike_floats() -> None:
    assert Money.of("0.10", "USD") + Money.of("0.20", "USD") == Money.of("0.30", "USD")


def test_subtraction_negation_and_integer_multiplication_are_exact() -> None:
    a, b = Money.of("2.99", "USD"), Money.of("15.99", "USD")
    assert a - b == Money.of("-13.00", "USD")
    assert -a == Money(-299, "USD")
    assert a.times(2) + b == Money.of("21.97", "USD")
    assert a.times(0) == Money.zero("USD")
    assert a.times(-1) == -a


@pytest.mark.parametrize("quantity", [1.5, 2.0, True, "2", Decimal(2)])
def test_times_refuses_anything_but_an_int(quantity: object) -> None:
    with pytest.raises(ValidationError) as info:
        Money(100, "USD").times(quantity)  # type: ignore[arg-type]
    assert field_codes(info.value) == {"quantity": "type"}


def test_results_beyond_the_range_are_refused() -> None:
    with pytest.raises(ValidationError):
        Money(MAX_MINOR, "USD") + Money(1, "USD")
    with pytest.raises(ValidationError):
        Money(MAX_MINOR, "USD").times(2)


@pytest.mark.parametrize(
    "combine",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
        lambda a, b: a.min(b),
        lambda a, b: a.max(b),
    ],
    ids=["add", "sub", "lt", "le", "gt", "ge", "min", "max"],
)
def test_combining_two_currencies_raises_currency_mismatch(combine: object) -> None:
    usd, eur = Money.of("1.00", "USD"), Money.of("1.00", "EUR")
    with pytest.raises(CurrencyMismatch) as info:
        combine(usd, eur)  # type: ignore[operator]
    assert isinstance(info.value, ValidationError)
    assert field_codes(info.value) == {"currency": "currency_mismatch"}


def test_same_amount_in_different_currencies_is_not_equal() -> None:
    assert Money(100, "USD") != Money(100, "EUR")
    assert Money(100, "USD") != 1
    assert Money(100, "USD") != "1.00"


def test_comparisons_min_max_and_sign() -> None:
    small, big = Money.of("1.99", "USD"), Money.of("2.00", "USD")
    assert small < big and small <= big and big > small and big >= small
    assert small <= Money.of("1.99", "USD") and not small < Money.of("1.99", "USD")
    assert small.min(big) is small and small.max(big) is big
    assert Money(-1, "USD").is_negative() and not Money(0, "USD").is_negative()


def test_money_is_immutable_hashable_and_pickles() -> None:
    m = Money.of("21.97", "USD")
    with pytest.raises(AttributeError):
        m.minor = 1  # type: ignore[misc]
    assert len({m, Money(2197, "USD"), Money(2197, "EUR")}) == 2
    assert pickle.loads(pickle.dumps(m)) == m


# -- named rounding
@pytest.mark.parametrize(
    ("amount", "currency", "factor", "expected"),
    [
        ("0.01", "USD", "0.5", "0.01"),  # 0.005 -> 0.01
        ("0.01", "USD", "0.49", "0.00"),  # 0.0049 -> 0.00
        ("0.01", "USD", "0.4999", "0.00"),
        ("-0.01", "USD", "0.5", "-0.01"),  # -0.005 -> -0.01 (away from zero)
        ("-0.01", "USD", "0.49", "0.00"),  # -0.0049 -> 0.00
        ("0.05", "USD", "0.5", "0.03"),  # 0.025 -> 0.03 (half-even would give 0.02)
        ("-0.05", "USD", "0.5", "-0.03"),
        ("0.03", "USD", "0.5", "0.02"),
        ("21.97", "USD", "0.0875", "1.92"),  # 1.922375
        ("21.97", "USD", "0.05", "1.10"),  # 1.0985
        ("5", "JPY", "0.1", "1"),  # 0.5 yen -> 1
        ("5", "JPY", "0.09", "0"),
        ("0.001", "KWD", "0.5", "0.001"),
        ("1.000", "KWD", "0.0005", "0.001"),
        ("1.000", "KWD", "0.0004", "0.000"),
    ],
)
def test_multiply_rounds_half_up_at_the_minor_unit(
    amount: str, currency: str, factor: str, expected: str
) -> None:
    assert Money.of(amount, currency).multiply(Decimal(factor)) == Money.of(expected, currency)


def test_percent_is_a_named_half_up_rounding() -> None:
    assert Money.of("21.97", "USD").percent(Decimal(10)) == Money.of("2.20", "USD")  # 2.197
    assert Money.of("0.10", "USD").percent(Decimal(5)) == Money.of("0.01", "USD")  # 0.005
    assert Money.of("21.97", "USD").percent(Decimal(100)) == Money.of("21.97", "USD")


# -- properties
@FAST
@given(minor=st.integers(-MAX_MINOR, MAX_MINOR), currency=currencies)
def test_the_wire_form_round_trips(minor: int, currency: str) -> None:
    m = Money(minor, currency)
    assert Money.of(str(m), currency) == m
    assert Money.of(m.amount, currency) == m


small_minor = st.integers(-(10**12), 10**12)


@FAST
@given(a=small_minor, b=small_minor, c=small_minor, currency=currencies)
def test_addition_is_associative_and_commutative(a: int, b: int, c: int, currency: str) -> None:
    x, y, z = Money(a, currency), Money(b, currency), Money(c, currency)
    assert (x + y) + z == x + (y + z)
    assert x + y == y + x
    assert x - x == Money.zero(currency)


@FAST
@given(minor=small_minor, quantity=st.integers(0, 60), currency=currencies)
def test_times_equals_the_sum_of_that_many_copies(minor: int, quantity: int, currency: str) -> None:
    m = Money(minor, currency)
    total = Money.zero(currency)
    for _ in range(quantity):
        total = total + m
    assert m.times(quantity) == total


@FAST
@given(
    minor=st.integers(-(10**11), 10**11),
    numerator=st.integers(-(10**6), 10**6),
    places=st.integers(2, 6),
    currency=currencies,
)
def test_multiply_is_within_half_a_minor_unit_of_the_exact_product(
    minor: int, numerator: int, places: int, currency: str
) -> None:
    factor = Decimal(numerator).scaleb(
        -places
    )  # |factor| <= 10**4, up to 6 decimals, like a tax rate
    exact = Decimal(minor) * factor  # at most 19 significant digits: exact in the default context
    result = Money(minor, currency).multiply(factor)
    error = Decimal(result.minor) - exact
    assert abs(error) <= Decimal("0.5")
    if abs(error) == Decimal("0.5"):  # a tie goes away from zero
        assert abs(result.minor) > abs(exact)
