"""The saga out of the request: ``serve`` answers ``POST /orders`` once the order is committed, and a thread of its
own drives the new order's saga (payment, notifications, the driver) right after.

:class:`SagaQueue` is the in-process consumer ``serve`` plugs into the relay while it runs: ``OrderPlaced`` events
(the saga's start) go to a queue that one daemon thread drains, handing them to the runtime in batches and
publishing what the saga commits; every other event reaches the runtime in the request that committed it, as before
(a restaurant's confirmation answers with the saga's outcome, a delivery frees its driver before the answer).

Nothing is lost with the process: the placement wrote the saga instance (RUNNING) in the order's own transaction
(``fooddelivery.application.unit_of_work.OrderSession``), so an instance whose start was still queued when the
process died is driven on at the next start (``LocalServer.start``: every RUNNING saga is resumed) or, while the
process lives, by the worker's sweep of sagas stuck RUNNING. A start that fails is kept as a dead letter and retried
by that sweep too (``FoodDeliveryService.resume_sagas``).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence

from fooddelivery.application.services import FoodDeliveryService
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent, EventType

__all__ = ["SagaQueue"]

log = logging.getLogger("fooddelivery.server")

#: Most saga starts one pass of the thread takes from the queue.
BATCH: int = 64
_STOP = object()


class SagaQueue:
    """Saga starts queued for a thread; every other event handled inline (see the module docstring).

    Args:
        service: the use cases (``handle_events`` is the runtime's in-process consumer).
    """

    def __init__(self, service: FoodDeliveryService) -> None:
        self.service = service
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._pending = 0

    # -- the relay's consumer ---------------------------------------------------------------------------------
    def __call__(self, events: Sequence[DomainEvent]) -> list[str]:
        """Queue the saga starts (while the thread runs), handle the rest now; returns the ids whose inline
        handling failed (they stay in the outbox for the sweep)."""
        if self._thread is None:
            return self.service.handle_events(events)
        starts = [e for e in events if e.type is EventType.ORDER_PLACED]
        if not starts:
            return self.service.handle_events(events)
        rest = [e for e in events if e.type is not EventType.ORDER_PLACED]
        with self._idle:
            self._pending += len(starts)
        for event in starts:
            self._queue.put(event)
        return self.service.handle_events(rest) if rest else []

    # -- the thread -------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the thread runs (saga starts are queued)."""
        return self._thread is not None

    @property
    def backlog(self) -> int:
        """Saga starts queued or being handled."""
        return self._pending

    def start(self) -> None:
        """Start the thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fooddelivery-sagas", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Handle what is queued, then stop the thread (idempotent). What is still queued after ``timeout_s`` is
        left to the next start's recovery (those sagas are RUNNING in the database)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(_STOP)
        thread.join(timeout_s)

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued saga start was handled; returns False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout_s)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            events = [e for e in batch if isinstance(e, DomainEvent)]
            try:
                self.service.react(events)
            except InfrastructureError as exc:  # an outage (a full disk...): one line, as handle_events logs it
                log.warning("publishing what %d saga starts committed waits for a dependency (%s); the sweep "
                            "publishes it", len(events), exc)
            except Exception:  # handle_events keeps every failure as a dead letter; this is a failed publish
                log.warning("publishing what %d saga starts committed failed; the sweep publishes it", len(events),
                            exc_info=True)
            finally:
                with self._idle:
                    self._pending -= len(events)
                    self._idle.notify_all()
            if stop:
                return
