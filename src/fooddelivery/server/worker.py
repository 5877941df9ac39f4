"""The background work of ``fooddelivery serve``: saga timers, the outbox, and sagas left behind.

A :class:`BackgroundWorker` runs one daemon thread next to the HTTP server. Each pass it

1. delivers every due timer of the persistent scheduler (saga retries and confirmation timeouts): each message
   is *leased* (``claim_due``), handed to ``service.deliver_timer`` and acknowledged (``ack``) only once
   handled, so a crash mid-delivery, or a failing delivery, brings it back when its lease ends (at least once;
   the saga runner ignores a timer its instance no longer waits for), while the other due timers go on;
2. flushes the outbox (``service.pump``), in case a request's own flush found the bus unavailable;
3. now and then (every ``sweep_s``) resumes sagas stuck RUNNING for ``stale_after_s`` (a request that drove one
   failed half-way) and retries the saga events that failed in process (``service.resume_sagas``).

It sleeps until the earliest pending timer is due, at most ``poll_s``, so a timer fires within milliseconds of
its due time once the worker has seen it, and a timer scheduled meanwhile is seen within ``poll_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from fooddelivery.application.services import FoodDeliveryService
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.ports.saga_store import SagaState, SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage

__all__ = ["BackgroundWorker", "LeasingScheduler", "ListableSagaStore", "Pass"]

log = logging.getLogger("fooddelivery.server")


class LeasingScheduler(Protocol):
    """A scheduler whose due messages this process takes itself, leased until acknowledged (``SqliteScheduler``)."""

    def claim_due(self, now: datetime, lease: timedelta = ..., limit: int = ...) -> list[ScheduledMessage]:
        """Lease due messages until ``now + lease``."""
        ...

    def ack(self, message_ids: Sequence[str]) -> int:
        """Delete handled messages."""
        ...

    def next_due(self) -> datetime | None:
        """When the earliest pending message can be taken, or None."""
        ...


class ListableSagaStore(Protocol):
    """A saga store that lists its instances by status (``SqliteSagaStateStore``)."""

    def ids(self, status: SagaStatus | None = None) -> list[str]:
        """Saga ids, of ``status`` if given."""
        ...

    def get(self, saga_id: str) -> SagaState:
        """One instance."""
        ...


@dataclass(frozen=True, slots=True)
class Pass:
    """What one pass of the worker did.

    Attributes:
        timers_delivered: timers handled and acknowledged.
        timers_failed: timers whose delivery raised (they come back when their lease ends).
        events_published: outbox events published.
        sagas_resumed: sagas found stuck RUNNING and driven on.
        sagas_failed: sagas whose resumption raised (tried again on a later sweep).
    """

    timers_delivered: int = 0
    timers_failed: int = 0
    events_published: int = 0
    sagas_resumed: int = 0
    sagas_failed: int = 0


class BackgroundWorker:
    """Delivers due saga timers, flushes the outbox and resumes stuck sagas, in a daemon thread.

    Args:
        service: the use cases (``bootstrap(...).service``): its runner, relay and clock are used.
        scheduler: the persistent scheduler the saga runner schedules on.
        sagas: the saga store the runner saves to.
        poll_s: longest sleep between passes (seconds).
        lease_s: how long a claimed timer stays leased; a timer whose delivery failed is retried after it.
        sweep_s: how often stuck sagas and failed saga events are retried (seconds).
        stale_after_s: a RUNNING saga not saved for this long is considered stuck (seconds).

    Raises:
        ValueError: a non-positive interval.
    """

    def __init__(
        self,
        service: FoodDeliveryService,
        scheduler: LeasingScheduler,
        sagas: ListableSagaStore,
        *,
        poll_s: float = 0.5,
        lease_s: float = 30.0,
        sweep_s: float = 15.0,
        stale_after_s: float = 30.0,
    ) -> None:
        for name, value in (("poll_s", poll_s), ("lease_s", lease_s), ("sweep_s", sweep_s)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        if stale_after_s < 0:
            raise ValueError(f"stale_after_s must be >= 0, got {stale_after_s!r}")
        self.service = service
        self.scheduler = scheduler
        self.sagas = sagas
        self.poll_s = poll_s
        self.lease = timedelta(seconds=lease_s)
        self.sweep_s = sweep_s
        self.stale_after = timedelta(seconds=stale_after_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_sweep = time.monotonic() + sweep_s

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread (once).

        Raises:
            RuntimeError: already started.
        """
        if self._thread is not None:
            raise RuntimeError("the background worker is already started")
        self._thread = threading.Thread(target=self._run, name="fooddelivery-timers", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the thread to stop after its current pass and wait up to ``timeout_s`` for it. Idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("the background worker did not stop within %.1f s", timeout_s)

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a bug, not an outage: say so loudly and keep the server's timers alive
                log.exception("background pass failed")
            self._stop.wait(self._sleep_s())

    def _sleep_s(self) -> float:
        try:
            due = self.scheduler.next_due()
        except InfrastructureError:
            return self.poll_s
        if due is None:
            return self.poll_s
        wait = (due - self.service.clock.now()).total_seconds()
        return min(self.poll_s, max(0.0, wait) + 0.001)

    # -- one pass ------------------------------------------------------------------------------------------
    def run_once(self, *, sweep: bool | None = None) -> Pass:
        """One pass: due timers, the outbox, and (when due, or when ``sweep`` is True) stuck sagas.

        Args:
            sweep: force (True) or skip (False) the stuck-saga sweep; None sweeps every ``sweep_s``.

        Returns:
            What the pass did.
        """
        delivered, failed = self.deliver_due()
        published = self._pump()
        resumed = resume_failed = 0
        now_mono = time.monotonic()
        if sweep or (sweep is None and now_mono >= self._next_sweep):
            self._next_sweep = now_mono + self.sweep_s
            resumed, resume_failed = self.resume_stuck()
            if self.service.dead_letters:
                retried = self.service.resume_sagas()
                log.info("retried %d saga events that had failed in process", retried)
        return Pass(delivered, failed, published, resumed, resume_failed)

    def deliver_due(self) -> tuple[int, int]:
        """Deliver every timer due now; returns (delivered, failed).

        A failed delivery is logged with its error and left leased: it is delivered again when the lease ends,
        and the timers after it are not held up.
        """
        delivered = failed = 0
        while True:
            now = self.service.clock.now()
            try:
                earliest = self.scheduler.next_due()  # a read: an idle pass never takes the write lock
                due = self.scheduler.claim_due(now, self.lease) if earliest is not None and earliest <= now else []
            except InfrastructureError:
                log.warning("could not read due timers; trying again shortly", exc_info=True)
                return delivered, failed
            if not due:
                return delivered, failed
            for message in due:
                try:
                    self.service.deliver_timer(message)
                except Exception:
                    failed += 1
                    log.exception(
                        "timer %s (%s) failed; it is delivered again in %.0f s",
                        message.message_id,
                        message.kind,
                        self.lease.total_seconds(),
                    )
                    continue
                try:
                    self.scheduler.ack([message.message_id])
                except InfrastructureError:
                    log.warning("timer %s handled but not acknowledged", message.message_id, exc_info=True)
                delivered += 1

    def _pump(self) -> int:
        try:
            return self.service.pump()
        except InfrastructureError:
            log.warning("event bus unavailable; committed events stay in the outbox", exc_info=True)
            return 0

    def resume_stuck(self, stale_after: timedelta | None = None) -> tuple[int, int]:
        """Drive on every saga RUNNING and not saved for ``stale_after`` (default: the worker's); returns
        (resumed, failed).

        At start-up, before any request is served, pass ``timedelta(0)``: every RUNNING saga was interrupted by
        the previous process's end.
        """
        threshold = self.stale_after if stale_after is None else stale_after
        resumed = failed = 0
        try:
            running = self.sagas.ids(status=SagaStatus.RUNNING)
        except InfrastructureError:
            log.warning("could not list running sagas", exc_info=True)
            return 0, 0
        now = self.service.clock.now()
        for saga_id in running:
            try:
                state = self.sagas.get(saga_id)
                if state.status is not SagaStatus.RUNNING or now - state.updated_at < threshold:
                    continue
                self.service.resume_saga(saga_id)
                resumed += 1
            except Exception:
                failed += 1
                log.exception("saga %s could not be resumed; trying again in %.0f s", saga_id, self.sweep_s)
        return resumed, failed
