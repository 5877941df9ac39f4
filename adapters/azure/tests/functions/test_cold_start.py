"""What the Functions host's process imports when it loads the app and answers its first request (a cold start).

The Durable SDK (``azure.durable_functions``, with ``aiohttp``) is imported by the first orchestration or the first
use of the Durable client, not by loading ``function_app.py`` nor by a request that uses neither
(``bench/cold_start.py`` measures the time; these tests check the imports, in a fresh interpreter each). The
bindings the host indexes are the SDK's own.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure_world import START, function_app
from durable_stand_in import DurableHost, DurableRpcServer

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.application.order_saga import ORDER_SAGA
from fooddelivery_azure.durable.orchestrator import ORCHESTRATOR, STEP_ORCHESTRATOR, activity_name, saga_actions

APP = Path(__file__).resolve().parents[4] / "deploy" / "azure" / "app"
#: Modules the first GET /health must not import (SDKs and exporters the request does not use).
HEAVY = ("azure.durable_functions", "aiohttp", "azure.cosmos", "azure.identity", "azure.monitor", "opentelemetry.sdk")
#: The settings the app needs to start (resources that need not exist: GET /health reaches none of them).
ENV = {
    "COSMOS_ENDPOINT": "https://cold.documents.azure.com:443/",
    "SERVICEBUS_NAMESPACE": "cold.servicebus.windows.net",
    "FOODDELIVERY_AUTH": "easyauth",
    "FOODDELIVERY_PAYMENT_GATEWAY": "fake",
    "FOODDELIVERY_SAGA_MODE": "durable",
}

#: Run in a fresh interpreter: load the app as the host does, call the registered ``http`` function (the Durable
#: client binding's JSON as the host passes it) with GET /health, note the heavy modules then loaded, then start an
#: orchestration on the Durable stand-in with the client the function was given, and read its status back.
PROBE = """
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
binding = sys.argv[2]
import function_app
import azure.functions as func
from fooddelivery_azure.functions.durable_bindings import LazyDurableClient
HEAVY = json.loads(sys.argv[3])
after_load = sorted(m for m in HEAVY if m in sys.modules)
functions = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
http_functions = sys.modules["fooddelivery_azure.functions.http_functions"]
clients = []
run_in_thread = http_functions._in_worker_thread
async def keep_client(client, body):  # what the http function was handed, kept for the call below
    clients.append(client)
    return await run_in_thread(client, body)
http_functions._in_worker_thread = keep_client
request = func.HttpRequest("GET", "https://app.azurewebsites.net/health", headers={}, body=b"")
response = asyncio.run(functions["http"](req=request, client=binding))
after_health = sorted(m for m in HEAVY if m in sys.modules)
client = clients[0]
async def start_and_read():
    started = await client.start_new("order_saga", "order-1", {"order_id": "order-1"})
    status = await client.get_status("order-1")
    return started, status.runtime_status.value, status.name
started, runtime_status, name = asyncio.run(start_and_read())
print(json.dumps({
    "after_load": after_load, "status": response.status_code, "body": json.loads(response.get_body()),
    "after_health": after_health, "client_before": isinstance(client, LazyDurableClient),
    "client": type(client.client).__module__ + "." + type(client.client).__name__,
    "started": started, "runtime_status": runtime_status, "name": name,
    "durable_loaded": "azure.durable_functions" in sys.modules,
}))
"""


def _fresh_run(durable_rpc: DurableRpcServer) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSMOS", "SERVICEBUS", "FOODDELIVERY"))}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(APP), durable_rpc.client_binding(), json.dumps(HEAVY)],
        env=env | ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_first_health_request_imports_no_durable_sdk_and_the_client_still_starts_an_orchestration(
    durable_rpc: DurableRpcServer,
) -> None:
    durable_rpc.host = DurableHost.of_app(function_app(), VirtualClock(START).now)
    durable_rpc.requests.clear()
    try:
        result = _fresh_run(durable_rpc)
        requests = list(durable_rpc.requests)
        instance = durable_rpc.host.instances["order-1"]
    finally:
        durable_rpc.host = None
    assert result["after_load"] == []
    assert (result["status"], result["body"]) == (200, {"status": "ok", "checks": {}})
    assert result["after_health"] == []
    # the function was handed the lazy client; its first use built the SDK's client, which reached the stand-in
    assert result["client_before"] is True
    assert result["client"] == "azure.durable_functions.models.DurableOrchestrationClient.DurableOrchestrationClient"
    assert result["durable_loaded"] is True
    assert result["started"] == "order-1"
    assert (result["runtime_status"], result["name"]) == ("Pending", "order_saga")
    assert [method for method, _ in requests] == ["POST", "GET"]
    assert requests[0][1].startswith("/durabletask/orchestrators/order_saga/order-1")
    assert (instance.name, json.loads(instance.input or "null")) == ("order_saga", {"order_id": "order-1"})


def _sdk_bindings(decorate: Any) -> list[str]:
    """The raw bindings of a function registered with the Durable SDK's own decorators (``decorate(blueprint)``)."""
    blueprint = df.Blueprint()
    decorate(blueprint)
    app = df.DFApp()
    app.register_functions(blueprint)
    (function,) = app.get_functions()
    return list(function.get_raw_bindings())


def test_the_durable_bindings_are_the_ones_the_durable_sdks_decorators_declare() -> None:
    functions = {f.get_function_name(): f for f in function_app().get_functions()}

    def orchestrator(name: str) -> Any:
        def decorate(bp: Any) -> None:
            def body(context: Any) -> Any:
                yield None

            bp.function_name(name)(bp.orchestration_trigger(context_name="context", orchestration=name)(body))

        return decorate

    def activity(name: str) -> Any:
        def decorate(bp: Any) -> None:
            def body(payload: Any) -> None:
                return None

            bp.function_name(name)(bp.activity_trigger(input_name="payload", activity=name)(body))

        return decorate

    def client(bp: Any) -> None:
        async def body(req: func.HttpRequest, client: Any) -> None:
            return None

        bp.function_name("f")(bp.route(route="x")(bp.durable_client_input(client_name="client")(body)))

    for name in (ORCHESTRATOR, STEP_ORCHESTRATOR):
        assert list(functions[name].get_raw_bindings()) == _sdk_bindings(orchestrator(name))
    activities = [activity_name(a) for a in saga_actions(ORDER_SAGA)]
    assert len(activities) >= 5
    for name in activities:
        assert list(functions[name].get_raw_bindings()) == _sdk_bindings(activity(name))
    (sdk_client,) = [b for b in _sdk_bindings(client) if '"durableClient"' in b]
    for name in ("http", "runtime_queue"):
        ours = [b for b in functions[name].get_raw_bindings() if '"durableClient"' in b]
        assert ours == [sdk_client]
        # the worker type-checks the parameter against the binding: a string, as the SDK annotates it
        assert functions[name].get_user_function().__annotations__["client"] is str


#: Run in a fresh interpreter: an invocation as the worker runs one (its event loop; the core in a worker thread with
#: the lazy Durable client bound) starts a saga through the engine; note the thread that imported the Durable SDK.
ENGINE_PROBE = """
import asyncio, importlib.abc, json, sys, threading
binding = sys.argv[1]
importers = []
class Spy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "azure.durable_functions":
            importers.append(threading.current_thread().name)
        return None
sys.meta_path.insert(0, Spy())
from fooddelivery_azure.durable import DurableSagaEngine, durable_client
from fooddelivery_azure.functions.durable_bindings import LazyDurableClient
async def invocation():
    with durable_client(LazyDurableClient(binding)):
        await asyncio.to_thread(DurableSagaEngine(300.0).start, "order-2", {"orderId": "order-2"})
    return threading.current_thread().name
loop_thread = asyncio.run(invocation())
print(json.dumps({"loop": loop_thread, "importers": importers}))
"""


def test_the_first_use_of_the_lazy_client_imports_the_durable_sdk_off_the_workers_event_loop(
    durable_rpc: DurableRpcServer,
) -> None:
    # the worker runs every async invocation on one event loop: an import there (~100 ms) stalls all of them
    durable_rpc.host = DurableHost.of_app(function_app(), VirtualClock(START).now)
    try:
        done = subprocess.run(
            [sys.executable, "-c", ENGINE_PROBE, durable_rpc.client_binding()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        started = "order-2" in durable_rpc.host.instances
    finally:
        durable_rpc.host = None
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert started
    assert len(result["importers"]) == 1
    assert result["importers"] != [result["loop"]]


def _what_the_worker_reads(function: Any) -> tuple[Any, ...]:
    """What the Python worker reads of a registered function when it indexes it and invokes it
    (``azure_functions_worker/functions.py``, ``Registry.add_indexed_function``): the parameters it binds, their
    resolved annotations (type-checked against each binding's converter) and whether it awaits the function."""
    user = function.get_user_function()
    return (
        list(inspect.signature(user).parameters),
        typing.get_type_hints(user),
        inspect.iscoroutinefunction(user),
        list(function.get_raw_bindings()),
    )


def test_the_worker_reads_the_same_functions_as_the_durable_sdks_decorators_register() -> None:
    functions = {f.get_function_name(): f for f in function_app().get_functions()}
    for name in (ORCHESTRATOR, STEP_ORCHESTRATOR):
        generator = functions[name].get_user_function().orchestrator_function

        def orchestrator(bp: Any, name: str = name, generator: Any = generator) -> None:
            bp.function_name(name)(bp.orchestration_trigger(context_name="context", orchestration=name)(generator))

        sdk = df.DFApp()
        orchestrator(sdk)
        (sdk_function,) = sdk.get_functions()
        assert _what_the_worker_reads(functions[name]) == _what_the_worker_reads(sdk_function)
        assert typing.get_type_hints(functions[name].get_user_function())["context"] is func.OrchestrationContext
    for name in ("http", "runtime_queue"):
        ours = _what_the_worker_reads(functions[name])
        user = functions[name].get_user_function().client_function
        sdk = df.DFApp()
        trigger = next(iter(inspect.signature(user).parameters))  # a trigger, for the app to build the function
        registered = sdk.durable_client_input(client_name="client")(user)
        sdk.function_name(name)(sdk.generic_trigger(arg_name=trigger, type="httpTrigger")(registered))
        (sdk_function,) = sdk.get_functions()
        params, hints, is_async, _ = _what_the_worker_reads(sdk_function)
        assert ours[:3] == (params, hints, is_async)
        assert hints["client"] is str


#: Run in a fresh interpreter: load the app as the host does and build the first request's model, counting pydantic's
#: plugin lookups (one scan of every installed distribution's entry points).
PLUGIN_PROBE = """
import importlib.metadata, os, sys
calls = []
real = importlib.metadata.entry_points
importlib.metadata.entry_points = lambda **kw: (calls.append(kw.get("group")), real(**kw))[1]
sys.path.insert(0, sys.argv[1])
import function_app
from fooddelivery.http.models import PlaceOrderIn
try:
    PlaceOrderIn.model_validate({})  # the first model built: pydantic looks for plugins here unless told not to
except Exception:
    pass
print(repr(os.environ.get("PYDANTIC_DISABLE_PLUGINS")), calls.count("pydantic"))
"""


@pytest.mark.parametrize("functions", ["all", "http"])
@pytest.mark.parametrize(("preset", "expected"), [(None, "'__all__' 0"), ("", "'' 1")])
def test_the_app_turns_off_pydantic_plugin_discovery_unless_the_settings_turn_it_on(
    functions: str, preset: str | None, expected: str
) -> None:
    ours = ("COSMOS", "SERVICEBUS", "FOODDELIVERY", "PYDANTIC")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env |= ENV | {"FOODDELIVERY_AZURE_FUNCTIONS": functions}
    if preset is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = preset
    done = subprocess.run(
        [sys.executable, "-c", PLUGIN_PROBE, str(APP)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
