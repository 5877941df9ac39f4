"""Sagas: the definition-as-data model and the in-process runner.

Names are imported on first access (PEP 562): a module that reads a definition
(``fooddelivery.application.saga.definition``) does not load the runner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fooddelivery.domain._lazy import lazy_names

if TYPE_CHECKING:
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

_WHERE = {
    **dict.fromkeys(
        (
            "ALL_ERRORS",
            "Catch",
            "Compensate",
            "Fail",
            "Parallel",
            "Retry",
            "SagaDefinition",
            "State",
            "Succeed",
            "Task",
            "WaitForEvent",
            "error_matches",
        ),
        ".definition",
    ),
    **dict.fromkeys(
        ("TIMER_RETRY", "TIMER_TIMEOUT", "Action", "SagaRunner", "SignalOutcome", "StepContext"), ".runner"
    ),
}


__getattr__, __dir__ = lazy_names(globals(), _WHERE, submodules=True)
