"""The ``SagaEngine`` port on Cloud Workflows, and the per-execution record it shares with the step function.

The record of a saga is a ``SagaState`` in the saga store under ``wf#<saga id>`` (:func:`record_key`; never the bare
saga id, which belongs to the Pub/Sub-driven runner). Its ``status`` says where the execution is (RUNNING,
WAITING, SUCCEEDED, FAILED) and its ``data`` holds:

- ``execution``: the execution's name, once started;
- ``events``, ``deadline`` (polling) or ``callbackUrl`` (callback): while the execution waits;
- ``signals``: events accepted for the current wait (a repeat answers DUPLICATE); ``consumed``: whether the
  polling execution has taken it; ``closed``: the wait is over (an event was taken or the deadline passed);
- whatever a step stored with ``StepContext.checkpoint`` (``reservedDriver``);
- ``_trace``: the W3C context of the order's trace, stored by ``start`` when something is traced, so every step's
  span joins the trace of the order's placement.

``start`` creates the record first (``create`` fails for a known saga: starting twice starts once), then the
execution with ``{"sagaId": <id>}`` (Executions API ``CreateExecution``; it has no idempotency key of its own,
hence the record). A record left without an execution by a crash is taken over after ``stale_after``.

``signal`` in **polling** mode stores the event in the record, in a compare-and-set on the record's version, if the
execution waits for it and the wait is still open (the step function closes it, in the same way, when it hands the
event over or when the deadline passes: one of the two wins). In **callback** mode it POSTs
``{"name", "detail"}`` to the callback URL the workflow registered (an OAuth 2 access token of the caller's
service account, which needs ``workflows.callbacks.send``); 404 means the callback is gone (timed out, or the
execution ended): a late event.

Sources: Executions API https://cloud.google.com/workflows/docs/reference/executions/rest/v1/projects.locations.workflows.executions/create;
callbacks https://cloud.google.com/workflows/docs/creating-callback-endpoints.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Final

from fooddelivery.application.saga.runner import SignalOutcome
from fooddelivery.domain.errors import ConcurrencyConflict, InfrastructureError, InvalidTransition, LateEvent, NotFound
from fooddelivery.observability.tracing import TRACE_KEY, origin_carrier
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.saga_store import SagaState, SagaStateStore, SagaStatus
from fooddelivery_gcp.firestore._support import error_name

__all__ = ["RECORD_PREFIX", "WorkflowsEngine", "record_key", "update_record"]

log = logging.getLogger(__name__)

#: Prefix of the saga-store key of an execution's record.
RECORD_PREFIX: Final[str] = "wf#"
_DEFINITION: Final[str] = "order@workflows"
_MAX_CONFLICTS: Final[int] = 8


def record_key(saga_id: str) -> str:
    """The saga-store key of the record of ``saga_id``."""
    return f"{RECORD_PREFIX}{saga_id}"


def update_record(
    store: SagaStateStore, clock: Clock, saga_id: str, change: Callable[[SagaState], Any]
) -> tuple[SagaState, Any]:
    """Create or update the record of ``saga_id`` with ``change`` (retried on version conflicts); returns the saved
    record and what ``change`` returned. A ``change`` that raises writes nothing.

    Raises:
        ConcurrencyConflict: lost too many races in a row.
    """
    key = record_key(saga_id)
    for _ in range(_MAX_CONFLICTS):
        now = clock.now()
        try:
            record = store.get(key)
        except NotFound:
            record = SagaState(key, _DEFINITION, "", SagaStatus.RUNNING, created_at=now, updated_at=now)
            result = change(record)
            try:
                store.create(record)
            except ConcurrencyConflict:
                continue
            return record, result
        result = change(record)
        record.updated_at = now
        try:
            store.save(record)
        except ConcurrencyConflict:
            continue
        return record, result
    raise ConcurrencyConflict(f"workflow record of saga {saga_id}: lost {_MAX_CONFLICTS} races")


class WorkflowsEngine:
    """Starts and signals executions of the order saga's workflow (implements ``SagaEngine``; see the module
    docstring).

    Args:
        workflow: ``projects/<p>/locations/<l>/workflows/<w>``.
        store: the saga store holding the records.
        clock: time.
        client: a ``google.cloud.workflows.executions_v1.ExecutionsClient``; built on first use when None.
        callbacks: posts to a callback URL (``url, JSON body -> HTTP status``); default: an authorized session of
            the function's service account.
        stale_after: how long a record may stay without an execution before another start takes it over.
    """

    def __init__(
        self,
        workflow: str,
        store: SagaStateStore,
        clock: Clock,
        *,
        client: Any = None,
        callbacks: Callable[[str, Mapping[str, Any]], int] | None = None,
        stale_after: timedelta = timedelta(seconds=60),
    ) -> None:
        self.workflow = workflow
        self.store = store
        self.clock = clock
        self._client = client
        self._callbacks = callbacks
        self.stale_after = stale_after

    @property
    def client(self) -> Any:
        """The executions client (built on first use)."""
        if self._client is None:
            from google.cloud.workflows import executions_v1

            self._client = executions_v1.ExecutionsClient()
        return self._client

    def start(self, saga_id: str, data: Mapping[str, Any] | None = None) -> str | None:
        """Start the execution of ``saga_id`` once; returns the execution's name (None when it was started before).

        Raises:
            InfrastructureError: Workflows refused; the claim is released so a retry starts it.
        """
        now = self.clock.now()
        carrier = (data or {}).get(TRACE_KEY) or origin_carrier()

        def claim(record: SagaState) -> bool:
            if record.data.get("execution"):
                return False
            claimed = record.data.get("claimedAt")
            if claimed and now.timestamp() - float(claimed) < self.stale_after.total_seconds():
                return False
            record.data["claimedAt"] = now.timestamp()
            if carrier:
                # the order's trace: every step reads the record, so its "saga <state>" span joins the trace
                record.data[TRACE_KEY] = dict(carrier)
            return True

        _, mine = update_record(self.store, self.clock, saga_id, claim)
        if not mine:
            log.info("saga %s: execution already started", saga_id)
            return None
        try:
            execution = self.client.create_execution(
                parent=self.workflow,
                execution={"argument": json.dumps({"sagaId": saga_id}, separators=(",", ":"))},
            )
        except Exception as exc:
            update_record(self.store, self.clock, saga_id, lambda r: r.data.pop("claimedAt", None))
            name = error_name(exc)
            if name is None:
                raise
            raise InfrastructureError(
                f"Workflows refused to start saga {saga_id}: {name}", service="workflows", saga_id=saga_id
            ) from exc
        execution_name = str(getattr(execution, "name", "") or "started")
        update_record(self.store, self.clock, saga_id, lambda r: r.data.update(execution=execution_name))
        return execution_name

    def status(self, saga_id: str) -> SagaStatus | None:
        """The record's status; None when the saga was never started."""
        try:
            record = self.store.get(record_key(saga_id))
        except NotFound:
            return None
        return record.status

    def signal(self, saga_id: str, event: str, detail: Mapping[str, Any] | None = None) -> SignalOutcome:
        """Deliver ``event`` to the execution waiting for it.

        Returns:
            ACCEPTED, or DUPLICATE when this event was accepted before (nothing changes).

        Raises:
            NotFound: no such saga.
            InvalidTransition: the execution does not wait (yet) for this event.
            LateEvent: the wait is over (timed out, or another event was taken first).
            InfrastructureError: the callback could not be delivered.
        """
        try:
            record = self.store.get(record_key(saga_id))
        except NotFound:
            raise NotFound(f"saga {saga_id} was never started", saga_id=saga_id) from None
        signals = list(record.data.get("signals", []))
        if event in signals:
            return SignalOutcome.DUPLICATE
        if record.data.get("closed") or signals or record.status in (SagaStatus.SUCCEEDED, SagaStatus.FAILED):
            raise LateEvent(f"saga {saga_id} no longer waits for {event}", saga_id=saga_id)
        if record.status is not SagaStatus.WAITING or event not in record.data.get("events", []):
            raise InvalidTransition(f"saga {saga_id} is not waiting for {event} yet", saga_id=saga_id)
        callback = record.data.get("callbackUrl")
        if callback:
            self._post(saga_id, event, str(callback), {"name": event, "detail": dict(detail or {})})

        def accept(r: SagaState) -> SignalOutcome:
            taken = list(r.data.get("signals", []))
            if event in taken:
                return SignalOutcome.DUPLICATE
            if r.data.get("closed") or taken:
                raise LateEvent(f"saga {saga_id} no longer waits for {event}", saga_id=saga_id)
            r.data["signals"] = [*taken, event]
            r.data["detail"] = dict(detail or {})
            if callback:
                r.data["closed"] = True
                r.status = SagaStatus.RUNNING
            return SignalOutcome.ACCEPTED

        _, outcome = update_record(self.store, self.clock, saga_id, accept)
        return SignalOutcome(outcome)

    def _post(self, saga_id: str, event: str, url: str, body: Mapping[str, Any]) -> None:
        post = self._callbacks or _authorized_post
        try:
            status = post(url, body)
        except Exception as exc:
            raise InfrastructureError(f"callback of saga {saga_id} failed: {type(exc).__name__}") from exc
        if status == 404:
            raise LateEvent(f"saga {saga_id} no longer waits for {event} (callback gone)", saga_id=saga_id)
        if not 200 <= status < 300:
            raise InfrastructureError(f"callback of saga {saga_id} answered {status}", saga_id=saga_id)


def _authorized_post(url: str, body: Mapping[str, Any]) -> int:
    """POST ``body`` to ``url`` with the function's own OAuth 2 credentials (Application Default Credentials)."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    session: Any = AuthorizedSession
    response = session(credentials).post(url, json=dict(body), timeout=30)
    return int(response.status_code)
