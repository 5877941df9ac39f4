"""How an ``async`` function of the app runs the core: in a worker thread, with the invocation's Durable client bound.

Shared by :mod:`fooddelivery_azure.functions.http_functions` and
:mod:`fooddelivery_azure.functions.background_functions`; imports neither the Durable SDK nor any Service Bus module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from fooddelivery.observability.setup import flushing
from fooddelivery_azure.bootstrap import AzureApp, azure_app
from fooddelivery_azure.durable.client_binding import durable_client

__all__ = ["in_worker_thread"]

_R = TypeVar("_R")


async def in_worker_thread(client: Any, body: Callable[[AzureApp], _R]) -> _R:
    """Run ``body`` (the core: it blocks) in a worker thread with the invocation's Durable client bound.

    Args:
        client: the ``durableClient`` binding's value (the JSON string the host passes; unused in ``servicebus``
            saga mode).
        body: the function's body, given the process's application (:func:`fooddelivery_azure.bootstrap.azure_app`).

    Returns:
        What ``body`` returned; its spans and metrics are exported before this returns
        (:func:`fooddelivery.observability.setup.flushing`).
    """
    with durable_client(client, asyncio.get_running_loop()):
        return await asyncio.to_thread(flushing()(lambda: body(azure_app())))
