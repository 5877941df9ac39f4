"""What the schemathesis runs (in process and against a live server) share."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fooddelivery.domain.status import IDEMPOTENCY_KEY_PATTERN


def fresh_idempotency_key(ctx: Any, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    """A generated valid ``Idempotency-Key`` made unique: a key reused with another body is refused with 422 by design
    (the IETF draft-ietf-httpapi-idempotency-key-header), which no document can say and ST202 would call a valid request
    refused; that refusal is tested by the idempotency tests. An invalid key (a negative case) is left as generated."""
    key = None if headers is None else headers.get("Idempotency-Key")
    if isinstance(key, str) and re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        headers = {**(headers or {}), "Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    return headers
