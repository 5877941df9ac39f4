"""Compile the core's one saga definition (:mod:`fooddelivery.application.saga.definition`) to a Google Cloud
Workflows definition. The workflow is never written by hand: :func:`compile_workflow` walks the same data the
in-process runner executes.

Every step calls the ``saga_step`` function (``http.post`` with an OIDC token, at ``sys.get_env("STEP_URL")``),
which runs the core's action and answers ``{"ok": true, "output": {...}}`` or ``{"ok": false, "error": <class>,
"errors": [<class and its core base classes>], "detail": ...}``; the workflow raises the latter as its error. The
mapping:

===================  ======================================================================================
core state           Cloud Workflows
===================  ======================================================================================
``Task``             a ``try`` step around the call (and a ``switch`` that raises ``ok: false`` answers), one
                     nested ``try`` + ``retry`` per retry policy (innermost = the first policy, so the first
                     matching policy wins), an ``except`` that keeps the error in ``failure``; then a ``switch``
                     over the catch routes in order (``"<Name>" in failure.errors``; ``States.ALL`` matches
                     everything), each going through an ``assign`` of ``outcome`` to its target. An error no
                     route catches is raised again: the execution fails, nothing is swallowed. A task that
                     declares a compensation appends its name to ``completed`` once it succeeded.
``Retry``            ``retry`` with a ``predicate`` subworkflow (the policy's error names against
                     ``e.errors``; an error without ``errors`` -- the platform's own HTTP or connection error --
                     counts as ``InfrastructureError``), ``max_retries`` (retries after the first attempt, as in
                     the core), ``backoff`` ``initial_delay`` / ``multiplier`` / ``max_delay`` (the last
                     retry's delay).
``Parallel``         a ``parallel`` step, one branch per task, sharing ``completed``, ``branch_failed`` and
                     ``branch_failure``; a branch that fails after its retries records its error instead of
                     raising, and after the block the failure is routed by the branches' then the block's
                     catch routes.
``WaitForEvent``     **callback** mode: ``events.create_callback_endpoint``, the URL registered through the step
                     function (the ``WorkflowsEngine`` posts the event there), ``events.await_callback`` with the
                     timeout; ``TimeoutError`` goes to the timeout route. **polling** mode (for
                     ``workflows-emulator``, which lacks the ``events.*`` functions): the wait is registered with
                     its deadline, then the step function is asked every ``poll_interval_s`` whether an event
                     arrived or the deadline passed (decided in Firestore, so a late event and the timeout cannot
                     both win). Either way a ``switch`` routes on the event's name.
``Compensate``       for every task that declares a compensation, newest first: a ``switch`` on ``completed``,
                     then the compensation call with the Compensate state's retries.
``Succeed``/``Fail`` the step function records the end (``__finish__``); ``Succeed`` returns, ``Fail`` raises
                     ``{error, cause, outcome}`` (the execution ends FAILED).
===================  ======================================================================================

Each task's and compensation's call sends its attempt number (``attempt``: 1, then 2 for the first retry...),
counted in a workflow variable ``attempt_<step>`` (set to 0 before the step's ``try``, incremented in the retried
steps): the step function gives it to the core's action as ``StepContext.attempt``, which the step's telemetry
reports (its span's attempt, the saga step retries metric).

Known difference from the core's runner: a nested ``try`` restarts the inner policies' counters when an outer
policy retries (the core keeps one counter per policy for the whole step). With the order saga's policies
(payment errors and infrastructure errors never alternate in practice) the number of attempts is the same.

Sources (Cloud Workflows syntax): try/retry/except and predicates
https://cloud.google.com/workflows/docs/reference/syntax/catching-errors and
https://cloud.google.com/workflows/docs/reference/syntax/retrying; parallel steps and shared variables
https://cloud.google.com/workflows/docs/reference/syntax/parallel-steps; callbacks
https://cloud.google.com/workflows/docs/creating-callback-endpoints; ``http.post`` with ``auth: {type: OIDC}``
https://cloud.google.com/workflows/docs/authenticate-from-workflow.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml

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

__all__ = [
    "AWAIT_STEP",
    "FINISH_STEP",
    "POLL_STEP",
    "TIMEOUT_EVENT",
    "WorkflowCompileError",
    "compile_workflow",
    "workflow_yaml",
]

#: The step function's bookkeeping steps.
AWAIT_STEP: Final[str] = "__await__"
POLL_STEP: Final[str] = "__poll__"
FINISH_STEP: Final[str] = "__finish__"
#: The name the poll answers when the deadline passed.
TIMEOUT_EVENT: Final[str] = "__timeout__"
_INFRA: Final[str] = "InfrastructureError"


class WorkflowCompileError(ValueError):
    """The definition cannot be expressed as given (a task without a next state)."""


def _q(text: str) -> str:
    """A Workflows string literal (double quotes; the names compiled here never hold quotes or backslashes)."""
    if '"' in text or "\\" in text:
        raise WorkflowCompileError(f"a name with quotes cannot be compiled: {text!r}")
    return f'"{text}"'


def _any_error(names: Iterable[str], var: str) -> str:
    return " or ".join(f"{_q(n)} in {var}.errors" for n in names)


@dataclass
class _Compiler:
    definition: SagaDefinition
    mode: str
    poll_interval_s: int
    auth: bool
    steps: list[dict[str, Any]]
    subworkflows: dict[str, Any]
    records: dict[tuple[str, str], str]
    emitted: set[str]

    # -- building blocks --------------------------------------------------------------------------------------
    def call(self, state: str, step: str, result: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"sagaId": "${saga_id}", "step": step, "state": state, "outcome": "${outcome}"}
        body.update(extra or {})
        args: dict[str, Any] = {"url": "${step_url}", "body": body, "timeout": 300}
        if self.auth:
            args["auth"] = {"type": "OIDC"}
        return {"call": "http.post", "args": args, "result": result}

    def checked_call(
        self, name: str, state: str, step: str, result: str, extra: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return [
            {f"{name}_call": self.call(state, step, result, extra)},
            {
                f"{name}_check": {
                    "switch": [{"condition": f"${{not {result}.body.ok}}", "raise": f"${{{result}.body}}"}]
                }
            },
        ]

    def predicate(self, policy: Retry) -> str:
        names = tuple(policy.errors)
        key = "retry_" + "_".join(n.replace(".", "_") for n in names)
        if key not in self.subworkflows:
            matches_all = ALL_ERRORS in names
            known = "${1 == 1}" if matches_all else f"${{{_any_error(names, 'e')}}}"
            self.subworkflows[key] = {
                "params": ["e"],
                "steps": [
                    {"known": {"switch": [{"condition": '${"errors" in e}', "return": known}]}},
                    {"platform": {"return": matches_all or _INFRA in names}},
                ],
            }
        return key

    def retried(self, name: str, inner_steps: list[dict[str, Any]], retries: Sequence[Retry]) -> dict[str, Any]:
        """``inner_steps`` wrapped in one ``try`` + ``retry`` per policy (the first policy innermost)."""
        block: dict[str, Any] = {"steps": inner_steps}
        for i, policy in enumerate(retries):
            delays = [policy.delay_for(n) for n in range(1, max(1, policy.max_attempts) + 1)]
            rate = policy.backoff_rate
            block = {
                "steps": [
                    {
                        f"{name}_retry{i}": {
                            "try": block,
                            "retry": {
                                "predicate": f"${{{self.predicate(policy)}}}",
                                "max_retries": int(policy.max_attempts),
                                "backoff": {
                                    "initial_delay": max(1, math.ceil(policy.interval_seconds)),
                                    "max_delay": max(1, math.ceil(max(delays))),
                                    "multiplier": int(rate) if float(rate).is_integer() else rate,
                                },
                            },
                        }
                    }
                ]
            }
        return block

    def record(self, outcome: str, target: str) -> str:
        """The ``assign`` step that sets ``outcome`` then jumps to ``target``; returns its name."""
        key = (outcome, target)
        if key not in self.records:
            name = "Record_" + "".join(p.capitalize() for p in outcome.split("_")) + f"_{target}"
            self.records[key] = name
        return self.records[key]

    def routes(self, name: str, routes: Sequence[Catch], var: str) -> dict[str, Any]:
        """The ``switch`` routing the error in ``var`` by ``routes`` (unmatched: raised again)."""
        conditions = []
        for route in routes:
            if ALL_ERRORS in route.errors:
                condition = "${1 == 1}"
            else:
                condition = f'${{"errors" in {var} and ({_any_error(route.errors, var)})}}'
            conditions.append({"condition": condition, "next": self.record(route.outcome, route.next)})
        conditions.append({"condition": "${1 == 1}", "raise": f"${{{var}}}"})
        return {f"{name}_route": {"switch": conditions}}

    # -- states -----------------------------------------------------------------------------------------------
    def counted(
        self, name: str, state: str, action: str, retry: Sequence[Retry], last: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The ``try`` block of a step's call with its retries, counting attempts in ``attempt_<name>`` (0 before
        the block, + 1 inside the retried steps, which every retry runs again) and sending the count as the
        request's ``attempt`` (1 for the first), as the core's runner numbers ``StepContext.attempt``; ``last``:
        steps after the checked call, retried with it."""
        counter = f"attempt_{name}"
        inner = [{f"{name}_attempt": {"assign": [{counter: f"${{{counter} + 1}}"}]}}]
        inner += self.checked_call(name, state, action, f"r_{name}", {"attempt": f"${{{counter}}}"})
        inner += last or []
        retried = self.retried(name, inner, retry)
        return {"steps": [{f"{name}_first": {"assign": [{counter: 0}]}}, *retried["steps"]]}

    def task_try(
        self, task: Task, action: str, state: str, failure_steps: list[dict[str, Any]] | None
    ) -> dict[str, Any]:
        last: list[dict[str, Any]] = []
        if task.compensation:
            last.append(
                {f"{task.name}_completed": {"assign": [{"completed": f'${{list.concat(completed, "{task.name}")}}'}]}}
            )
        step: dict[str, Any] = {"try": self.counted(task.name, state, action, task.retry, last)}
        if failure_steps is not None:
            step["except"] = {"as": f"e_{task.name}", "steps": failure_steps}
        return step

    def emit_task(self, task: Task) -> None:
        if not task.next:
            raise WorkflowCompileError(f"task {task.name} has no next state")
        if task.catch:
            failure = [
                {f"{task.name}_failed": {"assign": [{"failure": f"${{e_{task.name}}}"}], "next": f"{task.name}_route"}}
            ]
            self.steps.append({task.name: self.task_try(task, task.action, task.name, failure)})
            self.steps.append({f"{task.name}_ok": {"next": task.next}})
            self.steps.append(self.routes(task.name, task.catch, "failure"))
        else:
            # (``next`` is never put on a ``try`` step: workflows-emulator ignores it there)
            self.steps.append({task.name: self.task_try(task, task.action, task.name, None)})
            self.steps.append({f"{task.name}_ok": {"next": task.next}})

    def emit_parallel(self, block: Parallel) -> None:
        self.steps.append({f"{block.name}_init": {"assign": [{"branch_failed": 0}, {"branch_failure": {}}]}})
        branches = []
        for branch in block.branches:
            failure = [
                {
                    f"{branch.name}_failed": {
                        "assign": [{"branch_failed": 1}, {"branch_failure": f"${{e_{branch.name}}}"}]
                    }
                }
            ]
            branches.append(
                {
                    branch.name: {
                        "steps": [{f"{branch.name}_try": self.task_try(branch, branch.action, branch.name, failure)}]
                    }
                }
            )
        self.steps.append(
            {
                f"{block.name}_run": {
                    "parallel": {"shared": ["completed", "branch_failed", "branch_failure"], "branches": branches}
                }
            }
        )
        routes = [c for b in block.branches for c in b.catch] + list(block.catch)
        self.steps.append(
            {
                f"{block.name}_check": {
                    "switch": [{"condition": "${branch_failed == 0}", "next": block.next}],
                    "next": f"{block.name}_failed",
                }
            }
        )
        self.steps.append({f"{block.name}_failed": {"assign": [{"failure": "${branch_failure}"}]}})
        self.steps.append(self.routes(block.name, routes, "failure"))

    def event_routes(self, wait: WaitForEvent, var: str) -> list[dict[str, Any]]:
        conditions = []
        for event, target in wait.events.items():
            outcome = wait.event_outcomes.get(event)
            conditions.append(
                {"condition": f"${{{var} == {_q(event)}}}", "next": self.record(outcome, target) if outcome else target}
            )
        return conditions

    def emit_wait(self, wait: WaitForEvent) -> None:
        events = list(wait.events)
        timeout = max(1, math.ceil(wait.timeout_seconds))
        timeout_step = self.record(wait.timeout_outcome, wait.on_timeout)
        if self.mode == "callback":
            self.steps.append(
                {
                    f"{wait.name}_endpoint": {
                        "call": "events.create_callback_endpoint",
                        "args": {"http_callback_method": "POST"},
                        "result": "callback",
                    }
                }
            )
            register = self.checked_call(
                f"{wait.name}_register",
                wait.name,
                AWAIT_STEP,
                f"r_{wait.name}_register",
                {"events": events, "timeoutSeconds": timeout, "callbackUrl": "${callback.url}"},
            )
            self.steps.extend(register)
            self.steps.append(
                {
                    f"{wait.name}_await": {
                        "try": {
                            "call": "events.await_callback",
                            "args": {"callback": "${callback}", "timeout": timeout},
                            "result": "callback_request",
                        },
                        "except": {
                            "as": f"e_{wait.name}",
                            "steps": [
                                {
                                    f"{wait.name}_timed_out": {
                                        "switch": [
                                            {
                                                "condition": f'${{"TimeoutError" in e_{wait.name}.tags}}',
                                                "next": timeout_step,
                                            }
                                        ]
                                    }
                                },
                                {f"{wait.name}_failed": {"raise": f"${{e_{wait.name}}}"}},
                            ],
                        },
                    }
                }
            )
            conditions = self.event_routes(wait, "callback_request.http_request.body.name")
            conditions.append({"condition": "${1 == 1}", "raise": "${callback_request.http_request.body}"})
            self.steps.append({f"{wait.name}_route": {"switch": conditions}})
            return
        register = self.checked_call(
            f"{wait.name}_register",
            wait.name,
            AWAIT_STEP,
            f"r_{wait.name}_register",
            {"events": events, "timeoutSeconds": timeout},
        )
        self.steps.extend(register)
        self.steps.extend(self.checked_call(wait.name, wait.name, POLL_STEP, "poll"))
        conditions = self.event_routes(wait, "poll.body.output.name")
        conditions.append({"condition": f"${{poll.body.output.name == {_q(TIMEOUT_EVENT)}}}", "next": timeout_step})
        self.steps.append({f"{wait.name}_route": {"switch": conditions}})
        self.steps.append(
            {
                f"{wait.name}_sleep": {
                    "call": "sys.sleep",
                    "args": {"seconds": self.poll_interval_s},
                    "next": f"{wait.name}_call",
                }
            }
        )

    def emit_compensate(self, node: Compensate) -> None:
        steps: list[Task] = []
        for state in self.definition.states.values():
            if isinstance(state, Task) and state.compensation:
                steps.append(state)
            elif isinstance(state, Parallel):
                steps.extend(b for b in state.branches if b.compensation)
        steps.reverse()
        names = [node.name if i == 0 else f"{node.name}_{t.name}" for i, t in enumerate(steps)]
        for i, task in enumerate(steps):
            following = names[i + 1] if i + 1 < len(steps) else node.next
            run = f"{node.name}_{task.name}_run"
            self.steps.append(
                {
                    names[i]: {
                        "switch": [{"condition": f"${{{_q(task.name)} in completed}}", "next": run}],
                        "next": following,
                    }
                }
            )
            comp = Task(f"{node.name}_{task.name}_undo", action=str(task.compensation), retry=node.retry)
            block = self.counted(comp.name, f"{node.name}:{task.name}", str(task.compensation), node.retry)
            self.steps.append({run: {"try": block}})
            self.steps.append({f"{run}_next": {"next": following}})
        if not steps:
            self.steps.append({node.name: {"next": node.next}})

    def emit_end(self, state: Succeed | Fail) -> None:
        status = "SUCCEEDED" if isinstance(state, Succeed) else "FAILED"
        self.steps.extend(self.checked_call(state.name, state.name, FINISH_STEP, f"r_{state.name}", {"status": status}))
        if isinstance(state, Succeed):
            self.steps.append({f"{state.name}_end": {"return": {"sagaId": "${saga_id}", "status": status}}})
        else:
            self.steps.append(
                {
                    f"{state.name}_end": {
                        "raise": {"error": state.error, "cause": state.cause, "outcome": "${outcome}"},
                    }
                }
            )

    def emit(self, state: State) -> None:
        """Emit ``state``'s steps; the first is named after the state (routes jump to it)."""
        start = len(self.steps)
        self._emit(state)
        first = next(iter(self.steps[start]))
        if first != state.name:
            self.steps.insert(start, {state.name: {"next": first}})

    def _emit(self, state: State) -> None:
        if isinstance(state, Task):
            self.emit_task(state)
        elif isinstance(state, Parallel):
            self.emit_parallel(state)
        elif isinstance(state, WaitForEvent):
            self.emit_wait(state)
        elif isinstance(state, Compensate):
            self.emit_compensate(state)
        else:
            self.emit_end(state)

    def outcome_steps(self) -> list[dict[str, Any]]:
        return [
            {name: {"assign": [{"outcome": outcome}], "next": target}}
            for (outcome, target), name in self.records.items()
        ]


def _step_names(steps: list[dict[str, Any]]) -> list[str]:
    """Every step name in a list of steps, at any depth (try blocks, except steps, branches, switch steps)."""
    names: list[str] = []
    for item in steps:
        for name, body in item.items():
            names.append(name)
            names.extend(_nested_names(body))
    return names


def _nested_names(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    names: list[str] = []
    if isinstance(body.get("steps"), list):
        names.extend(_step_names(body["steps"]))
    for key in ("try", "except"):
        if isinstance(body.get(key), dict):
            names.extend(_nested_names(body[key]))
    parallel = body.get("parallel")
    if isinstance(parallel, dict) and isinstance(parallel.get("branches"), list):
        names.extend(_step_names(parallel["branches"]))
    for condition in body.get("switch") or []:
        names.extend(_nested_names(condition))
    return names


def _reachable(definition: SagaDefinition) -> list[str]:
    order: list[str] = []
    pending = [definition.start]
    while pending:
        name = pending.pop(0)
        if name in order:
            continue
        order.append(name)
        state = definition.states[name]
        targets: list[str] = []
        if isinstance(state, Task):
            targets = [*([state.next] if state.next else []), *(c.next for c in state.catch)]
        elif isinstance(state, Parallel):
            targets = [state.next, *(c.next for b in state.branches for c in b.catch), *(c.next for c in state.catch)]
        elif isinstance(state, WaitForEvent):
            targets = [*state.events.values(), state.on_timeout]
        elif isinstance(state, Compensate):
            targets = [state.next]
        pending.extend(t for t in targets if t not in order)
    return order


def compile_workflow(
    definition: SagaDefinition, *, mode: str = "callback", poll_interval_s: int = 5, auth: bool = True
) -> dict[str, Any]:
    """The Cloud Workflows definition of ``definition`` (see the module docstring), as a JSON-ready mapping.

    Args:
        definition: the saga, as the core defines it.
        mode: ``"callback"`` (Workflows callbacks; the deployment's default) or ``"polling"`` (for
            ``workflows-emulator``, which has no ``events.*`` functions).
        poll_interval_s: seconds between two polls of a wait (polling mode).
        auth: call the step function with an OIDC token (``auth: {type: OIDC}``); False only for an emulator
            run, which cannot mint tokens (the test places a token-adding proxy in front of the function).

    Raises:
        WorkflowCompileError: an unknown mode, or a task without a next state.
    """
    if mode not in ("callback", "polling"):
        raise WorkflowCompileError(f"unknown wait mode {mode!r}: 'callback' or 'polling'")
    if poll_interval_s < 1:
        raise WorkflowCompileError("poll_interval_s must be at least 1")
    compiler = _Compiler(definition, mode, int(poll_interval_s), auth, [], {}, {}, set())
    compiler.steps.append(
        {
            "init": {
                "assign": [
                    {"saga_id": "${input.sagaId}"},
                    {"step_url": '${sys.get_env("STEP_URL")}'},
                    {"outcome": ""},
                    {"completed": []},
                    {"failure": {}},
                ]
            }
        }
    )
    for name in _reachable(definition):
        compiler.emit(definition.states[name])
    compiler.steps.extend(compiler.outcome_steps())
    names = _step_names(compiler.steps)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise WorkflowCompileError(f"step names generated twice: {duplicates}")
    workflow: dict[str, Any] = {"main": {"params": ["input"], "steps": compiler.steps}}
    workflow.update(compiler.subworkflows)
    return workflow


def workflow_yaml(workflow: Mapping[str, Any]) -> str:
    """The YAML text of a compiled workflow (stable key order; the file ``deploy/gcp`` deploys)."""
    header = "# Generated from the core's saga definition by fooddelivery_gcp.workflows.compile; do not edit.\n"
    return header + yaml.safe_dump(dict(workflow), sort_keys=False, allow_unicode=True, width=120)
