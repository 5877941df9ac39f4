"""The activities of the Durable Functions saga: one per action of the core's ``OrderSagaSteps.actions()``.

Each activity function (``saga_<action>``, registered in :mod:`fooddelivery_azure.functions.background_functions`) runs
:func:`run_step`: the core's action with a :class:`~fooddelivery.application.saga.runner.StepContext` built from
the orchestrator's :class:`~fooddelivery_azure.durable.orchestrator.StepInput`, and answers a
:class:`~fooddelivery_azure.durable.orchestrator.StepResult`:

- the action's output when it completes;
- the core error it raised (class name, base-class names, code, text) when it raises a
  :class:`~fooddelivery.domain.errors.FoodDeliveryError`: the orchestrator applies the definition's retry policies
  and catch routes to it (Durable would carry a raised exception to the orchestrator as text only);
- any other exception propagates: the activity fails, and so does the orchestration (a bug is never routed as a
  business failure).

Idempotency. Durable runs an activity at least once (a host that dies mid-activity runs it again), and the
orchestrator retries failed ones. Every core action is idempotent on the saga id (the order id): payments by
idempotency keys derived from it, notifications by ids derived from it, order and driver writes by checking state
first. What an action checkpoints mid-step (``StepContext.checkpoint``: the driver it is about to reserve) is stored in
the saga store under ``durable#<saga id>`` (:func:`checkpoint_key`) and read back by the next attempt, so a crash
between two side effects is recovered as in the in-process runner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from fooddelivery.application.saga.runner import Action, StepContext
from fooddelivery.domain.errors import ConcurrencyConflict, FoodDeliveryError, NotFound
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.saga_store import SagaState, SagaStateStore, SagaStatus
from fooddelivery_azure.durable.orchestrator import MalformedSagaInput, StepInput, StepResult

__all__ = ["CHECKPOINT_PREFIX", "checkpoint_key", "load_checkpoints", "run_step", "save_checkpoint"]

log = logging.getLogger(__name__)

#: Prefix of the saga-store key of an instance's checkpoints (the bare saga id is the queue-driven runner's).
CHECKPOINT_PREFIX: Final[str] = "durable#"
_MAX_CONFLICTS: Final[int] = 5


def checkpoint_key(saga_id: str) -> str:
    """The saga-store key of the checkpoints of ``saga_id``."""
    return f"{CHECKPOINT_PREFIX}{saga_id}"


def load_checkpoints(store: SagaStateStore, saga_id: str) -> dict[str, Any]:
    """The values the steps of ``saga_id`` checkpointed so far (``{}``: none)."""
    try:
        return dict(store.get(checkpoint_key(saga_id)).data)
    except NotFound:
        return {}


def save_checkpoint(
    store: SagaStateStore, clock: Clock, saga_id: str, definition: str, step: str, values: Mapping[str, Any]
) -> None:
    """Merge ``values`` into the checkpoints of ``saga_id`` (created on first use), retrying version conflicts.

    Raises:
        ConcurrencyConflict: lost five races in a row.
    """
    key = checkpoint_key(saga_id)
    for _ in range(_MAX_CONFLICTS):
        now = clock.now()
        try:
            record = store.get(key)
        except NotFound:
            record = SagaState(key, definition, step, SagaStatus.RUNNING, created_at=now, updated_at=now)
            record.data.update(values)
            try:
                store.create(record)
            except ConcurrencyConflict:
                continue
            return
        record.data.update(values)
        record.current = step
        record.updated_at = now
        try:
            store.save(record)
        except ConcurrencyConflict:
            continue
        return
    raise ConcurrencyConflict(f"checkpoints of saga {saga_id}: lost {_MAX_CONFLICTS} races")


class _WorkingData(Mapping[str, Any]):
    """``ctx.data`` of an activity: the orchestrator's data, falling back to the stored checkpoints (read once, only
    when a key is missing or the data is iterated); fresh checkpoints win over both."""

    def __init__(self, data: Mapping[str, Any], load: Callable[[], Mapping[str, Any]]) -> None:
        self._data = dict(data)
        self._load = load
        self._stored: dict[str, Any] | None = None

    def _checkpoints(self) -> dict[str, Any]:
        if self._stored is None:
            self._stored = dict(self._load())
        return self._stored

    def remember(self, values: Mapping[str, Any]) -> None:
        self._checkpoints().update(values)
        self._data.update(values)

    def __getitem__(self, key: str) -> Any:
        if key in self._data:
            return self._data[key]
        return self._checkpoints()[key]

    def __iter__(self) -> Iterator[str]:
        return iter({**self._checkpoints(), **self._data})

    def __len__(self) -> int:
        return len({**self._checkpoints(), **self._data})


def run_step(
    payload: Any,
    action_name: str,
    actions: Mapping[str, Action],
    store: SagaStateStore,
    clock: Clock,
) -> dict[str, Any]:
    """Run the core's action ``action_name`` for one activity invocation (see the module docstring).

    Args:
        payload: the activity's input (a :class:`StepInput` as JSON).
        action_name: the action the activity function is registered for.
        actions: the core's actions (``OrderSagaSteps.actions()``).
        store: the saga store (checkpoints).
        clock: time, for the checkpoint records.

    Returns:
        The :class:`StepResult` as JSON.

    Raises:
        MalformedSagaInput: the input is not a :class:`StepInput` of this action (a bug in the orchestration).
        Exception: anything that is not a core error (the activity fails).
    """
    step = StepInput.from_json(payload)
    if step.action != action_name:
        raise MalformedSagaInput(f"activity of {action_name!r} called for action {step.action!r}")
    action = actions.get(action_name)
    if action is None:
        raise MalformedSagaInput(f"no core action {action_name!r}; known: {sorted(actions)}")
    working = _WorkingData(step.data, lambda: load_checkpoints(store, step.saga_id))

    def checkpoint(values: dict[str, Any]) -> None:
        save_checkpoint(store, clock, step.saga_id, step.definition, step.state, values)
        working.remember(values)

    ctx = StepContext(
        saga_id=step.saga_id,
        step=step.state,
        data=working,
        outcome=step.outcome,
        attempt=step.attempt,
        _checkpoint=checkpoint,
    )
    try:
        out = action(ctx)
    except FoodDeliveryError as exc:
        log.info("saga %s: %s attempt %d failed: %s", step.saga_id, step.state, step.attempt, type(exc).__name__)
        return StepResult.failure(exc).to_json()
    return StepResult.success(out).to_json()
