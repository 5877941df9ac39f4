"""The step function every step of the generated workflow calls (``saga_step``).

Request (JSON, from the workflow, with an OIDC token of the workflow's service account)::

    {"sagaId": "ord-1", "step": "capture_payment", "state": "ProcessPayment", "outcome": "", "attempt": 1}
    {"sagaId": "ord-1", "step": "__await__", "state": "WaitForRestaurantConfirmation",
     "events": ["RestaurantConfirmed", ...], "timeoutSeconds": 300, "callbackUrl": "https://..."?}
    {"sagaId": "ord-1", "step": "__poll__", ...}
    {"sagaId": "ord-1", "step": "__finish__", "status": "SUCCEEDED" | "FAILED", "outcome": "..."}

Answer: ``200 {"ok": true, "output": {...}}`` when the step ran; ``200 {"ok": false, "error": <class>, "errors":
[<class>, <its core base classes>], "detail": ...}`` when the core's action raised one of the core's errors (the
workflow raises it and routes it by the generated retry and catch rules, which match by class name or any base
class name, as the core's runner does); 400 for a request the generated workflow never sends, 401 for a bad token.
Any other exception is a bug: it propagates (500), and the workflow treats it as an infrastructure error.

Every action is idempotent on the saga id (payments by idempotency keys, notifications by ids, writes by checking
state), so Workflows' retries and a repeated step are harmless; what an action checkpoints mid-step is kept in the
execution's record (:mod:`fooddelivery_gcp.workflows.engine`) and read back by the next attempt.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fooddelivery.application.saga.runner import Action, StepContext
from fooddelivery.domain.errors import FoodDeliveryError, NotAuthenticated
from fooddelivery.ports.saga_store import SagaState, SagaStatus
from fooddelivery_gcp.workflows.compile import AWAIT_STEP, FINISH_STEP, POLL_STEP, TIMEOUT_EVENT
from fooddelivery_gcp.workflows.engine import record_key, update_record

if TYPE_CHECKING:
    from flask import Request, Response

    from fooddelivery_gcp.bootstrap import GcpApp

__all__ = ["StepHandler", "error_names", "handle_step"]

log = logging.getLogger(__name__)
_BOOKKEEPING = frozenset(
    {"execution", "claimedAt", "events", "deadline", "callbackUrl", "signals", "consumed", "closed", "detail"}
)


class BadStep(ValueError):
    """A request the generated workflow never sends."""


def error_names(exc: FoodDeliveryError) -> list[str]:
    """The class names a retry or catch rule may match ``exc`` by: its class and every base up to
    ``FoodDeliveryError``."""
    return [c.__name__ for c in type(exc).__mro__ if isinstance(c, type) and issubclass(c, FoodDeliveryError)]


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise BadStep(f"{key!r} must be a non-empty string")
    return value


class StepHandler:
    """Runs one workflow step against the application's core (see the module docstring).

    Args:
        app: the GCP application (its saga store and the core's saga actions).
    """

    def __init__(self, app: GcpApp) -> None:
        self.app = app

    @property
    def actions(self) -> Mapping[str, Action]:
        """The runner's actions: with telemetry on, each a ``saga <state>`` span in the order's trace (the
        execution's record carries its context) recording the step's duration, as an in-process step does."""
        return self.app.boot.runner.actions

    def _update(self, saga_id: str, change: Any) -> Any:
        service = self.app.boot.service
        return update_record(service.sagas, service.clock, saga_id, change)[1]

    def run(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Run the step ``body`` names; returns the answer's JSON.

        Raises:
            BadStep: a malformed request.
        """
        saga_id = _text(body, "sagaId")
        step = _text(body, "step")
        state = str(body.get("state") or step)
        outcome = body.get("outcome") or None
        try:
            if step == AWAIT_STEP:
                output = self._await(saga_id, state, body)
            elif step == POLL_STEP:
                output = self._poll(saga_id)
            elif step == FINISH_STEP:
                output = self._finish(saga_id, body, outcome)
            else:
                attempt = body.get("attempt")
                attempt = attempt if isinstance(attempt, int) and not isinstance(attempt, bool) and attempt > 0 else 1
                output = self._action(saga_id, step, state, outcome if isinstance(outcome, str) else None, attempt)
        except FoodDeliveryError as exc:
            names = error_names(exc)
            log.info("saga step failed", extra={"sagaId": saga_id, "step": step, "error": names[0]})
            return {"ok": False, "error": names[0], "errors": names, "detail": exc.detail}
        return {"ok": True, "output": output}

    def _action(self, saga_id: str, step: str, state: str, outcome: str | None, attempt: int = 1) -> dict[str, Any]:
        action = self.actions.get(step)
        if action is None:
            raise BadStep(f"unknown step {step!r}")
        try:
            record = self.app.boot.service.sagas.get(record_key(saga_id))
            data = {k: v for k, v in record.data.items() if k not in _BOOKKEEPING}
        except FoodDeliveryError:
            data = {}

        def checkpoint(values: dict[str, Any]) -> None:
            self._update(saga_id, lambda r: r.data.update(values))
            data.update(values)

        ctx = StepContext(
            saga_id=saga_id, step=state, data=data, outcome=outcome, attempt=attempt, _checkpoint=checkpoint
        )
        out = action(ctx)
        return dict(out or {})

    def _await(self, saga_id: str, state: str, body: Mapping[str, Any]) -> dict[str, Any]:
        events = body.get("events")
        timeout = body.get("timeoutSeconds")
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise BadStep("'events' must be a list of names")
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise BadStep("'timeoutSeconds' must be a positive number")
        deadline = self.app.boot.service.clock.now().timestamp() + float(timeout)
        callback = body.get("callbackUrl")

        def wait(r: SagaState) -> None:
            r.current = state
            r.status = SagaStatus.WAITING
            for key in ("signals", "consumed", "closed", "detail"):
                r.data.pop(key, None)
            r.data.update(events=list(events), deadline=deadline)
            if isinstance(callback, str) and callback:
                r.data["callbackUrl"] = callback
            else:
                r.data.pop("callbackUrl", None)

        self._update(saga_id, wait)
        return {}

    def _poll(self, saga_id: str) -> dict[str, Any]:
        now = self.app.boot.service.clock.now().timestamp()

        def take(r: SagaState) -> dict[str, Any]:
            signals = list(r.data.get("signals", []))
            if signals:
                r.data.update(consumed=True, closed=True)
                r.status = SagaStatus.RUNNING
                return {"name": signals[0], "detail": r.data.get("detail", {})}
            if r.data.get("closed"):
                return {"name": TIMEOUT_EVENT}
            if now >= float(r.data.get("deadline", 0)):
                r.data["closed"] = True
                r.status = SagaStatus.RUNNING
                return {"name": TIMEOUT_EVENT}
            return {"name": ""}

        result: dict[str, Any] = self._update(saga_id, take)
        return result

    def _finish(self, saga_id: str, body: Mapping[str, Any], outcome: Any) -> dict[str, Any]:
        status = body.get("status")
        if status not in (SagaStatus.SUCCEEDED.value, SagaStatus.FAILED.value):
            raise BadStep("'status' must be SUCCEEDED or FAILED")

        def finish(r: SagaState) -> None:
            r.status = SagaStatus(status)
            r.outcome = outcome if isinstance(outcome, str) else None

        self._update(saga_id, finish)
        return {}


def handle_step(request: Request, app: GcpApp) -> Response:
    """The ``saga_step`` function: OIDC token, then the step; what the step committed is published after it."""
    from flask import Response

    settings = app.settings
    assert settings.step_url is not None  # GcpSettings checks it in workflows mode
    try:
        app.verifier(settings.step_url, settings.workflows_service_account).verify(request.headers.get("Authorization"))
    except NotAuthenticated as exc:
        return Response(json.dumps({"ok": False, "detail": exc.detail}), status=401, content_type="application/json")
    try:
        try:
            body = json.loads(request.get_data(cache=False) or b"null")
        except ValueError:
            raise BadStep("the body is not JSON") from None
        if not isinstance(body, dict):
            raise BadStep("the body must be a JSON object")
        answer = StepHandler(app).run(body)
    except BadStep as exc:
        return Response(json.dumps({"ok": False, "detail": str(exc)}), status=400, content_type="application/json")
    try:
        app.boot.service.relay.publish_own()
    except FoodDeliveryError:
        log.warning("event bus unavailable; committed events stay in the outbox", exc_info=True)
    return Response(json.dumps(answer), status=200, content_type="application/json")
