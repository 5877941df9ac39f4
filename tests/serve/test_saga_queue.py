"""The saga queue's thread logs an outage as one line (a full disk must not fill the log with tracebacks) and
anything else with its traceback, and counts the failed batch as handled either way (the sweep publishes it)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.server.saga_queue import SagaQueue
from fooddelivery.testing.builders import make_event


class _FailingService:
    """Stands in for the use cases: every ``react`` raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.reacted: list[list[str]] = []

    def handle_events(self, events: Sequence[DomainEvent]) -> list[str]:
        return []

    def react(self, events: Sequence[DomainEvent]) -> None:
        self.reacted.append([e.event_id for e in events])
        raise self.error


def _run_one(service: _FailingService) -> SagaQueue:
    saga_queue = SagaQueue(service)  # type: ignore[arg-type]
    saga_queue.start()
    try:
        assert saga_queue([make_event(type=EventType.ORDER_PLACED)]) == []
        assert saga_queue.drain(5.0)
    finally:
        saga_queue.stop()
    return saga_queue


def test_an_outage_while_publishing_is_one_line_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    service = _FailingService(InfrastructureError("commit: the disk is full (database or disk is full)"))
    with caplog.at_level(logging.WARNING, logger="fooddelivery.server"):
        saga_queue = _run_one(service)

    assert len(service.reacted) == 1 and saga_queue.backlog == 0
    (record,) = [r for r in caplog.records if r.name == "fooddelivery.server"]
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == (
        "publishing what 1 saga starts committed waits for a dependency (commit: the disk is full (database or disk "
        "is full)); the sweep publishes it"
    )


def test_any_other_failure_while_publishing_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    service = _FailingService(RuntimeError("a bug"))
    with caplog.at_level(logging.WARNING, logger="fooddelivery.server"):
        saga_queue = _run_one(service)

    assert saga_queue.backlog == 0
    (record,) = [r for r in caplog.records if r.name == "fooddelivery.server"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "failed; the sweep publishes it" in record.getMessage()
