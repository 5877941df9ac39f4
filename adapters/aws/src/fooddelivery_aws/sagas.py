"""The order saga on AWS: the Step Functions engine (``stepfunctions`` mode) and the timer-less scheduler it uses.

What every saga input does -- start, signal, deliver a timer, resume, free a driver, notify -- is decided once, in
the core's :class:`~fooddelivery.application.runtime.OrderRuntime`; the SQS consumer
(:mod:`fooddelivery_aws.entrypoints.sqs`) only translates records into its inputs. Two modes:

- ``queue`` (the default): the core's ``SagaRunner`` runs in the SQS Lambda over DynamoDB saga state, with timers on
  the timer queue (:class:`~fooddelivery_aws.messaging.sqs_scheduler.SqsScheduler`);
- ``stepfunctions``: the generated state machine runs the saga. :class:`StepFunctionsEngine` is the core's
  ``SagaEngine`` port on Step Functions: the runtime starts an execution named after the order on ``OrderPlaced``
  (``StartExecution`` is idempotent for the same name and input; ``ExecutionAlreadyExists`` for a finished one is
  taken as done) and signals the waiting callback task on ``OrderCancelled`` and on the restaurant's answer
  (:class:`~fooddelivery_aws.stepfunctions.callbacks.StepFunctionsSignaller`). The state machine keeps its own time,
  so no timer is ever scheduled (:class:`NoTimers`) and the runtime refuses timers and resume commands as
  malformed (they go to the dead-letter queue).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fooddelivery.domain.errors import InfrastructureError, NotFound
from fooddelivery.observability.tracing import TRACE_KEY, origin_carrier
from fooddelivery.ports.saga_engine import SignalOutcome
from fooddelivery.ports.saga_store import SagaStateStore, SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery_aws._clients import LazyClient, error_code, reraise

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

    from fooddelivery_aws.stepfunctions.callbacks import StepFunctionsSignaller

__all__ = ["NoTimers", "StepFunctionsEngine"]

log = logging.getLogger(__name__)

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

    - ``start``: ``StartExecution`` named after the order with ``{"sagaId", "orderId"}`` and, when traced, the
      trace context (:meth:`execution_input`); idempotent for the same name and input, and
      ``ExecutionAlreadyExists`` -- the execution has finished, or a redelivery started it under another span of
      the trace -- is taken as done;
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

    @staticmethod
    def execution_input(saga_id: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The execution's input: ``{"sagaId", "orderId"}`` and, when something is traced, the W3C context of the
        order's trace under ``_trace`` (``data``'s, else the message being handled's or the current span's), which
        every Task state passes to the task Lambda (``"data.$": "$"``): each step's span joins the order's trace.
        """
        body: dict[str, Any] = {"sagaId": saga_id, "orderId": saga_id}
        carrier = (data or {}).get(TRACE_KEY) or origin_carrier()
        if carrier:
            body[TRACE_KEY] = dict(carrier)
        return body

    def start(self, saga_id: str, data: Mapping[str, Any] | None = None) -> None:
        """Start the execution of ``saga_id`` (idempotent).

        Raises:
            InfrastructureError: Step Functions refused.
        """
        try:
            self._client.get().start_execution(
                stateMachineArn=self.state_machine_arn,
                name=saga_id,
                input=json.dumps(self.execution_input(saga_id, data), separators=(",", ":")),
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
