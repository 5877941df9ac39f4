"""The ASL compiler: what the generated state machine says, checked against the core's definition and the
reference workflow, and the committed file kept equal to the generator's output."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.application.order_saga import CONFIRMATION_TIMEOUT_S, ORDER_SAGA, build_order_saga
from fooddelivery.application.saga.definition import (
    Catch,
    Compensate,
    Fail,
    Parallel,
    Retry,
    SagaDefinition,
    Succeed,
    Task,
    WaitForEvent,
)
from fooddelivery_aws.stepfunctions import generate
from fooddelivery_aws.stepfunctions.asl import (
    AWAIT_EVENT_STEP,
    CALLBACK_RESOURCE,
    LAMBDA_SERVICE_RETRY,
    ORDER_SAGA_STATE_NAMES,
    AslCompileError,
    compile_to_asl,
    expand_error_names,
)

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "deploy/aws/statemachine/order-saga.asl.json"
COMMITTED_CANCEL = ROOT / "deploy/aws/statemachine/order-saga-cancel.asl.json"
REFERENCE_STATES = Path(__file__).resolve().parent / "fixtures/reference_workflow_states.json"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:task"


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    return generate.order_saga_asl(task_resource=ARN)


def all_states(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, branch states included."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in doc["States"].items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(all_states(branch))
    return found


def reference_state_names() -> set[str]:
    """The state names of the reference's Part 3 workflow (kept as a fixture: see its ``source``)."""
    return set(json.loads(REFERENCE_STATES.read_text(encoding="utf-8"))["states"])


# -- error names ------------------------------------------------------------------------------------------------------
def test_a_base_error_name_expands_to_every_concrete_subclass_of_the_core() -> None:
    assert expand_error_names(["PaymentError"]) == ["PaymentError", "PaymentDeclined", "PaymentRetryableError"]
    assert expand_error_names(["ValidationError"]) == [
        "ValidationError",
        "CatalogMismatch",
        "CurrencyMismatch",
        "PriceChanged",
    ]
    assert expand_error_names(["InfrastructureError"]) == ["InfrastructureError", "DataCorrupted"]
    assert expand_error_names(["InvalidTransition"]) == ["InvalidTransition", "LateEvent"]


def test_a_leaf_error_name_and_a_non_core_name_are_kept_as_they_are() -> None:
    assert expand_error_names(["PaymentDeclined"]) == ["PaymentDeclined"]
    assert expand_error_names(["States.Timeout", "Lambda.ServiceException"]) == [
        "States.Timeout",
        "Lambda.ServiceException",
    ]


def test_states_all_stands_alone() -> None:
    assert expand_error_names(["NoDriverAvailable", "States.ALL"]) == ["States.ALL"]


def test_the_root_error_name_expands_to_the_whole_hierarchy_without_duplicates() -> None:
    names = expand_error_names(["FoodDeliveryError", "PaymentError"])
    assert names[0] == "FoodDeliveryError"
    assert len(names) == len(set(names))
    assert {"PaymentDeclined", "InfrastructureError", "LateEvent", "PriceChanged"} <= set(names)


# -- shape of the order saga's machine ---------------------------------------------------------------------------------
def test_the_machine_keeps_the_reference_workflows_state_names_where_the_steps_are_the_same(
    asl: dict[str, Any],
) -> None:
    ours = set(all_states(asl))
    reference = reference_state_names()
    shared = reference - {"PaymentSuccessful?"}  # no counterpart: our payment task raises instead of returning a status
    assert shared <= ours, f"missing reference names: {sorted(shared - ours)}"
    assert asl["StartAt"] == "ValidateOrder"


def test_every_name_in_the_name_table_is_used(asl: dict[str, Any]) -> None:
    assert set(ORDER_SAGA_STATE_NAMES.values()) <= set(asl["States"])


def test_there_is_no_blind_wait_the_restaurant_is_awaited_with_a_callback_task(asl: dict[str, Any]) -> None:
    states = all_states(asl)
    assert not [n for n, s in states.items() if s["Type"] == "Wait"]
    wait = states["WaitForRestaurantConfirmation"]
    assert wait["Type"] == "Task"
    assert wait["Resource"] == CALLBACK_RESOURCE
    assert wait["TimeoutSeconds"] == int(CONFIRMATION_TIMEOUT_S) == 300
    payload = wait["Parameters"]["Payload"]
    assert payload["step"] == AWAIT_EVENT_STEP
    assert payload["taskToken.$"] == "$$.Task.Token"
    assert payload["sagaId.$"] == "$.sagaId"
    assert wait["Parameters"]["FunctionName"] == ARN
    assert wait["Catch"] == [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "RestaurantTimeout"}]
    assert wait["Next"] == "CheckRestaurantConfirmation"


def test_the_timeout_records_its_outcome_then_alerts_operations(asl: dict[str, Any]) -> None:
    timeout = asl["States"]["RestaurantTimeout"]
    assert timeout == {
        "Type": "Pass",
        "Comment": "Record the outcome 'restaurant_timeout'.",
        "Result": "restaurant_timeout",
        "ResultPath": "$.outcome",
        "Next": "AlertOperations",
    }


def test_the_callback_output_is_routed_by_a_choice_on_the_event_name(asl: dict[str, Any]) -> None:
    choice = asl["States"]["CheckRestaurantConfirmation"]
    assert choice["Type"] == "Choice"
    routes = {c["StringEquals"]: c["Next"] for c in choice["Choices"]}
    assert all(c["Variable"] == "$.event.name" for c in choice["Choices"])
    assert routes == {
        "RestaurantConfirmed": "ConfirmOrder",
        "RestaurantRejected": "RecordRestaurantRejected",
        "OrderCancelled": "RecordCancelled",
    }
    assert asl["States"]["RecordRestaurantRejected"]["Next"] == "AlertOperations"
    assert asl["States"]["RecordCancelled"]["Next"] == "CompensateCancelled"
    assert "Default" not in choice  # an unknown event fails the execution (States.NoChoiceMatched), never routes


def test_each_task_invokes_the_one_task_lambda_with_its_action_and_keeps_its_input(asl: dict[str, Any]) -> None:
    states = all_states(asl)
    for task in [ORDER_SAGA.task(n) for n in ("ValidateOrder", "ProcessPayment", "ConfirmOrder", "AssignDriver")]:
        state = states[task.name]
        assert state["Resource"] == ARN
        assert state["Parameters"] == {
            "step": task.action,
            "state": task.name,
            "sagaId.$": "$.sagaId",
            "data.$": "$",
            "attempt.$": "$$.State.RetryCount",
        }
    assert states["ProcessPayment"]["ResultPath"] == "$.results.ProcessPayment"
    assert "ResultPath" not in states["AssignDriver"]  # a branch returns its output; the Parallel places it


def test_retries_mirror_the_definition_after_the_lambda_service_retry(asl: dict[str, Any]) -> None:
    payment = asl["States"]["ProcessPayment"]
    assert payment["Retry"] == [
        LAMBDA_SERVICE_RETRY,
        {"ErrorEquals": ["PaymentRetryableError"], "IntervalSeconds": 5, "MaxAttempts": 3, "BackoffRate": 2.0},
        # Step Functions matches error names exactly: the core's subclasses are named too
        {
            "ErrorEquals": ["InfrastructureError", "DataCorrupted"],
            "IntervalSeconds": 2,
            "MaxAttempts": 3,
            "BackoffRate": 2.0,
        },
    ]
    driver = all_states(asl)["AssignDriver"]
    assert driver["Retry"][1] == {
        "ErrorEquals": ["NoDriverAvailable"],
        "IntervalSeconds": 30,
        "MaxAttempts": 3,
        "BackoffRate": 2.0,
    }


def test_catches_keep_the_input_and_record_the_outcome_before_compensating(asl: dict[str, Any]) -> None:
    payment = asl["States"]["ProcessPayment"]
    assert payment["Catch"] == [
        {"ErrorEquals": ["PaymentDeclined"], "ResultPath": "$.error", "Next": "RecordPaymentDeclined"},
        {"ErrorEquals": ["PaymentRetryableError"], "ResultPath": "$.error", "Next": "RecordPaymentUnavailable"},
    ]
    assert asl["States"]["RecordPaymentDeclined"]["Result"] == "payment_declined"
    assert asl["States"]["RecordPaymentDeclined"]["Next"] == "Compensate"
    validate = asl["States"]["ValidateOrder"]["Catch"][0]
    assert validate["ErrorEquals"] == [
        "ValidationError",
        "CatalogMismatch",
        "CurrencyMismatch",
        "PriceChanged",
        "InvalidTransition",
        "LateEvent",
    ]


def test_the_parallel_block_has_one_branch_per_task_and_its_catch_all_comes_last(asl: dict[str, Any]) -> None:
    block = asl["States"]["ParallelProcessing"]
    assert [b["StartAt"] for b in block["Branches"]] == ["NotifyRestaurant", "AssignDriver", "NotifyCustomer"]
    assert all(b["States"][b["StartAt"]].get("End") is True for b in block["Branches"])
    assert block["ResultSelector"] == {
        "NotifyRestaurant.$": "$[0]",
        "AssignDriver.$": "$[1]",
        "NotifyCustomer.$": "$[2]",
    }
    assert block["ResultPath"] == "$.branches.ParallelProcessing"
    assert [c["ErrorEquals"] for c in block["Catch"]] == [["NoDriverAvailable"], ["States.ALL"]]


def test_compensation_undoes_completed_steps_newest_first_guarded_by_their_recorded_outputs(
    asl: dict[str, Any],
) -> None:
    s = asl["States"]
    assert s["Compensate"]["Choices"] == [
        {"Variable": "$.branches.ParallelProcessing.AssignDriver", "IsPresent": True, "Next": "ReleaseDriver"}
    ]
    assert s["Compensate"]["Default"] == "CompensateCheckProcessPayment"
    assert s["ReleaseDriver"]["Parameters"]["step"] == "release_driver"
    assert s["ReleaseDriver"]["Next"] == "CompensateCheckProcessPayment"
    assert s["CompensateCheckProcessPayment"]["Choices"] == [
        {"Variable": "$.results.ProcessPayment", "IsPresent": True, "Next": "RefundPayment"}
    ]
    assert s["CompensateCheckProcessPayment"]["Default"] == "FailOrder"
    assert s["RefundPayment"]["Parameters"]["step"] == "refund_payment"
    assert s["RefundPayment"]["Next"] == "FailOrder"
    # the Compensate state's retries apply to each compensation
    assert s["RefundPayment"]["Retry"][1]["ErrorEquals"] == ["PaymentRetryableError"]


def test_succeed_and_fail_states_carry_the_definitions_error(asl: dict[str, Any]) -> None:
    assert asl["States"]["OrderSuccessful"] == {"Type": "Succeed"}
    assert asl["States"]["OrderFailed"] == {
        "Type": "Fail",
        "Error": "OrderProcessingFailed",
        "Cause": "Order could not be processed successfully",
    }
    assert asl["States"]["OrderCancelled"]["Error"] == "OrderCancelled"


def test_every_transition_target_exists_and_every_state_is_reachable(asl: dict[str, Any]) -> None:
    states = asl["States"]
    edges: dict[str, set[str]] = {}
    for name, state in states.items():
        targets = {state[k] for k in ("Next", "Default") if k in state}
        targets |= {c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])}
        edges[name] = targets
        assert targets <= set(states), f"{name} -> {targets - set(states)}"
    seen, todo = set(), [asl["StartAt"]]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo += edges[n]
    assert seen == set(states)


def test_the_cancel_machine_starts_at_the_cancel_route_and_holds_only_what_it_reaches() -> None:
    doc = generate.order_saga_asl(task_resource=ARN, cancel=True)
    assert doc["StartAt"] == "CompensateCancelled"
    assert list(doc["States"]) == [
        "CompensateCancelled",
        "CompensateCancelledReleaseDriver",
        "CompensateCancelledCheckProcessPayment",
        "CompensateCancelledRefundPayment",
        "OrderCancelled",
    ]


def test_a_callable_resource_picks_the_function_per_action() -> None:
    doc = compile_to_asl(ORDER_SAGA, task_resource=lambda action: f"arn:fn:{action}")
    assert doc["States"]["ProcessPayment"]["Resource"] == "arn:fn:capture_payment"
    assert doc["States"]["WaitForRestaurantConfirmation"]["Parameters"]["FunctionName"] == f"arn:fn:{AWAIT_EVENT_STEP}"


def test_retry_intervals_become_whole_seconds_of_at_least_one() -> None:
    saga = SagaDefinition(
        "s",
        1,
        "A",
        {
            "A": Task(
                "A", "a", next="B", retry=(Retry(("InfrastructureError",), interval_seconds=0.2, max_attempts=0),)
            ),
            "B": Succeed("B"),
        },
    )
    retry = compile_to_asl(saga, task_resource=ARN, lambda_service_retry=False)["States"]["A"]["Retry"]
    assert retry == [
        {
            "ErrorEquals": ["InfrastructureError", "DataCorrupted"],
            "IntervalSeconds": 1,
            "MaxAttempts": 0,
            "BackoffRate": 2.0,
        }
    ]


def test_a_branch_catch_is_hoisted_onto_the_parallel_state_before_the_blocks_own() -> None:
    saga = SagaDefinition(
        "s",
        1,
        "P",
        {
            "P": Parallel(
                "P",
                branches=(Task("A", "a", catch=(Catch(("NotFound",), "F", "gone"),)), Task("B", "b")),
                next="S",
                catch=(Catch(("States.ALL",), "F", "broken"),),
            ),
            "S": Succeed("S"),
            "F": Fail("F", "Failed"),
        },
    )
    catches = compile_to_asl(saga, task_resource=ARN)["States"]["P"]["Catch"]
    assert [(c["ErrorEquals"], c["Next"]) for c in catches] == [
        (["NotFound"], "RecordGone"),
        (["States.ALL"], "RecordBroken"),
    ]


def test_a_saga_without_compensable_steps_compensates_with_a_pass() -> None:
    saga = SagaDefinition(
        "s",
        1,
        "A",
        {
            "A": Task("A", "a", next="S", catch=(Catch(("NotFound",), "C", "gone"),)),
            "C": Compensate("C", next="F"),
            "S": Succeed("S"),
            "F": Fail("F", "Failed"),
        },
    )
    assert compile_to_asl(saga, task_resource=ARN)["States"]["C"] == {"Type": "Pass", "Next": "F"}


def test_a_name_table_entry_that_names_no_generated_state_is_refused() -> None:
    with pytest.raises(AslCompileError, match="RefundPaymnt"):
        compile_to_asl(ORDER_SAGA, task_resource=ARN, state_names={"RefundPaymnt": "X"})


def test_a_name_table_that_makes_two_states_share_a_name_is_refused() -> None:
    with pytest.raises(AslCompileError, match="both named 'ProcessPayment'"):
        compile_to_asl(ORDER_SAGA, task_resource=ARN, state_names={"ValidateOrder": "ProcessPayment"})


def test_the_wait_timeout_follows_the_definition() -> None:
    doc = compile_to_asl(build_order_saga(confirmation_timeout_s=42.5), task_resource=ARN)
    assert doc["States"]["WaitForRestaurantConfirmation"]["TimeoutSeconds"] == 43


def test_every_event_a_wait_accepts_is_listed_in_the_token_hand_off(asl: dict[str, Any]) -> None:
    wait = ORDER_SAGA.states["WaitForRestaurantConfirmation"]
    assert isinstance(wait, WaitForEvent)
    payload = asl["States"]["WaitForRestaurantConfirmation"]["Parameters"]["Payload"]
    assert payload["events"] == list(wait.events)


# -- the committed file ----------------------------------------------------------------------------------------------
def test_the_committed_state_machine_equals_the_generators_output() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == generate.render(generate.order_saga_asl()), (
        "deploy/aws/statemachine/order-saga.asl.json is stale: run "
        "python -m fooddelivery_aws.stepfunctions.generate --out deploy/aws/statemachine/order-saga.asl.json "
        "--cancel-out deploy/aws/statemachine/order-saga-cancel.asl.json"
    )
    assert COMMITTED_CANCEL.read_text(encoding="utf-8") == generate.render(generate.order_saga_asl(cancel=True))


def test_the_committed_machine_names_the_task_lambda_only_by_its_sam_placeholder() -> None:
    text = COMMITTED.read_text(encoding="utf-8")
    assert set(re.findall(r"\$\{[^}]+\}", text)) == {"${TaskFunctionArn}"}
    assert "arn:aws:lambda" not in text


def test_the_generator_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    out = tmp_path / "m.asl.json"
    assert generate.main(["--out", str(out), "--check"]) == 1
    assert generate.main(["--out", str(out)]) == 0
    assert generate.main(["--out", str(out), "--check"]) == 0
    out.write_text("{}\n", encoding="utf-8")
    assert generate.main(["--out", str(out), "--check"]) == 1
