"""Identifiers: opaque strings of 1..128 characters, checked in one place (:func:`check_id`).

Apart from :mod:`fooddelivery.domain.catalog` (which re-exports these names) so that what checks an id -- the HTTP
layer on every request, the authenticators -- loads neither the catalog's entities nor money.
"""

from __future__ import annotations

import re
from typing import Final

from fooddelivery.domain.errors import ValidationError

__all__ = ["ID_PATTERN", "MAX_ID_LENGTH", "check_id"]

#: Longest identifier accepted anywhere (ids are opaque strings; 128 fits every store's key limit).
MAX_ID_LENGTH = 128
#: The characters an identifier may hold, as a regular expression that means the same in Python and in
#: ECMA-262 (JSON Schema's dialect, so the OpenAPI document states the rule itself): anything but a control
#: character (C0, DEL, C1), a line or paragraph separator (U+2028, U+2029) or ``/``. (A lone surrogate, which
#: only a JSON ``\\ud800`` escape can produce and no Unicode text holds, is refused too.)
ID_PATTERN: Final[str] = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029/]+$"
#: :data:`ID_PATTERN` with lone surrogates refused too (Python's ``re`` matches them as code points), so
#: :func:`check_id` needs one match and no UTF-8 encoding.
_ID_OR_SURROGATE: Final[re.Pattern[str]] = re.compile(
    "[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029/\\ud800-\\udfff]+"
)
#: A valid identifier in one match (its length too): :func:`check_id`'s fast path; anything else is classified
#: by the checks that name what is wrong.
_VALID_ID: Final[re.Pattern[str]] = re.compile(
    f"[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029/\\ud800-\\udfff]{{1,{MAX_ID_LENGTH}}}"
)


def check_id(value: object, field_name: str) -> str:
    """Validate an opaque identifier: 1..128 characters matching :data:`ID_PATTERN` (no control characters, line
    separators or ``/``).

    Raises:
        ValidationError: naming ``field_name``.
    """
    if type(value) is str and _VALID_ID.fullmatch(value) is not None:
        return value
    if not isinstance(value, str) or not value:
        raise ValidationError.single(field_name, "must be a non-empty string", "required")
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError.single(field_name, f"must be at most {MAX_ID_LENGTH} characters", "too_long")
    if _ID_OR_SURROGATE.fullmatch(value) is None:
        raise ValidationError.single(field_name, "must not contain control characters or '/'", "invalid")
    return value
