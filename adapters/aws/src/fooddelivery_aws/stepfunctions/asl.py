"""Compile a core :class:`~fooddelivery.application.saga.definition.SagaDefinition` to Amazon States Language.

The workflow is never written by hand: :func:`compile_to_asl` walks the core's one definition (the same data the
in-process and queue-driven runners execute) and emits a Step Functions state machine. The mapping:

===================  ======================================================================================
core state           ASL
===================  ======================================================================================
``Task``             ``Task`` invoking the one task Lambda (``task_resource``) with
                     ``{"step": <action>, "state": <name>, "sagaId.$": "$.sagaId", "data.$": "$",
                     "attempt.$": "$$.State.RetryCount"}``; the output is stored at ``$.results.<State>``
                     (the input is kept). ``Retry`` and ``Catch`` as below.
``Retry``            ``Retry`` entry: ``ErrorEquals`` (expanded, below), ``IntervalSeconds`` (rounded up to a
                     whole second, at least 1), ``BackoffRate``, ``MaxAttempts`` (same meaning: retries after
                     the first attempt). Every Lambda task also retries the Lambda service's own transient
                     errors first (:data:`LAMBDA_SERVICE_RETRY`, as the reference workflow does).
``Catch``            ``Catch`` entry with ``ResultPath: "$.error"`` (the input is kept, ``{Error, Cause}`` is
                     added) going to a ``Pass`` state that sets ``$.outcome`` to the route's outcome, then to
                     the route's ``next``.
``Parallel``         ``Parallel`` with one branch per task; the branch outputs land at
                     ``$.branches.<Parallel>.<Branch>``. Branch catch routes are hoisted onto the Parallel
                     state (ASL branches cannot leave their branch), ahead of the block's own routes.
``WaitForEvent``     ``Task`` on ``arn:aws:states:::lambda:invoke.waitForTaskToken`` that hands
                     ``$$.Task.Token`` to the task Lambda (step :data:`AWAIT_EVENT_STEP`), with
                     ``TimeoutSeconds`` = ``timeout_seconds`` and ``Catch States.Timeout`` -> the timeout
                     route; the callback's output (``{"name": <event>, "detail": {...}}``, at ``$.event``)
                     is routed by a ``Choice`` on ``$.event.name``.
``Compensate``       for every task that declares a compensation, newest first (reverse definition order):
                     a ``Choice`` that checks the step's output is present (the step completed), then a
                     ``Task`` running the compensation action with the Compensate state's retries; then
                     ``next``. The first guard carries the Compensate state's own name.
``Succeed``/``Fail`` ``Succeed`` / ``Fail`` (``Error``, ``Cause``).
===================  ======================================================================================

Error names. The core matches a ``Retry``/``Catch`` error name against the raised error's class **and its base
classes** (``"PaymentError"`` matches ``PaymentDeclined``); ASL matches the error name exactly (for a Lambda
task, the error name is the ``errorType`` the runtime reports: the exception class's ``__name__``). So every
name that is a class of :mod:`fooddelivery.domain.errors` is expanded to that class plus every class there that
subclasses it (``"ValidationError"`` -> ``ValidationError``, ``CurrencyMismatch``, ``PriceChanged``). Other
names (``States.ALL``, ``States.Timeout``, ``Lambda.ServiceException``) are kept as they are. The task handler
(:mod:`fooddelivery_aws.stepfunctions.task_handler`) raises only these class names.

Data layout of an execution: input ``{"sagaId": <order id>, ...}``; ``$.results.<State>`` holds the output of
each completed task (compensations included), ``$.branches.<Parallel>.<Branch>`` that of each completed
branch; ``$.outcome`` the failure reason; ``$.error`` the last caught error; ``$.event`` the callback output.
ASL cannot merge a result into the root of the data (``ResultPath`` replaces the node it names), so outputs are
kept by state; the task handler merges them back into the flat ``ctx.data`` the core's actions expect.

Running it: as a **Standard** workflow (Express workflows support neither ``.waitForTaskToken`` nor runs longer
than 5 minutes), one execution per order, named after the order id and started with ``{"sagaId": <order id>}``
(StartExecution is idempotent for the same name and input). A confirmed order enters 10 states, i.e. 10 billed
state transitions; each retry adds one. A step that fails with an error no route catches fails the execution,
which can be redriven from that step once the cause is fixed (nothing is swallowed).

Sources (ASL semantics relied on):
    - Retry/Catch fields, ``States.ALL`` alone and last, exact error-name matching, Catch ``ResultPath``:
      https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
    - ``Parameters`` with ``.$`` keys and the context object (``$$.Task.Token``, ``$$.State.RetryCount``):
      https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html
    - ``ResultPath`` keeps the input and adds the result:
      https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultpath.html
    - Parallel output is an array of branch outputs; ``ResultSelector``:
      https://docs.aws.amazon.com/step-functions/latest/dg/state-parallel.html
    - Wait for a callback with a task token, ``TimeoutSeconds`` -> ``States.Timeout``:
      https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token
    - Choice ``IsPresent``/``StringEquals``: https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html
    - Lambda's own transient errors to retry:
      https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
    - Python Lambda ``errorType`` is the exception class name:
      https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html
    - Standard vs Express (no callback pattern in Express):
      https://docs.aws.amazon.com/step-functions/latest/dg/choosing-workflow-type.html
    - StartExecution idempotency: https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
    - billing per state transition, retries included: https://aws.amazon.com/step-functions/pricing/
    - redrive: https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html
"""

from __future__ import annotations

import inspect
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

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
)
from fooddelivery.domain import errors as domain_errors

__all__ = [
    "AWAIT_EVENT_STEP",
    "CALLBACK_RESOURCE",
    "LAMBDA_SERVICE_RETRY",
    "ORDER_SAGA_STATE_NAMES",
    "AslCompileError",
    "compile_to_asl",
    "domain_error_classes",
    "expand_error_names",
]

#: The step name the callback task sends to the task Lambda, with the task token.
AWAIT_EVENT_STEP: Final[str] = "await_event"
#: Lambda invoked with the callback (task token) pattern.
CALLBACK_RESOURCE: Final[str] = "arn:aws:states:::lambda:invoke.waitForTaskToken"
#: Retry of the Lambda service's transient errors, as the reference workflow retries them (2 s, x2, 6 retries).
LAMBDA_SERVICE_RETRY: Final[dict[str, Any]] = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ],
    "IntervalSeconds": 2,
    "MaxAttempts": 6,
    "BackoffRate": 2.0,
}

#: Generated state name -> its name in the reference design's Step Functions workflow (Part 3), for the order saga.
#: States the core and the reference share keep the reference's names unchanged and need no entry
#: (ValidateOrder, ProcessPayment, ParallelProcessing, NotifyRestaurant, AssignDriver, NotifyCustomer,
#: WaitForRestaurantConfirmation, OrderFailed). The reference's ``PaymentSuccessful?`` Choice has no counterpart:
#: our payment task raises ``PaymentDeclined`` instead of returning a status to test.
ORDER_SAGA_STATE_NAMES: Final[Mapping[str, str]] = {
    # the Choice on the callback's output plays the reference's Choice after its blind Wait
    "RouteWaitForRestaurantConfirmation": "CheckRestaurantConfirmation",
    # the Pass recording the timeout outcome: entered exactly when the restaurant did not confirm in time
    "RecordRestaurantTimeout": "RestaurantTimeout",
    # compensations of the main failure path
    "CompensateRefundPayment": "RefundPayment",
    "CompensateReleaseDriver": "ReleaseDriver",
    # the core's Succeed state
    "OrderConfirmed": "OrderSuccessful",
}

_RESULTS = "$.results"
_BRANCHES = "$.branches"


class AslCompileError(ValueError):
    """The definition cannot be expressed in ASL as given (e.g. a name table that names no generated state)."""


def domain_error_classes() -> tuple[type[domain_errors.FoodDeliveryError], ...]:
    """The public error classes of :mod:`fooddelivery.domain.errors`, in ``__all__`` order."""
    found: list[type[domain_errors.FoodDeliveryError]] = []
    for name in domain_errors.__all__:
        obj = getattr(domain_errors, name)
        if inspect.isclass(obj) and issubclass(obj, domain_errors.FoodDeliveryError):
            found.append(obj)
    return tuple(found)


def expand_error_names(names: Iterable[str], classes: Iterable[type[BaseException]] | None = None) -> list[str]:
    """ASL ``ErrorEquals`` for core error names: each class name plus the names of its subclasses.

    Args:
        names: core error names (class names, or ASL names such as ``States.ALL``).
        classes: the error classes to expand over; defaults to :func:`domain_error_classes`.

    Returns:
        Names without duplicates, each requested name first then its subclasses in ``classes`` order;
        ``["States.ALL"]`` alone when ``States.ALL`` is among ``names`` (ASL requires it alone).
    """
    wanted = list(names)
    if ALL_ERRORS in wanted:
        return [ALL_ERRORS]
    pool = tuple(domain_error_classes() if classes is None else classes)
    by_name = {c.__name__: c for c in pool}
    out: list[str] = []
    for name in wanted:
        expanded = [name]
        base = by_name.get(name)
        if base is not None:
            expanded += [c.__name__ for c in pool if c is not base and issubclass(c, base)]
        out += [n for n in expanded if n not in out]
    return out


def _pascal(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in text.replace("-", "_").split("_") if part)


def _retry(policy: Retry, classes: tuple[type[BaseException], ...]) -> dict[str, Any]:
    return {
        "ErrorEquals": expand_error_names(policy.errors, classes),
        "IntervalSeconds": max(1, math.ceil(policy.interval_seconds)),
        "MaxAttempts": int(policy.max_attempts),
        "BackoffRate": float(policy.backoff_rate),
    }


@dataclass(frozen=True, slots=True)
class _CompStep:
    """A task that declares a compensation, with the JSONPath of its recorded output."""

    task: Task
    result_path: str


class _Compiler:
    def __init__(
        self,
        definition: SagaDefinition,
        resource_for: Callable[[str], str],
        names: Mapping[str, str],
        classes: tuple[type[BaseException], ...],
        lambda_service_retry: bool,
    ) -> None:
        self.definition = definition
        self.resource_for = resource_for
        self.names = dict(names)
        self.used_names: set[str] = set()
        self.classes = classes
        self.lambda_service_retry = lambda_service_retry
        self.states: dict[str, dict[str, Any]] = {}
        self.groups: list[list[str]] = []
        self.pending: deque[str] = deque()
        self.queued: set[str] = set()
        self.records: dict[tuple[str, str], str] = {}
        self.comp_steps = self._compensable_steps()

    # -- names ------------------------------------------------------------------------------------------------
    def name(self, generated: str) -> str:
        """The ASL name of a generated state name (after the name table)."""
        self.used_names.add(generated)
        return self.names.get(generated, generated)

    def target(self, core_state: str) -> str:
        """Queue a core state for compilation and return its ASL name."""
        if core_state not in self.queued:
            self.queued.add(core_state)
            self.pending.append(core_state)
        return self.name(core_state)

    def _add(self, name: str, body: dict[str, Any]) -> None:
        if name in self.states:
            raise AslCompileError(f"two generated states are both named {name!r}; fix the name table")
        self.states[name] = body
        self.groups[-1].append(name)

    # -- pieces -----------------------------------------------------------------------------------------------
    def _compensable_steps(self) -> list[_CompStep]:
        steps: list[_CompStep] = []
        for state in self.definition.states.values():
            if isinstance(state, Task) and state.compensation:
                steps.append(_CompStep(state, f"{_RESULTS}.{self.name(state.name)}"))
            elif isinstance(state, Parallel):
                for branch in state.branches:
                    if branch.compensation:
                        path = f"{_BRANCHES}.{self.name(state.name)}.{self.name(branch.name)}"
                        steps.append(_CompStep(branch, path))
        return steps

    def retries(self, policies: Iterable[Retry]) -> list[dict[str, Any]]:
        out = [dict(LAMBDA_SERVICE_RETRY)] if self.lambda_service_retry else []
        out += [_retry(p, self.classes) for p in policies]
        return out

    def record(self, outcome: str, next_state: str) -> str:
        """The ``Pass`` state that sets ``$.outcome`` then goes to ``next_state``; returns its ASL name."""
        key = (outcome, next_state)
        if key not in self.records:
            same_outcome = [k for k in self.records if k[0] == outcome]
            generated = f"Record{_pascal(outcome)}" + (f"To{next_state}" if same_outcome else "")
            name = self.name(generated)
            self.records[key] = name
            self._add(
                name,
                {
                    "Type": "Pass",
                    "Comment": f"Record the outcome {outcome!r}.",
                    "Result": outcome,
                    "ResultPath": "$.outcome",
                    "Next": self.target(next_state),
                },
            )
        return self.records[key]

    def catches(self, routes: Iterable[Catch]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for route in routes:
            out.append(
                {
                    "ErrorEquals": expand_error_names(route.errors, self.classes),
                    "ResultPath": "$.error",
                    "Next": self.record(route.outcome, route.next),
                }
            )
        # ASL: a catcher naming States.ALL must be the last one.
        out.sort(key=lambda c: c["ErrorEquals"] == [ALL_ERRORS])
        return out

    def task_body(
        self, task: Task, action: str, state_name: str, result_path: str | None, comment: str = ""
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"Type": "Task"}
        if comment or task.description:
            body["Comment"] = comment or task.description
        body["Resource"] = self.resource_for(action)
        body["Parameters"] = {
            "step": action,
            "state": state_name,
            "sagaId.$": "$.sagaId",
            "data.$": "$",
            "attempt.$": "$$.State.RetryCount",
        }
        if result_path is not None:
            body["ResultPath"] = result_path
        retries = self.retries(task.retry)
        if retries:
            body["Retry"] = retries
        return body

    # -- states -----------------------------------------------------------------------------------------------
    def compile_state(self, state: State) -> None:
        """Compile one core state into its ASL state(s); helpers (outcome records) follow their owner."""
        self.groups.append([])
        self._compile_state(state)
        owner = self.name(state.name)
        group = self.groups[-1]
        if owner in group:
            group.remove(owner)
            group.insert(0, owner)

    def _compile_state(self, state: State) -> None:
        if isinstance(state, Task):
            self.compile_task(state)
        elif isinstance(state, Parallel):
            self.compile_parallel(state)
        elif isinstance(state, WaitForEvent):
            self.compile_wait(state)
        elif isinstance(state, Compensate):
            self.compile_compensate(state)
        elif isinstance(state, Succeed):
            self._add(self.name(state.name), {"Type": "Succeed"})
        elif isinstance(state, Fail):
            body: dict[str, Any] = {"Type": "Fail", "Error": state.error}
            if state.cause:
                body["Cause"] = state.cause
            self._add(self.name(state.name), body)
        else:  # pragma: no cover - State is a closed union
            raise AslCompileError(f"unsupported state {state!r}")

    def compile_task(self, task: Task) -> None:
        name = self.name(task.name)
        if task.next is None:
            raise AslCompileError(f"task {task.name} has no next state")
        body = self.task_body(task, task.action, task.name, f"{_RESULTS}.{name}")
        catches = self.catches(task.catch)
        if catches:
            body["Catch"] = catches
        body["Next"] = self.target(task.next)
        self._add(name, body)

    def compile_parallel(self, block: Parallel) -> None:
        name = self.name(block.name)
        branches: list[dict[str, Any]] = []
        selector: dict[str, str] = {}
        for i, branch in enumerate(block.branches):
            branch_name = self.name(branch.name)
            branch_body = self.task_body(branch, branch.action, branch.name, None)
            branch_body["End"] = True
            branches.append({"StartAt": branch_name, "States": {branch_name: branch_body}})
            selector[f"{branch_name}.$"] = f"$[{i}]"
        body: dict[str, Any] = {
            "Type": "Parallel",
            "Branches": branches,
            "ResultSelector": selector,
            "ResultPath": f"{_BRANCHES}.{name}",
        }
        routes = [c for b in block.branches for c in b.catch] + list(block.catch)
        catches = self.catches(routes)
        if catches:
            body["Catch"] = catches
        body["Next"] = self.target(block.next)
        self._add(name, body)

    def compile_wait(self, wait: WaitForEvent) -> None:
        name = self.name(wait.name)
        route_name = self.name(f"Route{wait.name}")
        body: dict[str, Any] = {
            "Type": "Task",
            "Comment": (
                f"Hand the task token to the task Lambda and wait for one of {sorted(wait.events)} "
                f"(sent with SendTaskSuccess) for at most {wait.timeout_seconds:g} s."
            ),
            "Resource": CALLBACK_RESOURCE,
            "Parameters": {
                "FunctionName": self.resource_for(AWAIT_EVENT_STEP),
                "Payload": {
                    "step": AWAIT_EVENT_STEP,
                    "state": wait.name,
                    "sagaId.$": "$.sagaId",
                    "events": list(wait.events),
                    "taskToken.$": "$$.Task.Token",
                },
            },
            "TimeoutSeconds": max(1, math.ceil(wait.timeout_seconds)),
            "ResultPath": "$.event",
        }
        if self.lambda_service_retry:
            body["Retry"] = [dict(LAMBDA_SERVICE_RETRY)]
        body["Catch"] = [
            {
                "ErrorEquals": ["States.Timeout"],
                "ResultPath": "$.error",
                "Next": self.record(wait.timeout_outcome, wait.on_timeout),
            }
        ]
        body["Next"] = route_name
        self._add(name, body)
        choices: list[dict[str, Any]] = []
        for event, next_state in wait.events.items():
            outcome = wait.event_outcomes.get(event)
            goto = self.record(outcome, next_state) if outcome else self.target(next_state)
            choices.append({"Variable": "$.event.name", "StringEquals": event, "Next": goto})
        # No Default: an event name outside the list fails the execution (States.NoChoiceMatched) rather than
        # being routed anywhere; the signaller only sends listed events.
        self._add(route_name, {"Type": "Choice", "Choices": choices})

    def compile_compensate(self, node: Compensate) -> None:
        steps = list(reversed(self.comp_steps))
        after = self.target(node.next)
        if not steps:
            self._add(self.name(node.name), {"Type": "Pass", "Next": after})
            return
        guard_names = [
            self.name(node.name) if i == 0 else self.name(f"{node.name}Check{s.task.name}") for i, s in enumerate(steps)
        ]
        for i, step in enumerate(steps):
            assert step.task.compensation is not None
            following = guard_names[i + 1] if i + 1 < len(steps) else after
            comp_name = self.name(f"{node.name}{_pascal(step.task.compensation)}")
            self._add(
                guard_names[i],
                {
                    "Type": "Choice",
                    "Comment": f"Undo {step.task.name} only if it completed.",
                    "Choices": [{"Variable": step.result_path, "IsPresent": True, "Next": comp_name}],
                    "Default": following,
                },
            )
            body = self.task_body(
                replace(step.task, retry=node.retry),
                step.task.compensation,
                f"compensate:{step.task.name}",
                f"{_RESULTS}.{comp_name}",
                comment=f"Compensate {step.task.name}: {step.task.compensation}.",
            )
            body["Next"] = following
            self._add(comp_name, body)

    def run(self, start: str) -> str:
        start_name = self.target(start)
        while self.pending:
            self.compile_state(self.definition.states[self.pending.popleft()])
        self.states = {name: self.states[name] for group in self.groups for name in group}
        return start_name

    def check_names(self) -> None:
        """Every name-table key must name a generated state (a typo would silently keep a default name)."""
        unknown = sorted(set(self.names) - self.used_names)
        if unknown:
            raise AslCompileError(f"the name table names states that were not generated: {unknown}")


def compile_to_asl(
    definition: SagaDefinition,
    *,
    task_resource: str | Callable[[str], str],
    state_names: Mapping[str, str] | None = None,
    start_at: str | None = None,
    comment: str | None = None,
    lambda_service_retry: bool = True,
    error_classes: Iterable[type[BaseException]] | None = None,
) -> dict[str, Any]:
    """Generate the Amazon States Language definition of ``definition`` (see the module docstring).

    Only states reachable from the start are emitted (Step Functions rejects unreachable states).

    Args:
        definition: the saga, as the core defines it.
        task_resource: the task Lambda's ARN (or a ``${Placeholder}`` for SAM ``DefinitionSubstitutions``) for
            every step, or a function from the action name (or :data:`AWAIT_EVENT_STEP`) to an ARN.
        state_names: generated name -> ASL name (e.g. :data:`ORDER_SAGA_STATE_NAMES`); every key must name a
            generated state.
        start_at: the core state to start at (default: the definition's start). Used to build the machine for
            ``cancel_route`` (``"CompensateCancelled"``), started with the finished execution's output.
        comment: the machine's ``Comment``.
        lambda_service_retry: add :data:`LAMBDA_SERVICE_RETRY` before each Lambda task's own retries.
        error_classes: classes error names are expanded over (default: :func:`domain_error_classes`).

    Returns:
        The ASL document as a JSON-ready dict (key order is stable, so its JSON text is reproducible).

    Raises:
        AslCompileError: a name collision, a name-table entry that names no generated state, or a task with
            no next state.
        KeyError: ``start_at`` is not a state of the definition.
    """
    resource_for: Callable[[str], str] = (
        (lambda _action: task_resource) if isinstance(task_resource, str) else task_resource
    )
    classes = tuple(domain_error_classes() if error_classes is None else error_classes)
    start = start_at or definition.start
    if start not in definition.states:
        raise KeyError(start)

    def new_compiler() -> _Compiler:
        return _Compiler(definition, resource_for, state_names or {}, classes, lambda_service_retry)

    if start != definition.start:
        # The name table is checked against the whole machine, not just the part reachable from ``start``.
        whole = new_compiler()
        whole.run(definition.start)
        whole.check_names()
        compiler = new_compiler()
    else:
        compiler = whole = new_compiler()
    start_name = compiler.run(start)
    whole.check_names()
    return {
        "Comment": comment or f"Saga {definition.key}, generated from its definition by fooddelivery_aws.",
        "StartAt": start_name,
        "States": compiler.states,
    }
