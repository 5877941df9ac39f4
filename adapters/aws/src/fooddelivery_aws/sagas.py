"""What the SQS consumer does with saga inputs, in each saga mode.

``queue`` mode (the default, :class:`QueueSaga`): the core's :class:`~fooddelivery.application.saga.runner.SagaRunner`
runs in the SQS Lambda over DynamoDB saga state. ``OrderPlaced`` starts the saga (it runs its steps until it waits
for the restaurant, sleeps on a retry timer or ends), ``OrderCancelled`` is signalled to it, a due timer from the
timer queue is delivered to it, a resume command continues an instance interrupted mid-step. Every input is
idempotent on a business key, so SQS's at-least-once delivery is harmless:

- a second ``OrderPlaced`` (same event id redelivered, or republished with another) finds the instance created and
  only resumes it if a crash left it RUNNING (``SagaRunner.start``);
- a second ``OrderCancelled`` answers DUPLICATE; one for a saga that ended or never started changes nothing;
- a timer is delivered once (the scheduler's ledger) and a stale one changes nothing (``SagaRunner.deliver``).
  A timer whose delivery crashed after the saga was saved as RUNNING arrives again as stale; then the instance is
  resumed, so a crash never leaves a saga stuck;
- every step is idempotent on the order id (payment idempotency keys, notification ids, state checks).

``stepfunctions`` mode (:class:`StepFunctionsSaga`): the generated state machine runs the saga. ``OrderPlaced``
starts an execution named after the order (``StartExecution`` is idempotent for the same name and input;
``ExecutionAlreadyExists`` for a finished one is taken as done); ``OrderCancelled`` is signalled through the
callback token (:class:`~fooddelivery_aws.stepfunctions.callbacks.StepFunctionsSignaller`). The use cases' own
signals (the restaurant confirms) reach it through :class:`StepFunctionsEngine`, the core's ``SagaEngine`` port on
Step Functions (``bootstrap(saga_engine=...)``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from fooddelivery.application.order_saga import ORDER_CANCELLED
from fooddelivery.application.saga.runner import SagaRunner
from fooddelivery.domain.errors import InfrastructureError, LateEvent, NotFound, ValidationError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.ports.saga_engine import SignalOutcome
from fooddelivery.ports.saga_store import SagaStateStore, SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery_aws._clients import LazyClient, error_code, reraise
from fooddelivery_aws.messaging.sqs_scheduler import SqsScheduler, TimerOutcome

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

    from fooddelivery_aws.stepfunctions.callbacks import StepFunctionsSignaller

__all__ = ["SAGA_EVENT_TYPES", "NoTimers", "QueueSaga", "SagaDriver", "StepFunctionsEngine", "StepFunctionsSaga"]

log = logging.getLogger(__name__)

#: The domain events the saga consumes (:class:`SagaDriver`: ``OrderPlaced`` starts it, ``OrderCancelled`` signals
#: it). The outbox relay sends exactly these to the saga FIFO queue (:mod:`fooddelivery_aws.relay`); the restaurant's
#: answer reaches the saga as a direct signal from the HTTP function, not as an event.
SAGA_EVENT_TYPES: Final[frozenset[EventType]] = frozenset({EventType.ORDER_PLACED, EventType.ORDER_CANCELLED})


class SagaDriver(Protocol):
    """The saga inputs the SQS consumer hands over."""

    def order_placed(self, event: DomainEvent) -> None:
        """Start the order's saga (idempotent)."""
        ...

    def order_cancelled(self, event: DomainEvent) -> None:
        """Tell the order's saga it was cancelled (idempotent; nothing if it never started or has ended)."""
        ...

    def timer(self, message: ScheduledMessage) -> TimerOutcome:
        """Deliver (or re-delay, or drop) a timer."""
        ...

    def resume(self, saga_id: str) -> None:
        """Continue an instance interrupted in a step."""
        ...


def _cancel_detail(event: DomainEvent) -> dict[str, Any]:
    return {k: str(event.payload[k]) for k in ("by", "reason") if k in event.payload}


class QueueSaga:
    """The saga in the SQS consumer (``queue`` mode; see the module docstring).

    Args:
        runner: the core's saga runner (DynamoDB state, :class:`SqsScheduler` timers).
        scheduler: the timer queue's scheduler (for :meth:`SqsScheduler.accept`).
        store: the saga store (to find an interrupted instance).
    """

    def __init__(self, runner: SagaRunner, scheduler: SqsScheduler, store: SagaStateStore) -> None:
        self.runner = runner
        self.scheduler = scheduler
        self.store = store

    def order_placed(self, event: DomainEvent) -> None:
        """``SagaRunner.start`` with the order id as saga id (a known instance is resumed or left as is).

        Raises:
            FoodDeliveryError: a step failed in a way the saga does not route (the message is retried).
        """
        self.runner.start(event.order_id, {"orderId": event.order_id})

    def order_cancelled(self, event: DomainEvent) -> None:
        """Signal ``OrderCancelled``; no instance yet (it will find the order cancelled) or one that has ended
        (``LateEvent``) is fine.

        Raises:
            InvalidTransition: the instance is running a step right now (the message is retried).
        """
        try:
            self.runner.signal(event.order_id, ORDER_CANCELLED, _cancel_detail(event))
        except (NotFound, LateEvent) as exc:
            log.info("OrderCancelled for %s changes nothing: %s", event.order_id, exc)

    def timer(self, message: ScheduledMessage) -> TimerOutcome:
        """Re-delay an early timer, drop a cancelled or delivered one, else deliver it to the runner."""
        return self.scheduler.accept(message, self._deliver)

    def _deliver(self, message: ScheduledMessage) -> None:
        if self.runner.deliver(message) is not None:
            return
        saga_id = message.body.get("sagaId")
        if not isinstance(saga_id, str):
            return
        try:
            state = self.store.get(saga_id)
        except NotFound:
            return
        if state.status is SagaStatus.RUNNING:  # this timer's delivery crashed mid-step: finish the job
            log.warning("saga %s found RUNNING on a stale timer %s; resuming", saga_id, message.message_id)
            self.runner.resume(saga_id)

    def resume(self, saga_id: str) -> None:
        """``SagaRunner.resume`` (a no-op unless the instance is RUNNING).

        Raises:
            NotFound: no such instance (the command is malformed: it goes to the dead-letter queue).
        """
        self.runner.resume(saga_id)


class NoTimers:
    """The scheduler of ``stepfunctions`` mode: the state machine keeps its own time, so a timer is a bug."""

    def schedule(self, message: ScheduledMessage) -> None:
        """Refuse.

        Raises:
            InfrastructureError: always.
        """
        raise InfrastructureError("no timers in stepfunctions mode", message_id=message.message_id, retryable=False)

    def cancel(self, message_id: str) -> bool:
        """Nothing is ever scheduled: False."""
        return False


class StepFunctionsEngine:
    """The ``SagaEngine`` port on Step Functions: one execution of the order saga's state machine per order.

    - ``start``: ``StartExecution`` named after the order with ``{"sagaId", "orderId"}`` (idempotent for the same
      name and input; ``ExecutionAlreadyExists`` -- the execution has finished -- is taken as done);
    - ``signal``: completes the waiting callback task (``StepFunctionsSignaller``);
    - ``status``: WAITING while the execution waits in a callback task (its callback record says so), else the
      execution's status (RUNNING, SUCCEEDED, FAILED for FAILED/TIMED_OUT/ABORTED), None when there is none.

    Sources: https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html,
    https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html

    Args:
        state_machine_arn: the order saga's state machine.
        signaller: delivers events to waiting executions.
        store: the saga store holding the callback records.
        client: a boto3 Step Functions client; built lazily when None.
        region_name, endpoint_url: of a lazily built client.
    """

    def __init__(
        self,
        state_machine_arn: str,
        signaller: StepFunctionsSignaller,
        store: SagaStateStore,
        *,
        client: SFNClient | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.state_machine_arn = state_machine_arn
        self.signaller = signaller
        self.store = store
        self._client: LazyClient[SFNClient] = LazyClient(
            "stepfunctions", client, region_name=region_name, endpoint_url=endpoint_url
        )

    def execution_arn(self, saga_id: str) -> str:
        """The ARN of ``saga_id``'s execution (``arn:...:execution:<machine name>:<saga id>``)."""
        prefix, _, name = self.state_machine_arn.rpartition(":stateMachine:")
        return f"{prefix}:execution:{name}:{saga_id}"

    def start(self, saga_id: str, data: Mapping[str, Any] | None = None) -> None:
        """Start the execution of ``saga_id`` (idempotent).

        Raises:
            InfrastructureError: Step Functions refused.
        """
        try:
            self._client.get().start_execution(
                stateMachineArn=self.state_machine_arn,
                name=saga_id,
                input=json.dumps({"sagaId": saga_id, "orderId": saga_id}, separators=(",", ":")),
            )
        except Exception as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                log.info("execution %s already exists", saga_id)
                return
            reraise(exc, "stepfunctions", "StartExecution", saga_id=saga_id)

    def signal(self, saga_id: str, event: str, detail: Mapping[str, Any] | None = None) -> SignalOutcome:
        """Deliver ``event`` to the execution waiting for it (see ``StepFunctionsSignaller.signal``)."""
        return self.signaller.signal(saga_id, event, detail)

    def status(self, saga_id: str) -> SagaStatus | None:
        """See the class docstring.

        Raises:
            InfrastructureError: Step Functions refused.
        """
        from fooddelivery_aws.stepfunctions.callbacks import record_key

        try:
            described = self._client.get().describe_execution(executionArn=self.execution_arn(saga_id))
        except Exception as exc:
            if error_code(exc) == "ExecutionDoesNotExist":
                return None
            reraise(exc, "stepfunctions", "DescribeExecution", saga_id=saga_id)
        state = described.get("status")
        if state == "RUNNING":
            try:
                waiting = self.store.get(record_key(saga_id)).status is SagaStatus.WAITING
            except NotFound:
                waiting = False
            return SagaStatus.WAITING if waiting else SagaStatus.RUNNING
        return SagaStatus.SUCCEEDED if state == "SUCCEEDED" else SagaStatus.FAILED


class StepFunctionsSaga:
    """The SQS consumer's side of ``stepfunctions`` mode (see the module docstring).

    Args:
        engine: the Step Functions engine.
    """

    def __init__(self, engine: StepFunctionsEngine) -> None:
        self.engine = engine

    def order_placed(self, event: DomainEvent) -> None:
        """Start the order's execution (idempotent)."""
        self.engine.start(event.order_id)

    def order_cancelled(self, event: DomainEvent) -> None:
        """Signal the waiting execution; one that has finished (``LateEvent``) is left alone.

        A cancellation after the restaurant confirmed needs the cancel-route machine, which this mode does not
        start (see the module docstring of ``fooddelivery_aws.stepfunctions.generate``).

        Raises:
            InvalidTransition: the execution is not waiting yet (the message is retried).
        """
        try:
            self.engine.signal(event.order_id, ORDER_CANCELLED, _cancel_detail(event))
        except LateEvent as exc:
            log.info("OrderCancelled for %s changes nothing: %s", event.order_id, exc)

    def timer(self, message: ScheduledMessage) -> TimerOutcome:
        """Refuse (no timers in this mode).

        Raises:
            ValidationError: always.
        """
        raise ValidationError.single("messageType", "timers are not used in stepfunctions mode", "invalid")

    def resume(self, saga_id: str) -> None:
        """Refuse (Step Functions redrives its own executions).

        Raises:
            ValidationError: always.
        """
        raise ValidationError.single("messageType", "resume commands are not used in stepfunctions mode", "invalid")
