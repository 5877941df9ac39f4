"""The ``WorkflowsEngine`` (the core's ``SagaEngine`` on Cloud Workflows) over the Firestore emulator: an execution
is started once however often ``start`` is called; a signal is accepted only while the execution waits for it,
once; the wait's end (an event taken, the deadline passed) makes any later event late; in callback mode the event
is posted to the registered URL. The Executions API itself is a recording fake here (no emulator serves it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.application.saga.runner import SignalOutcome
from fooddelivery.domain.errors import InfrastructureError, InvalidTransition, LateEvent, NotFound
from fooddelivery.ports.saga_store import SagaState, SagaStatus
from fooddelivery_gcp.firestore import FirestoreSagaStateStore
from fooddelivery_gcp.workflows.compile import TIMEOUT_EVENT
from fooddelivery_gcp.workflows.engine import WorkflowsEngine, record_key, update_record

WORKFLOW = "projects/p/locations/us-central1/workflows/order-saga"
EVENTS = ["RestaurantConfirmed", "RestaurantRejected", "OrderCancelled"]


class RecordingExecutions:
    """The part of ``ExecutionsClient`` the engine calls, recording each call (optionally failing once)."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_first = fail_first

    def create_execution(self, *, parent: str, execution: dict[str, Any]) -> Any:
        self.calls.append({"parent": parent, **execution})
        if self.fail_first and len(self.calls) == 1:
            from google.api_core.exceptions import ServiceUnavailable

            raise ServiceUnavailable("try later")

        class Execution:
            name = f"{parent}/executions/e{len(self.calls)}"

        return Execution()


@pytest.fixture
def store(firestore_client: Any, prefix: str) -> FirestoreSagaStateStore:
    return FirestoreSagaStateStore(firestore_client, prefix=prefix)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(datetime(2026, 12, 6, 12, 0, tzinfo=UTC))


def _wait(
    store: FirestoreSagaStateStore, clock: VirtualClock, saga_id: str, seconds: float, url: str | None = None
) -> None:
    """What the step function records when the workflow starts waiting."""

    def wait(r: SagaState) -> None:
        r.status = SagaStatus.WAITING
        r.data.update(events=EVENTS, deadline=clock.now().timestamp() + seconds)
        if url:
            r.data["callbackUrl"] = url

    update_record(store, clock, saga_id, wait)


def test_an_execution_is_started_once_with_the_saga_id(store: FirestoreSagaStateStore, clock: VirtualClock) -> None:
    client = RecordingExecutions()
    engine = WorkflowsEngine(WORKFLOW, store, clock, client=client)
    assert engine.start("ord-1") == f"{WORKFLOW}/executions/e1"
    assert engine.start("ord-1") is None
    assert client.calls == [{"parent": WORKFLOW, "argument": '{"sagaId":"ord-1"}'}]
    assert store.get(record_key("ord-1")).data["execution"] == f"{WORKFLOW}/executions/e1"
    assert engine.status("ord-1") is SagaStatus.RUNNING
    assert engine.status("ord-never") is None


def test_a_refused_start_releases_its_claim_so_the_retry_starts_it(
    store: FirestoreSagaStateStore, clock: VirtualClock
) -> None:
    client = RecordingExecutions(fail_first=True)
    engine = WorkflowsEngine(WORKFLOW, store, clock, client=client)
    with pytest.raises(InfrastructureError):
        engine.start("ord-2")
    assert engine.start("ord-2") == f"{WORKFLOW}/executions/e2"
    assert len(client.calls) == 2


def test_a_polling_wait_takes_one_event_once_and_later_ones_are_late(
    store: FirestoreSagaStateStore, clock: VirtualClock
) -> None:
    engine = WorkflowsEngine(WORKFLOW, store, clock, client=RecordingExecutions())
    with pytest.raises(NotFound):
        engine.signal("ord-3", "RestaurantConfirmed")
    engine.start("ord-3")
    with pytest.raises(InvalidTransition):
        engine.signal("ord-3", "RestaurantConfirmed")  # not waiting yet: the caller retries
    _wait(store, clock, "ord-3", 300)
    assert engine.signal("ord-3", "RestaurantConfirmed") is SignalOutcome.ACCEPTED
    assert engine.signal("ord-3", "RestaurantConfirmed") is SignalOutcome.DUPLICATE
    with pytest.raises(LateEvent):
        engine.signal("ord-3", "RestaurantRejected")
    assert store.get(record_key("ord-3")).data["signals"] == ["RestaurantConfirmed"]


def test_a_wait_past_its_deadline_is_closed_by_the_poll_and_a_late_event_changes_nothing(
    firestore_client: Any, prefix: str, store: FirestoreSagaStateStore, clock: VirtualClock
) -> None:
    from fooddelivery_gcp.workflows.steps import StepHandler

    engine = WorkflowsEngine(WORKFLOW, store, clock, client=RecordingExecutions())
    engine.start("ord-4")
    _wait(store, clock, "ord-4", 300)

    class App:  # the part of GcpApp the handler's poll uses
        class boot:
            class service:
                sagas = store
                steps = type("S", (), {"actions": staticmethod(lambda: {})})()

        boot.service.clock = clock

    handler = StepHandler(App())  # type: ignore[arg-type]
    assert handler.run({"sagaId": "ord-4", "step": "__poll__"}) == {"ok": True, "output": {"name": ""}}
    clock.advance(timedelta(seconds=301))
    assert handler.run({"sagaId": "ord-4", "step": "__poll__"}) == {"ok": True, "output": {"name": TIMEOUT_EVENT}}
    with pytest.raises(LateEvent):
        engine.signal("ord-4", "RestaurantConfirmed")


def test_a_callback_wait_gets_the_event_posted_to_its_url_and_a_gone_callback_is_late(
    store: FirestoreSagaStateStore, clock: VirtualClock
) -> None:
    posted: list[tuple[str, dict[str, Any]]] = []
    answers = iter([200, 404])

    def post(url: str, body: Any) -> int:
        posted.append((url, dict(body)))
        return next(answers)

    engine = WorkflowsEngine(WORKFLOW, store, clock, client=RecordingExecutions(), callbacks=post)
    for saga_id in ("ord-5", "ord-6"):
        engine.start(saga_id)
        _wait(store, clock, saga_id, 300, url=f"https://workflowexecutions.googleapis.com/callbacks/{saga_id}")
    assert engine.signal("ord-5", "RestaurantConfirmed", {"by": "restaurant"}) is SignalOutcome.ACCEPTED
    assert engine.signal("ord-5", "RestaurantConfirmed") is SignalOutcome.DUPLICATE
    assert posted == [
        (
            "https://workflowexecutions.googleapis.com/callbacks/ord-5",
            {"name": "RestaurantConfirmed", "detail": {"by": "restaurant"}},
        )
    ]
    with pytest.raises(LateEvent):
        engine.signal("ord-6", "RestaurantConfirmed")  # 404: timed out meanwhile
    assert store.get(record_key("ord-5")).status is SagaStatus.RUNNING
