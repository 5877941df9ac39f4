"""The callback side of the generated state machine: where task tokens and mid-step checkpoints are kept, and
how an event (the restaurant confirms, rejects, the customer cancels) reaches an execution that waits for it.

Both live in the core's :class:`~fooddelivery.ports.saga_store.SagaStateStore` (DynamoDB in production) under
the key ``sfn#<saga id>`` (:func:`record_key`), never under the bare saga id, which belongs to the queue-driven
runner. The record's ``data`` holds:

- ``taskToken``, ``events``, ``waitingIn``: while an execution waits in a callback task (status ``WAITING``);
- ``signals``: events already delivered (a repeat answers DUPLICATE, like the in-process runner);
- any value a step stored with ``StepContext.checkpoint`` (e.g. ``reservedDriver``).

Sources:
    - callback pattern, ``SendTaskSuccess``:
      https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token
    - ``SendTaskSuccess`` errors (``TaskTimedOut``, ``InvalidToken``, ``TaskDoesNotExist``):
      https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from fooddelivery.application.saga.runner import SignalOutcome
from fooddelivery.domain.errors import ConcurrencyConflict, InfrastructureError, InvalidTransition, LateEvent, NotFound
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.saga_store import SagaState, SagaStateStore, SagaStatus

__all__ = [
    "RECORD_PREFIX",
    "SendTaskSuccessClient",
    "StepFunctionsSignaller",
    "record_key",
    "update_record",
]

#: Prefix of the saga-store key of an execution's callback record.
RECORD_PREFIX: Final[str] = "sfn#"
_MAX_CONFLICTS = 5
#: ``SendTaskSuccess`` error codes meaning the wait is over (timed out, answered, or the execution ended).
_CLOSED_CODES: Final[frozenset[str]] = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


def record_key(saga_id: str) -> str:
    """The saga-store key of the callback record of ``saga_id``."""
    return f"{RECORD_PREFIX}{saga_id}"


def update_record(
    store: SagaStateStore,
    clock: Clock,
    saga_id: str,
    definition: str,
    change: Callable[[SagaState], None],
) -> SagaState:
    """Create or update the callback record of ``saga_id`` with ``change``, retrying version conflicts.

    Args:
        store: the saga store.
        clock: for ``created_at``/``updated_at``.
        saga_id: the saga (order) id.
        definition: ``"name@version"`` recorded on creation.
        change: mutates the record in place.

    Returns:
        The saved record.

    Raises:
        ConcurrencyConflict: lost :data:`_MAX_CONFLICTS` races in a row.
    """
    key = record_key(saga_id)
    for _ in range(_MAX_CONFLICTS):
        now = clock.now()
        try:
            record = store.get(key)
        except NotFound:
            record = SagaState(key, definition, "", SagaStatus.RUNNING, created_at=now, updated_at=now)
            change(record)
            try:
                store.create(record)
            except ConcurrencyConflict:
                continue
            return record
        change(record)
        record.updated_at = now
        try:
            store.save(record)
        except ConcurrencyConflict:
            continue
        return record
    raise ConcurrencyConflict(f"callback record of saga {saga_id}: lost {_MAX_CONFLICTS} races")


class SendTaskSuccessClient(Protocol):
    """The part of a boto3 ``stepfunctions`` client the signaller uses."""

    def send_task_success(self, *, taskToken: str, output: str) -> Mapping[str, Any]:
        """Complete the callback task holding ``taskToken`` with ``output`` (JSON text)."""
        ...


class StepFunctionsSignaller:
    """Deliver a saga event to the execution waiting for it (``SendTaskSuccess`` with the stored task token).

    Answers like :meth:`fooddelivery.application.saga.runner.SagaRunner.signal`, so the use cases can keep their
    contract when the saga runs on Step Functions: ACCEPTED, DUPLICATE, or an error that changes nothing.
    The callback output is ``{"name": <event>, "detail": {...}}``; the generated Choice routes on ``name``.

    Args:
        sagas: the saga store holding the callback records.
        clock: time source.
        client: a boto3 ``stepfunctions`` client; built lazily on first use when None.
    """

    def __init__(self, sagas: SagaStateStore, clock: Clock, client: SendTaskSuccessClient | None = None) -> None:
        self.sagas = sagas
        self.clock = clock
        self._client = client

    @property
    def client(self) -> SendTaskSuccessClient:
        """The Step Functions client (created on first use: nothing connects at import or construction)."""
        if self._client is None:
            from fooddelivery_aws._clients import build_client

            self._client = build_client("stepfunctions")
        return self._client

    def signal(self, saga_id: str, event: str, detail: Mapping[str, Any] | None = None) -> SignalOutcome:
        """Send ``event`` to the execution of ``saga_id`` if it waits for it.

        Returns:
            ACCEPTED, or DUPLICATE when this event was already delivered (nothing is sent again).

        Raises:
            InvalidTransition: the execution does not wait (yet) for this event.
            LateEvent: the wait is over (timed out, or another event was delivered first); nothing changes.
            InfrastructureError: Step Functions refused the call for another reason.
        """
        try:
            record = self.sagas.get(record_key(saga_id))
        except NotFound:
            raise InvalidTransition(f"saga {saga_id} is not waiting for events yet", saga_id=saga_id) from None
        signals: list[str] = list(record.data.get("signals", []))
        if event in signals:
            return SignalOutcome.DUPLICATE
        token = record.data.get("taskToken")
        if signals:
            raise LateEvent(f"saga {saga_id} no longer waits for {event}", saga_id=saga_id, status=record.status.value)
        if record.status is not SagaStatus.WAITING or token is None:
            raise InvalidTransition(f"saga {saga_id} is not waiting for events yet", saga_id=saga_id)
        if event not in record.data.get("events", []):
            raise InvalidTransition(f"saga {saga_id} does not wait for {event}", saga_id=saga_id)
        output = json.dumps({"name": event, "detail": dict(detail or {})}, separators=(",", ":"))
        self._send(saga_id, event, str(token), output)

        def delivered(r: SagaState) -> None:
            if r.data.get("taskToken") != token:
                return  # a newer attempt of the wait replaced the token meanwhile: it waits for its own event
            r.data.pop("taskToken", None)
            r.status = SagaStatus.RUNNING
            r.data["signals"] = [*r.data.get("signals", []), event]

        update_record(self.sagas, self.clock, saga_id, record.definition, delivered)
        return SignalOutcome.ACCEPTED

    def _send(self, saga_id: str, event: str, token: str, output: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.send_task_success(taskToken=token, output=output)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _CLOSED_CODES:
                raise LateEvent(
                    f"saga {saga_id} no longer waits for {event} ({code})", saga_id=saga_id, code=code
                ) from exc
            raise InfrastructureError(f"SendTaskSuccess failed for saga {saga_id}: {code}", saga_id=saga_id) from exc
        except BotoCoreError as exc:
            raise InfrastructureError(f"SendTaskSuccess failed for saga {saga_id}: {exc}", saga_id=saga_id) from exc
