"""The one Lambda function behind every Task state of the generated state machine.

Step Functions invokes it with the ``Parameters`` that :func:`~fooddelivery_aws.stepfunctions.asl.compile_to_asl`
generates::

    {"step": "capture_payment", "state": "ProcessPayment", "sagaId": "ord-1", "data": {...}, "attempt": 0}
    {"step": "await_event", "state": "WaitForRestaurantConfirmation", "sagaId": "ord-1",
     "events": ["RestaurantConfirmed", ...], "taskToken": "..."}

``step`` names one of the core's :class:`~fooddelivery.application.order_saga.OrderSagaSteps` actions (or
:data:`~fooddelivery_aws.stepfunctions.asl.AWAIT_EVENT_STEP`); the handler runs it and returns its output (a
JSON object; ``{}`` for none), which the state machine stores at ``$.results.<State>`` (or
``$.branches.<Parallel>.<Branch>``); ``ctx.data`` is the execution data with those outputs merged back in.

Errors. A failing action raises the core's error; the Lambda runtime reports the exception class's name as
``errorType``, and that is the error name ASL ``Retry``/``Catch`` match. The generated ``ErrorEquals`` lists
name the classes of :mod:`fooddelivery.domain.errors`, so a core error of any other class (a subclass defined
elsewhere) is re-raised under the name of its nearest base class there (:func:`asl_error_name`). A malformed
event raises :class:`InvalidTaskInput` (a bug in the state machine, never routed as a business failure).

Idempotency. Step Functions may run a step more than once (its retries, Lambda's own). Every core action is
idempotent on the saga id (the order id): payments by idempotency keys derived from it, notifications by ids
derived from it, order and driver writes by checking state first. What an action checkpoints mid-step
(``StepContext.checkpoint``) is stored under the saga id (:func:`~.callbacks.record_key`) and read back by the
next attempt, so a crash between two side effects is recovered as in the in-process runner.

Nothing connects at import: the application (adapters included) is built by the app factory on the first
invocation and cached for the life of the execution environment.

Sources:
    - Python Lambda error payload (``errorType`` = exception class name):
      https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html
    - Lambda execution environment reuse (initialise once per cold start):
      https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from fooddelivery.application.saga.runner import Action, StepContext
from fooddelivery.bootstrap import Bootstrapped
from fooddelivery.domain.errors import FoodDeliveryError, NotFound
from fooddelivery.observability.setup import flushing
from fooddelivery.ports.saga_store import SagaState, SagaStateStore, SagaStatus
from fooddelivery_aws.metering import metered
from fooddelivery_aws.stepfunctions.asl import AWAIT_EVENT_STEP, domain_error_classes
from fooddelivery_aws.stepfunctions.callbacks import record_key, update_record

__all__ = [
    "DEFAULT_APP_FACTORY",
    "TASKS",
    "InvalidTaskInput",
    "StepFunctionsTaskHandler",
    "asl_error_name",
    "handler",
]

log = logging.getLogger(__name__)

#: ``module:function`` of the AWS composition root the deployed handler builds its application with.
DEFAULT_APP_FACTORY: Final[str] = "fooddelivery_aws.bootstrap:bootstrap_aws"
#: Keys of the execution data that are bookkeeping of the state machine, not saga data.
_BOOKKEEPING: Final[frozenset[str]] = frozenset({"results", "branches", "error", "event"})


class InvalidTaskInput(Exception):
    """The task event does not have the shape the generated state machine sends (a bug, not a business error)."""


_renamed: dict[str, type[Exception]] = {}
_renamed_lock = threading.Lock()


def asl_error_name(exc: BaseException) -> str | None:
    """The error name ASL should see for ``exc``: its nearest class in :mod:`fooddelivery.domain.errors`.

    Returns:
        The class name, or None for an error that is not a core error (reported under its own name).
    """
    if not isinstance(exc, FoodDeliveryError):
        return None
    public: set[type] = set(domain_error_classes())
    for cls in type(exc).__mro__:
        if cls in public:
            return str(cls.__name__)
    return None  # pragma: no cover - FoodDeliveryError itself is public


def _as_asl_error(exc: FoodDeliveryError) -> Exception:
    """``exc`` itself when its class is a public core class, else an exception whose class has the ASL name."""
    name = asl_error_name(exc)
    if name is None or name == type(exc).__name__:
        return exc
    with _renamed_lock:
        cls = _renamed.get(name)
        if cls is None:
            # The Lambda runtime reports ``type(exc).__name__``; a class of that name carries the core's name.
            cls = type(name, (Exception,), {"__module__": __name__})
            _renamed[name] = cls
    return cls(str(exc))


class _WorkingData(Mapping[str, Any]):
    """What an action sees as ``ctx.data``: the execution's data with step outputs merged (as the in-process
    runner merges them), falling back to values checkpointed under the saga id (read once, only if asked)."""

    def __init__(self, data: Mapping[str, Any], load_checkpoints: Callable[[], Mapping[str, Any]]) -> None:
        merged = {k: v for k, v in data.items() if k not in _BOOKKEEPING}
        for output in _outputs(data):
            merged.update(output)
        self._data = merged
        self._load = load_checkpoints
        self._checkpoints: dict[str, Any] | None = None

    def _stored(self) -> dict[str, Any]:
        if self._checkpoints is None:
            self._checkpoints = dict(self._load())
        return self._checkpoints

    def remember(self, values: Mapping[str, Any]) -> None:
        """Make freshly checkpointed values visible to the running action (they win over the step's input)."""
        self._stored().update(values)
        self._data.update(values)

    def __getitem__(self, key: str) -> Any:
        if key in self._data:
            return self._data[key]
        return self._stored()[key]

    def __iter__(self) -> Iterator[str]:
        return iter({**self._stored(), **self._data})

    def __len__(self) -> int:
        return len({**self._stored(), **self._data})


def _outputs(data: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Step outputs in the order they were recorded: ``$.results.<State>`` and ``$.branches.<Parallel>.<Branch>``."""
    results = data.get("results")
    if isinstance(results, Mapping):
        yield from (v for v in results.values() if isinstance(v, Mapping))
    branches = data.get("branches")
    if isinstance(branches, Mapping):
        for block in branches.values():
            if isinstance(block, Mapping):
                yield from (v for v in block.values() if isinstance(v, Mapping))


def _require(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidTaskInput(f"task event needs a non-empty string {key!r}, got {value!r}")
    return value


class StepFunctionsTaskHandler:
    """Runs one saga step per invocation (see the module docstring).

    Args:
        app: the bootstrapped application, or a factory called once on the first invocation (default: the
            AWS composition root named by :data:`DEFAULT_APP_FACTORY`).

    Raises:
        (per invocation) the core's errors under their ASL names; :class:`InvalidTaskInput`.
    """

    def __init__(self, app: Bootstrapped | Callable[[], Bootstrapped] | None = None) -> None:
        self._factory: Callable[[], Bootstrapped] | None
        if isinstance(app, Bootstrapped):
            self._app: Bootstrapped | None = app
            self._factory = None
        else:
            self._app = None
            self._factory = app or _default_app
        self._actions: dict[str, Action] | None = None
        self._lock = threading.Lock()

    @property
    def app(self) -> Bootstrapped:
        """The application, built on first use and cached."""
        if self._app is None:
            with self._lock:
                if self._app is None:
                    assert self._factory is not None
                    self._app = self._factory()
        return self._app

    @property
    def actions(self) -> dict[str, Action]:
        """Action name -> callable: the core's ``OrderSagaSteps`` actions as its runner holds them, so with
        telemetry on each invocation is a ``saga <state>`` span in the order's trace (the execution's input carries
        its context, see :class:`~fooddelivery_aws.sagas.StepFunctionsEngine`) and records the step's duration and
        retries, as an in-process step does (``fooddelivery.observability.instrument.traced_actions``)."""
        if self._actions is None:
            self._actions = dict(self.app.runner.actions)
        return self._actions

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Run the step ``event["step"]`` for ``event["sagaId"]`` and return its output.

        Raises:
            InvalidTaskInput: a malformed event or an unknown step.
            FoodDeliveryError: the step's failure, under its ASL name (see :func:`asl_error_name`).
        """
        if not isinstance(event, Mapping):
            raise InvalidTaskInput(f"task event must be a JSON object, got {type(event).__name__}")
        step = _require(event, "step")
        saga_id = _require(event, "sagaId")
        if step == AWAIT_EVENT_STEP:
            return self._await_event(saga_id, event)
        action = self.actions.get(step)
        if action is None:
            raise InvalidTaskInput(f"unknown step {step!r}; known: {sorted(self.actions)}")
        data = event.get("data", {})
        if not isinstance(data, Mapping):
            raise InvalidTaskInput(f"task event 'data' must be a JSON object, got {type(data).__name__}")
        attempt = event.get("attempt", 0)
        state = str(event.get("state") or step)
        working = _WorkingData(data, lambda: self._checkpoints(saga_id))

        def checkpoint(values: dict[str, Any]) -> None:
            self._update(saga_id, state, lambda r: r.data.update(values))
            working.remember(values)

        outcome = data.get("outcome")
        ctx = StepContext(
            saga_id=saga_id,
            step=state,
            data=working,
            outcome=outcome if isinstance(outcome, str) else None,
            attempt=(attempt if isinstance(attempt, int) else 0) + 1,
            _checkpoint=checkpoint,
        )
        log.info("saga step", extra={"sagaId": saga_id, "step": step, "state": state, "attempt": ctx.attempt})
        try:
            out = action(ctx)
        except FoodDeliveryError as exc:
            log.info(
                "saga step failed",
                extra={"sagaId": saga_id, "step": step, "error": type(exc).__name__, "detail": str(exc)},
            )
            translated = _as_asl_error(exc)
            if translated is exc:
                raise
            raise translated from exc
        return dict(out or {})

    # -- callback token and checkpoints ---------------------------------------------------------------------
    def _await_event(self, saga_id: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """Store the task token so the event's sender can complete the callback task.

        Idempotent: a retried invocation (Step Functions retries the callback task on Lambda service errors, with a
        new token) replaces the token; events recorded against the previous token are forgotten, because that
        attempt of the task is over and they did not complete it.
        """
        token = _require(event, "taskToken")
        state = str(event.get("state") or AWAIT_EVENT_STEP)
        events = event.get("events", [])
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise InvalidTaskInput(f"task event 'events' must be a list of names, got {events!r}")

        def wait(record: SagaState) -> None:
            record.current = state
            record.status = SagaStatus.WAITING
            record.data.update(taskToken=token, events=list(events), waitingIn=state)
            record.data.pop("signals", None)

        self._update(saga_id, state, wait)
        log.info("saga waits for an event", extra={"sagaId": saga_id, "state": state, "events": events})
        return {}

    @property
    def _sagas(self) -> SagaStateStore:
        store: SagaStateStore = self.app.adapters["sagas"]
        return store

    def _checkpoints(self, saga_id: str) -> Mapping[str, Any]:
        try:
            return self._sagas.get(record_key(saga_id)).data
        except NotFound:
            return {}

    def _update(self, saga_id: str, state: str, change: Callable[[SagaState], None]) -> None:
        def apply(record: SagaState) -> None:
            if not record.current:
                record.current = state
            change(record)

        update_record(self._sagas, self.app.service.clock, saga_id, self.app.runner.definition.key, apply)


def _default_app() -> Bootstrapped:
    """Build the application with the AWS composition root (:data:`DEFAULT_APP_FACTORY`).

    Raises:
        RuntimeError: the composition root cannot be imported (names it).
    """
    module_name, _, function_name = DEFAULT_APP_FACTORY.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(
            f"the Step Functions task handler needs the AWS composition root {DEFAULT_APP_FACTORY}: {exc}"
        ) from exc
    app = factory()
    if not isinstance(app, Bootstrapped):
        raise RuntimeError(f"{DEFAULT_APP_FACTORY} returned {type(app).__name__}, not Bootstrapped")
    return app


#: The task handler of this execution environment (the AWS composition root, built on the first invocation).
TASKS = StepFunctionsTaskHandler()


@metered()
@flushing()
def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """The Lambda entry point (``fooddelivery_aws.stepfunctions.task_handler.handler``): :data:`TASKS`, each
    invocation metered when the application meters (:func:`fooddelivery_aws.metering.metered`).

    Raises:
        InvalidTaskInput: a malformed event or an unknown step.
        FoodDeliveryError: the step's failure, under its ASL name.
    """
    return TASKS(event, context)
