"""The order saga on Durable Functions (``FOODDELIVERY_SAGA_MODE=durable``).

- :mod:`fooddelivery_azure.durable.orchestrator` -- the orchestrator that interprets the core's saga definition
  (an activity per step, fan-out/fan-in for the parallel block, retries and catch routes as defined, compensation
  newest first, the restaurant's confirmation as an external event raced with a durable timer);
- :mod:`fooddelivery_azure.durable.activities` -- the activity body: one core action per call, idempotent on the
  order id, its errors answered by name;
- :mod:`fooddelivery_azure.durable.engine` -- the core's ``SagaEngine`` port: starts an instance named after the
  order and raises the restaurant's and the customer's events to it;
- :mod:`fooddelivery_azure.durable.client_binding` -- :func:`durable_client`, which binds an invocation's Durable
  client for the engine (standard library only).

Importing this package imports nothing else: its names load on first access (PEP 562), so the HTTP function, which
binds the client, loads neither the engine nor the core's saga on its cold start. The Durable SDK is used by the
functions that register these.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fooddelivery_azure.durable.client_binding import durable_client
    from fooddelivery_azure.durable.engine import DurableSagaEngine

__all__ = ["DurableSagaEngine", "durable_client"]

_WHERE = {"DurableSagaEngine": "engine", "durable_client": "client_binding"}
_SUBMODULES = ("activities", "client_binding", "engine", "orchestrator")


def __getattr__(name: str) -> Any:
    """``DurableSagaEngine`` or ``durable_client`` (or a submodule), imported on first access."""
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's globals and its ``__all__`` (loaded or not), sorted: what ``dir()`` listed when the package
    imported its names."""
    return sorted({*globals(), *__all__})
