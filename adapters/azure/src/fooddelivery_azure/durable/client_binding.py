"""The invocation's Durable client as the saga engine finds it: a context variable, set by :func:`durable_client`.

A function with the ``durableClient`` binding runs the core in a worker thread inside :func:`durable_client`;
:class:`~fooddelivery_azure.durable.engine.DurableSagaEngine` reads the client and the invocation's event loop back
from :data:`CLIENT` (see that module). This module is apart from the engine so that the functions binding the
client (the HTTP function among them) import neither the engine nor the core's saga on their cold start; it imports
the standard library only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = ["CLIENT", "Binding", "durable_client"]


@dataclass(frozen=True, slots=True)
class Binding:
    """A Durable client and the event loop its calls run on.

    Attributes:
        client: the invocation's ``DurableOrchestrationClient`` (or the lazy one of
            :mod:`fooddelivery_azure.functions.durable_bindings`).
        loop: the invocation's event loop.
    """

    client: Any
    loop: asyncio.AbstractEventLoop


#: The binding of the current context, or None outside :func:`durable_client`.
CLIENT: ContextVar[Binding | None] = ContextVar("fooddelivery_durable_client", default=None)


@contextmanager
def durable_client(client: Any, loop: asyncio.AbstractEventLoop | None = None) -> Iterator[None]:
    """Make ``client`` (a ``DurableOrchestrationClient``) the engine's client in this context.

    Use it in the async function that received the binding, around the worker-thread call that runs the core
    (``asyncio.to_thread`` copies the context, so the thread sees the client).

    Args:
        client: the invocation's client.
        loop: the loop the client's calls run on (default: the running loop).

    Raises:
        RuntimeError: no loop given and none running.
    """
    token = CLIENT.set(Binding(client, loop or asyncio.get_running_loop()))
    try:
        yield
    finally:
        CLIENT.reset(token)
