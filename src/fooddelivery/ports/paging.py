"""One page of a listing: what every listing port returns (orders, restaurants).

A module of its own, standard library only, so what pages restaurants does not load the order aggregate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Page"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing.

    Attributes:
        items: the results in the listing's order.
        next_cursor: an opaque string to pass back for the next page, or None at the end.
    """

    items: Sequence[T]
    next_cursor: str | None = None
