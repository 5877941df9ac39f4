"""DynamoDB attribute values, written and read with explicit type descriptors (the low-level client's format).

Numbers always cross the boundary as text: integers as ``str(int)``, ``Decimal`` values in plain positional
notation, and the domain's float coordinates through their shortest round-tripping ``repr`` (so reading them back
gives the very same float). A ``float`` anywhere in JSON-ready data (event payloads, saga data) is refused: such
data is specified as JSON-ready, with money as decimal strings, so a float there is a bug to surface, not a value
to round. Times are ISO-8601 UTC strings with microseconds (fixed width, so they sort as text) and, for sort
keys the reference declares ``N``, epoch seconds with six decimals.

Shapes: an *attribute value* is a one-key dict such as ``{"S": "text"}`` or ``{"N": "12.5"}``; an *item* maps
attribute names to attribute values. See the ``AttributeValue`` data type in the DynamoDB API reference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from fooddelivery.domain.errors import ValidationError

__all__ = [
    "AttributeValue",
    "Item",
    "RecordError",
    "attr_to_json",
    "decimal_value",
    "epoch_text",
    "float_value",
    "get_bool",
    "get_decimal",
    "get_float",
    "get_int",
    "get_list",
    "get_map",
    "get_opt_str",
    "get_str",
    "get_time",
    "int_value",
    "iso_utc",
    "json_to_attr",
    "parse_utc",
    "str_value",
]

#: One attribute value, e.g. ``{"S": "ord-1"}`` or ``{"N": "3"}``.
AttributeValue = dict[str, Any]
#: An item: attribute name -> attribute value.
Item = dict[str, AttributeValue]

_EPOCH: Final[datetime] = datetime(1970, 1, 1, tzinfo=UTC)
#: Deepest nesting DynamoDB accepts in a document attribute (source: DynamoDB developer guide, "Service, account,
#: and table quotas": nested attribute depth 32).
_MAX_DEPTH: Final[int] = 32


class RecordError(ValueError):
    """A stored item that does not have the shape this package writes (a corrupt or foreign item)."""


# -- writing -----------------------------------------------------------------------------------------------
def str_value(value: str) -> AttributeValue:
    """``{"S": value}``."""
    return {"S": value}


def int_value(value: int) -> AttributeValue:
    """``{"N": str(value)}`` for an ``int`` (bools refused).

    Raises:
        TypeError: not an ``int``.
    """
    if type(value) is not int:
        raise TypeError(f"expected an int, got {type(value).__name__}")
    return {"N": str(value)}


def decimal_value(value: Decimal) -> AttributeValue:
    """``{"N": text}`` for a finite ``Decimal``, in positional notation (never through float).

    Raises:
        ValidationError: NaN or an infinity.
    """
    if not value.is_finite():
        raise ValidationError.single("number", "must be finite", "not_finite")
    return {"N": format(value, "f")}


def float_value(value: float) -> AttributeValue:
    """``{"N": text}`` for a float coordinate, built from its shortest round-tripping text (``repr``).

    Raises:
        ValidationError: NaN or an infinity.
    """
    if not math.isfinite(value):
        raise ValidationError.single("number", "must be finite", "not_finite")
    return {"N": format(Decimal(repr(float(value))), "f")}


def iso_utc(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (fixed width: sorts as text in time order).

    Raises:
        ValidationError: a naive datetime.
    """
    if value.utcoffset() is None:
        raise ValidationError.single("time", "must be timezone-aware", "timezone")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch_text(value: datetime) -> str:
    """Epoch seconds with six decimals as exact text (``"1741953600.000000"``), computed without float.

    Raises:
        ValidationError: a naive datetime.
    """
    if value.utcoffset() is None:
        raise ValidationError.single("time", "must be timezone-aware", "timezone")
    delta = value - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def json_to_attr(value: Any, path: str = "value", depth: int = 0) -> AttributeValue:
    """A JSON-ready value as an attribute value: dict -> M, list/tuple -> L, str -> S, bool -> BOOL, int and
    ``Decimal`` -> N (as text), None -> NULL.

    Raises:
        ValidationError: a float (naming ``path``), a non-finite ``Decimal``, a non-string map key, a value of
            another type, or nesting deeper than DynamoDB's 32 levels.
    """
    if depth > _MAX_DEPTH:
        raise ValidationError.single(path, f"nests deeper than {_MAX_DEPTH} levels", "too_deep")
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError.single(path, "must be a finite number", "not_finite")
        return {"N": format(value, "f")}
    if isinstance(value, float):
        raise ValidationError.single(path, "is a float: store decimal strings, ints or Decimals", "type")
    if isinstance(value, Mapping):
        out: dict[str, AttributeValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError.single(path, "has a non-string key", "type")
            out[key] = json_to_attr(item, f"{path}.{key}", depth + 1)
        return {"M": out}
    if isinstance(value, list | tuple):
        return {"L": [json_to_attr(item, f"{path}.{i}", depth + 1) for i, item in enumerate(value)]}
    raise ValidationError.single(path, f"is not JSON-ready ({type(value).__name__})", "type")


# -- reading -----------------------------------------------------------------------------------------------
def attr_to_json(value: Mapping[str, Any]) -> Any:
    """The JSON-ready value of an attribute value written by :func:`json_to_attr`.

    Numbers without a fraction or exponent come back as ``int``, others as ``Decimal`` (DynamoDB may normalise
    ``"2.50"`` to ``"2.5"``: equal as numbers).

    Raises:
        RecordError: a type this package never writes (sets, binary) or a malformed value.
    """
    if len(value) != 1:
        raise RecordError(f"not an attribute value: {sorted(value)}")
    ((kind, raw),) = value.items()
    if kind == "S":
        return str(raw)
    if kind == "N":
        return _number(str(raw))
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "M":
        return {str(k): attr_to_json(v) for k, v in raw.items()}
    if kind == "L":
        return [attr_to_json(v) for v in raw]
    raise RecordError(f"unexpected attribute type {kind}")


def _number(text: str) -> int | Decimal:
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise RecordError(f"not a number: {text!r}") from None


def _attr(item: Mapping[str, Any], name: str, kind: str) -> Any:
    value = item.get(name)
    if not isinstance(value, Mapping) or kind not in value:
        raise RecordError(f"attribute {name!r} is missing or not of type {kind}")
    return value[kind]


def get_str(item: Mapping[str, Any], name: str) -> str:
    """The string attribute ``name``.

    Raises:
        RecordError: missing or not a string.
    """
    return str(_attr(item, name, "S"))


def get_opt_str(item: Mapping[str, Any], name: str) -> str | None:
    """The string attribute ``name``, or None when absent or NULL."""
    value = item.get(name)
    if value is None or (isinstance(value, Mapping) and value.get("NULL") is True):
        return None
    return get_str(item, name)


def get_int(item: Mapping[str, Any], name: str) -> int:
    """The integer number attribute ``name``.

    Raises:
        RecordError: missing, not a number, or not an integer.
    """
    text = str(_attr(item, name, "N"))
    number = _number(text)
    if isinstance(number, int):
        return number
    if number == number.to_integral_value():
        return int(number)
    raise RecordError(f"attribute {name!r} is not an integer: {text!r}")


def get_decimal(item: Mapping[str, Any], name: str) -> Decimal:
    """The number attribute ``name`` as an exact ``Decimal`` (from its text).

    Raises:
        RecordError: missing or not a number.
    """
    text = str(_attr(item, name, "N"))
    try:
        return Decimal(text)
    except InvalidOperation:
        raise RecordError(f"attribute {name!r} is not a number: {text!r}") from None


def get_float(item: Mapping[str, Any], name: str) -> float:
    """The number attribute ``name`` as a float (a coordinate), parsed from its text.

    Raises:
        RecordError: missing or not a number.
    """
    text = str(_attr(item, name, "N"))
    try:
        return float(text)
    except ValueError:
        raise RecordError(f"attribute {name!r} is not a number: {text!r}") from None


def get_bool(item: Mapping[str, Any], name: str) -> bool:
    """The boolean attribute ``name``.

    Raises:
        RecordError: missing or not a boolean.
    """
    return bool(_attr(item, name, "BOOL"))


def get_map(item: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The map attribute ``name`` (its raw attribute values).

    Raises:
        RecordError: missing or not a map.
    """
    value = _attr(item, name, "M")
    if not isinstance(value, dict):
        raise RecordError(f"attribute {name!r} is not a map")
    return value


def get_list(item: Mapping[str, Any], name: str) -> list[Any]:
    """The list attribute ``name`` (its raw attribute values).

    Raises:
        RecordError: missing or not a list.
    """
    value = _attr(item, name, "L")
    if not isinstance(value, list):
        raise RecordError(f"attribute {name!r} is not a list")
    return value


def parse_utc(text: str) -> datetime:
    """A datetime written by :func:`iso_utc` (any ISO-8601 with an offset is accepted), in UTC.

    Raises:
        RecordError: not an ISO-8601 time with an offset.
    """
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"not an ISO-8601 time: {text!r}") from None
    if value.utcoffset() is None:
        raise RecordError(f"time without an offset: {text!r}")
    return value.astimezone(UTC) if value.utcoffset() != timedelta(0) else value.replace(tzinfo=UTC)


def get_time(item: Mapping[str, Any], name: str) -> datetime:
    """The time attribute ``name`` (an ISO-8601 UTC string).

    Raises:
        RecordError: missing or malformed.
    """
    return parse_utc(get_str(item, name))
