"""The in-process saga runner: executes a :class:`SagaDefinition` step by step over the ports.

State is persisted after every step (and at checkpoints inside a step), so a crash anywhere resumes with
:meth:`SagaRunner.resume` without repeating a side effect: actions are idempotent on stable keys derived from the
saga id and step name. Timers (retry back-offs and wait timeouts) go through the :class:`Scheduler` port and come
back through :meth:`SagaRunner.deliver`; the clock is injected (virtual time in tests and the simulation, real
time in a server). The same definition runs unchanged on queues in the cloud packages.

Metering (with a ``meter``): ``saga.start`` per instance created, ``saga.task`` per action attempt
(compensations included), ``saga.wait`` per wait entered, ``saga.signal`` per external event taken, and
``saga.transition``: the states a state-machine engine enters to run the instance along the same path, counted by
one rule that mirrors how a definition compiles to a workflow (``fooddelivery_aws.stepfunctions.asl``; a test of
that package checks the rule against the generated ASL executed in moto, path by path):

- entering a ``Task``, ``WaitForEvent``, ``Succeed`` or ``Fail``: 1;
- entering a ``Parallel``: 1 + one per branch (every branch starts at once);
- entering a ``Compensate``: one check per task of the definition that declares a compensation (at least 1), and
  then 1 per compensation attempt;
- each retry: 1 (a retried state is billed again);
- a failure route, a timeout or an event that records an outcome: 1 (the state recording it);
- an event answering a wait: 1 (the choice routing it).

That is exactly what Step Functions Standard bills per execution ("state transitions", retries included:
https://aws.amazon.com/step-functions/pricing/).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

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
    error_matches,
)
from fooddelivery.domain.errors import ConcurrencyConflict, FoodDeliveryError, InvalidTransition, LateEvent, NotFound
from fooddelivery.metering import Meter, NullMeter
from fooddelivery.metering.operations import SAGA_SIGNAL, SAGA_START, SAGA_TASK, SAGA_TRANSITION, SAGA_WAIT
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.saga_engine import SignalOutcome
from fooddelivery.ports.saga_store import SagaState, SagaStateStore, SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage, Scheduler

__all__ = [
    "TIMER_RETRY",
    "TIMER_TIMEOUT",
    "Action",
    "SagaRunner",
    "SignalOutcome",
    "StepContext",
]

#: ``ScheduledMessage.kind`` of a retry back-off timer.
TIMER_RETRY = "saga.retry"
#: ``ScheduledMessage.kind`` of a wait timeout.
TIMER_TIMEOUT = "saga.timeout"
_MAX_CONFLICT_RETRIES = 5


@dataclass(slots=True)
class StepContext:
    """What an action sees.

    Attributes:
        saga_id: the instance id (the order id).
        step: the running step's name.
        data: the saga's working data (read it; return new values instead of writing it).
        outcome: the recorded failure reason, if the saga is failing.
        attempt: 1 for the first attempt, 2 for the first retry...
    """

    saga_id: str
    step: str
    data: Mapping[str, Any]
    outcome: str | None
    attempt: int
    _checkpoint: Callable[[dict[str, Any]], None]

    def checkpoint(self, **values: Any) -> None:
        """Persist ``values`` into the saga data now, before the step completes.

        Use it between two side effects so a crash between them is recoverable (e.g. the reserved driver's id
        before the order is written).

        Raises:
            ConcurrencyConflict: the saga was changed concurrently.
        """
        self._checkpoint(values)


#: An action: does one step's side effects idempotently and returns values to merge into the saga data.
Action = Callable[[StepContext], Mapping[str, Any] | None]


class SagaRunner:
    """Runs instances of one saga definition in process (implements the :class:`SagaEngine` port).

    Args:
        definition: the saga.
        actions: action key -> callable, for every ``action`` and ``compensation`` the definition names.
        store: where instances live.
        scheduler: where timers go.
        clock: time source.
        meter: where the saga's billable operations are recorded (see the module docstring); none by default.

    Raises:
        ValueError: an action the definition names is missing.
    """

    def __init__(
        self,
        definition: SagaDefinition,
        actions: Mapping[str, Action],
        store: SagaStateStore,
        scheduler: Scheduler,
        clock: Clock,
        meter: Meter | None = None,
    ) -> None:
        needed: set[str] = set()
        for state in definition.states.values():
            tasks = state.branches if isinstance(state, Parallel) else (state,) if isinstance(state, Task) else ()
            for t in tasks:
                needed.add(t.action)
                if t.compensation:
                    needed.add(t.compensation)
        missing = sorted(needed - set(actions))
        if missing:
            raise ValueError(f"saga {definition.name}: no action registered for {missing}")
        self.definition = definition
        self.actions = dict(actions)
        self.store = store
        self.scheduler = scheduler
        self.clock = clock
        self.meter: Meter = meter if meter is not None else NullMeter()
        self._entry_cost = {name: _entry_transitions(definition, node) for name, node in definition.states.items()}

    def _transitions(self, n: int, entering: str | None = None) -> None:
        """Record ``n`` state transitions, plus those of entering state ``entering``."""
        if entering is not None:
            n += self._entry_cost[entering]
        if n:
            self.meter.record(SAGA_TRANSITION, n)

    # -- entry points ---------------------------------------------------------------------------------------
    def start(self, saga_id: str, data: Mapping[str, Any] | None = None) -> SagaState:
        """Create and run an instance until it waits, sleeps or ends.

        Starting an existing instance is idempotent: a RUNNING one is resumed, any other is returned as is
        (so an at-least-once ``OrderPlaced`` delivery starts the saga once).
        """
        now = self.clock.now()
        state = SagaState(
            saga_id=saga_id,
            definition=self.definition.key,
            current=self.definition.start,
            status=SagaStatus.RUNNING,
            created_at=now,
            updated_at=now,
            data=dict(data or {}),
        )
        try:
            self.store.create(state)
        except ConcurrencyConflict:
            return self.resume(saga_id)
        self.meter.record(SAGA_START)
        self._transitions(0, self.definition.start)
        return self._drive(state)

    def status(self, saga_id: str) -> SagaStatus | None:
        """The instance's status, or None when it was never started (the :class:`SagaEngine` port)."""
        try:
            return self.store.get(saga_id).status
        except NotFound:
            return None

    def resume(self, saga_id: str) -> SagaState:
        """Continue an instance interrupted in a RUNNING step (after a crash); others are returned unchanged."""
        state = self.store.get(saga_id)
        if state.status is SagaStatus.RUNNING:
            return self._drive(state)
        return state

    def deliver(self, message: ScheduledMessage) -> SagaState | None:
        """Handle a timer. Stale timers (cancelled, superseded, or duplicated) change nothing.

        Returns:
            The instance after handling, or None when the message was stale.
        """
        saga_id = str(message.body["sagaId"])
        for _ in range(_MAX_CONFLICT_RETRIES):
            state = self.store.get(saga_id)
            if state.timer_id != message.message_id:
                return None
            state.timer_id = None
            timed_out = False
            if message.kind == TIMER_TIMEOUT and state.status is SagaStatus.WAITING:
                wait = self.definition.states[state.current]
                assert isinstance(wait, WaitForEvent)
                state.outcome = wait.timeout_outcome
                state.current = wait.on_timeout
                state.data["waited"] = True
                timed_out = True
            elif message.kind == TIMER_RETRY and state.status is SagaStatus.RETRY_WAIT:
                pass
            else:
                return None
            state.status = SagaStatus.RUNNING
            try:
                self._save(state)
            except ConcurrencyConflict:
                continue
            if timed_out:  # the state recording the timeout outcome, then the timeout route
                self._transitions(1, state.current)
            return self._drive(state)
        raise ConcurrencyConflict(f"saga {saga_id}: timer lost {_MAX_CONFLICT_RETRIES} races")

    def signal(self, saga_id: str, event: str, detail: Mapping[str, Any] | None = None) -> SignalOutcome:
        """Deliver an external event (``"RestaurantConfirmed"``...).

        Returns:
            ACCEPTED, or DUPLICATE when this event was already accepted (nothing changes).

        Raises:
            NotFound: no such instance.
            LateEvent: the wait it belongs to is over (e.g. confirmation after the timeout); nothing changes.
            InvalidTransition: the saga is not yet waiting for events, or (the definition's cancel event) it is
                running towards success and takes the cancellation once it has succeeded; retry later.
        """
        for _ in range(_MAX_CONFLICT_RETRIES):
            state = self.store.get(saga_id)
            seen: list[str] = state.data.get("signals", [])
            if event in seen:
                return SignalOutcome.DUPLICATE
            node = self.definition.states.get(state.current)
            timer_to_cancel = None
            if state.status is SagaStatus.WAITING and isinstance(node, WaitForEvent) and event in node.events:
                timer_to_cancel = state.timer_id
                state.timer_id = None
                state.current = node.events[event]
                # the choice routing the answer, and the state recording its outcome if it has one
                routing = 1
                if event in node.event_outcomes:
                    state.outcome = node.event_outcomes[event]
                    routing = 2
            elif (
                state.status is SagaStatus.SUCCEEDED
                and event == self.definition.cancel_event
                and self.definition.cancel_route
            ):
                state.current = self.definition.cancel_route
                state.outcome = "cancelled"
                routing = 0  # a new execution of the cancel route starts there
            elif (
                event == self.definition.cancel_event
                and self.definition.cancel_route
                and not state.finished
                and state.outcome is None
            ):
                # Running towards success (e.g. confirming): it will end SUCCEEDED, where a cancellation is taken.
                # "Too late" here would lose it (an order cancelled, paid and never refunded): "not yet" instead.
                raise InvalidTransition(
                    f"saga {saga_id} is at {state.current} and takes {event} once that step is done; retry shortly",
                    saga_id=saga_id,
                )
            elif state.finished or self._past_waits(state):
                raise LateEvent(
                    f"saga {saga_id} no longer waits for {event}: it is {state.status.value}"
                    + (f" ({state.outcome})" if state.outcome else ""),
                    saga_id=saga_id,
                    status=state.status.value,
                    outcome=state.outcome,
                )
            else:
                raise InvalidTransition(
                    f"saga {saga_id} is at {state.current} and does not accept {event} yet", saga_id=saga_id
                )
            state.data["signals"] = [*seen, event]
            state.data["waited"] = True
            if detail:
                state.data.setdefault("signalDetail", {})[event] = dict(detail)
            state.status = SagaStatus.RUNNING
            try:
                self._save(state)
            except ConcurrencyConflict:
                continue
            if timer_to_cancel:
                # After the save: until then the timeout stays armed; once saved, a timer that still fires
                # is stale (``timer_id`` no longer names it) and changes nothing.
                self.scheduler.cancel(timer_to_cancel)
            self.meter.record(SAGA_SIGNAL)
            self._transitions(routing, state.current)
            self._drive(state)
            return SignalOutcome.ACCEPTED
        raise ConcurrencyConflict(f"saga {saga_id}: signal lost {_MAX_CONFLICT_RETRIES} races")

    # -- the engine -----------------------------------------------------------------------------------------
    def _past_waits(self, state: SagaState) -> bool:
        """True once the instance left its wait states behind (it compensates, fails or confirms)."""
        return state.data.get("waited", False) is True

    def _save(self, state: SagaState) -> None:
        state.updated_at = self.clock.now()
        self.store.save(state)

    def _drive(self, state: SagaState) -> SagaState:
        states = self.definition.states
        while state.status is SagaStatus.RUNNING:
            node = states[state.current]
            if isinstance(node, Task):
                self._run_task(state, node)
            elif isinstance(node, Parallel):
                self._run_parallel(state, node)
            elif isinstance(node, WaitForEvent):
                self._enter_wait(state, node)
            elif isinstance(node, Compensate):
                self._run_compensations(state, node)
            elif isinstance(node, Succeed):
                state.status = SagaStatus.SUCCEEDED
                self._save(state)
            elif isinstance(node, Fail):
                state.status = SagaStatus.FAILED
                if state.outcome is None:
                    state.outcome = node.error
                self._save(state)
        return state

    def _context(self, state: SagaState, step: str) -> StepContext:
        def checkpoint(values: dict[str, Any]) -> None:
            state.data.update(values)
            self._save(state)

        return StepContext(
            saga_id=state.saga_id,
            step=step,
            data=state.data,
            outcome=state.outcome,
            attempt=1 + sum(n for key, n in state.attempts.items() if key.partition("#")[0] == step),
            _checkpoint=checkpoint,
        )

    def _attempt(self, state: SagaState, task: Task) -> BaseException | None:
        """Run ``task``'s action once; on success merge its output and record completion (not saved)."""
        self.meter.record(SAGA_TASK)
        try:
            out = self.actions[task.action](self._context(state, task.name))
        except FoodDeliveryError as exc:
            return exc
        if out:
            state.data.update(out)
        _clear_attempts(state, task.name)
        if task.compensation and task.name not in state.completed:
            state.completed.append(task.name)
        return None

    def _schedule_retry(self, state: SagaState, step: str, policies: tuple[Retry, ...], exc: BaseException) -> bool:
        """Schedule a retry timer if a policy allows; returns whether one was scheduled (state saved)."""
        for index, policy in enumerate(policies):
            if error_matches(policy.errors, exc):
                # one counter per retrier, as in ASL: a transient error does not use up another policy's retries
                counter = f"{step}#{index}"
                done = state.attempts.get(counter, 0)
                if done >= policy.max_attempts:
                    return False
                message_id = f"{state.saga_id}:{step}:retry:{index}:{done + 1}"
                due = self.clock.now() + timedelta(seconds=policy.delay_for(done + 1))
                # Timer first: a crash before the save leaves a stale timer (ignored), never a saga that
                # waits for a timer nobody scheduled.
                self.scheduler.schedule(
                    ScheduledMessage(message_id, due, TIMER_RETRY, {"sagaId": state.saga_id, "step": step})
                )
                state.attempts[counter] = done + 1
                state.timer_id = message_id
                state.status = SagaStatus.RETRY_WAIT
                self._save(state)
                self._transitions(1)  # the retry is a state entered again
                return True
        return False

    def _route(self, state: SagaState, routes: tuple[Catch, ...], exc: BaseException, step: str) -> None:
        for route in routes:
            if error_matches(route.errors, exc):
                state.outcome = route.outcome
                state.current = route.next
                _clear_attempts(state, step)
                state.branches_done = []
                code = getattr(exc, "code", type(exc).__name__)
                state.data["error"] = {"step": step, "code": code, "detail": str(exc)}
                self._save(state)
                self._transitions(1, route.next)  # the state recording the outcome, then the route
                return
        raise exc

    def _run_task(self, state: SagaState, task: Task) -> None:
        exc = self._attempt(state, task)
        if exc is None:
            assert task.next is not None, f"task {task.name} has no next state"
            state.current = task.next
            self._save(state)
            self._transitions(0, task.next)
            return
        if self._schedule_retry(state, task.name, task.retry, exc):
            return
        self._route(state, task.catch, exc, task.name)

    def _run_parallel(self, state: SagaState, block: Parallel) -> None:
        for branch in block.branches:
            if branch.name in state.branches_done:
                continue
            exc = self._attempt(state, branch)
            if exc is None:
                state.branches_done.append(branch.name)
                self._save(state)
                continue
            if self._schedule_retry(state, branch.name, branch.retry, exc):
                return
            routes = branch.catch + block.catch
            self._route(state, routes, exc, branch.name)
            return
        state.branches_done = []
        state.current = block.next
        self._save(state)
        self._transitions(0, block.next)

    def _enter_wait(self, state: SagaState, wait: WaitForEvent) -> None:
        message_id = f"{state.saga_id}:{wait.name}:timeout"
        due = self.clock.now() + timedelta(seconds=wait.timeout_seconds)
        # Timer first (see _schedule_retry): a WAITING instance always has its timeout scheduled.
        self.scheduler.schedule(
            ScheduledMessage(message_id, due, TIMER_TIMEOUT, {"sagaId": state.saga_id, "state": wait.name})
        )
        state.status = SagaStatus.WAITING
        state.timer_id = message_id
        self._save(state)
        self.meter.record(SAGA_WAIT)

    def _run_compensations(self, state: SagaState, node: Compensate) -> None:
        state.data["waited"] = True
        for step in reversed(state.completed):
            if step in state.compensated:
                continue
            task = self.definition.task(step)
            assert task.compensation is not None
            key = f"compensate:{step}"
            self.meter.record(SAGA_TASK)
            self._transitions(1)  # the compensation's own state
            try:
                self.actions[task.compensation](self._context(state, key))
            except FoodDeliveryError as exc:
                if self._schedule_retry(state, key, node.retry, exc):
                    return
                raise
            _clear_attempts(state, key)
            state.compensated.append(step)
            self._save(state)
        state.current = node.next
        self._save(state)
        self._transitions(0, node.next)


def _entry_transitions(definition: SagaDefinition, node: object) -> int:
    """State transitions of entering ``node`` (see the module docstring)."""
    if isinstance(node, Parallel):
        return 1 + len(node.branches)
    if isinstance(node, Compensate):
        compensable = 0
        for s in definition.states.values():
            tasks = s.branches if isinstance(s, Parallel) else (s,) if isinstance(s, Task) else ()
            compensable += sum(1 for t in tasks if t.compensation)
        return max(1, compensable)
    return 1


def _clear_attempts(state: SagaState, step: str) -> None:
    """Forget ``step``'s retry counters (one per retry policy, keyed ``"<step>#<policy index>"``)."""
    for key in [k for k in state.attempts if k.partition("#")[0] == step]:
        del state.attempts[key]
