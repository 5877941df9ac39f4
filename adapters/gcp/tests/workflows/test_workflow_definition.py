"""The generated Cloud Workflows definitions: the deployed files are the generated ones; both modes validate against
the Workflows JSON schema ``workflows-emulator`` ships (the callback mode cannot run there: the emulator has no
``events.*`` functions), and the schema does refuse a broken definition; the compiled structure follows the core's
definition (every state, its retry policies and catch routes)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fooddelivery.application.order_saga import build_order_saga
from fooddelivery_gcp.workflows.compile import WorkflowCompileError, compile_workflow, workflow_yaml

REPO = Path(__file__).resolve().parents[4]
DEPLOYED = REPO / "deploy" / "gcp" / "workflows"
EMULATOR_PY = REPO / ".venv-workflows" / "bin" / "python"

VALIDATE = """
import json, os, sys, yaml
import workflows_emulator
from jsonschema.validators import validator_for
schema = json.load(open(os.path.join(os.path.dirname(workflows_emulator.__file__), "workflow-schema.json")))
doc = yaml.safe_load(open(sys.argv[1]))
errors = sorted(validator_for(schema)(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
print(json.dumps([[str(p) for p in e.absolute_path] for e in errors]))
"""


def _schema_errors(path: Path) -> list[list[str]]:
    if not EMULATOR_PY.exists():
        pytest.fail("workflows-emulator is not installed in .venv-workflows (adapters/gcp/test.sh installs it)")
    out = subprocess.run([str(EMULATOR_PY), "-c", VALIDATE, str(path)], capture_output=True, text=True, check=True)
    errors: list[list[str]] = json.loads(out.stdout)
    return errors


@pytest.mark.parametrize(("name", "mode"), [("order-saga.yaml", "callback"), ("order-saga-polling.yaml", "polling")])
def test_the_deployed_workflow_is_the_one_generated_from_the_core_definition(name: str, mode: str) -> None:
    assert (DEPLOYED / name).read_text() == workflow_yaml(compile_workflow(build_order_saga(), mode=mode)), (
        "regenerate deploy/gcp/workflows (deploy/gcp/generate.py)"
    )


@pytest.mark.parametrize("name", ["order-saga.yaml", "order-saga-polling.yaml"])
def test_both_modes_validate_against_the_workflows_schema(name: str) -> None:
    assert _schema_errors(DEPLOYED / name) == []


def test_the_schema_refuses_a_broken_definition(tmp_path: Path) -> None:
    broken = yaml.safe_load((DEPLOYED / "order-saga.yaml").read_text())
    broken["main"]["steps"][1]["ValidateOrder"]["retry_typo"] = {"max_retries": "three"}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert _schema_errors(path) != []


def _steps(workflow: dict[str, Any]) -> dict[str, Any]:
    return {name: body for step in workflow["main"]["steps"] for name, body in step.items()}


def test_every_state_of_the_core_definition_is_a_step_of_the_workflow() -> None:
    definition = build_order_saga()
    steps = _steps(compile_workflow(definition))
    assert set(definition.states) <= set(steps)


def test_the_payment_step_retries_payment_errors_inside_infrastructure_errors_and_routes_a_decline() -> None:
    workflow = compile_workflow(build_order_saga())
    payment = _steps(workflow)["ProcessPayment"]
    assert payment["try"]["steps"][0] == {"ProcessPayment_first": {"assign": [{"attempt_ProcessPayment": 0}]}}
    outer = payment["try"]["steps"][1]["ProcessPayment_retry1"]
    inner = outer["try"]["steps"][0]["ProcessPayment_retry0"]
    assert inner["retry"]["predicate"] == "${retry_PaymentRetryableError}"
    assert (inner["retry"]["max_retries"], inner["retry"]["backoff"]) == (
        3,
        {"initial_delay": 5, "max_delay": 20, "multiplier": 2},
    )
    assert outer["retry"]["predicate"] == "${retry_InfrastructureError}"
    # every attempt (each retry runs the innermost steps again) counts itself and sends the count
    counted, call = inner["try"]["steps"][0], inner["try"]["steps"][1]["ProcessPayment_call"]
    increment = {"attempt_ProcessPayment": "${attempt_ProcessPayment + 1}"}
    assert counted == {"ProcessPayment_attempt": {"assign": [increment]}}
    assert call["args"]["body"]["attempt"] == "${attempt_ProcessPayment}"
    route = _steps(workflow)["ProcessPayment_route"]["switch"]
    assert [c.get("next") for c in route] == [
        "Record_PaymentDeclined_Compensate",
        "Record_PaymentUnavailable_Compensate",
        None,
    ]
    assert route[-1]["raise"] == "${failure}"  # an error no route catches fails the execution
    predicate = workflow["retry_PaymentRetryableError"]["steps"]
    assert predicate[1] == {"platform": {"return": False}}  # a platform error is no payment error


def test_the_callback_wait_awaits_with_the_timeout_and_routes_each_event() -> None:
    steps = _steps(compile_workflow(build_order_saga(120)))
    assert steps["WaitForRestaurantConfirmation_endpoint"]["call"] == "events.create_callback_endpoint"
    awaited = steps["WaitForRestaurantConfirmation_await"]["try"]
    assert (awaited["call"], awaited["args"]["timeout"]) == ("events.await_callback", 120)
    routes = steps["WaitForRestaurantConfirmation_route"]["switch"]
    assert [c.get("next") for c in routes] == [
        "ConfirmOrder",
        "Record_RestaurantRejected_AlertOperations",
        "Record_Cancelled_CompensateCancelled",
        None,
    ]


def test_compensations_run_newest_first_only_for_completed_steps() -> None:
    steps = _steps(compile_workflow(build_order_saga()))
    first = steps["Compensate"]["switch"][0]
    assert first == {"condition": '${"AssignDriver" in completed}', "next": "Compensate_AssignDriver_run"}
    assert steps["Compensate"]["next"] == "Compensate_ProcessPayment"
    assert steps["Compensate_ProcessPayment"]["next"] == "FailOrder"


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(WorkflowCompileError):
        compile_workflow(build_order_saga(), mode="sleeping")
