"""The core's saga definition, interpreted by a Durable Functions orchestrator (``FOODDELIVERY_SAGA_MODE=durable``).

The workflow is never written by hand for Durable Functions either: :func:`interpret` walks the same
:class:`~fooddelivery.application.saga.definition.SagaDefinition` the in-process runner executes (the order saga of
``fooddelivery.application.order_saga.build_order_saga``) and turns each state into Durable tasks:

===================  ============================================================================================
core state           in the orchestration
===================  ============================================================================================
``Task``             the activity :func:`activity_name` of its action (one activity function per action, each
                     running the core's action of ``OrderSagaSteps.actions()``; :mod:`.activities`). An activity
                     answers a :class:`StepResult` instead of raising for the core's errors, so the orchestrator
                     sees the error's class names and applies the definition's own ``Retry`` policies (one counter
                     per policy, as in ASL and the runner; the wait is a durable timer of
                     ``interval * backoff ** (n - 1)``) and ``Catch`` routes (first match wins; the outcome is
                     recorded). An error no route catches fails the orchestration (nothing is swallowed).
``Parallel``         fan-out/fan-in: one sub-orchestration (:data:`STEP_ORCHESTRATOR`) per branch, each running its
                     branch's task with its own retries, all awaited with ``task_all``; outputs are merged in branch
                     order, every branch that completed with a compensation is recorded, and the first failed
                     branch (in branch order) is routed by its own then the block's catch routes.
``WaitForEvent``     ``wait_for_external_event`` for every event name, raced with ``create_timer`` (now +
                     ``timeout_seconds``) in ``task_any``: an event cancels the timer and takes its route (recording
                     its outcome, if any); the timer takes ``on_timeout`` with ``timeout_outcome``.
``Compensate``       the compensation activity of every completed step that declared one, newest first, each with
                     the Compensate state's retries; a compensation that still fails fails the orchestration.
``Succeed``/``Fail`` the orchestration returns :class:`SagaOutcome` (``SUCCEEDED`` / ``FAILED`` with the outcome).
===================  ============================================================================================

Instances: one per order, named after it (:func:`instance_id_for`), input :class:`SagaInput`. The definition is
rebuilt from the input (its key and the confirmation timeout travel with the instance), so a replay never sees a
changed setting. A customer's cancellation of a confirmed order (the definition's ``cancel_route``) is a second
instance, ``<instance>:cancel``, started at ``CompensateCancelled`` with the first one's output (what completed).

Custom status (``set_custom_status``, read by :class:`~fooddelivery_azure.durable.engine.DurableSagaEngine`): the
current state, the phase (running a step, waiting for an event, waiting to retry), the events it waits for, the
events it accepted and the outcome, so the engine can answer a signal as the core's runner does.

Determinism: the code below uses nothing but the orchestration context and its input (time is
``current_utc_datetime``; no I/O, no randomness), as Durable's replay requires
(https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-code-constraints).

Sources:
    - orchestrator API (``call_activity``, ``call_sub_orchestrator``, ``task_all``, ``task_any``, ``create_timer``,
      ``wait_for_external_event``, ``set_custom_status``): https://learn.microsoft.com/python/api/azure-functions-durable/
    - fan-out/fan-in: https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-cloud-backup
    - human interaction (an external event raced with a durable timer, the timer cancelled):
      https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-phone-verification
    - instance ids (at most 100 characters, none of ``/ \\ # ?`` or control characters):
      https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-instance-management
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final

from fooddelivery.application.order_saga import build_order_saga
from fooddelivery.application.saga.definition import (
    ALL_ERRORS,
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
from fooddelivery.domain.errors import FoodDeliveryError

__all__ = [
    "ACTIVITY_PREFIX",
    "CANCEL_SUFFIX",
    "ORCHESTRATOR",
    "STEP_ORCHESTRATOR",
    "MalformedSagaInput",
    "Phase",
    "SagaInput",
    "SagaOutcome",
    "SagaStepFailed",
    "StepInput",
    "StepResult",
    "activity_name",
    "cancel_instance_id",
    "definition_for",
    "error_names",
    "instance_id_for",
    "interpret",
    "orchestrate_saga",
    "orchestrate_step",
    "saga_actions",
]

log = logging.getLogger(__name__)

#: The orchestrator function of an order's saga.
ORCHESTRATOR: Final[str] = "order_saga"
#: The sub-orchestrator running one branch of a ``Parallel`` state (its task with its retries).
STEP_ORCHESTRATOR: Final[str] = "order_saga_step"
#: Prefix of the activity function names (``saga_capture_payment``...).
ACTIVITY_PREFIX: Final[str] = "saga_"
#: Suffix of the instance that runs the cancel route of a saga that had succeeded.
CANCEL_SUFFIX: Final[str] = ":cancel"
_SAFE_ID: Final[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_.:~-]{1,80}")


class MalformedSagaInput(ValueError):
    """An orchestration or activity input that does not have the shape this module writes (a bug, not a business
    error: the orchestration fails with it)."""


class SagaStepFailed(Exception):
    """A step failed with an error no catch route takes (or a compensation failed after its retries): the
    orchestration fails with this error, as the runner leaves such an instance stuck rather than swallow it."""

    def __init__(self, step: str, result: StepResult) -> None:
        super().__init__(f"saga step {step} failed with {result.error}: {result.detail}")
        self.step = step
        self.result = result


class Phase(StrEnum):
    """What the orchestration is doing, in its custom status."""

    RUNNING = "running"
    """Running a step (an activity or a parallel block)."""
    WAITING = "waiting"
    """Waiting for one of ``events`` (or its timeout)."""
    RETRY_WAIT = "retry_wait"
    """Waiting for a retry's timer."""


def activity_name(action: str) -> str:
    """The activity function that runs the core's action ``action`` (``saga_capture_payment``)."""
    return f"{ACTIVITY_PREFIX}{action}"


def saga_actions(definition: SagaDefinition) -> tuple[str, ...]:
    """Every action and compensation ``definition`` names, in definition order, once each (one activity each)."""
    found: list[str] = []
    for state in definition.states.values():
        tasks = state.branches if isinstance(state, Parallel) else (state,) if isinstance(state, Task) else ()
        for task in tasks:
            found += [a for a in (task.action, task.compensation) if a and a not in found]
    return tuple(found)


def instance_id_for(saga_id: str) -> str:
    """The orchestration instance id of saga ``saga_id``: the id itself when Durable accepts it as is (the order ids
    the core makes always are), else ``saga-`` + 40 hex digits of its SHA-256 (an id with ``/``, ``#``... or too
    long; suffixes such as :data:`CANCEL_SUFFIX` must still fit in Durable's 100 characters)."""
    if _SAFE_ID.fullmatch(saga_id):
        return saga_id
    return "saga-" + hashlib.sha256(saga_id.encode()).hexdigest()[:40]


def cancel_instance_id(instance_id: str) -> str:
    """The instance that runs the cancel route after ``instance_id`` succeeded."""
    return f"{instance_id}{CANCEL_SUFFIX}"


def definition_for(key: str, confirmation_timeout_s: float) -> SagaDefinition:
    """The saga definition an instance was started with.

    Raises:
        MalformedSagaInput: ``key`` is not the order saga's current ``name@version`` (an instance of a retired
            version; it must finish on the code that started it).
    """
    definition = build_order_saga(confirmation_timeout_s)
    if key != definition.key:
        raise MalformedSagaInput(f"saga definition {key!r} is not {definition.key!r}: this code cannot replay it")
    return definition


def _loads(raw: Any, what: str) -> dict[str, Any]:
    """A JSON object given as a mapping or as its text (Durable hands either, depending on the path it took)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise MalformedSagaInput(f"{what} is not JSON: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise MalformedSagaInput(f"{what} must be a JSON object, got {type(raw).__name__}")
    return dict(raw)


def _str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedSagaInput(f"{what} must be a list of strings")
    return list(value)


@dataclass(slots=True)
class SagaInput:
    """The input of an :data:`ORCHESTRATOR` instance (and what the cancel route's instance starts from).

    Attributes:
        saga_id: the saga (order) id.
        definition: the definition's ``name@version``.
        confirmation_timeout_s: the definition's confirmation timeout (s).
        start: the state to start at (None: the definition's start; the cancel route's instance: its route).
        data: the saga's working data (``{"orderId": ...}`` at the start).
        completed: steps with a compensation that completed (the cancel route's instance: the first one's).
        compensated: steps already compensated.
        outcome: the failure reason already recorded (the cancel route: ``"cancelled"``).
    """

    saga_id: str
    definition: str
    confirmation_timeout_s: float
    start: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    completed: list[str] = field(default_factory=list)
    compensated: list[str] = field(default_factory=list)
    outcome: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object the engine starts the instance with."""
        return {
            "sagaId": self.saga_id,
            "definition": self.definition,
            "confirmationTimeoutS": self.confirmation_timeout_s,
            "start": self.start,
            "data": self.data,
            "completed": self.completed,
            "compensated": self.compensated,
            "outcome": self.outcome,
        }

    @classmethod
    def from_json(cls, raw: Any) -> SagaInput:
        """Read an instance's input.

        Raises:
            MalformedSagaInput: not the shape :meth:`to_json` writes.
        """
        body = _loads(raw, "saga input")
        saga_id, key, timeout = body.get("sagaId"), body.get("definition"), body.get("confirmationTimeoutS")
        if not isinstance(saga_id, str) or not saga_id or not isinstance(key, str):
            raise MalformedSagaInput("saga input needs 'sagaId' and 'definition' strings")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise MalformedSagaInput("saga input needs a positive 'confirmationTimeoutS'")
        start, outcome = body.get("start"), body.get("outcome")
        if not isinstance(start, str | None) or not isinstance(outcome, str | None):
            raise MalformedSagaInput("saga input 'start' and 'outcome' must be strings")
        return cls(
            saga_id=saga_id,
            definition=key,
            confirmation_timeout_s=float(timeout),
            start=start,
            data=_loads(body.get("data") or {}, "saga input 'data'"),
            completed=_str_list(body.get("completed"), "saga input 'completed'"),
            compensated=_str_list(body.get("compensated"), "saga input 'compensated'"),
            outcome=outcome,
        )


@dataclass(frozen=True, slots=True)
class StepInput:
    """What one step's activity (or a branch's sub-orchestration) is given.

    Attributes:
        saga_id: the saga (order) id.
        state: the state the step runs in (``ProcessPayment``, ``compensate:AssignDriver``...).
        action: the core's action key.
        data: the saga's working data.
        outcome: the recorded failure reason, if the saga is failing.
        attempt: 1 for the first attempt, 2 for the first retry...
        definition, confirmation_timeout_s: the definition (a branch's sub-orchestration rebuilds it).
    """

    saga_id: str
    state: str
    action: str
    data: Mapping[str, Any]
    outcome: str | None = None
    attempt: int = 1
    definition: str = ""
    confirmation_timeout_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The JSON object sent to the activity."""
        return {
            "sagaId": self.saga_id,
            "state": self.state,
            "action": self.action,
            "data": dict(self.data),
            "outcome": self.outcome,
            "attempt": self.attempt,
            "definition": self.definition,
            "confirmationTimeoutS": self.confirmation_timeout_s,
        }

    @classmethod
    def from_json(cls, raw: Any) -> StepInput:
        """Read a step's input.

        Raises:
            MalformedSagaInput: not the shape :meth:`to_json` writes.
        """
        body = _loads(raw, "step input")
        values = [body.get(k) for k in ("sagaId", "state", "action")]
        if not all(isinstance(v, str) and v for v in values):
            raise MalformedSagaInput("step input needs 'sagaId', 'state' and 'action' strings")
        attempt, outcome = body.get("attempt", 1), body.get("outcome")
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise MalformedSagaInput("step input 'attempt' must be a positive integer")
        if outcome is not None and not isinstance(outcome, str):
            raise MalformedSagaInput("step input 'outcome' must be a string")
        timeout = body.get("confirmationTimeoutS") or 0.0
        return cls(
            saga_id=str(values[0]),
            state=str(values[1]),
            action=str(values[2]),
            data=_loads(body.get("data") or {}, "step input 'data'"),
            outcome=outcome,
            attempt=attempt,
            definition=str(body.get("definition") or ""),
            confirmation_timeout_s=float(timeout),
        )


def error_names(exc: BaseException) -> list[str]:
    """The class names a ``Retry``/``Catch`` entry may name to match ``exc``: its class and every base class up to
    :class:`~fooddelivery.domain.errors.FoodDeliveryError` (the core matches base classes: ``"PaymentError"``
    matches ``PaymentDeclined``)."""
    names: list[str] = []
    for cls in type(exc).__mro__:
        names.append(cls.__name__)
        if cls is FoodDeliveryError:
            break
    return names


@dataclass(frozen=True, slots=True)
class StepResult:
    """An activity's answer: its output, or the core error it failed with (by name: Durable carries an activity's
    exception to the orchestrator as text only).

    Attributes:
        ok: the action completed.
        output: what it returned (merged into the saga's data).
        error: the error's class name.
        errors: that class and its bases (:func:`error_names`), for matching.
        code: the error's machine-readable code.
        detail: the error's text.
    """

    ok: bool
    output: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""
    errors: tuple[str, ...] = ()
    code: str = ""
    detail: str = ""

    @classmethod
    def success(cls, output: Mapping[str, Any] | None) -> StepResult:
        """A completed action.

        Raises:
            TypeError: the output is not JSON (an action must return JSON-ready values).
        """
        out = dict(output or {})
        json.dumps(out)
        return cls(True, out)

    @classmethod
    def failure(cls, exc: FoodDeliveryError) -> StepResult:
        """An action that raised the core's error ``exc``."""
        names = error_names(exc)
        return cls(False, error=names[0], errors=tuple(names), code=exc.code, detail=exc.detail)

    def matches(self, names: Iterable[str]) -> bool:
        """Whether a ``Retry``/``Catch`` entry naming ``names`` takes this failure."""
        wanted = set(names)
        return ALL_ERRORS in wanted or bool(wanted & set(self.errors))

    def to_json(self) -> dict[str, Any]:
        """The activity's JSON answer."""
        if self.ok:
            return {"ok": True, "output": dict(self.output)}
        return {"ok": False, "error": self.error, "errors": list(self.errors), "code": self.code, "detail": self.detail}

    @classmethod
    def from_json(cls, raw: Any) -> StepResult:
        """Read an activity's answer.

        Raises:
            MalformedSagaInput: not the shape :meth:`to_json` writes.
        """
        body = _loads(raw, "step result")
        if body.get("ok") is True:
            return cls(True, _loads(body.get("output") or {}, "step output"))
        if body.get("ok") is False and isinstance(body.get("error"), str):
            return cls(
                False,
                error=body["error"],
                errors=tuple(_str_list(body.get("errors"), "step result 'errors'")) or (body["error"],),
                code=str(body.get("code") or ""),
                detail=str(body.get("detail") or ""),
            )
        raise MalformedSagaInput("step result must be {'ok': true, 'output'} or {'ok': false, 'error', ...}")


@dataclass(frozen=True, slots=True)
class SagaOutcome:
    """What an :data:`ORCHESTRATOR` instance returns (its ``output``).

    Attributes:
        status: ``SUCCEEDED`` or ``FAILED``.
        state: the final state.
        outcome: the failure reason (None on success).
        error: the ``Fail`` state's error name.
        data: the saga's final working data (``signals``...).
        completed, compensated: steps completed with a compensation / compensated (the cancel route needs them).
    """

    status: str
    state: str
    outcome: str | None
    error: str | None
    data: Mapping[str, Any]
    completed: tuple[str, ...]
    compensated: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The instance's JSON output."""
        return {
            "status": self.status,
            "state": self.state,
            "outcome": self.outcome,
            "error": self.error,
            "data": dict(self.data),
            "completed": list(self.completed),
            "compensated": list(self.compensated),
        }

    @classmethod
    def from_json(cls, raw: Any) -> SagaOutcome:
        """Read an instance's output.

        Raises:
            MalformedSagaInput: not the shape :meth:`to_json` writes.
        """
        body = _loads(raw, "saga output")
        status, state = body.get("status"), body.get("state")
        if status not in ("SUCCEEDED", "FAILED") or not isinstance(state, str):
            raise MalformedSagaInput("saga output needs 'status' SUCCEEDED or FAILED and a 'state'")
        outcome, error = body.get("outcome"), body.get("error")
        return cls(
            status=str(status),
            state=state,
            outcome=outcome if isinstance(outcome, str) else None,
            error=error if isinstance(error, str) else None,
            data=_loads(body.get("data") or {}, "saga output 'data'"),
            completed=tuple(_str_list(body.get("completed"), "saga output 'completed'")),
            compensated=tuple(_str_list(body.get("compensated"), "saga output 'compensated'")),
        )


@dataclass(slots=True)
class _Run:
    """An instance's state while the orchestrator replays it (rebuilt from the input on every replay)."""

    saga_id: str
    definition: SagaDefinition
    current: str
    data: dict[str, Any]
    completed: list[str]
    compensated: list[str]
    outcome: str | None
    timeout_s: float

    def step(self, state: str, action: str, attempt: int) -> StepInput:
        return StepInput(
            self.saga_id, state, action, self.data, self.outcome, attempt, self.definition.key, self.timeout_s
        )

    def publish(self, context: Any, phase: Phase, events: Iterable[str] = ()) -> None:
        context.set_custom_status(
            {
                "state": self.current,
                "phase": phase.value,
                "events": list(events),
                "signals": list(self.data.get("signals", [])),
                "outcome": self.outcome,
                "waited": self.data.get("waited", False) is True,
            }
        )

    def complete(self, task: Task, result: StepResult) -> None:
        self.data.update(result.output)
        if task.compensation and task.name not in self.completed:
            self.completed.append(task.name)

    def route(self, routes: Iterable[Catch], result: StepResult, step: str) -> None:
        for route in routes:
            if result.matches(route.errors):
                self.outcome = route.outcome
                self.current = route.next
                self.data["error"] = {"step": step, "code": result.code or result.error, "detail": result.detail}
                return
        raise SagaStepFailed(step, result)

    def finish(self, status: str, error: str | None = None) -> dict[str, Any]:
        return SagaOutcome(
            status, self.current, self.outcome, error, self.data, tuple(self.completed), tuple(self.compensated)
        ).to_json()


_Orchestration = Generator[Any, Any, Any]


def _attempts(
    context: Any, run: _Run, state: str, action: str, policies: tuple[Retry, ...], publish: bool = True
) -> Generator[Any, Any, StepResult]:
    """Run ``action``'s activity until it succeeds, fails with an error no policy retries, or a policy runs out
    (one counter per policy; the first policy matching an error decides, as in the runner)."""
    counters: dict[int, int] = {}
    while True:
        if publish:
            run.publish(context, Phase.RUNNING)
        attempt = 1 + sum(counters.values())
        raw = yield context.call_activity(
            activity_name(action), run.step(state, action, attempt).to_json(), expected_type=dict
        )
        result = StepResult.from_json(raw)
        if result.ok:
            return result
        index = next((i for i, p in enumerate(policies) if result.matches(p.errors)), None)
        if index is None:
            return result
        done = counters.get(index, 0)
        if done >= policies[index].max_attempts:
            return result
        counters[index] = done + 1
        delay = policies[index].delay_for(done + 1)
        if not context.is_replaying:
            log.info("saga %s: %s failed with %s; retry %d in %gs", run.saga_id, state, result.error, done + 1, delay)
        if publish:
            run.publish(context, Phase.RETRY_WAIT)
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=delay))


def _parallel(context: Any, run: _Run, block: Parallel) -> _Orchestration:
    run.publish(context, Phase.RUNNING)
    children = [
        context.call_sub_orchestrator(
            STEP_ORCHESTRATOR,
            run.step(branch.name, branch.action, 1).to_json(),
            f"{context.instance_id}:{block.name}:{branch.name}",
            expected_type=dict,
        )
        for branch in block.branches
    ]
    raw_results = yield context.task_all(children)
    failed: tuple[Task, StepResult] | None = None
    for branch, raw in zip(block.branches, raw_results, strict=True):
        result = StepResult.from_json(raw)
        if result.ok:
            run.complete(branch, result)
        elif failed is None:
            failed = (branch, result)
    if failed is not None:
        branch, result = failed
        run.route(branch.catch + block.catch, result, branch.name)
    else:
        run.current = block.next


def _wait(context: Any, run: _Run, wait: WaitForEvent) -> _Orchestration:
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=wait.timeout_seconds))
    events = {name: context.wait_for_external_event(name) for name in wait.events}
    run.publish(context, Phase.WAITING, wait.events)
    winner = yield context.task_any([*events.values(), timer])
    run.data["waited"] = True
    name = next((n for n, task in events.items() if task is winner), None)
    if name is None:
        run.outcome = wait.timeout_outcome
        run.current = wait.on_timeout
        return
    if not timer.is_completed:
        timer.cancel()
    run.data["signals"] = [*run.data.get("signals", []), name]
    detail = winner.result  # the event's data; the extension hands back the JSON text the client posted, as a string
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            detail = {"value": detail}
    if detail:
        run.data.setdefault("signalDetail", {})[name] = detail
    run.current = wait.events[name]
    if name in wait.event_outcomes:
        run.outcome = wait.event_outcomes[name]


def _compensate(context: Any, run: _Run, node: Compensate) -> _Orchestration:
    run.data["waited"] = True
    for step in reversed(list(run.completed)):
        if step in run.compensated:
            continue
        task = run.definition.task(step)
        assert task.compensation is not None
        key = f"compensate:{step}"
        result = yield from _attempts(context, run, key, task.compensation, node.retry)
        if not result.ok:
            raise SagaStepFailed(key, result)
        run.compensated.append(step)
    run.current = node.next


def interpret(context: Any, run: _Run) -> _Orchestration:
    """Run ``run`` from its current state to a ``Succeed`` or ``Fail`` state (see the module docstring).

    Returns:
        The :class:`SagaOutcome` as JSON.

    Raises:
        SagaStepFailed: an error no route catches, or a compensation that failed after its retries.
    """
    while True:
        node = run.definition.states[run.current]
        if isinstance(node, Task):
            result = yield from _attempts(context, run, node.name, node.action, node.retry)
            if result.ok:
                run.complete(node, result)
                assert node.next is not None, f"task {node.name} has no next state"
                run.current = node.next
            else:
                run.route(node.catch, result, node.name)
        elif isinstance(node, Parallel):
            yield from _parallel(context, run, node)
        elif isinstance(node, WaitForEvent):
            yield from _wait(context, run, node)
        elif isinstance(node, Compensate):
            yield from _compensate(context, run, node)
        elif isinstance(node, Succeed):
            return run.finish("SUCCEEDED")
        else:
            assert isinstance(node, Fail)
            if run.outcome is None:
                run.outcome = node.error
            return run.finish("FAILED", node.error)


def orchestrate_saga(context: Any) -> _Orchestration:
    """The body of the :data:`ORCHESTRATOR` function: the instance's input (:class:`SagaInput`) interpreted.

    Raises:
        MalformedSagaInput: the input is not a :class:`SagaInput`, or names another definition.
        SagaStepFailed: see :func:`interpret`.
    """
    saga = SagaInput.from_json(context.get_input(expected_type=dict))
    definition = definition_for(saga.definition, saga.confirmation_timeout_s)
    start = saga.start or definition.start
    if start not in definition.states:
        raise MalformedSagaInput(f"saga input starts at {start!r}, not a state of {definition.key}")
    run = _Run(
        saga_id=saga.saga_id,
        definition=definition,
        current=start,
        data=dict(saga.data),
        completed=list(saga.completed),
        compensated=list(saga.compensated),
        outcome=saga.outcome,
        timeout_s=saga.confirmation_timeout_s,
    )
    if not context.is_replaying:
        log.info("saga %s: orchestration %s starts at %s", saga.saga_id, context.instance_id, start)
    return (yield from interpret(context, run))


def orchestrate_step(context: Any) -> _Orchestration:
    """The body of the :data:`STEP_ORCHESTRATOR` function: one branch of a ``Parallel`` state, its task run with its
    own retry policies; returns the final :class:`StepResult` as JSON (a failure is the parent's to route).

    Raises:
        MalformedSagaInput: the input is not a :class:`StepInput` of a branch task.
    """
    step = StepInput.from_json(context.get_input(expected_type=dict))
    definition = definition_for(step.definition, step.confirmation_timeout_s)
    try:
        task = definition.task(step.state)
    except KeyError:
        raise MalformedSagaInput(f"{step.state!r} is not a task of {definition.key}") from None
    run = _Run(step.saga_id, definition, step.state, dict(step.data), [], [], step.outcome, step.confirmation_timeout_s)
    result = yield from _attempts(context, run, task.name, task.action, task.retry, publish=False)
    return result.to_json()
