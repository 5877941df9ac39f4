"""JSON schemas the HTTP layer enforces on path and query parameters, without pydantic (the route table is built
from them at import; :mod:`fooddelivery.http.models` uses them for body fields too)."""

from __future__ import annotations

from typing import Any, Final

from fooddelivery.domain.ids import ID_PATTERN, MAX_ID_LENGTH

__all__ = ["CURSOR_PATTERN", "CURSOR_SCHEMA", "ID_SCHEMA"]

#: JSON schema of an opaque id (path parameters, body and query fields).
ID_SCHEMA: Final[dict[str, Any]] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ID_LENGTH,
    "pattern": ID_PATTERN,
    "description": "An opaque id: 1..128 characters, no control characters, line separators or '/'.",
}
#: An opaque listing cursor: unpadded base64url, 1..2048 characters (the ``nextCursor`` of a previous page).
CURSOR_PATTERN: Final[str] = "^[A-Za-z0-9_-]{1,2048}$"
#: JSON schema of a listing cursor.
CURSOR_SCHEMA: Final[dict[str, Any]] = {
    "type": "string",
    "pattern": CURSOR_PATTERN,
    "description": "The nextCursor of the previous page, with the same filters. One this listing did not issue "
    "(or issued for other filters) is 404 unknown_cursor.",
}
