"""Paging helpers every store adapter shares (in memory, SQLite, DynamoDB, Cosmos DB, Firestore): opaque cursors
and page limits, so a listing answers the same malformed cursor or limit with the same error on every store.

A cursor is base64url (unpadded) of a compact JSON object whose ``"k"`` names the listing it belongs to; a store
puts its own position in it (a key, a creation time and id, an offset). Clients treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from fooddelivery.domain.errors import ValidationError

__all__ = ["bad_cursor", "check_limit", "decode_cursor", "encode_cursor"]


def encode_cursor(position: Mapping[str, Any]) -> str:
    """An opaque cursor: base64url (unpadded) of the compact JSON of ``position``."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def bad_cursor() -> ValidationError:
    """The error for a cursor this store did not make (field ``cursor``)."""
    return ValidationError.single("cursor", "is malformed or from another listing", "invalid")


def decode_cursor(cursor: object, kind: str, keys: tuple[str, ...], *, allow_empty: bool = True) -> dict[str, str]:
    """Read a cursor made by :func:`encode_cursor`: its ``"k"`` must be ``kind``.

    Every name in ``keys`` must hold a string (non-empty unless ``allow_empty``) that UTF-8 can encode (JSON's
    ``\\ud800`` escapes decode to lone surrogates, which a store such as SQLite cannot bind).

    Raises:
        ValidationError: anything else (field ``cursor``).
    """
    if not isinstance(cursor, str) or not cursor or len(cursor) > 2048:
        raise bad_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError):
        raise bad_cursor() from None
    if not isinstance(position, dict) or position.get("k") != kind:
        raise bad_cursor()
    out: dict[str, str] = {}
    for key in keys:
        value = position.get(key)
        if not isinstance(value, str) or (not value and not allow_empty):
            raise bad_cursor()
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise bad_cursor() from None
        out[key] = value
    return out


def check_limit(limit: object) -> int:
    """Require an ``int`` page size 1..100.

    Raises:
        ValidationError: field ``limit``.
    """
    if type(limit) is not int or not 1 <= limit <= 100:
        raise ValidationError.single("limit", "must be an integer 1..100", "out_of_range")
    return limit
