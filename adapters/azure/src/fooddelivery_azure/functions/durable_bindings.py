"""The Durable Functions bindings of the app's functions, declared without importing the Durable SDK.

``azure.durable_functions`` costs about 300 ms to import in a fresh process (its package imports its HTTP client,
``aiohttp``, and OpenTelemetry, whatever the function), and the HTTP function's first request needs none of it. The
SDK's own decorators (``df.Blueprint.orchestration_trigger``, ``activity_trigger``, ``durable_client_input``) would
import it when ``function_app.py`` is loaded. These declare the same bindings with ``azure.functions``' generic
decorators -- the Functions host indexes the same ``orchestrationTrigger``, ``activityTrigger`` and
``durableClient`` bindings, with the same names and properties (a test compares them with the SDK's) -- and wrap the
function as the SDK does, importing the SDK on the wrapper's first call:

- :func:`orchestration_trigger`: the function becomes the SDK's orchestrator handle
  (``azure.durable_functions.Orchestrator.create``), built on the first call;
- :func:`activity_trigger`: the binding only (the SDK does not wrap activities);
- :func:`durable_client_input`: the function becomes ``async`` and is called with the client, as the SDK's
  ``df_client_middleware`` does, but a :class:`LazyDurableClient`: the ``DurableOrchestrationClient`` is built from
  the binding's JSON string (and the SDK imported) by the first use of the client, so an HTTP request that starts
  no orchestration (``GET /health``, every request in ``servicebus`` saga mode) never imports the SDK; the
  parameter is annotated ``str`` for the worker, as the SDK does.

Each takes the undecorated function (apply it first, innermost) and returns what ``azure.functions``' decorators
return, for the others (``function_name``, ``route``...) to follow. Sources: the SDK's
``azure/durable_functions/decorators/durable_app.py`` and ``metadata.py`` (azure-functions-durable 1.7,
https://github.com/Azure/azure-functions-durable-python).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import azure.functions as func

__all__ = ["LazyDurableClient", "activity_trigger", "durable_client_input", "orchestration_trigger"]

#: The binding types the Durable extension registers (``azure.durable_functions.constants``).
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
DURABLE_CLIENT = "durableClient"


class LazyDurableClient:
    """An invocation's ``azure.durable_functions.DurableOrchestrationClient``, built on first use.

    Every attribute (``start_new``, ``raise_event``, ``get_status``...) is the real client's: the first access
    imports the SDK and builds the client from the binding, as the SDK's decorator does on every call.

    Args:
        binding: the ``durableClient`` binding's value (the JSON string the host passes).
        invocation_id: the function invocation's id, for the SDK's correlation, or None.
    """

    def __init__(self, binding: str, invocation_id: str | None = None) -> None:
        self.binding = binding
        self.invocation_id = invocation_id
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The ``DurableOrchestrationClient`` (built, and the SDK imported, on the first access)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from azure.durable_functions import DurableOrchestrationClient

                    self._client = DurableOrchestrationClient(self.binding, self.invocation_id)
        return self._client

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("binding", "invocation_id", "_client", "_lock"):
            raise AttributeError(name)
        return getattr(self.client, name)

    def __repr__(self) -> str:
        state = "built" if self._client is not None else "not built"
        return f"LazyDurableClient({state})"


def orchestration_trigger(
    blueprint: func.Blueprint, context_name: str, orchestration: str
) -> Callable[[Callable[[Any], Generator[Any, Any, Any]]], Any]:
    """Register a generator function as the orchestrator ``orchestration`` (binding ``orchestrationTrigger``).

    Args:
        blueprint: where the function is registered.
        context_name: the parameter the host binds the orchestration context to.
        orchestration: the orchestrator's name.

    Returns:
        A decorator of the generator function (``context -> Generator``); the registered function takes the host's
        ``func.OrchestrationContext`` and returns the SDK's JSON of the orchestrator's state (``str``).
    """

    def decorator(orchestrator: Callable[[Any], Generator[Any, Any, Any]]) -> Any:
        built: list[Callable[[Any], str]] = []
        lock = threading.Lock()

        def handle(context: func.OrchestrationContext) -> str:
            if not built:
                with lock:
                    if not built:
                        from azure.durable_functions import Orchestrator

                        sdk_handle: Any = Orchestrator.create(orchestrator)
                        sdk_handle._df_input_type = None  # as the SDK's decorator sets it (no declared input type)
                        built.append(sdk_handle)
            return built[0](context)

        handle.__name__ = handle.__qualname__ = orchestrator.__name__
        handle.__doc__ = orchestrator.__doc__
        handle.orchestrator_function = orchestrator  # type: ignore[attr-defined]  # as the SDK's handle has
        binding = {"orchestration": orchestration}
        return blueprint.generic_trigger(arg_name=context_name, type=ORCHESTRATION_TRIGGER, **binding)(handle)

    return decorator


def activity_trigger(blueprint: func.Blueprint, input_name: str, activity: str) -> Callable[[Callable[..., Any]], Any]:
    """Register a function as the activity ``activity`` (binding ``activityTrigger`` on its ``input_name``).

    Args:
        blueprint: where the function is registered.
        input_name: the parameter the host binds the activity's input to.
        activity: the activity's name.

    Returns:
        A decorator of the activity function (unchanged, as the SDK leaves it).
    """
    return blueprint.generic_trigger(arg_name=input_name, type=ACTIVITY_TRIGGER, activity=activity)


def durable_client_input(
    blueprint: func.Blueprint, client_name: str
) -> Callable[[Callable[..., Coroutine[Any, Any, Any]]], Any]:
    """Give an ``async`` function the ``durableClient`` input binding on its parameter ``client_name``.

    Args:
        blueprint: where the function is registered.
        client_name: the parameter that receives the client.

    Returns:
        A decorator of the ``async`` function: the registered function receives the binding's JSON string and calls
        the function with a :class:`LazyDurableClient` of it (and of the invocation id of a ``context`` keyword
        argument, when there is one): the ``DurableOrchestrationClient`` the SDK's decorator would build, on first
        use.
    """

    def decorator(user_code: Callable[..., Coroutine[Any, Any, Any]]) -> Any:
        @functools.wraps(user_code)
        async def with_client(*args: Any, **kwargs: Any) -> Any:
            context = kwargs.get("context")
            invocation_id = getattr(context, "invocation_id", None) if context is not None else None
            kwargs[client_name] = LazyDurableClient(kwargs[client_name], invocation_id)
            return await user_code(*args, **kwargs)

        # the worker type-checks every parameter against its binding: the client arrives as a JSON string (the SDK
        # sets the annotation on both, the signature the worker reads follows ``__wrapped__``)
        user_code.__annotations__[client_name] = str
        with_client.__annotations__ = {**user_code.__annotations__, client_name: str}
        with_client.client_function = user_code  # type: ignore[attr-defined]  # as the SDK's wrapper has
        return blueprint.generic_input_binding(arg_name=client_name, type=DURABLE_CLIENT)(with_client)

    return decorator
