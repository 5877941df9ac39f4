"""The core's ``SagaEngine`` port on Durable Functions (``FOODDELIVERY_SAGA_MODE=durable``).

:class:`DurableSagaEngine` starts one :data:`~fooddelivery_azure.durable.orchestrator.ORCHESTRATOR` instance per
order, named after it, and raises the restaurant's and the customer's events to it, answering like the core's
``SagaRunner`` so the use cases keep their contract:

==============================================  ===============================================================
the instance (its runtime status, custom        ``signal(event)`` answers
status, output)
==============================================  ===============================================================
none                                            ``NotFound``
has accepted ``event`` already                  ``DUPLICATE`` (nothing is raised again)
running, waiting for ``event``                  ``raise_event`` -> ``ACCEPTED``
completed SUCCEEDED, ``event`` is the cancel    a second instance ``<id>:cancel`` starts at the definition's
event                                           ``cancel_route`` with what the first completed -> ``ACCEPTED``
running towards success (no outcome yet), the   ``InvalidTransition`` ("not yet": it takes the cancellation once
cancel event                                    it has succeeded; the runtime delivers it again)
finished, or past its wait (failing)            ``LateEvent``
running, not waiting yet                        ``InvalidTransition`` (retry later)
==============================================  ===============================================================

``status`` maps the instance: Pending/Running -> RUNNING, WAITING or RETRY_WAIT (its custom status' phase);
Completed -> the output's SUCCEEDED/FAILED; Failed/Terminated/Canceled -> FAILED; none -> None. When a cancel
instance exists it is the saga's status.

The Durable client. Durable Functions hands its client to a function through the ``durableClient`` input binding
only (``DurableOrchestrationClient``, built from the binding's JSON, async methods calling the host's local
Durable HTTP API). The functions that reach the engine (HTTP, the runtime queue) take that binding and run the core
in a worker thread inside :func:`durable_client` (the event loop of the invocation and the client in a context
variable, :mod:`fooddelivery_azure.durable.client_binding`); the engine submits each client call to that loop and
waits for it (``asyncio.run_coroutine_threadsafe``), so the SDK's one aiohttp session always lives on the worker's
loop. Outside such a block the engine refuses with ``InfrastructureError``.

Known difference from the in-process runner: ``raise_event`` is fire-and-forget (202), so an event raised in the
instant the timeout fires is answered ACCEPTED and then ignored by the orchestration if the timer reached its
history first (the order fails with ``restaurant_timeout``, as it would have a moment earlier); a repeated event
sent before the orchestration processed the first is raised again and answered ACCEPTED (the orchestration ignores
it: no second effect).

Sources:
    - client API (``start_new``, ``raise_event``, ``get_status``) and the client binding:
      https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-instance-management
    - starting an existing instance id replaces a completed one (so the engine checks first):
      https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-singletons
    - raising an event to an instance that does not wait for it yet buffers it; to a finished one fails:
      https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-external-events
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from fooddelivery.application.order_saga import build_order_saga
from fooddelivery.domain.errors import InfrastructureError, InvalidTransition, LateEvent, NotFound
from fooddelivery.observability.tracing import TRACE_KEY, origin_carrier
from fooddelivery.ports.saga_engine import SignalOutcome
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery_azure.durable.client_binding import CLIENT, durable_client
from fooddelivery_azure.durable.orchestrator import (
    ORCHESTRATOR,
    MalformedSagaInput,
    Phase,
    SagaInput,
    SagaOutcome,
    cancel_instance_id,
    instance_id_for,
)

__all__ = ["DurableSagaEngine", "InstanceView", "durable_client"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
#: Runtime statuses of an instance that will not run again.
_FINISHED: Final[frozenset[str]] = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


@dataclass(frozen=True, slots=True)
class InstanceView:
    """What the engine reads of one instance.

    Attributes:
        runtime_status: Durable's runtime status (``Running``, ``Completed``...).
        phase: the custom status' phase (None: not published yet).
        state: the state it is in (custom status or output).
        events: the events it waits for (when its phase is ``waiting``).
        signals: the events it accepted.
        outcome: the failure reason recorded.
        waited: it is past its wait (it compensates, fails or confirms).
        output: the output of a completed instance.
    """

    runtime_status: str
    phase: str | None
    state: str | None
    events: tuple[str, ...]
    signals: tuple[str, ...]
    outcome: str | None
    waited: bool
    output: SagaOutcome | None

    @property
    def finished(self) -> bool:
        """It will not run again."""
        return self.runtime_status in _FINISHED

    @classmethod
    def of(cls, status: Any) -> InstanceView | None:
        """The view of a ``DurableOrchestrationStatus`` (None: no such instance)."""
        runtime = getattr(status, "runtime_status", None)
        if runtime is None:
            return None
        name = str(getattr(runtime, "value", runtime))
        custom = status.custom_status
        if isinstance(custom, str):
            try:
                custom = json.loads(custom)
            except ValueError:
                custom = None
        custom = custom if isinstance(custom, Mapping) else {}
        output: SagaOutcome | None = None
        if name == "Completed":
            try:
                output = SagaOutcome.from_json(status.output)
            except MalformedSagaInput as exc:
                log.warning("orchestration output not understood: %s", exc)
        # a finished instance is read from its output, a running one from its custom status
        seen: Mapping[str, Any] = custom if output is None else {**output.data, "outcome": output.outcome}
        return cls(
            runtime_status=name,
            phase=custom.get("phase") if isinstance(custom.get("phase"), str) else None,
            state=output.state if output is not None else custom.get("state"),
            events=tuple(e for e in custom.get("events", []) if isinstance(e, str)),
            signals=tuple(s for s in seen.get("signals", []) if isinstance(s, str)),
            outcome=seen.get("outcome") if isinstance(seen.get("outcome"), str) else None,
            waited=seen.get("waited") is True,
            output=output,
        )

    def saga_status(self) -> SagaStatus:
        """The core's status of this view (see the module docstring)."""
        if self.output is not None:
            return SagaStatus.SUCCEEDED if self.output.status == "SUCCEEDED" else SagaStatus.FAILED
        if self.finished:
            return SagaStatus.FAILED
        if self.phase == Phase.WAITING.value:
            return SagaStatus.WAITING
        if self.phase == Phase.RETRY_WAIT.value:
            return SagaStatus.RETRY_WAIT
        return SagaStatus.RUNNING


class DurableSagaEngine:
    """The ``SagaEngine`` port on Durable Functions (see the module docstring).

    Args:
        confirmation_timeout_s: the order saga's confirmation timeout (s), given to every instance it starts.
        orchestrator: the orchestrator function's name.
        call_timeout_s: how long one call of the Durable HTTP API may take (s).
    """

    def __init__(
        self,
        confirmation_timeout_s: float,
        *,
        orchestrator: str = ORCHESTRATOR,
        call_timeout_s: float = 30.0,
    ) -> None:
        self.definition = build_order_saga(confirmation_timeout_s)
        self.confirmation_timeout_s = confirmation_timeout_s
        self.orchestrator = orchestrator
        self.call_timeout_s = call_timeout_s

    # -- the port -------------------------------------------------------------------------------------------
    def start(self, saga_id: str, data: Mapping[str, Any] | None = None) -> None:
        """Start the instance of ``saga_id`` unless it exists (in any state: a finished one is never restarted).

        Raises:
            InfrastructureError: Durable refused, or no client is bound; retrying is safe.
        """
        instance = instance_id_for(saga_id)
        if self._view(instance) is not None:
            log.info("saga %s: orchestration %s exists already", saga_id, instance)
            return
        body: dict[str, Any] = {"orderId": saga_id, **dict(data or {})}
        carrier = body.get(TRACE_KEY) or origin_carrier()
        if carrier:
            # the order's trace: every activity's "saga <state>" span joins it (the data reaches each step input)
            body[TRACE_KEY] = dict(carrier)
        saga = SagaInput(saga_id, self.definition.key, self.confirmation_timeout_s, data=body)
        self._start(instance, saga, saga_id)

    def signal(self, saga_id: str, event: str, detail: Mapping[str, Any] | None = None) -> SignalOutcome:
        """Deliver ``event`` (see the module docstring's table).

        Raises:
            NotFound: no instance.
            LateEvent: the wait it belongs to is over; nothing changes.
            InvalidTransition: the instance does not wait for it yet; retry later.
            InfrastructureError: Durable refused, or no client is bound.
        """
        instance = instance_id_for(saga_id)
        first = self._view(instance)
        if first is None:
            raise NotFound(f"no saga instance {saga_id!r}", saga_id=saga_id)
        cancel = event == self.definition.cancel_event and self.definition.cancel_route is not None
        second = self._view(cancel_instance_id(instance)) if first.output is not None else None
        view = second or first
        if event in view.signals or (second is not None and cancel):
            return SignalOutcome.DUPLICATE
        if not view.finished and view.phase == Phase.WAITING.value and event in view.events:
            self._raise(instance, event, detail, saga_id)
            return SignalOutcome.ACCEPTED
        if second is None and cancel and first.output is not None and first.output.status == "SUCCEEDED":
            self._start_cancel_route(instance, first.output, saga_id)
            return SignalOutcome.ACCEPTED
        if cancel and not view.finished and view.outcome is None:
            raise InvalidTransition(
                f"saga {saga_id} is at {view.state} and takes {event} once that step is done; retry shortly",
                saga_id=saga_id,
            )
        if view.finished or view.waited:
            raise LateEvent(
                f"saga {saga_id} no longer waits for {event}: it is {view.saga_status().value}"
                + (f" ({view.outcome})" if view.outcome else ""),
                saga_id=saga_id,
                status=view.saga_status().value,
                outcome=view.outcome,
            )
        raise InvalidTransition(f"saga {saga_id} is at {view.state} and does not accept {event} yet", saga_id=saga_id)

    def status(self, saga_id: str) -> SagaStatus | None:
        """The saga's status (see the module docstring), or None when it was never started.

        Raises:
            InfrastructureError: Durable refused, or no client is bound.
        """
        instance = instance_id_for(saga_id)
        first = self._view(instance)
        if first is None:
            return None
        second = self._view(cancel_instance_id(instance)) if first.output is not None else None
        return (second or first).saga_status()

    # -- Durable calls --------------------------------------------------------------------------------------
    def _start(self, instance: str, saga: SagaInput, saga_id: str) -> None:
        try:
            self._call(lambda client: client.start_new(self.orchestrator, instance, saga.to_json()), "start_new")
        except InfrastructureError:
            if self._view(instance) is not None:
                return  # a concurrent start won: the instance exists, which is all ``start`` promises
            raise
        log.info("saga %s: orchestration %s started at %s", saga_id, instance, saga.start or self.definition.start)

    def _start_cancel_route(self, instance: str, done: SagaOutcome, saga_id: str) -> None:
        route = self.definition.cancel_route
        assert route is not None
        data = dict(done.data)
        data["signals"] = [*data.get("signals", []), self.definition.cancel_event]
        saga = SagaInput(
            saga_id,
            self.definition.key,
            self.confirmation_timeout_s,
            start=route,
            data=data,
            completed=list(done.completed),
            compensated=list(done.compensated),
            outcome="cancelled",
        )
        self._start(cancel_instance_id(instance), saga, saga_id)

    def _raise(self, instance: str, event: str, detail: Mapping[str, Any] | None, saga_id: str) -> None:
        payload = dict(detail or {})
        try:
            self._call(lambda client: client.raise_event(instance, event, payload), "raise_event")
        except InfrastructureError:
            view = self._view(instance)
            if view is not None and view.finished:  # it ended between the read and the raise
                raise LateEvent(
                    f"saga {saga_id} no longer waits for {event}", saga_id=saga_id, status=view.saga_status().value
                ) from None
            raise

    def _view(self, instance: str) -> InstanceView | None:
        return InstanceView.of(self._call(lambda client: client.get_status(instance), "get_status"))

    def _call(self, call: Callable[[Any], Awaitable[_T]], what: str) -> _T:
        """Run ``call(client)`` on the bound client's loop and wait for it.

        Raises:
            InfrastructureError: no client bound (``retryable=False``), the call failed or timed out.
        """
        binding = CLIENT.get()
        if binding is None:
            raise InfrastructureError(
                "FOODDELIVERY_SAGA_MODE=durable: no Durable client is bound to this call (only the functions with "
                "the durableClient binding reach the saga engine)",
                retryable=False,
                operation=what,
            )
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is binding.loop:
            raise RuntimeError("the Durable saga engine blocks: call it from a worker thread, not the event loop")

        try:
            # the call's awaitable is made here, in the worker thread: resolving the client's method builds a lazy
            # client (:class:`~fooddelivery_azure.functions.durable_bindings.LazyDurableClient`: the SDK imported,
            # ~100 ms) off the event loop, which every async invocation of the worker shares; the SDK's methods are
            # ``async``, so nothing else runs before the loop awaits it
            awaitable = call(binding.client)
        except Exception as exc:
            raise InfrastructureError(f"Durable {what} failed: {exc}", retryable=True, operation=what) from exc

        async def invoke() -> _T:
            return await awaitable

        future = asyncio.run_coroutine_threadsafe(invoke(), binding.loop)
        try:
            return future.result(self.call_timeout_s)
        except TimeoutError as exc:
            future.cancel()
            raise InfrastructureError(f"Durable {what} timed out", retryable=True, operation=what) from exc
        except Exception as exc:  # the SDK raises bare Exception for the extension's error statuses
            raise InfrastructureError(f"Durable {what} failed: {exc}", retryable=True, operation=what) from exc
