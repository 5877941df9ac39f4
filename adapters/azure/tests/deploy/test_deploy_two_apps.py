"""deploy/azure/main.bicep's parameter ``functionApps``: ``one`` (default) deploys the single app as before; ``two``
deploys the HTTP API in ``<prefix>-func`` (``FOODDELIVERY_AZURE_FUNCTIONS=http``) and the background work in
``<prefix>-work`` (``background``), sharing storage, Cosmos DB and Service Bus, the HTTP app with the least rights.

The template is read with pycep-parser and its conditions evaluated for each parameter value
(:func:`bicep_values.evaluate`): what would be deployed, not only what is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bicep_values import app_settings, body, evaluate
from pycep import BicepParser

from fooddelivery_azure.functions.apps import FUNCTIONS_VARIABLE, FunctionSet

TEMPLATE = Path(__file__).resolve().parents[4] / "deploy" / "azure" / "main.bicep"
ALL_STORAGE = {"storageBlobDataOwner", "storageQueueDataContributor", "storageTableDataContributor"}
SEND_RECEIVE = {"serviceBusDataSender", "serviceBusDataReceiver"}


@pytest.fixture(scope="module")
def bicep() -> dict[str, Any]:
    tree: dict[str, Any] = BicepParser().parse(file_path=TEMPLATE)
    return tree


def _loop_values(bicep: dict[str, Any], resource: str, parameters: dict[str, str]) -> list[Any]:
    """The items a loop resource is deployed for, with ``parameters``."""
    array = bicep["resources"][resource]["config"]["loop_type"]["detail"]["array_name"]
    values: list[Any] = evaluate(bicep, array, parameters)
    return values


def test_one_app_by_default_with_every_function_and_every_role(bicep: dict[str, Any]) -> None:
    parameter = bicep["parameters"]["functionApps"]
    assert parameter["default"] == "one"
    assert {"type": "allowed", "argument": ["one", "two"]} in parameter["decorators"]
    for saga_mode in ("servicebus", "durable"):
        one = {"functionApps": "one", "sagaMode": saga_mode}
        assert evaluate(bicep, app_settings(bicep)[FUNCTIONS_VARIABLE], one) == FunctionSet.ALL.value
        assert set(_loop_values(bicep, "storageAccess", one)) == ALL_STORAGE
        assert set(_loop_values(bicep, "busAccess", one)) == SEND_RECEIVE
        for work in ("workPlan", "workApp", "workStorageAccess", "workBusAccess", "workTelemetryAccess",
                     "workCosmosAccess"):
            assert _loop_values(bicep, work, one) == [], work  # nothing of the second app


@pytest.mark.parametrize("saga_mode", ["servicebus", "durable"])
def test_two_apps_split_the_functions_and_the_http_app_gets_the_least_rights(
    bicep: dict[str, Any], saga_mode: str
) -> None:
    two = {"functionApps": "two", "sagaMode": saga_mode, "prefix": "fdprod"}
    http, work = app_settings(bicep, "app"), app_settings(bicep, "workApp")
    assert evaluate(bicep, http[FUNCTIONS_VARIABLE], two) == FunctionSet.HTTP.value
    assert evaluate(bicep, work[FUNCTIONS_VARIABLE], two) == FunctionSet.BACKGROUND.value
    # every other setting is the same variable: the same Cosmos DB, Service Bus, storage and task hub
    assert {k: v for k, v in http.items() if k != FUNCTIONS_VARIABLE} == {
        k: v for k, v in work.items() if k != FUNCTIONS_VARIABLE
    }
    assert http["DURABLE_TASK_HUB"] == "taskHubName" and http["AzureWebJobsStorage__accountName"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "storage", "operand_2": "name"}}
    }
    assert _loop_values(bicep, "workApp", two) == ["${prefix}-work"]
    assert _loop_values(bicep, "workPlan", two) == ["${prefix}-work"]
    # the HTTP app: sends to Service Bus (the notifier, the location stream, the scheduler) but never receives; the
    # task hub's queues and tables only when its Durable client reaches them
    assert set(_loop_values(bicep, "busAccess", two)) == {"serviceBusDataSender"}
    expected_storage = ALL_STORAGE if saga_mode == "durable" else {"storageBlobDataOwner"}
    assert set(_loop_values(bicep, "storageAccess", two)) == expected_storage
    # the background app: everything the single app had
    assert set(_loop_values(bicep, "workBusAccess", two)) == SEND_RECEIVE
    assert set(_loop_values(bicep, "workStorageAccess", two)) == ALL_STORAGE
    assert len(_loop_values(bicep, "workTelemetryAccess", two)) == 1
    assert len(_loop_values(bicep, "workCosmosAccess", two)) == 1


def test_the_background_app_has_its_own_plan_and_package_container_and_no_health_check(bicep: dict[str, Any]) -> None:
    http, work = body(bicep, "app"), body(bicep, "workApp")
    assert http["properties"]["siteConfig"]["healthCheckPath"] == "/health"
    assert "healthCheckPath" not in work["properties"]["siteConfig"]  # no HTTP function to answer it
    assert work["identity"] == {"type": "SystemAssigned"}
    assert work["properties"]["httpsOnly"] is True
    assert work["properties"]["functionAppConfig"]["runtime"] == http["properties"]["functionAppConfig"]["runtime"]
    http_package = http["properties"]["functionAppConfig"]["deployment"]["storage"]["value"]
    work_package = work["properties"]["functionAppConfig"]["deployment"]["storage"]["value"]
    assert http_package.endswith("${deploymentContainer}") and work_package.endswith("${workDeploymentContainer}")
    assert bicep["variables"]["deploymentContainer"]["value"] != bicep["variables"]["workDeploymentContainer"]["value"]
    assert body(bicep, "workPackages")["name"] == "workDeploymentContainer"
    assert body(bicep, "workPlan")["sku"] == body(bicep, "plan")["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
