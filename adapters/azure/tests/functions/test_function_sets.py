"""The app setting ``FOODDELIVERY_AZURE_FUNCTIONS`` chooses what ``deploy/azure/app/function_app.py`` registers
(:mod:`fooddelivery_azure.functions.apps`): ``all`` (the default) every function with the bindings it had before
the split, ``http`` the HTTP function alone without the Service Bus worker extension, the Service Bus SDK or the
Durable SDK in the process, ``background`` everything else; any other value fails the load, naming the setting.

Each app is loaded in a fresh interpreter, as the Functions host loads it.
``data/functions_before_split.json`` is what the worker read of every function of the single app before the split
(commit b583bfb: its ``function_app.py`` registering ``fooddelivery_azure.functions.blueprint``), written by
:data:`PROBE`'s ``functions`` with that tree on ``sys.path``.
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

import pytest

from fooddelivery.domain.errors import ValidationError
from fooddelivery_azure.functions.apps import FUNCTIONS_VARIABLE, FunctionSet, function_set

APP = Path(__file__).resolve().parents[4] / "deploy" / "azure" / "app"
BEFORE: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "functions_before_split.json").read_text())
#: What an HTTP-only app must never import: the background functions' SDKs and the Durable SDK.
BACKGROUND_ONLY = (
    "azurefunctions.extensions.bindings.servicebus",
    "azure.servicebus",
    "grpc",
    "azure.durable_functions",
    "fooddelivery_azure.functions.background_functions",
)
#: What no app's GET /health loads: the core's composition and the Azure stores and senders (the application builds
#: its core on the first request that needs it; ``FOODDELIVERY_AZURE_FUNCTIONS=all`` loads the saga's definition for
#: its Durable functions, an HTTP-only app none of the use cases, the saga or the runtime either).
CORE_BUILD = ("fooddelivery.composition", "fooddelivery_azure.cosmos", "fooddelivery_azure.servicebus")
HTTP_ONLY_CORE = (
    *CORE_BUILD,
    "fooddelivery.application",
    "fooddelivery_azure.durable.engine",
    "fooddelivery_azure.durable.orchestrator",
)
#: The settings the application needs to start (resources that need not exist: GET /health reaches none of them).
ENV = {
    "COSMOS_ENDPOINT": "https://split.documents.azure.com:443/",
    "SERVICEBUS_NAMESPACE": "split.servicebus.windows.net",
    "FOODDELIVERY_AUTH": "easyauth",
    "FOODDELIVERY_PAYMENT_GATEWAY": "fake",
}

#: Run in a fresh interpreter: load the app as the host does, note what the worker reads of each function and the
#: background-only modules loaded; with ``health``, call the registered ``http`` function with GET /health (the
#: Durable client binding's JSON as the host passes it: unused in servicebus saga mode) and note them again.
PROBE = """
import asyncio, inspect, json, sys, typing
sys.path.insert(0, sys.argv[1])
WATCHED = json.loads(sys.argv[2])
health = sys.argv[3] == "health"
import function_app

def name(t):
    return f"{t.__module__}.{t.__qualname__}" if isinstance(t, type) else repr(t)

registered = list(function_app.app.get_functions())  # once: a second call sees every name twice
functions = {}
for f in registered:
    user = f.get_user_function()
    functions[f.get_function_name()] = {
        "bindings": [json.loads(b) for b in f.get_raw_bindings()],
        "parameters": list(inspect.signature(user).parameters),
        "annotations": {k: name(v) for k, v in typing.get_type_hints(user).items()},
        "async": inspect.iscoroutinefunction(user),
    }
result = {"functions": functions, "after_load": sorted(m for m in WATCHED if m in sys.modules)}
if health:
    import azure.functions as func
    http = next(f.get_user_function() for f in registered if f.get_function_name() == "http")
    request = func.HttpRequest("GET", "https://app.azurewebsites.net/health", headers={}, body=b"")
    response = asyncio.run(http(req=request, client='{"taskHubName": "unused"}'))
    result["health"] = [response.status_code, json.loads(response.get_body())]
    result["after_health"] = sorted(m for m in WATCHED if m in sys.modules)
print(json.dumps(result))
"""


def _load(
    setting: str | None, health: bool = False, without: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSMOS", "SERVICEBUS", "FOODDELIVERY"))}
    env |= ENV | ({} if setting is None else {FUNCTIONS_VARIABLE: setting})
    env.pop(without or "", None)
    watched = sorted({*BACKGROUND_ONLY, *HTTP_ONLY_CORE})
    return subprocess.run(
        [sys.executable, "-c", PROBE, str(APP), json.dumps(watched), "health" if health else "load"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _loaded(setting: str | None, health: bool = False) -> dict[str, Any]:
    done = _load(setting, health)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_http_app_registers_the_http_function_alone_and_never_imports_the_background_sdks() -> None:
    result = _loaded("http", health=True)
    assert list(result["functions"]) == ["http"]
    assert result["functions"]["http"] == BEFORE["http"]  # the same function, bindings and annotations
    assert result["after_load"] == []
    assert result["health"] == [200, {"status": "ok", "checks": {}}]
    assert result["after_health"] == []  # neither the background SDKs nor the core (HTTP_ONLY_CORE)


def test_get_health_on_the_whole_app_builds_no_core() -> None:
    result = _loaded("all", health=True)
    assert result["health"] == [200, {"status": "ok", "checks": {}}]
    assert [m for m in result["after_health"] if m.startswith(CORE_BUILD)] == []


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("COSMOS_ENDPOINT", "COSMOS_ENDPOINT: environment variable COSMOS_ENDPOINT is not set"),
        (
            "FOODDELIVERY_PAYMENT_GATEWAY",
            "FOODDELIVERY_PAYMENT_GATEWAY: is not set: name the payment gateway to charge with ('<module>:<factory>'), "
            "or 'fake' for the test gateway (demos only: it never moves money)",
        ),
    ],
)
@pytest.mark.parametrize("setting", ["http", "all"])
def test_a_missing_setting_still_fails_the_first_invocation_even_a_get_health_naming_it(
    setting: str, variable: str, message: str
) -> None:
    # the core is built on first use, but the settings and the payment gateway are read when the application is:
    # by the first invocation, whatever it asks (GET /health needs no store, and still fails)
    done = _load(setting, health=True, without=variable)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == f"fooddelivery.domain.errors.ValidationError: {message}"


def test_all_and_the_default_register_every_function_with_the_bindings_of_the_single_app_before_the_split() -> None:
    assert len(BEFORE) >= 16
    assert {"http", "runtime_queue", "outbox_changes", "outbox_sweep", "order_saga"} <= set(BEFORE)
    for setting in ("all", None, "", " ALL "):
        result = _loaded(setting)
        assert result["functions"] == BEFORE, setting
        assert "azurefunctions.extensions.bindings.servicebus" in result["after_load"]


def test_the_background_app_registers_every_function_but_http() -> None:
    result = _loaded("background")
    assert result["functions"] == {name: f for name, f in BEFORE.items() if name != "http"}
    assert result["functions"]["runtime_queue"]["annotations"]["message"] == (
        "azurefunctions.extensions.bindings.servicebus.serviceBusReceivedMessage.ServiceBusReceivedMessage"
    )


@pytest.mark.parametrize("setting", ["https", "both", "http,background"])
def test_another_value_fails_the_load_with_an_error_naming_the_setting(setting: str) -> None:
    done = _load(setting)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "fooddelivery.domain.errors.ValidationError: FOODDELIVERY_AZURE_FUNCTIONS: must be one of "
        f"['all', 'http', 'background'], got {setting!r}"
    )


def test_function_set_reads_the_setting_ignoring_case_and_blanks() -> None:
    assert function_set({}) is FunctionSet.ALL
    assert function_set({FUNCTIONS_VARIABLE: "  "}) is FunctionSet.ALL
    assert function_set({FUNCTIONS_VARIABLE: " Http "}) is FunctionSet.HTTP
    assert function_set({FUNCTIONS_VARIABLE: "BACKGROUND"}) is FunctionSet.BACKGROUND
    with pytest.raises(ValidationError) as raised:
        function_set({FUNCTIONS_VARIABLE: "api"})
    assert [(e.field, e.code) for e in raised.value.fields] == [(FUNCTIONS_VARIABLE, "invalid")]


def test_the_combined_blueprint_still_registers_every_function() -> None:
    import azure.functions as func

    from fooddelivery_azure.functions import blueprint, blueprint_background, blueprint_http

    app = func.FunctionApp()
    app.register_functions(blueprint)
    functions = {str(f.get_function_name()): f for f in app.get_functions()}
    assert sorted(functions) == sorted(BEFORE)
    for name, function in functions.items():
        user = function.get_user_function()
        assert [json.loads(b) for b in function.get_raw_bindings()] == BEFORE[name]["bindings"]
        assert list(inspect.signature(user).parameters) == BEFORE[name]["parameters"]
        assert inspect.iscoroutinefunction(user) is BEFORE[name]["async"]
        typing.get_type_hints(user)  # the worker resolves every annotation
    # the same builders as the two Blueprints' (one function object each, whichever Blueprint registers it)
    assert len(blueprint._function_builders) == len(blueprint_http._function_builders) + len(
        blueprint_background._function_builders
    )
