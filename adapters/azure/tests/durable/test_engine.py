"""The ``SagaEngine`` port on Durable Functions: the real ``DurableOrchestrationClient`` (its aiohttp calls on the
worker's event loop) against the Durable stand-in's HTTP API, the orchestrations replayed with scripted activities.
The engine must answer as the core's runner does: start once, signal ACCEPTED / DUPLICATE / "not yet" / "too late",
a cancellation after success running the cancel route once, and the status the use cases decide on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from azure.durable_functions import DurableOrchestrationClient
from azure_world import FunctionsLoop
from durable_stand_in import DurableRpcServer
from scripted_saga import ORDER, Saga

from fooddelivery.domain.errors import (
    InfrastructureError,
    InvalidTransition,
    LateEvent,
    NotFound,
    PaymentRetryableError,
)
from fooddelivery.ports.saga_engine import SignalOutcome
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery_azure.durable import DurableSagaEngine, durable_client
from fooddelivery_azure.durable.orchestrator import ORCHESTRATOR, instance_id_for

_T = TypeVar("_T")


class Bound:
    """Calls the engine as the functions do: in a worker thread, the invocation's client bound."""

    def __init__(self, loop: FunctionsLoop, rpc_base: str, engine: DurableSagaEngine) -> None:
        self.loop = loop
        self.engine = engine
        binding = {"taskHubName": "t", "creationUrls": {}, "managementUrls": {}, "rpcBaseUrl": rpc_base}
        self.binding = json.dumps(binding)

    def __call__(self, call: Callable[[DurableSagaEngine], _T]) -> _T:
        async def invocation() -> _T:
            client = DurableOrchestrationClient(self.binding)
            with durable_client(client):
                return await asyncio.to_thread(call, self.engine)

        result: _T = self.loop.run(invocation())
        return result


@pytest.fixture
def bound(functions_loop: FunctionsLoop, scripted_rpc: DurableRpcServer) -> Bound:
    return Bound(functions_loop, scripted_rpc.rpc_base_url, DurableSagaEngine(300.0))


def _starts(rpc: DurableRpcServer) -> list[str]:
    return [path for method, path in rpc.requests if method == "POST" and "/orchestrators/" in path]


def test_start_creates_one_instance_named_after_the_order_and_a_second_start_changes_nothing(
    bound: Bound, saga: Saga, scripted_rpc: DurableRpcServer
) -> None:
    scripted_rpc.requests.clear()
    assert bound(lambda e: e.status(ORDER)) is None
    bound(lambda e: e.start(ORDER, {"orderId": ORDER}))
    assert bound(lambda e: e.status(ORDER)) is SagaStatus.RUNNING  # pending: the host has not run it yet
    bound(lambda e: e.start(ORDER, {"orderId": ORDER}))  # an OrderPlaced delivered twice
    assert _starts(scripted_rpc) == [f"/durabletask/orchestrators/{ORCHESTRATOR}/{ORDER}"]
    instance = saga.host.instances[ORDER]
    assert json.loads(instance.input or "")["data"] == {"orderId": ORDER}
    saga.host.run_until_idle()
    assert bound(lambda e: e.status(ORDER)) is SagaStatus.WAITING
    saga.raise_event("RestaurantConfirmed")
    bound(lambda e: e.start(ORDER, {"orderId": ORDER}))  # a late duplicate never restarts a finished saga
    assert _starts(scripted_rpc) == [f"/durabletask/orchestrators/{ORCHESTRATOR}/{ORDER}"]
    assert bound(lambda e: e.status(ORDER)) is SagaStatus.SUCCEEDED


def test_signals_are_answered_as_the_runner_answers_them(bound: Bound, saga: Saga) -> None:
    with pytest.raises(NotFound):
        bound(lambda e: e.signal(ORDER, "RestaurantConfirmed"))
    saga.activities.fail("capture_payment", PaymentRetryableError("slow"))
    bound(lambda e: e.start(ORDER))
    saga.host.run_until_idle()
    assert bound(lambda e: e.status(ORDER)) is SagaStatus.RETRY_WAIT
    with pytest.raises(InvalidTransition) as early:  # not waiting yet: the restaurant retries later
        bound(lambda e: e.signal(ORDER, "RestaurantConfirmed"))
    assert not isinstance(early.value, LateEvent)
    with pytest.raises(InvalidTransition):  # a cancellation while paying: "not yet", delivered again later
        bound(lambda e: e.signal(ORDER, "OrderCancelled"))
    saga.advance(5)
    assert bound(lambda e: e.status(ORDER)) is SagaStatus.WAITING
    assert bound(lambda e: e.signal(ORDER, "RestaurantConfirmed", {"by": "owner-0"})) is SignalOutcome.ACCEPTED
    saga.host.run_until_idle()
    assert bound(lambda e: e.signal(ORDER, "RestaurantConfirmed")) is SignalOutcome.DUPLICATE
    with pytest.raises(LateEvent):
        bound(lambda e: e.signal(ORDER, "RestaurantRejected"))
    output = saga.status()["output"]
    assert output["data"]["signalDetail"] == {"RestaurantConfirmed": {"by": "owner-0"}}
    assert bound(lambda e: e.status(ORDER)) is SagaStatus.SUCCEEDED


def test_a_cancellation_after_success_runs_the_cancel_route_once(bound: Bound, saga: Saga) -> None:
    bound(lambda e: e.start(ORDER))
    saga.host.run_until_idle()
    bound(lambda e: e.signal(ORDER, "RestaurantConfirmed"))
    saga.host.run_until_idle()
    assert bound(lambda e: e.signal(ORDER, "OrderCancelled", {"by": "user-1"})) is SignalOutcome.ACCEPTED
    assert bound(lambda e: e.signal(ORDER, "OrderCancelled")) is SignalOutcome.DUPLICATE  # not started twice
    saga.host.run_until_idle()
    assert saga.activities.states()[-2:] == ["compensate:AssignDriver", "compensate:ProcessPayment"]
    cancelled = saga.status(f"{ORDER}:cancel")["output"]
    assert (cancelled["state"], cancelled["outcome"]) == ("OrderCancelled", "cancelled")
    assert cancelled["data"]["signals"] == ["RestaurantConfirmed", "OrderCancelled"]
    assert bound(lambda e: e.status(ORDER)) is SagaStatus.FAILED
    assert bound(lambda e: e.signal(ORDER, "OrderCancelled")) is SignalOutcome.DUPLICATE
    with pytest.raises(LateEvent):
        bound(lambda e: e.signal(ORDER, "RestaurantRejected"))


def test_after_the_timeout_the_restaurants_answer_is_too_late(bound: Bound, saga: Saga) -> None:
    bound(lambda e: e.start(ORDER))
    saga.host.run_until_idle()
    saga.advance(300)
    assert bound(lambda e: e.status(ORDER)) is SagaStatus.FAILED
    with pytest.raises(LateEvent) as late:
        bound(lambda e: e.signal(ORDER, "RestaurantConfirmed"))
    assert late.value.context["outcome"] == "restaurant_timeout"
    with pytest.raises(LateEvent):  # a customer's cancellation of a failed order changes nothing either
        bound(lambda e: e.signal(ORDER, "OrderCancelled"))


def test_without_a_bound_client_the_engine_refuses_and_never_blocks_the_event_loop(
    bound: Bound, functions_loop: FunctionsLoop
) -> None:
    engine = DurableSagaEngine(300.0)
    with pytest.raises(InfrastructureError) as unbound:
        engine.status(ORDER)
    assert unbound.value.context["retryable"] is False

    async def on_the_loop() -> Any:
        client = DurableOrchestrationClient(bound.binding)
        with durable_client(client):
            return engine.status(ORDER)

    with pytest.raises(RuntimeError, match="worker thread"):
        functions_loop.run(on_the_loop())


def test_durable_unreachable_is_a_retryable_infrastructure_error(functions_loop: FunctionsLoop) -> None:
    dead = Bound(functions_loop, "http://127.0.0.1:9/durabletask/", DurableSagaEngine(300.0))
    with pytest.raises(InfrastructureError) as caught:
        dead(lambda e: e.start(ORDER))
    assert caught.value.context == {"retryable": True, "operation": "get_status"}


def test_instance_ids_are_the_order_ids_when_durable_accepts_them() -> None:
    assert instance_id_for("ord-3f2a") == "ord-3f2a"
    unsafe = instance_id_for("ord#1/2?")
    assert unsafe.startswith("saga-") and len(unsafe) == 45
    assert instance_id_for("x" * 81) != "x" * 81


def test_the_durable_package_lists_its_lazy_names_in_dir_without_loading_them() -> None:
    # the package loads its names on first access (PEP 562); dir() -- what tab completion, pydoc and tooling read --
    # still lists them, as it did when the package imported them, and listing them loads neither the engine
    import subprocess
    import sys

    program = (
        "import json, sys\n"
        "import fooddelivery_azure.durable as durable\n"
        "names = dir(durable)\n"
        "print(json.dumps([[n for n in durable.__all__ if n not in names], 'fooddelivery_azure.durable.engine' in "
        "sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [[], False]
