"""Contract of ``Scheduler``: every scheduler must pass it.

Subclass :class:`SchedulerContract` in a ``Test*`` class, provide the ``scheduler`` fixture and
implement :meth:`SchedulerContract.due`: the messages the scheduler delivers once time has reached
``now`` (for a cloud scheduler, by receiving from its target queue).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from fooddelivery.ports.scheduler import ScheduledMessage, Scheduler
from fooddelivery.testing.builders import T0, make_scheduled

__all__ = ["SchedulerContract"]


class SchedulerContract:
    """Behaviour every ``Scheduler`` must show (fixture ``scheduler``: with nothing scheduled)."""

    @pytest.fixture
    def scheduler(self) -> Scheduler:
        """The Scheduler under test, fresh for each test (subclasses override this fixture)."""
        raise NotImplementedError("a subclass provides the scheduler under test")

    def due(self, scheduler: Scheduler, now: datetime) -> list[ScheduledMessage]:
        """Messages delivered (and consumed) once time is ``now``, in delivery order."""
        raise NotImplementedError("a subclass says how delivered messages are observed")

    def test_a_message_is_not_delivered_before_its_due_time(self, scheduler: Scheduler) -> None:
        message = make_scheduled(due_at=T0 + timedelta(minutes=5))
        scheduler.schedule(message)
        assert self.due(scheduler, T0 + timedelta(minutes=4, seconds=59)) == []

    def test_a_message_is_delivered_once_at_its_due_time_with_every_field(self, scheduler: Scheduler) -> None:
        message = make_scheduled(due_at=T0 + timedelta(minutes=5))
        scheduler.schedule(message)
        assert self.due(scheduler, T0 + timedelta(minutes=5)) == [message]
        assert self.due(scheduler, T0 + timedelta(hours=1)) == []

    def test_late_delivery_hands_over_everything_due_in_due_order(self, scheduler: Scheduler) -> None:
        third = make_scheduled(message_id="msg-3", due_at=T0 + timedelta(minutes=3))
        first = make_scheduled(message_id="msg-1", due_at=T0 + timedelta(minutes=1))
        second = make_scheduled(message_id="msg-2", due_at=T0 + timedelta(minutes=2))
        later = make_scheduled(message_id="msg-9", due_at=T0 + timedelta(minutes=9))
        for message in (third, later, first, second):
            scheduler.schedule(message)
        assert [m.message_id for m in self.due(scheduler, T0 + timedelta(minutes=5))] == [
            "msg-1",
            "msg-2",
            "msg-3",
        ]
        assert [m.message_id for m in self.due(scheduler, T0 + timedelta(minutes=9))] == ["msg-9"]

    def test_messages_due_at_the_same_instant_keep_their_scheduling_order(self, scheduler: Scheduler) -> None:
        at = T0 + timedelta(minutes=1)
        for message_id in ("msg-b", "msg-c", "msg-a"):
            scheduler.schedule(make_scheduled(message_id=message_id, due_at=at))
        assert [m.message_id for m in self.due(scheduler, at)] == ["msg-b", "msg-c", "msg-a"]

    def test_scheduling_the_same_id_twice_delivers_it_once(self, scheduler: Scheduler) -> None:
        message = make_scheduled(message_id="msg-once", due_at=T0 + timedelta(minutes=1))
        scheduler.schedule(message)
        scheduler.schedule(make_scheduled(message_id="msg-once", due_at=T0 + timedelta(minutes=2)))
        assert self.due(scheduler, T0 + timedelta(minutes=10)) == [message]

    def test_a_cancelled_message_is_never_delivered(self, scheduler: Scheduler) -> None:
        keep = make_scheduled(message_id="msg-keep", due_at=T0 + timedelta(minutes=1))
        drop = make_scheduled(message_id="msg-drop", due_at=T0 + timedelta(minutes=1))
        scheduler.schedule(keep)
        scheduler.schedule(drop)
        assert scheduler.cancel("msg-drop") is True
        assert self.due(scheduler, T0 + timedelta(minutes=10)) == [keep]

    def test_cancel_reports_whether_a_pending_message_was_removed(self, scheduler: Scheduler) -> None:
        scheduler.schedule(make_scheduled(message_id="msg-x", due_at=T0 + timedelta(minutes=1)))
        assert scheduler.cancel("msg-x") is True
        assert scheduler.cancel("msg-x") is False
        assert scheduler.cancel("msg-never-scheduled") is False

    def test_cancelling_a_delivered_message_reports_false(self, scheduler: Scheduler) -> None:
        scheduler.schedule(make_scheduled(message_id="msg-done", due_at=T0))
        assert [m.message_id for m in self.due(scheduler, T0)] == ["msg-done"]
        assert scheduler.cancel("msg-done") is False

    def test_the_body_round_trips_unchanged_and_is_independent_of_the_callers_dict(self, scheduler: Scheduler) -> None:
        body: dict[str, Any] = {
            "sagaId": "ord-zoë 🍕",
            "step": "Wait",
            "meta": {"attempt": 1, "tags": ["ä", "東京"]},
        }
        scheduler.schedule(make_scheduled(message_id="msg-body", due_at=T0, body=body))
        body["meta"]["attempt"] = 99
        body["step"] = "changed"
        (delivered,) = self.due(scheduler, T0)
        assert delivered.body == {
            "sagaId": "ord-zoë 🍕",
            "step": "Wait",
            "meta": {"attempt": 1, "tags": ["ä", "東京"]},
        }
        assert delivered.kind == "saga.timeout"
        assert delivered.due_at == T0
