"""deploy/azure: the Bicep template (parsed with pycep-parser) agrees with the package, grants access by identity
only, and configures what the adapters rely on; the app registers its functions; the package carries the core and
fooddelivery_azure only, and their dependency closure no other cloud's SDK; the deploy script's dry run."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import typing
import zipfile
from pathlib import Path
from typing import Any

import pytest
from bicep_values import app_settings
from pycep import BicepParser

from fooddelivery.application.order_saga import ORDER_SAGA
from fooddelivery_azure.cosmos.containers import CONTAINERS, SAGAS
from fooddelivery_azure.durable.orchestrator import saga_actions
from fooddelivery_azure.settings import AzureSettings

ROOT = Path(__file__).resolve().parents[4]
DEPLOY = ROOT / "deploy" / "azure"
TEMPLATE = DEPLOY / "main.bicep"


@pytest.fixture(scope="module")
def bicep() -> dict[str, Any]:
    tree: dict[str, Any] = BicepParser().parse(file_path=TEMPLATE)
    return tree


def _config(bicep: dict[str, Any], name: str) -> dict[str, Any]:
    config: dict[str, Any] = bicep["resources"][name]["config"]
    return config



def test_the_containers_partition_keys_and_indexes_are_the_packages(bicep: dict[str, Any]) -> None:
    declared = {c["name"]: c for c in bicep["variables"]["containers"]["value"]}
    assert set(declared) == {*CONTAINERS, "leases"}
    for key, spec in CONTAINERS.items():
        policy = spec.indexing_policy()
        assert declared[key]["partitionKey"] == spec.partition_key_path
        assert declared[key]["compositeIndexes"] == policy.get("compositeIndexes", [])
        assert declared[key]["spatialIndexes"] == policy.get("spatialIndexes", [])


def test_the_saga_instances_are_deployed_into_the_orders_container_for_the_native_unit_of_work(
    bicep: dict[str, Any],
) -> None:
    """By default (parameter ``sagasContainer`` = ``orders``) the app setting names the orders container and no
    ``sagas`` container is declared; ``sagas`` (the earlier layout) declares it as ``SAGAS`` and points the app at
    it."""
    declared = {c["name"] for c in bicep["variables"]["containers"]["value"]}
    assert "sagas" not in declared
    parameter = bicep["parameters"]["sagasContainer"]
    assert parameter["default"] == "orders"
    assert {"type": "allowed", "argument": ["orders", "sagas"]} in parameter["decorators"]
    settings = app_settings(bicep)
    assert settings["COSMOS_SAGAS_CONTAINER"] == "sagasContainer"  # the parameter, not a literal
    assert settings["COSMOS_ORDERS_CONTAINER"] == "orders"

    sagas = bicep["resources"]["sagasCosmosContainer"]["config"]
    assert sagas["condition"] == {
        "operator": {"type": "equals", "operands": {"operand_1": "sagasContainer", "operand_2": "sagas"}}
    }
    resource = sagas["config"]["properties"]["resource"]
    assert resource["id"] == sagas["config"]["name"] == SAGAS.key
    assert resource["partitionKey"]["paths"] == [SAGAS.partition_key_path]
    policy = SAGAS.indexing_policy()
    assert resource["indexingPolicy"]["compositeIndexes"] == policy.get("compositeIndexes", [])
    assert resource["indexingPolicy"]["spatialIndexes"] == policy.get("spatialIndexes", [])

    base = {"COSMOS_ENDPOINT": "https://acct", "SERVICEBUS_NAMESPACE": "ns", "FOODDELIVERY_AUTH": "easyauth"}
    for value, native in (("orders", True), ("sagas", False)):
        env = {**base, "COSMOS_ORDERS_CONTAINER": "orders", "COSMOS_SAGAS_CONTAINER": value}
        assert AzureSettings.from_env(env).sagas_in_orders_container is native


def test_cosmos_is_serverless_and_service_bus_and_cosmos_take_no_keys(bicep: dict[str, Any]) -> None:
    cosmos = _config(bicep, "cosmos")["properties"]
    assert {"name": "EnableServerless"} in cosmos["capabilities"]
    assert cosmos["disableLocalAuth"] is True
    assert _config(bicep, "bus")["properties"]["disableLocalAuth"] is True
    assert _config(bicep, "storage")["properties"]["allowSharedKeyAccess"] is False
    text = TEMPLATE.read_text()
    assert not re.search(r"listKeys|AccountKey|SharedAccessKey|connectionString\(", text)


def test_the_runtime_queue_has_sessions_duplicate_detection_and_dead_lettering(bicep: dict[str, Any]) -> None:
    queue = _config(bicep, "runtimeQueue")["properties"]
    assert queue["requiresSession"] is True and queue["requiresDuplicateDetection"] is True
    assert queue["maxDeliveryCount"] == "maxDeliveryCount" and queue["deadLetteringOnMessageExpiration"] is True
    assert _config(bicep, "notifications")["properties"]["duplicateDetectionHistoryTimeWindow"] == "P7D"
    assert _config(bicep, "analytics")["properties"]["deadLetteringOnMessageExpiration"] is True


def test_the_app_runs_on_flex_consumption_with_its_identity_and_every_setting_the_package_reads(
    bicep: dict[str, Any],
) -> None:
    assert _config(bicep, "plan")["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    app = _config(bicep, "app")
    assert app["identity"]["type"] == "SystemAssigned"
    settings = set(app_settings(bicep))
    assert settings >= {
        "COSMOS_ENDPOINT", "COSMOS_DATABASE", "COSMOS_ORDERS_CONTAINER", "SERVICEBUS_NAMESPACE", "RUNTIME_QUEUE",
        "ORDER_EVENTS_TOPIC", "FOODDELIVERY_PAYMENT_GATEWAY", "FOODDELIVERY_AUTH", "FOODDELIVERY_SAGA_MODE",
        "CosmosDBConnection__accountEndpoint", "ServiceBusConnection__fullyQualifiedNamespace",
        "AzureWebJobsStorage__accountName",
    }
    assert not settings & {"COSMOS_KEY", "SERVICEBUS_CONNECTION_STRING", "FOODDELIVERY_LOCAL"}
    assert bicep["parameters"]["paymentGateway"].get("default") is None
    roles = {name for name in bicep["resources"] if name.endswith("Access")}
    work = {"workStorageAccess", "workBusAccess", "workTelemetryAccess", "workCosmosAccess"}  # functionApps = 'two'
    assert roles == {"storageAccess", "busAccess", "telemetryAccess", "cosmosAccess", *work}


def test_the_function_app_registers_its_functions_and_host_json_matches_them() -> None:
    spec = importlib.util.spec_from_file_location("function_app", DEPLOY / "app" / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    functions = {f.get_function_name(): f for f in module.app.get_functions()}
    activities = sorted(f"saga_{a}" for a in saga_actions(ORDER_SAGA))
    assert sorted(functions) == sorted(
        ["http", "outbox_changes", "outbox_sweep", "runtime_queue", "order_saga", "order_saga_step", *activities]
    )
    triggers = {name: f.get_trigger().type for name, f in functions.items()}
    assert triggers["order_saga"] == triggers["order_saga_step"] == "orchestrationTrigger"
    assert {triggers[a] for a in activities} == {"activityTrigger"}
    for name in ("http", "runtime_queue"):  # the saga engine of durable mode reaches Durable through this binding
        assert "durableClient" in {b.type for b in functions[name].get_bindings()}
        assert inspect.iscoroutinefunction(functions[name].get_user_function())
    for function in functions.values():
        # the Python worker resolves every function's annotations when it indexes the app
        typing.get_type_hints(function.get_user_function())
    host = json.loads((DEPLOY / "app" / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == ""
    assert host["extensions"]["serviceBus"]["autoCompleteMessages"] is False
    assert host["extensions"]["durableTask"]["hubName"] == "%DURABLE_TASK_HUB%"
    assert host["extensions"]["durableTask"]["storageProvider"]["connectionName"] == "AzureWebJobsStorage"


def test_the_template_offers_both_saga_modes_and_names_a_valid_task_hub(bicep: dict[str, Any]) -> None:
    text = TEMPLATE.read_text()
    allowed = re.search(r"@allowed\(\[\s*'servicebus'\s*'durable'\s*\]\)\s*param sagaMode", text)
    assert allowed is not None
    settings = app_settings(bicep)
    assert settings["DURABLE_TASK_HUB"] == "taskHubName"
    hub = bicep["variables"]["taskHubName"]["value"]
    # letters and digits, starting with a letter, 3..45 characters, for every prefix the template accepts (3..11)
    for prefix in ("abc", "fdprod2025x"):
        name = hub.replace("${prefix}", prefix)
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", name), name


#: Distributions of other clouds' SDKs that must never be in the app's dependency closure.
FORBIDDEN = re.compile(
    r"^(boto3|botocore|aioboto3|s3transfer|aws-lambda-powertools|google-cloud-.*|google-api-core|google-auth"
    r"|firebase-admin|functions-framework|fooddelivery-aws|fooddelivery-gcp)$"
)


def _closure(root: str) -> set[str]:
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement and "extra == \"jwt\"" not in requirement:
                continue
            todo.append(re.split(r"[ \[;<>=!~(]", requirement, maxsplit=1)[0])
    return seen


def test_the_apps_dependency_closure_holds_no_other_clouds_sdk() -> None:
    closure = _closure("fooddelivery-azure")
    assert {"fooddelivery", "azure-cosmos", "azure-servicebus", "azure-functions"} <= closure
    assert sorted(d for d in closure if FORBIDDEN.match(d)) == []


def test_the_package_holds_the_app_and_the_two_project_wheels_only(tmp_path: Path) -> None:
    out = tmp_path / "app.zip"
    subprocess.run([sys.executable, str(DEPLOY / "build_package.py"), "--out", str(out)], check=True)
    with zipfile.ZipFile(out) as archive:
        names = sorted(archive.namelist())
        requirements = archive.read("requirements.txt").decode().split()
    wheels = [n for n in names if n.startswith("wheels/")]
    assert [n for n in names if not n.startswith("wheels/")] == ["function_app.py", "host.json", "requirements.txt"]
    assert sorted(re.sub(r"-\d.*", "", Path(w).name) for w in wheels) == ["fooddelivery", "fooddelivery_azure"]
    assert requirements == [f"./{w}" for w in wheels]


def test_the_deploy_script_dry_run_prints_the_az_commands_and_requires_a_payment_gateway() -> None:
    script = DEPLOY / "deploy.sh"
    args = ["bash", str(script), "--resource-group", "rg", "--prefix", "fdtest", "--entra-audience", "api://x"]
    env = {"PATH": os.environ["PATH"]}  # no COSMOS_SAGAS_CONTAINER of the caller's shell
    refused = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    assert refused.returncode == 2 and "--payment-gateway" in refused.stderr
    dry = [*args, "--payment-gateway", "fake", "--dry-run"]
    done = subprocess.run(dry, capture_output=True, text=True, check=True, env=env)
    lines = done.stdout.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["az", "group", "create"],
        ["az", "deployment", "group"],
        ["python3", str(DEPLOY / "build_package.py"), "--out"],
        ["az", "functionapp", "deploy"],
    ]
    assert "paymentGateway=fake" in lines[1] and "--build-remote true" in lines[3]
    assert "sagasContainer=orders" in lines[1].split()  # the template's default layout, passed explicitly
    assert "functionApps=one" in lines[1].split() and "fdtest-func" in lines[3].split()

    two = subprocess.run([*dry, "--function-apps", "two"], capture_output=True, text=True, check=True, env=env)
    lines = two.stdout.splitlines()
    assert "functionApps=two" in lines[1].split()
    deployed = [line.split()[line.split().index("--name") + 1] for line in lines if line.startswith("az functionapp")]
    assert deployed == ["fdtest-func", "fdtest-work"]  # the same package to both apps
    assert all(f"--src-path {lines[2].split()[-1]}" in line for line in lines[3:])
    wrong = subprocess.run([*dry, "--function-apps", "2"], capture_output=True, text=True, check=False, env=env)
    assert wrong.returncode == 2 and "--function-apps must be one or two" in wrong.stderr

    kept = subprocess.run([*dry, "--sagas-container", "sagas"], capture_output=True, text=True, check=True, env=env)
    assert "sagasContainer=sagas" in kept.stdout.splitlines()[1].split()
    by_env = {**env, "COSMOS_SAGAS_CONTAINER": "sagas"}
    kept = subprocess.run(dry, capture_output=True, text=True, check=True, env=by_env)
    assert "sagasContainer=sagas" in kept.stdout.splitlines()[1].split()
    wrong = subprocess.run([*dry, "--sagas-container", "saga"], capture_output=True, text=True, check=False, env=env)
    assert wrong.returncode == 2 and "--sagas-container must be orders or sagas" in wrong.stderr
