"""Sagas: the definition-as-data model and the in-process runner."""

from fooddelivery.application.saga.definition import (
    ALL_ERRORS,
    Catch,
    Compensate,
    Fail,
    Parallel,
    Retry,
    SagaDefinition,
    State,
    Succeed,
    Task,
    WaitForEvent,
    error_matches,
)
from fooddelivery.application.saga.runner import (
    TIMER_RETRY,
    TIMER_TIMEOUT,
    Action,
    SagaRunner,
    SignalOutcome,
    StepContext,
)

__all__ = [
    "ALL_ERRORS",
    "TIMER_RETRY",
    "TIMER_TIMEOUT",
    "Action",
    "Catch",
    "Compensate",
    "Fail",
    "Parallel",
    "Retry",
    "SagaDefinition",
    "SagaRunner",
    "SignalOutcome",
    "State",
    "StepContext",
    "Succeed",
    "Task",
    "WaitForEvent",
    "error_matches",
]
