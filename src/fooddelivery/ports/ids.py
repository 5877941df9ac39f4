"""Identifiers, from one place."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["IdGenerator"]


@runtime_checkable
class IdGenerator(Protocol):
    """Makes new opaque identifiers."""

    def new_id(self, prefix: str) -> str:
        """A new id, unique for this generator, starting with ``prefix`` + ``"-"`` (e.g. ``"ord-..."``).

        Ids are opaque: callers never parse them.
        """
        ...
