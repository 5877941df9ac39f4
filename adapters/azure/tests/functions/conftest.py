"""A whole deployment per test (see ``azure_world.py``), the cached application reset afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure_world import AzureWorld, FunctionsLoop
from durable_stand_in import DurableRpcServer

from fooddelivery_azure.bootstrap import reset_azure_app
from fooddelivery_azure.settings import SagaMode


@pytest.fixture
def world(container: Any, functions_loop: FunctionsLoop, durable_rpc: DurableRpcServer) -> Iterator[AzureWorld]:
    """The deployment in its default saga mode (Service Bus)."""
    built = AzureWorld.build(container, functions_loop, durable_rpc)
    try:
        yield built
    finally:
        durable_rpc.host = None
        reset_azure_app()


@pytest.fixture
def durable_world(
    container: Any, functions_loop: FunctionsLoop, durable_rpc: DurableRpcServer
) -> Iterator[AzureWorld]:
    """The deployment with ``FOODDELIVERY_SAGA_MODE=durable``."""
    built = AzureWorld.build(container, functions_loop, durable_rpc, saga_mode=SagaMode.DURABLE)
    try:
        yield built
    finally:
        durable_rpc.host = None
        reset_azure_app()
