"""The app's background functions (Python v2 programming model), on a Blueprint of their own
(:data:`blueprint_background`): what a background Function app loads, or, with the HTTP function's, the whole app.

:mod:`fooddelivery_azure.functions.apps` chooses what ``deploy/azure/app/function_app.py`` registers (app setting
``FOODDELIVERY_AZURE_FUNCTIONS``: ``all``, the default, registers this Blueprint and
:data:`fooddelivery_azure.functions.http_functions.blueprint_http`; ``background`` this one alone; ``http`` the HTTP
function alone).

===================  ===========================================================================================
function             what it does
===================  ===========================================================================================
``runtime_queue``    Service Bus trigger on the runtime's session queue, ``autoCompleteMessages`` off: each
                     message to ``OrderRuntime.handle``, then settled explicitly
                     (:mod:`fooddelivery_azure.servicebus.consumer`) with the worker extension's message actions
``outbox_changes``   Cosmos DB trigger on the ``orders`` container (leases in ``leases``): the outbox documents of
                     the batch to the core's ``ChangeStreamRelay``. A batch that could not be published entirely
                     raises, so the trigger's retry policy (exponential, 5 retries) runs it again; what still fails
                     stays pending in the outbox for the sweep
``outbox_sweep``     timer (every minute): ``ChangeStreamRelay.sweep()`` publishes whatever the change feed left
``order_saga``       Durable orchestrator (``FOODDELIVERY_SAGA_MODE=durable``): the core's saga definition
                     interpreted (:mod:`fooddelivery_azure.durable.orchestrator`)
``order_saga_step``  Durable sub-orchestrator: one branch of the saga's parallel block, with its retries
``saga_<action>``    one Durable activity per action of the core's ``OrderSagaSteps`` (``saga_capture_payment``,
                     ``saga_refund_payment``...; :mod:`fooddelivery_azure.durable.activities`)
===================  ===========================================================================================

Telemetry: every function that runs the core exports its spans and metrics before the invocation ends
(:func:`fooddelivery.observability.setup.flushing`: a consumption-plan instance is throttled or stopped between
invocations, and spans left in a batch would wait or be lost); the orchestrators run no core code and record none.

``runtime_queue`` takes the ``durableClient`` input binding (in ``durable`` mode the core's saga engine starts and
signals orchestrations through it; in ``servicebus`` mode it is unused). The binding makes it ``async`` (wrapped as
the Durable SDK wraps it); it runs the core, which blocks, in a worker thread
(:func:`fooddelivery_azure.functions.invocation.in_worker_thread`) with the client bound for the engine
(:func:`fooddelivery_azure.durable.engine.durable_client`).

Every function body is a plain function of this module taking the cached application
(:func:`handle_runtime_message`, :func:`handle_changes`, :func:`sweep`, :func:`run_activity`), so tests call the
registered functions with real ``azure.functions`` objects, and the bodies directly. Importing this module builds
nothing: the application is built by the first invocation (:func:`fooddelivery_azure.bootstrap.azure_app`).

The Durable bindings are declared by :mod:`fooddelivery_azure.functions.durable_bindings` (the same bindings as the
Durable SDK's decorators, on a plain ``func.Blueprint``): the SDK (``azure.durable_functions``, ~300 ms to import,
``aiohttp`` with it) is imported by the first orchestration, or the first use of the Durable client, not when the
host loads the app. Imported here: ``azure.functions`` (the host's worker has it loaded already) and the Service Bus
worker extension (the worker resolves ``runtime_queue``'s annotations when it indexes the app; ~200 ms of CPU with
``azure.servicebus`` and ``grpc``: the reason an HTTP-only app leaves this module out), and the core's saga
definition with the orchestrator (the activities are registered by the names of its actions). What only a body needs
(the runtime queue's settlement, the activity runner) is imported by the first invocation that runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import azure.functions as func
from azurefunctions.extensions.bindings import servicebus

from fooddelivery.application.order_saga import ORDER_SAGA
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.observability.setup import flushing
from fooddelivery_azure.bootstrap import AzureApp, azure_app
from fooddelivery_azure.durable.orchestrator import (
    ORCHESTRATOR,
    STEP_ORCHESTRATOR,
    activity_name,
    orchestrate_saga,
    orchestrate_step,
    saga_actions,
)
from fooddelivery_azure.functions.durable_bindings import activity_trigger, durable_client_input, orchestration_trigger
from fooddelivery_azure.functions.invocation import in_worker_thread as _in_worker_thread

if TYPE_CHECKING:
    from fooddelivery_azure.servicebus.consumer import Settler, Verdict

__all__ = [
    "blueprint_background",
    "handle_changes",
    "handle_runtime_message",
    "run_activity",
    "sweep",
]

log = logging.getLogger(__name__)

#: The background functions (the Durable bindings declared by :mod:`fooddelivery_azure.functions.durable_bindings`).
blueprint_background = func.Blueprint()  # type: ignore[no-untyped-call]  # untyped SDK


# -- bodies -----------------------------------------------------------------------------------------------------
def handle_runtime_message(message: Any, actions: Any, app: AzureApp) -> Verdict:
    """One runtime-queue message to the core's runtime, settled with ``actions`` (``ServiceBusMessageActions``), a
    "not now" failure retried later through the application's retrier (a delayed copy); with the application's
    meter, the delivery and the settlement are recorded as Service Bus operations."""
    # (imported by the first message, not when the host indexes the app: no request to the HTTP function needs them)
    from fooddelivery_azure.metering import MeteredSettler, record_delivery
    from fooddelivery_azure.servicebus.consumer import MessageActionsSettler, process

    settler: Settler = MessageActionsSettler(actions)
    if app.meter is not None:
        record_delivery(app.meter, message)
        settler = MeteredSettler(settler, app.meter)
    return process(message, app.boot.service.runtime.handle, settler, app.retrier)


def handle_changes(documents: Iterable[Mapping[str, Any]], app: AzureApp) -> tuple[str, ...]:
    """Relay the outbox documents of one change-feed batch; returns the published event ids.

    Raises:
        InfrastructureError: part of the batch was not published (``retry_from`` names where): the trigger's retry
            policy runs the batch again (publishing is at-least-once; consumers deduplicate on the event id).
    """
    records = app.orders.change_records(dict(d) for d in documents)
    result = app.relay.relay(records)
    if result.retry_from is not None:
        raise InfrastructureError(
            f"outbox relay stopped at {result.retry_from}: {result.error}",
            retry_from=result.retry_from,
            published=list(result.published),
            retryable=True,
        ) from result.error
    return result.published


def sweep(app: AzureApp) -> int:
    """Publish every outbox record still pending; returns how many."""
    published = app.relay.sweep()
    if published:
        log.warning("outbox sweep published %d events the change feed had not", published)
    return published


def run_activity(action: str, payload: Any, app: AzureApp) -> dict[str, Any]:
    """One saga activity: the core's ``action`` for the orchestrator's step input (see
    :func:`fooddelivery_azure.durable.activities.run_step`)."""
    from fooddelivery_azure.durable.activities import run_step

    boot = app.boot
    # the runner's actions: with telemetry on, each a "saga <state>" span in the order's trace (the orchestration's
    # data carries its context) recording the step's duration and retries, as an in-process step does
    return run_step(payload, action, boot.runner.actions, boot.adapters["sagas"], boot.service.clock)


# -- registrations ----------------------------------------------------------------------------------------------
@blueprint_background.function_name("runtime_queue")
@blueprint_background.service_bus_queue_trigger(
    arg_name="message",
    queue_name="%RUNTIME_QUEUE%",
    connection="ServiceBusConnection",
    is_sessions_enabled=True,
    auto_complete_messages=False,
)
@durable_client_input(blueprint_background, client_name="client")
async def runtime_queue(
    message: servicebus.ServiceBusReceivedMessage, message_actions: servicebus.ServiceBusMessageActions, client: Any
) -> None:
    """One runtime-queue message (see the module docstring)."""
    await _in_worker_thread(client, lambda app: handle_runtime_message(message, message_actions, app))


@blueprint_background.function_name("outbox_changes")
@blueprint_background.retry(
    strategy="exponential_backoff", max_retry_count="5", minimum_interval="00:00:02", maximum_interval="00:01:00"
)
@blueprint_background.cosmos_db_trigger(
    arg_name="documents",
    connection="CosmosDBConnection",
    database_name="%COSMOS_DATABASE%",
    container_name="%COSMOS_ORDERS_CONTAINER%",
    lease_container_name="leases",
    create_lease_container_if_not_exists=False,
)
def outbox_changes(documents: func.DocumentList) -> None:
    """A batch of changed ``orders`` documents (see the module docstring)."""
    with flushing():
        handle_changes((d.to_dict() if hasattr(d, "to_dict") else d for d in documents), azure_app())


@blueprint_background.function_name("outbox_sweep")
@blueprint_background.timer_trigger(
    arg_name="timer", schedule="0 */1 * * * *", run_on_startup=False, use_monitor=True
)
def outbox_sweep(timer: func.TimerRequest) -> None:
    """Every minute: the outbox sweep."""
    with flushing():
        sweep(azure_app())


@blueprint_background.function_name(ORCHESTRATOR)
@orchestration_trigger(blueprint_background, context_name="context", orchestration=ORCHESTRATOR)
def order_saga(context: Any) -> Generator[Any, Any, Any]:
    """The order's saga (see :func:`fooddelivery_azure.durable.orchestrator.orchestrate_saga`)."""
    return (yield from orchestrate_saga(context))


@blueprint_background.function_name(STEP_ORCHESTRATOR)
@orchestration_trigger(blueprint_background, context_name="context", orchestration=STEP_ORCHESTRATOR)
def order_saga_step(context: Any) -> Generator[Any, Any, Any]:
    """One branch of the saga's parallel block (see
    :func:`~fooddelivery_azure.durable.orchestrator.orchestrate_step`)."""
    return (yield from orchestrate_step(context))


def _register_activity(action: str) -> None:
    """Register the activity ``saga_<action>``: the core's ``action`` (see :func:`run_activity`)."""
    name = activity_name(action)

    def activity(payload: Any) -> dict[str, Any]:
        with flushing():
            return run_activity(action, payload, azure_app())

    activity.__name__ = activity.__qualname__ = name
    activity.__doc__ = f"Saga activity: the core's action {action!r} (see run_activity)."
    declared = activity_trigger(blueprint_background, input_name="payload", activity=name)(activity)
    blueprint_background.function_name(name)(declared)


for _action in saga_actions(ORDER_SAGA):
    _register_activity(_action)
