"""Fixtures of the Durable saga's tests: a scripted saga (``scripted_saga.py``) and the session's Durable HTTP API
serving it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from durable_stand_in import DurableRpcServer
from scripted_saga import Saga, scripted_saga


@pytest.fixture
def saga() -> Saga:
    return scripted_saga()


@pytest.fixture
def scripted_rpc(durable_rpc: DurableRpcServer, saga: Saga) -> Iterator[DurableRpcServer]:
    """The session's Durable HTTP API serving the scripted host of this test."""
    durable_rpc.host = saga.host
    try:
        yield durable_rpc
    finally:
        durable_rpc.host = None
