"""The Durable bindings' wrappers on their first calls: the SDK's orchestrator handle and client are built once per
function, whatever the number of invocations that arrive together (the worker runs synchronous functions, the
orchestrators, on a thread pool), and an orchestration's failure reaches the host as the SDK's own does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest

from fooddelivery_azure.functions.durable_bindings import LazyDurableClient, orchestration_trigger

#: An orchestration's first episode as the host sends it (ExecutionStarted, its input a JSON string).
CONTEXT = json.dumps(
    {
        "history": [
            {"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": "2026-12-07T05:00:00Z"},
            {
                "EventType": 0,
                "EventId": -1,
                "IsPlayed": False,
                "Timestamp": "2026-12-07T05:00:00Z",
                "Name": "probe",
                "Version": "",
                "Input": json.dumps({"n": 2}),
            },
        ],
        "instanceId": "i-1",
        "isReplaying": False,
        "parentInstanceId": None,
        "input": json.dumps({"n": 2}),
        "upperSchemaVersion": 2,
    }
)


class CountingOrchestrator(df.Orchestrator):
    """The SDK's Orchestrator, counting (slowly, to widen the window) the handles it creates."""

    created: list[str] = []

    @classmethod
    def create(cls, fn: Any) -> Any:
        cls.created.append(fn.__name__)
        time.sleep(0.05)
        return super().create(fn)


def _registered(body: Any) -> Any:
    blueprint = func.Blueprint()  # type: ignore[no-untyped-call]
    builder = orchestration_trigger(blueprint, context_name="context", orchestration="probe")(body)
    app = func.FunctionApp()
    blueprint.function_name("probe")(builder)
    app.register_functions(blueprint)
    (function,) = app.get_functions()
    return function.get_user_function()


def test_two_first_orchestrator_calls_at_once_build_one_handle_and_both_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(df, "Orchestrator", CountingOrchestrator)
    CountingOrchestrator.created.clear()

    def probe(context: Any) -> Generator[Any, Any, Any]:
        return {"doubled": context.get_input()["n"] * 2}
        yield  # a generator function, as an orchestrator is

    handle = _registered(probe)
    barrier = threading.Barrier(2)

    def first_call() -> Any:
        barrier.wait()
        return json.loads(handle(func.OrchestrationContext(CONTEXT)))

    with ThreadPoolExecutor(2) as pool:
        states = list(pool.map(lambda _: first_call(), range(2)))
    assert CountingOrchestrator.created == ["probe"]
    assert [(s["isDone"], s["output"]) for s in states] == [(True, {"doubled": 4})] * 2


def test_an_orchestrator_that_raises_fails_as_the_sdks_handle_does() -> None:
    def broken(context: Any) -> Generator[Any, Any, Any]:
        raise ValueError("no such order")
        yield

    ours, sdk = _registered(broken), df.Orchestrator.create(broken)
    with pytest.raises(Exception) as our_error:
        ours(func.OrchestrationContext(CONTEXT))
    with pytest.raises(Exception) as sdk_error:
        sdk(func.OrchestrationContext(CONTEXT))
    assert "no such order" in str(our_error.value)
    assert (type(our_error.value), str(our_error.value)) == (type(sdk_error.value), str(sdk_error.value))


def test_a_lazy_client_used_by_two_threads_at_once_builds_one_sdk_client(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []

    class CountingClient(df.DurableOrchestrationClient):
        def __init__(self, context: str, function_invocation_id: str | None = None) -> None:
            built.append(context)
            time.sleep(0.05)
            super().__init__(context, function_invocation_id)

    monkeypatch.setattr(df, "DurableOrchestrationClient", CountingClient)
    binding = json.dumps({"taskHubName": "t", "creationUrls": {}, "managementUrls": {}, "rpcBaseUrl": "http://x/"})
    client = LazyDurableClient(binding, "inv-1")
    barrier = threading.Barrier(2)

    def use() -> Any:
        barrier.wait()
        return client.raise_event.__self__  # the SDK client a method call would go to

    with ThreadPoolExecutor(2) as pool:
        clients = list(pool.map(lambda _: use(), range(2)))
    assert clients[0] is clients[1] is client.client
    assert type(clients[0]) is CountingClient
    assert built == [binding]
    assert client.client._function_invocation_id == "inv-1"
