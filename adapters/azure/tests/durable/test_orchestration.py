"""The order saga's Durable orchestration, replayed by the SDK's own executor (through the Durable stand-in) with
scripted activities: which activities run, in which order and with which inputs; the retry timers' delays; the
event raced against the confirmation timer; compensation newest first; the fan-out of the parallel block; an error
no route catches failing the orchestration. Every episode replays the whole history, and the stand-in checks that
each replay schedules what the history says (a non-deterministic orchestrator would fail these tests)."""

from __future__ import annotations

from datetime import timedelta

from scripted_saga import ORDER, T0, Saga

from fooddelivery.domain.errors import (
    InfrastructureError,
    NoDriverAvailable,
    NotAllowed,
    PaymentDeclined,
    PaymentRetryableError,
)
from fooddelivery_azure.durable.orchestrator import STEP_ORCHESTRATOR

BRANCHES = ["notify_restaurant", "assign_driver", "notify_customer"]
UP_TO_THE_WAIT = ["validate_order", "capture_payment", *BRANCHES]


def test_happy_path_waits_for_the_restaurant_then_confirms(saga: Saga) -> None:
    saga.start()
    assert saga.activities.actions() == UP_TO_THE_WAIT
    status = saga.status()
    assert status["runtimeStatus"] == "Running"
    assert status["customStatus"] == {
        "state": "WaitForRestaurantConfirmation",
        "phase": "waiting",
        "events": ["RestaurantConfirmed", "RestaurantRejected", "OrderCancelled"],
        "signals": [],
        "outcome": None,
        "waited": False,
    }
    assert saga.host.pending_timers() == [T0 + timedelta(seconds=300)]
    # the parallel block fanned out to one sub-orchestration per branch
    children = {i: s for i, s in saga.host.instances.items() if s.name == STEP_ORCHESTRATOR}
    assert sorted(children) == [f"{ORDER}:ParallelProcessing:{b}" for b in ("AssignDriver", "NotifyCustomer",
                                                                           "NotifyRestaurant")]
    assert all(s.status == "Completed" for s in children.values())

    saga.raise_event("RestaurantConfirmed", {"by": "owner-0"})
    assert saga.activities.actions() == [*UP_TO_THE_WAIT, "confirm_order"]
    done = saga.status()
    assert done["runtimeStatus"] == "Completed"
    output = done["output"]
    assert (output["status"], output["state"], output["outcome"]) == ("SUCCEEDED", "OrderConfirmed", None)
    assert output["completed"] == ["ProcessPayment", "AssignDriver"]
    assert output["data"]["signals"] == ["RestaurantConfirmed"]
    assert output["data"]["signalDetail"] == {"RestaurantConfirmed": {"by": "owner-0"}}
    assert output["data"]["driverId"] == "drv-0" and output["data"]["chargeId"] == "ch_1"
    assert saga.host.instances[ORDER].cancelled_timers != []  # the confirmation timer was cancelled, so the
    assert saga.host.pending_timers() == []  # orchestration completed without waiting for it
    # confirm_order saw every earlier output merged into the saga's data
    confirm = saga.activities.calls[-1][1]
    assert confirm.data["chargeId"] == "ch_1" and confirm.data["driverId"] == "drv-0" and confirm.outcome is None
    assert saga.host.instances[ORDER].episodes >= 4  # replayed from its history each time


def test_a_declined_payment_is_not_retried_and_fails_with_nothing_to_undo(saga: Saga) -> None:
    saga.activities.fail("capture_payment", PaymentDeclined("card declined"))
    saga.start()
    assert saga.activities.actions() == ["validate_order", "capture_payment", "fail_order"]
    fail = saga.activities.calls[-1][1]
    assert fail.outcome == "payment_declined"
    assert fail.data["error"] == {"step": "ProcessPayment", "code": "payment_declined", "detail": "card declined"}
    output = saga.status()["output"]
    assert (output["status"], output["state"], output["outcome"], output["error"]) == (
        "FAILED", "OrderFailed", "payment_declined", "OrderProcessingFailed"
    )
    assert output["completed"] == [] and saga.host.pending_timers() == []


def test_transient_payment_errors_are_retried_after_5_then_10_seconds_then_succeed(saga: Saga) -> None:
    saga.activities.fail("capture_payment", PaymentRetryableError("timeout"), PaymentRetryableError("timeout"))
    saga.start()
    assert saga.activities.actions() == ["validate_order", "capture_payment"]
    assert saga.host.pending_timers() == [T0 + timedelta(seconds=5)]
    assert saga.status()["customStatus"]["phase"] == "retry_wait"
    saga.advance(4.9)
    assert saga.activities.actions() == ["validate_order", "capture_payment"]
    saga.advance(0.1)
    assert saga.activities.actions() == ["validate_order", "capture_payment", "capture_payment"]
    assert saga.host.pending_timers() == [T0 + timedelta(seconds=15)]  # 5 s, then 10 s (backoff x2)
    saga.advance(10)
    attempts = [s.attempt for a, s in saga.activities.calls if a == "capture_payment"]
    assert attempts == [1, 2, 3]
    assert saga.activities.actions() == [*UP_TO_THE_WAIT[:1], *["capture_payment"] * 3, *BRANCHES]
    assert saga.status()["customStatus"]["phase"] == "waiting"


def test_transient_payment_errors_past_the_third_retry_fail_the_order_as_unavailable(saga: Saga) -> None:
    saga.activities.fail("capture_payment", *[PaymentRetryableError("down")] * 4)
    saga.start()
    saga.advance(5)
    saga.advance(10)
    saga.advance(20)
    assert [a for a in saga.activities.actions() if a == "capture_payment"] == ["capture_payment"] * 4
    assert saga.activities.actions()[-1] == "fail_order"
    assert saga.status()["output"]["outcome"] == "payment_unavailable"


def test_policies_count_separately_an_infrastructure_error_does_not_use_up_payment_retries(saga: Saga) -> None:
    saga.activities.fail(
        "capture_payment", PaymentRetryableError("a"), InfrastructureError("b"), PaymentRetryableError("c")
    )
    saga.start()
    saga.advance(5)  # payment retry 1 (5 s)
    saga.advance(2)  # infrastructure retry 1 (2 s)
    saga.advance(10)  # payment retry 2 (10 s)
    assert [a for a in saga.activities.actions() if a == "capture_payment"] == ["capture_payment"] * 4
    assert saga.status()["customStatus"]["state"] == "WaitForRestaurantConfirmation"


def test_restaurant_timeout_alerts_then_compensates_newest_first_then_fails(saga: Saga) -> None:
    saga.start()
    saga.advance(299)
    assert saga.status()["customStatus"]["phase"] == "waiting"
    saga.advance(1)
    assert saga.activities.actions() == [
        *UP_TO_THE_WAIT, "alert_operations", "release_driver", "refund_payment", "fail_order"
    ]
    assert saga.activities.states()[-4:] == [
        "AlertOperations", "compensate:AssignDriver", "compensate:ProcessPayment", "FailOrder"
    ]
    assert {s.outcome for _, s in saga.activities.calls[-4:]} == {"restaurant_timeout"}
    output = saga.status()["output"]
    assert (output["status"], output["outcome"]) == ("FAILED", "restaurant_timeout")
    assert output["compensated"] == ["AssignDriver", "ProcessPayment"]
    # a confirmation after the timeout is buffered by Durable and ignored by the finished orchestration
    assert saga.host.raise_event(ORDER, "RestaurantConfirmed", '"{}"') == 410


def test_a_rejection_compensates_and_fails_as_rejected(saga: Saga) -> None:
    saga.start()
    saga.raise_event("RestaurantRejected", {"by": "owner-0", "reason": "out of dough"})
    assert saga.activities.states()[len(UP_TO_THE_WAIT):] == [
        "AlertOperations", "compensate:AssignDriver", "compensate:ProcessPayment", "FailOrder"
    ]
    output = saga.status()["output"]
    assert (output["outcome"], output["data"]["signals"]) == ("restaurant_rejected", ["RestaurantRejected"])
    assert saga.host.pending_timers() == []


def test_a_cancellation_while_waiting_compensates_and_ends_cancelled(saga: Saga) -> None:
    saga.start()
    saga.raise_event("OrderCancelled", {"by": "user-1"})
    assert saga.activities.states()[len(UP_TO_THE_WAIT):] == ["compensate:AssignDriver", "compensate:ProcessPayment"]
    output = saga.status()["output"]
    assert (output["status"], output["state"], output["outcome"], output["error"]) == (
        "FAILED", "OrderCancelled", "cancelled", "OrderCancelled"
    )


def test_the_cancel_route_of_a_confirmed_order_undoes_what_the_first_instance_completed(saga: Saga) -> None:
    saga.start()
    saga.raise_event("RestaurantConfirmed")
    first = saga.status()["output"]
    saga.start(
        f"{ORDER}:cancel", start="CompensateCancelled", data=first["data"], completed=first["completed"],
        outcome="cancelled",
    )
    assert saga.activities.states()[-2:] == ["compensate:AssignDriver", "compensate:ProcessPayment"]
    assert saga.status(f"{ORDER}:cancel")["output"]["state"] == "OrderCancelled"


def test_a_branch_retries_on_its_own_timers_then_its_failure_is_routed_by_the_block(saga: Saga) -> None:
    saga.activities.fail("assign_driver", *[NoDriverAvailable("none near")] * 4)
    saga.start()
    assert saga.activities.actions() == UP_TO_THE_WAIT
    branch = f"{ORDER}:ParallelProcessing:AssignDriver"
    assert saga.host.instances[branch].status == "Running"
    assert saga.host.pending_timers() == [T0 + timedelta(seconds=30)]  # the driver policy: 30 s, x2
    saga.advance(30)
    saga.advance(60)
    saga.advance(120)
    assert [a for a in saga.activities.actions() if a == "assign_driver"] == ["assign_driver"] * 4
    # the driver was never assigned: only the payment is refunded
    assert saga.activities.states()[-2:] == ["compensate:ProcessPayment", "FailOrder"]
    output = saga.status()["output"]
    assert output["outcome"] == "no_driver" and output["data"]["error"]["step"] == "AssignDriver"
    assert output["completed"] == ["ProcessPayment"]


def test_an_error_no_route_catches_fails_the_orchestration_instead_of_being_swallowed(saga: Saga) -> None:
    saga.activities.fail("validate_order", NotAllowed("not yours"))
    saga.start()
    assert saga.activities.actions() == ["validate_order"]
    status = saga.status()
    assert status["runtimeStatus"] == "Failed"
    assert "saga step ValidateOrder failed with NotAllowed" in status["output"]
    assert saga.host.failures() == [(ORDER, status["output"])]


def test_an_event_raised_before_the_wait_is_kept_by_durable_and_taken_when_the_wait_begins(saga: Saga) -> None:
    saga.activities.fail("capture_payment", PaymentRetryableError("slow"))
    saga.start()
    saga.raise_event("RestaurantConfirmed")  # the engine never does this (it answers "not yet"), Durable allows it
    assert saga.activities.actions() == ["validate_order", "capture_payment"]
    saga.advance(5)
    assert saga.activities.actions()[-1] == "confirm_order"
    assert saga.status()["output"]["status"] == "SUCCEEDED"
