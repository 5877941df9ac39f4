"""Exact money: integer minor units plus an ISO 4217 currency.

Rounding is half-up at the currency's minor unit and happens only where a caller names it
(:meth:`Money.multiply`, :meth:`Money.percent`); adding, subtracting and multiplying by an integer quantity are
exact. ``float`` is refused everywhere: on the wire money is a decimal string such as ``"21.97"``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Final

from fooddelivery.domain.errors import CurrencyMismatch, FieldError, ValidationError

__all__ = ["MINOR_UNITS", "Money", "parse_decimal"]

#: Minor-unit exponents of the ISO 4217 currencies the core accepts.
#: Source: ISO 4217 list one, as published by the maintenance agency (SIX Group), "Minor unit" column.
MINOR_UNITS: Final[dict[str, int]] = {
    "USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "NZD": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2,
    "PLN": 2, "CZK": 2, "HUF": 2, "MXN": 2, "BRL": 2, "INR": 2, "CNY": 2, "HKD": 2, "SGD": 2, "ZAR": 2,
    "TRY": 2, "ILS": 2, "AED": 2, "SAR": 2, "THB": 2, "PHP": 2, "MYR": 2, "IDR": 2, "EGP": 2, "NGN": 2,
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0,
    "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3,
}

#: A private decimal context (independent of the thread's), precise enough for any factor we multiply by.
_CONTEXT: Final[Context] = Context(prec=60, rounding=ROUND_HALF_UP)

#: Largest absolute amount in minor units the core will hold (10^15: a trillion dollars in cents).
MAX_MINOR: Final[int] = 10**15


def parse_decimal(value: object, field: str) -> Decimal:
    """Read a finite decimal from a ``str``, ``int`` or ``Decimal``; never from ``float``.

    Args:
        value: the raw value.
        field: the field name reported on error.

    Returns:
        The exact decimal.

    Raises:
        ValidationError: for floats, booleans, NaN, infinities, and anything not a decimal number.
    """
    if isinstance(value, bool | float):
        raise ValidationError.single(field, "must be a decimal string or an integer, not a float", "type")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 40:
            raise ValidationError.single(field, "is not a decimal number", "type")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValidationError.single(field, "is not a decimal number", "type") from None
    else:
        raise ValidationError.single(field, "must be a decimal string or an integer", "type")
    if not result.is_finite():
        raise ValidationError.single(field, "must be finite (no NaN or Infinity)", "not_finite")
    return result


def _exponent(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise ValidationError.single("currency", f"unsupported ISO 4217 currency {currency!r}", "currency") from None


class Money:
    """An exact amount of one currency, held as integer minor units (cents for USD).

    Immutable and hashable. ``Money.of("15.99", "USD").minor == 1599``.

    Raises:
        ValidationError: unknown currency, non-integer minor units, or an amount beyond ``MAX_MINOR``.
    """

    __slots__ = ("currency", "minor")

    minor: int
    currency: str

    def __init__(self, minor: int, currency: str) -> None:
        if type(minor) is not int:
            raise ValidationError.single("amount", "minor units must be an integer", "type")
        if currency not in MINOR_UNITS:
            _exponent(currency)
        if minor < -MAX_MINOR or minor > MAX_MINOR:
            raise ValidationError.single("amount", "is beyond the supported range", "out_of_range")
        _set_minor(self, minor)  # the slots' own setters (see below): object.__setattr__ without its lookups
        _set_currency(self, currency)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Money is immutable")

    # -- construction -------------------------------------------------------------------------------------
    @classmethod
    def of(cls, amount: object, currency: str, field: str = "amount") -> Money:
        """Build from a major-unit amount (``"15.99"``, ``Decimal("15.99")`` or ``15``), exactly.

        Raises:
            ValidationError: a float, a non-finite number, or more decimals than the currency has
                (``"1.001"`` USD): the amount must be representable exactly.
        """
        value = parse_decimal(amount, field)
        exp = _exponent(currency)
        # Scale with integers, not Decimal arithmetic: the context's 28-digit precision and exponent
        # limits would silently round ("1.00000000000000000000000000001" -> 1.00, "1E-999999999" -> 0)
        # or raise decimal.Overflow ("1E+999999").
        sign, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)  # finite: parse_decimal refused NaN and infinities
        coefficient = int("".join(map(str, digits)))
        shift = exponent + exp  # the amount in minor units is coefficient * 10**shift
        if coefficient and shift < 0:
            # -shift > len(digits): a non-zero fraction of a minor unit (never computes a huge power).
            if -shift > len(digits) or coefficient % 10**-shift:
                raise ValidationError.single(
                    field, f"has more than {exp} decimal places for {currency}", "precision"
                )
            minor = coefficient // 10**-shift
        elif coefficient and len(digits) + shift > len(str(MAX_MINOR)):
            raise ValidationError.single(field, "is beyond the supported range", "out_of_range")
        elif coefficient:
            minor = coefficient * 10 ** max(shift, 0)
        else:
            minor = 0  # zero in any notation ("0E+999999999"): never build 10 ** shift to multiply it by 0
        if minor > MAX_MINOR:
            raise ValidationError.single(field, "is beyond the supported range", "out_of_range")
        return cls(-minor if sign else minor, currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """The zero amount of ``currency``."""
        return cls(0, currency)

    # -- views --------------------------------------------------------------------------------------------
    @property
    def amount(self) -> Decimal:
        """The major-unit amount as an exact ``Decimal`` with the currency's number of decimals."""
        return Decimal(self.minor).scaleb(-MINOR_UNITS[self.currency])

    def __str__(self) -> str:
        """The wire form: a decimal string with the currency's decimals, e.g. ``"21.97"``."""
        exp = MINOR_UNITS[self.currency]
        minor = self.minor
        if exp == 0:
            return str(minor)
        # divmod(abs(minor), 10**exp), in operators (no call: notifications and events format totals often), and
        # %-formatting: a nested f-string format spec ({x:0{exp}d}) builds and parses the spec on every call
        # (~0.5 us against ~0.2 us here, measured)
        scale = 10**exp
        if minor < 0:
            minor = -minor
            whole = minor // scale
            return "-%d.%0*d" % (whole, exp, minor - whole * scale)  # noqa: UP031 -- faster, see above
        whole = minor // scale
        return "%d.%0*d" % (whole, exp, minor - whole * scale)  # noqa: UP031 -- faster, see above

    def __repr__(self) -> str:
        return f"Money({str(self)!r}, {self.currency!r})"

    # -- arithmetic ---------------------------------------------------------------------------------------
    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(
                f"cannot combine {self.currency} with {other.currency}",
                [FieldError("currency", f"expected {self.currency}, got {other.currency}", "currency_mismatch")],
            )

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def times(self, quantity: int) -> Money:
        """Multiply by an integer quantity, exactly (no rounding).

        Raises:
            ValidationError: ``quantity`` is not an ``int``.
        """
        if type(quantity) is not int:
            raise ValidationError.single("quantity", "must be an integer", "type")
        return Money(self.minor * quantity, self.currency)

    def multiply(self, factor: Decimal) -> Money:
        """Multiply by a decimal factor and round half-up to the minor unit (a named rounding step)."""
        exact = _CONTEXT.multiply(Decimal(self.minor), factor)
        return Money(int(exact.to_integral_value(rounding=ROUND_HALF_UP, context=_CONTEXT)), self.currency)

    def percent(self, pct: Decimal) -> Money:
        """``pct`` percent of this amount, rounded half-up to the minor unit."""
        return self.multiply(_CONTEXT.divide(pct, Decimal(100)))

    # -- comparison ---------------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self.minor == other.minor and self.currency == other.currency

    def __hash__(self) -> int:
        return hash((self.minor, self.currency))

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def is_negative(self) -> bool:
        """True when below zero."""
        return self.minor < 0

    def min(self, other: Money) -> Money:
        """The smaller of the two amounts (same currency)."""
        return self if self <= other else other

    def max(self, other: Money) -> Money:
        """The larger of the two amounts (same currency)."""
        return self if self >= other else other

    def __reduce__(self) -> tuple[type[Money], tuple[int, str]]:
        return (Money, (self.minor, self.currency))


#: The setters of ``Money``'s slots (member descriptors): what ``__init__`` stores through, one call each, where
#: ``object.__setattr__`` would look the descriptor up in the class first (a dozen amounts per order lifecycle).
_set_minor: Final[Callable[[Money, int], None]] = Money.__dict__["minor"].__set__
_set_currency: Final[Callable[[Money, str], None]] = Money.__dict__["currency"].__set__

