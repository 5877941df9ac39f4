"""The saga activities' body: one core action per call, its output or its core error answered by name (so the
orchestrator can retry and route it), anything else raised; checkpoints kept under the saga id so the next attempt
of a step sees what the previous one reserved. The real actions over the Azure stores run in the end-to-end tests
(``functions/test_durable_journey.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from fooddelivery.adapters.memory import InMemorySagaStateStore, VirtualClock
from fooddelivery.application.saga.runner import StepContext
from fooddelivery.domain.errors import InfrastructureError, NotFound, PaymentDeclined
from fooddelivery.domain.money import Money
from fooddelivery_azure.durable.activities import checkpoint_key, load_checkpoints, run_step
from fooddelivery_azure.durable.orchestrator import MalformedSagaInput, StepInput, StepResult

CLOCK = VirtualClock(datetime(2026, 12, 4, 18, 30, tzinfo=UTC))


def _payload(action: str, attempt: int = 1, **data: Any) -> dict[str, Any]:
    return StepInput("ord-1", "AssignDriver", action, data, None, attempt, "order@1", 300.0).to_json()


def test_an_action_that_completes_answers_its_output_and_sees_the_sagas_data() -> None:
    seen: list[StepContext] = []

    def action(ctx: StepContext) -> Mapping[str, Any]:
        seen.append(ctx)
        return {"driverId": "drv-1"}

    answer = run_step(_payload("assign_driver", 2, chargeId="ch_1"), "assign_driver", {"assign_driver": action},
                      InMemorySagaStateStore(), CLOCK)
    assert answer == {"ok": True, "output": {"driverId": "drv-1"}}
    (ctx,) = seen
    assert (ctx.saga_id, ctx.step, ctx.attempt, ctx.data["chargeId"]) == ("ord-1", "AssignDriver", 2, "ch_1")


def test_a_core_error_is_answered_with_its_class_and_base_class_names() -> None:
    def decline(ctx: StepContext) -> None:
        raise PaymentDeclined("insufficient funds")

    answer = run_step(_payload("capture_payment"), "capture_payment", {"capture_payment": decline},
                      InMemorySagaStateStore(), CLOCK)
    assert answer == {
        "ok": False,
        "error": "PaymentDeclined",
        "errors": ["PaymentDeclined", "PaymentError", "FoodDeliveryError"],
        "code": "payment_declined",
        "detail": "insufficient funds",
    }
    result = StepResult.from_json(answer)
    assert result.matches(("PaymentError",)) and result.matches(("States.ALL",))
    assert not result.matches(("PaymentRetryableError", "InfrastructureError"))


def test_an_error_that_is_not_the_cores_fails_the_activity() -> None:
    def bug(ctx: StepContext) -> None:
        raise KeyError("total")

    with pytest.raises(KeyError):
        run_step(_payload("validate_order"), "validate_order", {"validate_order": bug}, InMemorySagaStateStore(), CLOCK)


def test_an_input_for_another_action_or_of_another_shape_is_refused() -> None:
    actions = {"validate_order": lambda ctx: None}
    with pytest.raises(MalformedSagaInput):
        run_step(_payload("capture_payment"), "validate_order", actions, InMemorySagaStateStore(), CLOCK)
    with pytest.raises(MalformedSagaInput):
        run_step({"sagaId": "ord-1"}, "validate_order", actions, InMemorySagaStateStore(), CLOCK)
    with pytest.raises(MalformedSagaInput):
        run_step("not json", "validate_order", actions, InMemorySagaStateStore(), CLOCK)


def test_a_checkpoint_outlives_a_failed_attempt_and_the_next_attempt_reads_it() -> None:
    store = InMemorySagaStateStore()
    attempts: list[Any] = []

    def reserve(ctx: StepContext) -> Mapping[str, Any]:
        attempts.append(ctx.data.get("reservedDriver"))
        if ctx.attempt == 1:
            ctx.checkpoint(reservedDriver="drv-7")
            assert ctx.data["reservedDriver"] == "drv-7"
            raise InfrastructureError("the order write failed after the driver was reserved")
        return {"driverId": ctx.data["reservedDriver"]}

    first = run_step(_payload("assign_driver", 1), "assign_driver", {"assign_driver": reserve}, store, CLOCK)
    assert first["ok"] is False and first["error"] == "InfrastructureError"
    assert load_checkpoints(store, "ord-1") == {"reservedDriver": "drv-7"}
    assert store.get(checkpoint_key("ord-1")).definition == "order@1"
    second = run_step(_payload("assign_driver", 2), "assign_driver", {"assign_driver": reserve}, store, CLOCK)
    assert second == {"ok": True, "output": {"driverId": "drv-7"}}
    assert attempts == [None, "drv-7"]
    # the checkpoints stay apart from the queue-driven runner's state (keyed by the bare saga id)
    with pytest.raises(NotFound):
        store.get("ord-1")


def test_an_output_that_is_not_json_fails_the_activity() -> None:
    with pytest.raises(TypeError):
        run_step(_payload("confirm_order"), "confirm_order", {"confirm_order": lambda ctx: {"at": CLOCK.now()}},
                 InMemorySagaStateStore(), CLOCK)


def test_a_validation_errors_detail_is_answered_as_the_in_process_runner_stores_it() -> None:
    # The in-process runner stores exc.detail as the saga's error detail (str(exc) of a ValidationError appends the
    # field errors the detail does not name); the orchestrator stores the activity's "detail" the same way.
    def mix(ctx: StepContext) -> None:
        _ = Money.of(10, "EUR") + Money.of(10, "USD")

    answer = run_step(_payload("capture_payment"), "capture_payment", {"capture_payment": mix},
                      InMemorySagaStateStore(), CLOCK)
    assert (answer["code"], answer["detail"]) == ("currency_mismatch", "cannot combine EUR with USD")
