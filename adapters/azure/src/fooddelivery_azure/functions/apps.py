"""Which functions a Function app registers: all of them (one app), or the HTTP API and the background work in two.

``deploy/azure/app/function_app.py`` is the whole app::

    from fooddelivery_azure.functions.apps import function_app

    app = function_app()

and the app setting ``FOODDELIVERY_AZURE_FUNCTIONS`` (:data:`FUNCTIONS_VARIABLE`) chooses what it registers:

==============  =================================================================================================
value           functions
==============  =================================================================================================
``all``         (the default, also when unset or empty) every function: ``http`` and the background functions --
                one app does everything, as before the split
``http``        ``http`` alone (:mod:`fooddelivery_azure.functions.http_functions`): the Service Bus worker
                extension (``azurefunctions.extensions.bindings.servicebus``, with ``azure.servicebus`` and
                ``grpc``), the change feed's trigger and the saga's orchestrators and activities are not imported,
                so its instances start faster (``bench/cold_start.py``, row "ours (Azure HTTP-only app)")
``background``  everything but ``http`` (:mod:`fooddelivery_azure.functions.background_functions`): the runtime
                queue, the outbox's change feed and sweep, the Durable orchestrators and activities
==============  =================================================================================================

Two apps (``http`` and ``background``) share the Cosmos DB account, the Service Bus namespace and the host storage
account with its Durable task hub (``DURABLE_TASK_HUB``: the HTTP app's Durable client starts and signals the
orchestrations the background app runs); ``deploy/azure/main.bicep``'s parameter ``functionApps`` deploys them.
Only the chosen modules are imported: the selection happens before any of them is.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from enum import StrEnum
from typing import Final

import azure.functions as func

from fooddelivery.domain.errors import ValidationError

__all__ = ["FUNCTIONS_VARIABLE", "FunctionSet", "blueprints", "combined_blueprint", "function_app", "function_set"]

#: The app setting that chooses the functions.
FUNCTIONS_VARIABLE: Final = "FOODDELIVERY_AZURE_FUNCTIONS"


class FunctionSet(StrEnum):
    """The functions an app registers (see the module docstring)."""

    ALL = "all"
    HTTP = "http"
    BACKGROUND = "background"


def function_set(environ: Mapping[str, str] | None = None) -> FunctionSet:
    """The set :data:`FUNCTIONS_VARIABLE` names (case and surrounding blanks ignored; unset or empty: ``all``).

    Args:
        environ: the environment (default: ``os.environ``).

    Raises:
        ValidationError: the variable holds another value (the error names the variable and the allowed values), so
            the app fails to load instead of serving a set nobody asked for.
    """
    env = os.environ if environ is None else environ
    raw = env.get(FUNCTIONS_VARIABLE, "").strip().lower() or FunctionSet.ALL.value
    allowed = [s.value for s in FunctionSet]
    if raw not in allowed:
        raise ValidationError.single(
            FUNCTIONS_VARIABLE, f"must be one of {allowed}, got {env.get(FUNCTIONS_VARIABLE)!r}", "invalid"
        )
    return FunctionSet(raw)


def blueprints(selected: FunctionSet) -> tuple[func.Blueprint, ...]:
    """The Blueprints of ``selected``, importing only their modules."""
    chosen: list[func.Blueprint] = []
    if selected in (FunctionSet.ALL, FunctionSet.HTTP):
        from fooddelivery_azure.functions.http_functions import blueprint_http

        chosen.append(blueprint_http)
    if selected in (FunctionSet.ALL, FunctionSet.BACKGROUND):
        from fooddelivery_azure.functions.background_functions import blueprint_background

        chosen.append(blueprint_background)
    return tuple(chosen)


def function_app(environ: Mapping[str, str] | None = None) -> func.FunctionApp:
    """The Function app with the functions :data:`FUNCTIONS_VARIABLE` chooses (see :func:`function_set`).

    Raises:
        ValidationError: the variable's value is not one of ``all``, ``http``, ``background``.
    """
    app = func.FunctionApp()
    for blueprint in blueprints(function_set(environ)):
        app.register_functions(blueprint)
    return app


@functools.cache
def combined_blueprint() -> func.Blueprint:
    """One Blueprint with every function (the HTTP one and the background ones): what
    ``fooddelivery_azure.functions.blueprint`` was before the split, for code that registers it itself."""
    combined = func.Blueprint(http_auth_level=func.AuthLevel.ANONYMOUS)  # type: ignore[no-untyped-call]
    for blueprint in blueprints(FunctionSet.ALL):
        # a Blueprint has no register_functions of its own: its functions are its builders (what FunctionApp's
        # register_functions copies)
        combined._function_builders.extend(blueprint._function_builders)
    return combined
