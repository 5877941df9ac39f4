"""Helpers of the in-memory adapters: fast JSON-value copies.

(Cursors and page limits are shared by every store: ``fooddelivery.adapters.paging``.)
"""

from __future__ import annotations

from typing import Any

__all__ = ["copy_json"]


def copy_json(value: Any) -> Any:
    """An independent copy of a JSON-like value: dicts and lists copied at every depth.

    Much faster than ``copy.deepcopy`` for the small, mostly flat dicts the core keeps: strings,
    numbers, ``Decimal``, ``datetime`` and other immutables are shared, not copied; tuples are kept.
    """
    kind = type(value)
    if kind is dict:
        out = value.copy()
        for key, item in out.items():
            if type(item) is dict or type(item) is list:
                out[key] = copy_json(item)
        return out
    if kind is list:
        out_list = value.copy()
        for i, item in enumerate(out_list):
            if type(item) is dict or type(item) is list:
                out_list[i] = copy_json(item)
        return out_list
    return value
