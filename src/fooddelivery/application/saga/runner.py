"""The in-process saga runner: executes a :class:`SagaDefinition` step by step over the ports.

State is committed whenever the instance stops, before every effect that is not idempotent by itself, when a
failure is routed and when a signal or a timer decides its path (see :class:`SagaRunner`), each time together with
the changes the steps made to the order (one unit of work), so a crash anywhere resumes with
:meth:`SagaRunner.resume` without repeating a side effect: actions are idempotent on stable keys derived from the
saga id and step name. Timers (retry back-offs and wait timeouts) go through the :class:`Scheduler` port -- or, when
the unit of work holds that scheduler's timers (SQLite), into the step's own commit -- and come back through
:meth:`SagaRunner.deliver`; the clock is injected (virtual time in tests and the simulation, real
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
from typing import Any, Final, Protocol, cast, runtime_checkable

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
from fooddelivery.metering import Meter, NullMeter, UsageMeter
from fooddelivery.metering.operations import SAGA_SIGNAL, SAGA_START, SAGA_TASK, SAGA_TRANSITION, SAGA_WAIT
from fooddelivery.observability.logs import FIELDS as LOG_FIELDS
from fooddelivery.observability.logs import reset_fields, step_fields
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.saga_engine import SignalOutcome
from fooddelivery.ports.saga_store import SagaState, SagaStateStore, SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage, Scheduler

__all__ = [
    "TIMER_RETRY",
    "TIMER_TIMEOUT",
    "Action",
    "SagaRunner",
    "SagaUnit",
    "SignalOutcome",
    "StepContext",
]

#: ``ScheduledMessage.kind`` of a retry back-off timer.
TIMER_RETRY = "saga.retry"
#: ``ScheduledMessage.kind`` of a wait timeout.
TIMER_TIMEOUT = "saga.timeout"
_MAX_CONFLICT_RETRIES = 5
#: Members the runner reads on every step, signal and commit, bound once (on Python 3.11 reading a member through its
#: enum class takes ``EnumType``'s slow attribute hook: see ``fooddelivery.domain.order``).
_RUNNING: Final = SagaStatus.RUNNING
_WAITING: Final = SagaStatus.WAITING
_SUCCEEDED: Final = SagaStatus.SUCCEEDED
_ACCEPTED: Final = SignalOutcome.ACCEPTED


@dataclass(slots=True)
class StepContext:
    """What an action sees.

    Attributes:
        saga_id: the instance id (the order id).
        step: the running step's name.
        data: the saga's working data (read it; return new values instead of writing it).
        outcome: the recorded failure reason, if the saga is failing.
        attempt: 1 for the first attempt, 2 for the first retry...
        order: the instance's entity (the order) when the runner drives the saga through a unit of work: the
            action reads and changes it, and the runner commits it together with the saga's state. None when the
            action reads and writes the order itself (a workflow engine's activity calls it that way).
    """

    saga_id: str
    step: str
    data: Mapping[str, Any]
    outcome: str | None
    attempt: int
    _checkpoint: Callable[[dict[str, Any]], None]
    order: Any = None

    def checkpoint(self, **values: Any) -> None:
        """Persist ``values`` into the saga data now, before the step completes (with the unit of work's changes
        so far).

        Use it before a side effect that is not idempotent by itself, so a crash right after it is recoverable
        (e.g. the driver about to be reserved, before the compare-and-set that reserves it).

        Raises:
            ConcurrencyConflict: the saga (or its order) was changed concurrently.
        """
        self._checkpoint(values)


#: An action: does one step's side effects idempotently and returns values to merge into the saga data.
Action = Callable[[StepContext], Mapping[str, Any] | None]


@runtime_checkable
class SagaUnit(Protocol):
    """What the runner reads and writes an instance through: its state and the entity its steps change (the order),
    committed together (``fooddelivery.application.unit_of_work.OrderSession`` for the order saga).

    """

    @property
    def atomic(self) -> bool:
        """Whether :meth:`commit` writes the entity and the state in one atomic write."""
        ...

    def load(self, saga_id: str, *, fresh: bool = False) -> tuple[Any, SagaState | None]:
        """(the entity, the instance or None); ``fresh``: from the store, not from what this call has read."""
        ...

    def cached_saga(self, saga_id: str) -> tuple[bool, SagaState | None]:
        """(whether this call already knows the instance, a copy of it or None) -- no I/O."""
        ...

    def get(self, saga_id: str) -> Any:
        """The entity alone."""
        ...

    def commit(self, saga: SagaState | None, order: Any = None, *, create_saga: bool = False) -> None:
        """Write the entity (if changed) and the instance (created when ``create_saga``) as one unit."""
        ...

    def forget(self, saga_id: str) -> None:
        """Drop what this call keeps of the instance and its entity: a drive stopped on an error with changes it
        did not commit."""
        ...


class _TimerSagaUnit(SagaUnit, Protocol):
    """A :class:`SagaUnit` that also holds a scheduler's timers (``OrderSession`` over a
    ``fooddelivery.ports.unit_of_work.TimerUnitOfWork``): ``timers`` names the scheduler, and :meth:`commit` writes
    the timer to schedule and the timer to cancel with the entity and the state, or nothing."""

    @property
    def timers(self) -> Scheduler | None:
        """The scheduler whose timers :meth:`commit` writes, or None."""
        ...

    def commit(
        self,
        saga: SagaState | None,
        order: Any = None,
        *,
        create_saga: bool = False,
        schedule: ScheduledMessage | None = None,
        cancel: str | None = None,
    ) -> None:
        """:meth:`SagaUnit.commit`, plus ``schedule`` / ``cancel`` in the same write."""
        ...


def _holds(timers: object, scheduler: Scheduler) -> bool:
    """Whether ``timers`` is ``scheduler``, or the scheduler it wraps (``TracedScheduler``...: ``inner``)."""
    candidate: object = scheduler
    for _ in range(8):  # wrappers of wrappers; never a cycle
        if candidate is timers:
            return True
        candidate = getattr(candidate, "inner", None)
        if candidate is None:
            return False
    return False


class _StoreUnit:
    """The unit of a saga without an entity: its state store alone."""

    atomic = True

    def __init__(self, store: SagaStateStore) -> None:
        self.store = store

    def load(self, saga_id: str, *, fresh: bool = False) -> tuple[Any, SagaState | None]:
        try:
            return None, self.store.get(saga_id)
        except NotFound:
            return None, None

    def cached_saga(self, saga_id: str) -> tuple[bool, SagaState | None]:
        return False, None

    def get(self, saga_id: str) -> Any:
        return None

    def forget(self, saga_id: str) -> None:
        return None

    def commit(self, saga: SagaState | None, order: Any = None, *, create_saga: bool = False) -> None:
        if saga is None:
            return
        if create_saga:
            self.store.create(saga)
        else:
            self.store.save(saga)


@dataclass(slots=True)
class _Run:
    """One instance being driven: its state and its entity as this process holds them."""

    state: SagaState
    entity: Any


class SagaRunner:
    """Runs instances of one saga definition in process (implements the :class:`SagaEngine` port).

    **When state is written.** The runner commits an instance -- its state together with the changes its steps
    made to the entity (the order and the events it recorded), through ``unit`` -- when the instance stops
    (entering a wait, a retry back-off or an end; on an error no route catches it stays RUNNING as last committed,
    resumable), when an action checkpoints (before an effect that is not idempotent by itself: a driver's
    reservation), when a failure is routed (the route was decided on the world as it was -- retries ran out, a card
    was declined -- and what follows is not undone: a refund), and when an external input decides its path (a
    signal or a timer: committed before any step runs, so of two racing inputs exactly one wins). Between those
    points steps run back to back: each step's effects are idempotent on stable keys (payments by idempotency key,
    notifications by id, order changes by checking the order first), so a crash between two commits repeats calls
    (a replayed payment, a deduplicated notification), never an effect, and the resumed instance ends where an
    uninterrupted one would. A commit that loses a race on
    the entity alone (a driver claimed the order meanwhile) runs the steps since the last commit again on the fresh
    entity.

    **Where timers are written.** When ``unit`` holds ``scheduler``'s timers (its ``timers`` attribute is that
    scheduler, or the one it wraps: the SQLite unit of work and scheduler of one database, see
    ``fooddelivery.ports.unit_of_work.TimerUnitOfWork``; checked once, here), the timer a step schedules (a retry
    back-off, a wait's timeout) and the timer a signal cancels (the wait's timeout) are written in that step's
    commit: one write, and the timer and the state are stored together or not at all. Otherwise the timer is
    scheduled *before* the commit (a crash in between leaves a stale timer, ignored; never a saga waiting for a
    timer nobody scheduled) and cancelled *after* the commit that accepted the signal (until then the timeout stays
    armed; once committed a timer that still fires is stale).

    Args:
        definition: the saga.
        actions: action key -> callable, for every ``action`` and ``compensation`` the definition names.
        store: where instances live.
        scheduler: where timers go.
        clock: time source.
        meter: where the saga's billable operations are recorded (see the module docstring); none by default.
        unit: what instances and their entity are read and committed through (see :class:`SagaUnit`); by default
            ``store`` alone (no entity: actions read and write what they change themselves).

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
        *,
        unit: SagaUnit | None = None,
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
        self.meter = meter if meter is not None else NullMeter()
        self.unit: SagaUnit = unit if unit is not None else _StoreUnit(store)
        held = getattr(self.unit, "timers", None)
        #: the unit, when its commits write this runner's timers (see "Where timers are written"); else None
        self._timer_unit: _TimerSagaUnit | None = (
            cast(_TimerSagaUnit, self.unit) if held is not None and _holds(held, scheduler) else None
        )
        self._entry_cost = {name: _entry_transitions(definition, node) for name, node in definition.states.items()}

    @property
    def meter(self) -> Meter:
        """Where the saga's billable operations are recorded (see the module docstring); a meter set here later
        gets every record from then on (what the runner skips or adds itself is decided again)."""
        return self._meter

    @meter.setter
    def meter(self, meter: Meter) -> None:
        self._meter = meter
        #: False when the meter records nothing (a ``NullMeter``, or operation counters built without metering, as
        #: the in-memory adapters decide once too: ``fooddelivery.adapters.counters.meter_of``): the runner then
        #: skips its meter calls
        self._metering = not isinstance(meter, NullMeter) and getattr(meter, "metering", True) is not False
        #: the meter's per-thread sums when it is exactly a :class:`UsageMeter` (the in-memory adapters' meter): the
        #: runner adds its whole, unsized quantities there itself, as those adapters do (``meter.local.unsized[name]
        #: += n`` is ``meter.record(name, n)`` without the call and its checks); None for any other meter, a subclass
        #: of ``UsageMeter`` included, which is called (``record``) for every record, as before
        self._sums: Any = meter.local if self._metering and type(meter) is UsageMeter else None

    def _transitions(self, n: int, entering: str | None = None) -> None:
        """Record ``n`` state transitions, plus those of entering state ``entering``."""
        if entering is not None:
            n += self._entry_cost[entering]
        if n:
            sums = self._sums
            if sums is not None:
                sums.unsized[SAGA_TRANSITION] += n
            else:
                self._meter.record(SAGA_TRANSITION, n)

    def _record(self, name: str) -> None:
        """Record one ``name`` on the meter (see :attr:`_sums`)."""
        sums = self._sums
        if sums is not None:
            sums.unsized[name] += 1
        else:
            self._meter.record(name)

    # -- entry points ---------------------------------------------------------------------------------------
    def new_instance(self, saga_id: str, data: Mapping[str, Any] | None = None) -> SagaState:
        """A new instance at the definition's start, RUNNING (not stored: see :meth:`started`)."""
        now = self.clock.now()
        return SagaState(
            saga_id=saga_id,
            definition=self.definition.key,
            current=self.definition.start,
            status=_RUNNING,
            created_at=now,
            updated_at=now,
            data=dict(data or {}),
        )

    def started(self, state: SagaState) -> None:
        """Record the start of ``state``, created elsewhere (in the write that placed its order), on the meter."""
        if self._metering:
            self._record(SAGA_START)
            self._transitions(0, self.definition.start)

    def start(self, saga_id: str, data: Mapping[str, Any] | None = None) -> SagaState:
        """Create and run an instance until it waits, sleeps or ends.

        Starting an existing instance is idempotent: a RUNNING one is resumed, any other is returned as is
        (so an at-least-once ``OrderPlaced`` delivery starts the saga once).
        """
        unit = self.unit
        known, _ = unit.cached_saga(saga_id)
        loaded = known or unit.atomic  # one read gives both: look before creating
        entity: Any = None
        if loaded:
            entity, found = unit.load(saga_id)
            if found is not None:
                return self._drive(_Run(found, entity)) if found.status is _RUNNING else found
        state = self.new_instance(saga_id, data)
        try:
            unit.commit(state, create_saga=True)
        except ConcurrencyConflict:
            return self.resume(saga_id)
        self.started(state)
        return self._drive(_Run(state, entity if loaded else unit.get(saga_id)))

    def status(self, saga_id: str) -> SagaStatus | None:
        """The instance's status, or None when it was never started (the :class:`SagaEngine` port)."""
        known, cached = self.unit.cached_saga(saga_id)
        if known:
            return cached.status if cached is not None else None
        try:
            return self.store.get(saga_id).status
        except NotFound:
            return None

    def _open(self, saga_id: str, *, fresh: bool = False) -> _Run:
        entity, state = self.unit.load(saga_id, fresh=fresh)
        if state is None:
            raise NotFound(f"saga {saga_id} not found", saga_id=saga_id)
        return _Run(state, entity)

    def resume(self, saga_id: str) -> SagaState:
        """Continue an instance interrupted in a RUNNING step (after a crash); others are returned unchanged.

        Raises:
            NotFound: no such instance.
        """
        run = self._open(saga_id, fresh=True)
        if run.state.status is _RUNNING:
            return self._drive(run)
        return run.state

    def deliver(self, message: ScheduledMessage) -> SagaState | None:
        """Handle a timer. Stale timers (cancelled, superseded, or duplicated) change nothing.

        Returns:
            The instance after handling, or None when the message was stale.
        """
        saga_id = str(message.body["sagaId"])
        for attempt in range(_MAX_CONFLICT_RETRIES):
            run = self._open(saga_id, fresh=attempt > 0)
            state = run.state
            if state.timer_id != message.message_id:
                return None
            state.timer_id = None
            timed_out = False
            if message.kind == TIMER_TIMEOUT and state.status is _WAITING:
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
            state.status = _RUNNING
            try:
                self._commit(run)
            except ConcurrencyConflict:
                continue
            if timed_out and self._metering:  # the state recording the timeout outcome, then the timeout route
                self._transitions(1, state.current)
            return self._drive(run)
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
        for attempt in range(_MAX_CONFLICT_RETRIES):
            run = self._open(saga_id, fresh=attempt > 0)
            state = run.state
            seen: list[str] = state.data.get("signals", [])
            if event in seen:
                return SignalOutcome.DUPLICATE
            node = self.definition.states.get(state.current)
            timer_to_cancel = None
            if state.status is _WAITING and isinstance(node, WaitForEvent) and event in node.events:
                timer_to_cancel = state.timer_id
                state.timer_id = None
                state.current = node.events[event]
                # the choice routing the answer, and the state recording its outcome if it has one
                routing = 1
                if event in node.event_outcomes:
                    state.outcome = node.event_outcomes[event]
                    routing = 2
            elif (
                state.status is _SUCCEEDED
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
            state.status = _RUNNING
            timer_unit = self._timer_unit if timer_to_cancel else None
            try:
                if timer_unit is not None:  # the timeout removed in the commit that accepts the signal
                    self._commit(run, timer_unit, cancel=timer_to_cancel)
                else:
                    self._commit(run)
            except ConcurrencyConflict:
                continue
            if timer_to_cancel and timer_unit is None:
                # After the commit: until then the timeout stays armed; once committed, a timer that still fires
                # is stale (``timer_id`` no longer names it) and changes nothing.
                self.scheduler.cancel(timer_to_cancel)
            if self._metering:
                self._record(SAGA_SIGNAL)
                self._transitions(routing, state.current)
            self._drive(run)
            return _ACCEPTED
        raise ConcurrencyConflict(f"saga {saga_id}: signal lost {_MAX_CONFLICT_RETRIES} races")

    # -- the engine -----------------------------------------------------------------------------------------
    def _past_waits(self, state: SagaState) -> bool:
        """True once the instance left its wait states behind (it compensates, fails or confirms)."""
        return state.data.get("waited", False) is True

    def _commit(
        self,
        run: _Run,
        timer_unit: _TimerSagaUnit | None = None,
        *,
        schedule: ScheduledMessage | None = None,
        cancel: str | None = None,
    ) -> None:
        """Write the instance and its entity's changes (one unit of work; bumps ``version``); with ``timer_unit``
        (:attr:`_timer_unit`), ``schedule`` and ``cancel`` in the same write."""
        state = run.state
        state.updated_at = self.clock.now()
        if timer_unit is None:
            self.unit.commit(state, run.entity)
        else:
            timer_unit.commit(state, run.entity, schedule=schedule, cancel=cancel)

    def _drive(self, run: _Run) -> SagaState:
        """Run steps until the instance stops; a commit that lost a race on the entity alone (the instance is still
        where this run last committed it) runs the steps since then again on a fresh read."""
        for _ in range(_MAX_CONFLICT_RETRIES):
            try:
                return self._run_steps(run)
            except ConcurrencyConflict:
                committed = run.state.version  # a failed commit leaves the version as last committed
                self.unit.forget(run.state.saga_id)  # what this run changed and did not commit is not to be read
                entity, fresh = self.unit.load(run.state.saga_id, fresh=True)
                if fresh is None or fresh.version != committed or fresh.status is not _RUNNING:
                    raise  # someone else moved the instance on: theirs to drive
                run = _Run(fresh, entity)
            except BaseException:
                self.unit.forget(run.state.saga_id)  # likewise
                raise
        raise ConcurrencyConflict(f"saga {run.state.saga_id}: lost {_MAX_CONFLICT_RETRIES} races on its entity")

    def _run_steps(self, run: _Run) -> SagaState:
        state = run.state
        states = self.definition.states
        while state.status is _RUNNING:
            node = states[state.current]
            # exact types first (no isinstance call for the usual nodes), then subclasses
            if type(node) is Task:  # self._run_task(run, node), written out (most steps are tasks)
                exc = self._attempt(run, node)
                if exc is None:
                    assert node.next is not None, f"task {node.name} has no next state"
                    state.current = node.next
                    if self._metering:
                        self._transitions(0, node.next)
                elif not self._schedule_retry(run, node.name, node.retry, exc):
                    self._route(run, node.catch, exc, node.name)
            elif type(node) is Parallel:
                self._run_parallel(run, node)
            elif type(node) is WaitForEvent:
                self._enter_wait(run, node)
            elif type(node) is Succeed:
                state.status = _SUCCEEDED
                self._commit(run)
            elif isinstance(node, Task):
                self._run_task(run, node)
            elif isinstance(node, Parallel):
                self._run_parallel(run, node)
            elif isinstance(node, WaitForEvent):
                self._enter_wait(run, node)
            elif isinstance(node, Compensate):
                self._run_compensations(run, node)
            elif isinstance(node, Succeed):
                state.status = _SUCCEEDED
                self._commit(run)
            elif isinstance(node, Fail):
                state.status = SagaStatus.FAILED
                if state.outcome is None:
                    state.outcome = node.error
                self._commit(run)
        return state

    def _context(self, run: _Run, step: str) -> StepContext:
        state = run.state

        def checkpoint(values: dict[str, Any]) -> None:
            state.data.update(values)
            self._commit(run)

        return StepContext(
            saga_id=state.saga_id,
            step=step,
            data=state.data,
            outcome=state.outcome,
            attempt=1 + sum(n for key, n in state.attempts.items() if key.partition("#")[0] == step)
            if state.attempts
            else 1,
            _checkpoint=checkpoint,
            order=run.entity,
        )

    def _attempt(self, run: _Run, task: Task) -> BaseException | None:
        """Run ``task``'s action once; on success merge its output and record completion (not committed)."""
        if self._metering:
            sums = self._sums
            if sums is not None:
                sums.unsized[SAGA_TASK] += 1
            else:
                self._meter.record(SAGA_TASK)
        state = run.state
        # the log lines' order id and step, when log lines carry fields
        fields = step_fields(state.saga_id, task.name) if LOG_FIELDS.on else None
        step = task.name
        attempts = state.attempts

        def checkpoint(values: dict[str, Any]) -> None:
            state.data.update(values)
            self._commit(run)

        # self._context(run, step), written out (every step passes here)
        context = StepContext(
            saga_id=state.saga_id,
            step=step,
            data=state.data,
            outcome=state.outcome,
            attempt=1 + sum(n for key, n in attempts.items() if key.partition("#")[0] == step) if attempts else 1,
            _checkpoint=checkpoint,
            order=run.entity,
        )
        try:
            out = self.actions[task.action](context)
        except ConcurrencyConflict:
            raise  # a lost race on the entity or the instance: the drive reads them again
        except FoodDeliveryError as exc:
            return exc
        finally:
            if fields is not None:
                reset_fields(fields)
        if out:
            state.data.update(out)
        if state.attempts:
            _clear_attempts(state, step)
        if task.compensation and task.name not in state.completed:
            state.completed.append(task.name)
        return None

    def _schedule_retry(self, run: _Run, step: str, policies: tuple[Retry, ...], exc: BaseException) -> bool:
        """Schedule a retry timer if a policy allows; returns whether one was scheduled (state committed)."""
        state = run.state
        for index, policy in enumerate(policies):
            if error_matches(policy.errors, exc):
                # one counter per retrier, as in ASL: a transient error does not use up another policy's retries
                counter = f"{step}#{index}"
                done = state.attempts.get(counter, 0)
                if done >= policy.max_attempts:
                    return False
                message_id = f"{state.saga_id}:{step}:retry:{index}:{done + 1}"
                due = self.clock.now() + timedelta(seconds=policy.delay_for(done + 1))
                timer = ScheduledMessage(message_id, due, TIMER_RETRY, {"sagaId": state.saga_id, "step": step})
                timer_unit = self._timer_unit
                if timer_unit is None:
                    # Timer first: a crash before the commit leaves a stale timer (ignored), never a saga that
                    # waits for a timer nobody scheduled.
                    self.scheduler.schedule(timer)
                state.attempts[counter] = done + 1
                state.timer_id = message_id
                state.status = SagaStatus.RETRY_WAIT
                self._commit(run, timer_unit, schedule=timer)  # (with the state when the unit holds timers)
                if self._metering:  # the retry is a state entered again
                    self._transitions(1)
                return True
        return False

    def _route(self, run: _Run, routes: tuple[Catch, ...], exc: BaseException, step: str) -> None:
        state = run.state
        for route in routes:
            if error_matches(route.errors, exc):
                state.outcome = route.outcome
                state.current = route.next
                _clear_attempts(state, step)
                state.branches_done = []
                code = getattr(exc, "code", type(exc).__name__)
                detail = exc.detail if isinstance(exc, FoodDeliveryError) else str(exc)  # (str adds field errors)
                state.data["error"] = {"step": step, "code": code, "detail": detail}
                # Committed before the route runs: it was decided on what the world looked like now (retries ran
                # out, a card was declined), and what follows is not undone (a refund); a re-run after a crash or a
                # lost race must take the same route, not decide again.
                self._commit(run)
                if self._metering:  # the state recording the outcome, then the route
                    self._transitions(1, route.next)
                return
        raise exc

    def _run_task(self, run: _Run, task: Task) -> None:  # (written out in _run_steps for exact Task nodes)
        exc = self._attempt(run, task)
        if exc is None:
            assert task.next is not None, f"task {task.name} has no next state"
            run.state.current = task.next
            if self._metering:
                self._transitions(0, task.next)
            return
        if self._schedule_retry(run, task.name, task.retry, exc):
            return
        self._route(run, task.catch, exc, task.name)

    def _run_parallel(self, run: _Run, block: Parallel) -> None:
        state = run.state
        for branch in block.branches:
            if branch.name in state.branches_done:
                continue
            exc = self._attempt(run, branch)
            if exc is None:
                state.branches_done.append(branch.name)
                continue
            if self._schedule_retry(run, branch.name, branch.retry, exc):
                return
            routes = branch.catch + block.catch
            self._route(run, routes, exc, branch.name)
            return
        state.branches_done = []
        state.current = block.next
        if self._metering:
            self._transitions(0, block.next)

    def _enter_wait(self, run: _Run, wait: WaitForEvent) -> None:
        state = run.state
        message_id = f"{state.saga_id}:{wait.name}:timeout"
        due = self.clock.now() + timedelta(seconds=wait.timeout_seconds)
        timer = ScheduledMessage(message_id, due, TIMER_TIMEOUT, {"sagaId": state.saga_id, "state": wait.name})
        timer_unit = self._timer_unit
        if timer_unit is None:
            # Timer first (see _schedule_retry): a WAITING instance always has its timeout scheduled.
            self.scheduler.schedule(timer)
        state.status = _WAITING
        state.timer_id = message_id
        self._commit(run, timer_unit, schedule=timer)  # (with the state when the unit holds timers)
        if self._metering:
            self._record(SAGA_WAIT)

    def _run_compensations(self, run: _Run, node: Compensate) -> None:
        state = run.state
        state.data["waited"] = True
        for step in reversed(state.completed):
            if step in state.compensated:
                continue
            task = self.definition.task(step)
            assert task.compensation is not None
            key = f"compensate:{step}"
            if self._metering:
                self._record(SAGA_TASK)
                self._transitions(1)  # the compensation's own state
            fields = step_fields(state.saga_id, key) if LOG_FIELDS.on else None
            try:
                self.actions[task.compensation](self._context(run, key))
            except ConcurrencyConflict:
                raise
            except FoodDeliveryError as exc:
                if self._schedule_retry(run, key, node.retry, exc):
                    return
                raise
            finally:
                if fields is not None:
                    reset_fields(fields)
            _clear_attempts(state, key)
            state.compensated.append(step)
        state.current = node.next
        if self._metering:
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
    if not state.attempts:
        return
    for key in [k for k in state.attempts if k.partition("#")[0] == step]:
        del state.attempts[key]
