"""The Azure Functions app's functions, in two Blueprints: the HTTP API's
(:data:`~fooddelivery_azure.functions.http_functions.blueprint_http`) and the background work's
(:data:`~fooddelivery_azure.functions.background_functions.blueprint_background`: the Service Bus runtime queue, the
Cosmos DB change feed, the sweep timer, the Durable orchestrators and activities).
:mod:`fooddelivery_azure.functions.apps` chooses which an app registers (app setting
``FOODDELIVERY_AZURE_FUNCTIONS``: ``all``, ``http``, ``background``).

``blueprint`` (every function, as before the split), ``blueprint_http`` and ``blueprint_background`` are loaded on
first access (PEP 562): importing this package imports neither Blueprint's module, so an HTTP-only app never imports
the Service Bus worker extension the background functions need. Nothing is built and nothing connects on import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import azure.functions as func

    blueprint: func.Blueprint
    blueprint_http: func.Blueprint
    blueprint_background: func.Blueprint

__all__ = ["blueprint", "blueprint_background", "blueprint_http"]


def __getattr__(name: str) -> Any:
    """``blueprint``, ``blueprint_http`` or ``blueprint_background``, imported on first access."""
    if name == "blueprint":
        from fooddelivery_azure.functions.apps import combined_blueprint

        return combined_blueprint()
    if name == "blueprint_http":
        from fooddelivery_azure.functions.http_functions import blueprint_http

        return blueprint_http
    if name == "blueprint_background":
        from fooddelivery_azure.functions.background_functions import blueprint_background

        return blueprint_background
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
