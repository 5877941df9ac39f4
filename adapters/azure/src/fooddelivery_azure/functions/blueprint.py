"""The Functions app's functions (Python v2 programming model), registered from one Blueprint.

``deploy/azure/app/function_app.py`` is the whole app::

    import azure.functions as func
    from fooddelivery_azure.functions import blueprint

    app = func.FunctionApp()
    app.register_functions(blueprint)

===================  ===========================================================================================
function             what it does
===================  ===========================================================================================
``http``             every path and method -> the core's HTTP API (:mod:`fooddelivery_azure.functions.http`)
``runtime_queue``    Service Bus trigger on the runtime's session queue, ``autoCompleteMessages`` off: each
                     message to ``OrderRuntime.handle``, then settled explicitly
                     (:mod:`fooddelivery_azure.servicebus.consumer`) with the worker extension's message actions
``outbox_changes``   Cosmos DB trigger on the ``orders`` container (leases in ``leases``): the outbox documents of
                     the batch to the core's ``ChangeStreamRelay``. A batch that could not be published entirely
                     raises, so the trigger's retry policy (exponential, 5 retries) runs it again; what still fails
                     stays pending in the outbox for the sweep
``outbox_sweep``     timer (every minute): ``ChangeStreamRelay.sweep()`` publishes whatever the change feed left
===================  ===========================================================================================

Every function body is a plain function of this module taking the cached application (:func:`handle_http`,
:func:`handle_runtime_message`, :func:`handle_changes`, :func:`sweep`), so tests call the registered functions with
real ``azure.functions`` objects, and the bodies directly. Importing this module builds nothing: the application is
built by the first invocation (:func:`fooddelivery_azure.bootstrap.azure_app`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import azure.functions as func
from azurefunctions.extensions.bindings import servicebus

from fooddelivery.domain.errors import InfrastructureError
from fooddelivery_azure.bootstrap import AzureApp, azure_app
from fooddelivery_azure.functions import http as http_translation
from fooddelivery_azure.servicebus.consumer import MessageActionsSettler, Verdict, process

__all__ = ["blueprint", "handle_changes", "handle_http", "handle_runtime_message", "sweep"]

log = logging.getLogger(__name__)

blueprint = func.Blueprint()  # type: ignore[no-untyped-call]

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


# -- bodies -----------------------------------------------------------------------------------------------------
def handle_http(req: func.HttpRequest, app: AzureApp) -> func.HttpResponse:
    """An HTTP request through the core's HTTP API."""
    return http_translation.handle(req, app.http_api(), trust_principal=app.trust_principal)


def handle_runtime_message(message: Any, actions: Any, app: AzureApp) -> Verdict:
    """One runtime-queue message to the core's runtime, settled with ``actions`` (``ServiceBusMessageActions``)."""
    return process(message, app.boot.service.runtime.handle, MessageActionsSettler(actions))


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


# -- registrations ----------------------------------------------------------------------------------------------
@blueprint.function_name("http")
@blueprint.route(route="{*path}", methods=_METHODS, auth_level=func.AuthLevel.ANONYMOUS)
def http(req: func.HttpRequest) -> func.HttpResponse:
    """Every HTTP request (see the module docstring)."""
    return handle_http(req, azure_app())


@blueprint.function_name("runtime_queue")
@blueprint.service_bus_queue_trigger(
    arg_name="message",
    queue_name="%RUNTIME_QUEUE%",
    connection="ServiceBusConnection",
    is_sessions_enabled=True,
    auto_complete_messages=False,
)
def runtime_queue(
    message: servicebus.ServiceBusReceivedMessage, message_actions: servicebus.ServiceBusMessageActions
) -> None:
    """One runtime-queue message (see the module docstring)."""
    handle_runtime_message(message, message_actions, azure_app())


@blueprint.function_name("outbox_changes")
@blueprint.retry(strategy="exponential_backoff", max_retry_count="5", minimum_interval="00:00:02",
                 maximum_interval="00:01:00")
@blueprint.cosmos_db_trigger(
    arg_name="documents",
    connection="CosmosDBConnection",
    database_name="%COSMOS_DATABASE%",
    container_name="%COSMOS_ORDERS_CONTAINER%",
    lease_container_name="leases",
    create_lease_container_if_not_exists=False,
)
def outbox_changes(documents: func.DocumentList) -> None:
    """A batch of changed ``orders`` documents (see the module docstring)."""
    handle_changes((d.to_dict() if hasattr(d, "to_dict") else d for d in documents), azure_app())


@blueprint.function_name("outbox_sweep")
@blueprint.timer_trigger(arg_name="timer", schedule="0 */1 * * * *", run_on_startup=False, use_monitor=True)
def outbox_sweep(timer: func.TimerRequest) -> None:
    """Every minute: the outbox sweep."""
    sweep(azure_app())
