"""Sagas as data: steps, retry policies, catch routes, parallel blocks, waits with timeouts, compensations.

A :class:`SagaDefinition` says *what* runs; runners say *how*: the in-process :class:`~.runner.SagaRunner`
(tests, the simulation, ``serve``) and, in the cloud packages, queue-driven runners and compilers to
Step Functions (ASL), Durable Functions and Cloud Workflows. Everything here is plain, frozen data so a compiler
can walk it.

Semantics (chosen to match Amazon States Language where ASL has a notion, so compiling is direct):

- A :class:`Task` runs the action registered under ``action``. On success its output (a dict) is merged into
  the saga's data and it moves to ``next``. If it declares a ``compensation``, it is recorded as completed so a
  later :class:`Compensate` state undoes it.
- :class:`Retry` mirrors ASL's ``Retry``: ``max_attempts`` counts *retries after the first attempt*;
  the n-th retry waits ``interval_seconds * backoff_rate ** (n - 1)``. Error names match the class name of the
  raised error **or of any base class** (``"PaymentError"`` matches ``PaymentDeclined``); ``"States.ALL"``
  matches everything.
- :class:`Catch` mirrors ASL's ``Catch``: after retries are exhausted (or for errors with no retry), the first
  matching route wins; it records ``outcome`` (why the saga failed) and moves to ``next``.
  An error no route catches is **not swallowed**: the runner raises it and the state stays resumable.
- :class:`Parallel` runs every branch (a task each); it completes when all branches did. A branch's retry
  is per branch; a branch's uncaught failure goes to the block's catch routes.
- :class:`WaitForEvent` waits for one of ``events`` (by name) or for ``timeout_seconds``; an event moves to its
  route, the timeout to ``on_timeout`` with ``timeout_outcome``. In ASL this is a ``.waitForTaskToken`` task
  with ``TimeoutSeconds`` (not a blind Wait).
- :class:`Compensate` runs the compensation action of every completed step that declared one, newest first,
  each exactly once (crash-safe), then moves to ``next``.
- :class:`Succeed` / :class:`Fail` end the saga.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

__all__ = [
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
]

#: The catch-all error name (as in ASL).
ALL_ERRORS: Final[str] = "States.ALL"


@dataclass(frozen=True, slots=True)
class Retry:
    """Retry a failing step.

    Attributes:
        errors: error class names this policy applies to.
        interval_seconds: wait before the first retry (s).
        backoff_rate: multiplier of the wait for each further retry.
        max_attempts: retries after the first attempt (ASL ``MaxAttempts``); 0 disables.
    """

    errors: tuple[str, ...]
    interval_seconds: float
    backoff_rate: float = 2.0
    max_attempts: int = 3

    def delay_for(self, retry_number: int) -> float:
        """Seconds to wait before retry number ``retry_number`` (1-based)."""
        return self.interval_seconds * self.backoff_rate ** (retry_number - 1)


@dataclass(frozen=True, slots=True)
class Catch:
    """Route a failure.

    Attributes:
        errors: error class names this route catches.
        next: the state to go to.
        outcome: the machine-readable failure reason to record (``"payment_declined"``).
    """

    errors: tuple[str, ...]
    next: str
    outcome: str


@dataclass(frozen=True, slots=True)
class Task:
    """Run one action.

    Attributes:
        name: state name (unique in the definition).
        action: key of the action to run.
        next: the following state (ignored inside a parallel block).
        retry: policies, first match wins.
        catch: routes, first match wins.
        compensation: key of the action that undoes this one, or None.
        description: what the step does, for humans and generated workflows.
    """

    name: str
    action: str
    next: str | None = None
    retry: tuple[Retry, ...] = ()
    catch: tuple[Catch, ...] = ()
    compensation: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class Parallel:
    """Run branches concurrently (in-process: one after another, each persisted).

    Attributes:
        name: state name.
        branches: one task per branch.
        next: the state after every branch completed.
        catch: routes for a branch failure no branch retry absorbed.
    """

    name: str
    branches: tuple[Task, ...]
    next: str
    catch: tuple[Catch, ...] = ()


@dataclass(frozen=True, slots=True)
class WaitForEvent:
    """Wait for an external event, with a timeout.

    Attributes:
        name: state name.
        events: event name -> next state.
        timeout_seconds: how long to wait (s).
        on_timeout: the state after the timeout.
        timeout_outcome: the failure reason recorded on timeout.
        event_outcomes: event name -> failure reason, for events that lead to failure (e.g. a rejection).
    """

    name: str
    events: Mapping[str, str]
    timeout_seconds: float
    on_timeout: str
    timeout_outcome: str
    event_outcomes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Compensate:
    """Undo every completed step that declared a compensation, newest first.

    Attributes:
        name: state name.
        next: the state after all compensations completed.
        retry: policies for a failing compensation action.
    """

    name: str
    next: str
    retry: tuple[Retry, ...] = ()


@dataclass(frozen=True, slots=True)
class Succeed:
    """End successfully."""

    name: str


@dataclass(frozen=True, slots=True)
class Fail:
    """End in failure.

    Attributes:
        name: state name.
        error: the error name (ASL ``Error``).
        cause: human explanation (ASL ``Cause``).
    """

    name: str
    error: str
    cause: str = ""


State = Task | Parallel | WaitForEvent | Compensate | Succeed | Fail


@dataclass(frozen=True, slots=True)
class SagaDefinition:
    """A whole saga.

    Attributes:
        name: the saga's name.
        version: bump on any change that running instances must not mix with.
        start: the first state.
        states: every state by name.
        cancel_route: state to jump to when the ``cancel_event`` arrives after the saga SUCCEEDED
            (e.g. a customer cancels a confirmed order: compensate), or None.
        cancel_event: the event name meaning "cancelled".

    Raises:
        ValueError: a route names a state that does not exist, or names are duplicated.
    """

    name: str
    version: int
    start: str
    states: Mapping[str, State]
    cancel_route: str | None = None
    cancel_event: str = "OrderCancelled"

    def __post_init__(self) -> None:
        names = set(self.states)
        for key, state in self.states.items():
            if key != state.name:
                raise ValueError(f"state {key!r} is registered under another name {state.name!r}")
        targets: list[str] = [self.start]
        if self.cancel_route:
            targets.append(self.cancel_route)
        for state in self.states.values():
            if isinstance(state, Task):
                if state.next:
                    targets.append(state.next)
                targets.extend(c.next for c in state.catch)
            elif isinstance(state, Parallel):
                targets.append(state.next)
                targets.extend(c.next for c in state.catch)
                for b in state.branches:
                    targets.extend(c.next for c in b.catch)
            elif isinstance(state, WaitForEvent):
                targets.extend(state.events.values())
                targets.append(state.on_timeout)
            elif isinstance(state, Compensate):
                targets.append(state.next)
        missing = sorted({t for t in targets if t not in names})
        if missing:
            raise ValueError(f"saga {self.name}: routes to unknown states {missing}")

    @property
    def key(self) -> str:
        """``"name@version"``, stored with every instance."""
        return f"{self.name}@{self.version}"

    def task(self, step: str) -> Task:
        """The task named ``step``, including tasks inside parallel blocks.

        Raises:
            KeyError: no such task.
        """
        state = self.states.get(step)
        if isinstance(state, Task):
            return state
        for s in self.states.values():
            if isinstance(s, Parallel):
                for b in s.branches:
                    if b.name == step:
                        return b
        raise KeyError(step)


def error_matches(names: tuple[str, ...], exc: BaseException) -> bool:
    """Whether ``exc`` (or one of its base classes) is named in ``names``, or ``names`` has ``States.ALL``."""
    if ALL_ERRORS in names:
        return True
    return any(cls.__name__ in names for cls in type(exc).__mro__)
