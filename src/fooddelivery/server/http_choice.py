"""``serve --http``: the HTTP/1.1 implementation a choice stands for.

Imports no uvicorn (and no ``httptools`` until a choice is resolved), so the CLI can refuse ``--http httptools``
without the package before anything starts, even where uvicorn itself is missing. The guarded protocols that use the
answer are in :mod:`fooddelivery.server.protocol`, which re-exports both names.
"""

from __future__ import annotations

from typing import Final

__all__ = ["HTTP_IMPLEMENTATIONS", "resolve_implementation"]

#: ``serve --http`` choices: ``auto`` is ``httptools`` when that package is installed, else ``h11``.
HTTP_IMPLEMENTATIONS: Final[tuple[str, ...]] = ("auto", "httptools", "h11")


def resolve_implementation(implementation: str) -> str:
    """``"httptools"`` or ``"h11"`` for a :data:`HTTP_IMPLEMENTATIONS` choice (``"auto"``: httptools when the
    ``httptools`` package imports, else h11).

    Raises:
        ValueError: an unknown choice, or ``"httptools"`` when the package is not installed (the message says how
            to install it).
    """
    if implementation not in HTTP_IMPLEMENTATIONS:
        choices = ", ".join(HTTP_IMPLEMENTATIONS)
        raise ValueError(f"unknown HTTP implementation {implementation!r}: choose one of {choices}")
    if implementation == "h11":
        return "h11"
    try:
        import httptools  # noqa: F401
    except ImportError:
        if implementation == "httptools":
            raise ValueError(
                "the httptools HTTP implementation is not installed: pip install 'fooddelivery[serve]'"
            ) from None
        return "h11"
    return "httptools"
