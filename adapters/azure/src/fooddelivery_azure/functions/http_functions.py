"""The HTTP API's function, on a Blueprint of its own (:data:`blueprint_http`): what an HTTP-only Function app loads.

==========  =================================================================================================
function    what it does
==========  =================================================================================================
``http``    every path and method -> the core's HTTP API (:mod:`fooddelivery_azure.functions.http`)
==========  =================================================================================================

``http`` takes the ``durableClient`` input binding (in ``durable`` saga mode the core's saga engine starts and
signals orchestrations through it; in ``servicebus`` mode it is unused), which makes it ``async``: it runs the core,
which blocks, in a worker thread (:func:`fooddelivery_azure.functions.invocation.in_worker_thread`).

Importing this module imports ``azure.functions`` (the host's worker has it loaded already) and the Durable
bindings' declarations (:mod:`fooddelivery_azure.functions.durable_bindings`, not the Durable SDK), and nothing of
the background functions (:mod:`fooddelivery_azure.functions.background_functions`): not the Service Bus worker
extension (``azurefunctions.extensions.bindings.servicebus``, which imports ``azure.servicebus`` and ``grpc``), nor
the saga's orchestrators and activities. So an app that registers only this Blueprint
(``FOODDELIVERY_AZURE_FUNCTIONS=http``, :mod:`fooddelivery_azure.functions.apps`) starts without them.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from fooddelivery_azure.bootstrap import AzureApp
from fooddelivery_azure.functions import http as http_translation
from fooddelivery_azure.functions.durable_bindings import durable_client_input
from fooddelivery_azure.functions.invocation import in_worker_thread as _in_worker_thread

__all__ = ["blueprint_http", "handle_http", "http"]

#: The HTTP function (its Durable client binding declared by :mod:`fooddelivery_azure.functions.durable_bindings`).
blueprint_http = func.Blueprint(http_auth_level=func.AuthLevel.ANONYMOUS)  # type: ignore[no-untyped-call]  # untyped SDK

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


def handle_http(req: func.HttpRequest, app: AzureApp) -> func.HttpResponse:
    """An HTTP request through the core's HTTP API."""
    return http_translation.handle(req, app.http_api(), trust_principal=app.trust_principal)


@blueprint_http.function_name("http")
@blueprint_http.route(route="{*path}", methods=_METHODS, auth_level=func.AuthLevel.ANONYMOUS)
@durable_client_input(blueprint_http, client_name="client")
async def http(req: func.HttpRequest, client: Any) -> func.HttpResponse:
    """Every HTTP request (see the module docstring)."""
    return await _in_worker_thread(client, lambda app: handle_http(req, app))
