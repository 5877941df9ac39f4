"""Names a module exports but imports on first use (PEP 562): the one ``__getattr__`` / ``__dir__`` pair behind
``fooddelivery.domain``, ``fooddelivery.ports``, ``fooddelivery.http``, ``fooddelivery.adapters.memory`` and
``fooddelivery.bootstrap``, so that importing one of them (a cloud entrypoint answering ``GET /health`` on its cold
start) loads only the modules it uses.

It lives in the domain, which imports only the standard library and itself, because the domain uses it too; the
other layers may import the domain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from importlib.util import find_spec
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    namespace: dict[str, Any], where: Mapping[str, str], *, submodules: bool = False
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Build the module-level ``__getattr__`` and ``__dir__`` of a module whose exported names load on first access.

    Usage, at the end of the module::

        __getattr__, __dir__ = lazy_names(globals(), _WHERE, submodules=True)

    Args:
        namespace: the module's ``globals()``. A name, once loaded, is stored there, so the next access is a plain
            lookup that never reaches ``__getattr__``.
        where: exported name -> the module that defines it, absolute (``"fooddelivery.domain.order"``) or relative
            to the module's package when it starts with a dot (``".auth"``). A name that is the last part of its
            module's name (``"instrument": "fooddelivery.observability.instrument"``) is that module itself.
        submodules: also give the package's own public submodules as attributes (``fooddelivery.domain.order``
            after a bare ``import fooddelivery.domain``), as a package that imported them all did.

    Returns:
        ``(__getattr__, __dir__)``: ``__getattr__(name)`` imports and returns the name, raising
        :class:`AttributeError` for one that is neither exported nor (with ``submodules``) a public submodule;
        ``__dir__()`` lists the module's globals and its ``__all__``, sorted.
    """
    owner: str = namespace["__name__"]
    package: str = namespace.get("__package__") or owner.rpartition(".")[0]

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            # only a plain name can be a submodule: find_spec("pkg.a.b") would import "pkg.a" (or raise
            # ModuleNotFoundError, which hasattr() does not catch) for getattr(pkg, "a.b")
            if submodules and name.isidentifier() and not name.startswith("_") and find_spec(f"{owner}.{name}"):
                return import_module(f"{owner}.{name}")
            raise AttributeError(f"module {owner!r} has no attribute {name!r}")
        imported = import_module(module, package)
        value = imported if imported.__name__.endswith(f".{name}") else getattr(imported, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *namespace.get("__all__", ())})

    return __getattr__, __dir__
