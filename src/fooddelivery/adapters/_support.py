"""Helpers of the in-memory adapters: fast JSON-value copies.

(Cursors and page limits are shared by every store: ``fooddelivery.adapters.paging``.)
"""

from __future__ import annotations

from fooddelivery.ports.saga_store import copy_json

__all__ = ["copy_json"]
