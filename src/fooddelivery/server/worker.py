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
its due time once the worker has seen it, and a timer scheduled meanwhile is seen within ``poll_s``. Every
``checkpoint_s`` it also checkpoints and truncates the SQLite WAL (when given a ``checkpoint``).

When the store fails (a full disk, an I/O error, a damaged file: any ``InfrastructureError``) a pass stops at the
first failure and the worker **backs off**: it waits ``backoff_min_s``, then twice as long after each further
failed pass, at most ``backoff_max_s``, instead of retrying a due timer every millisecond. It logs one line when
passes start failing, one when the reason changes and one when they succeed again -- never one per attempt, and
no traceback for an outage (a traceback is for a bug). Timers it had leased when the failure hit are released
once the store works again, so they are not held until their lease ends. The first pass after an outage also
sweeps at once: it retries the saga events that failed in process and resumes every saga RUNNING and not saved
since the outage began (the store refused its next write: nothing else will drive it), instead of leaving them for
the next regular sweep and ``stale_after_s``. :attr:`BackgroundWorker.outage` is what ``/health`` reports.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from fooddelivery.application.services import FoodDeliveryService
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.ports.saga_store import SagaState, SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage

__all__ = ["BackgroundWorker", "LeasingScheduler", "ListableSagaStore", "Outage", "Pass"]

log = logging.getLogger("fooddelivery.server")


class LeasingScheduler(Protocol):
    """A scheduler whose due messages this process takes itself, leased until acknowledged (``SqliteScheduler``)."""

    def claim_due(self, now: datetime, lease: timedelta = ..., limit: int = ...) -> list[ScheduledMessage]:
        """Lease due messages until ``now + lease``."""
        ...

    def ack(self, message_ids: Sequence[str]) -> int:
        """Delete handled messages."""
        ...

    def release(self, message_ids: Sequence[str]) -> None:
        """End the lease of claimed messages now."""
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
        failure: why the store failed during the pass (``"disk_full: ..."``), or None; the pass stopped there.
    """

    timers_delivered: int = 0
    timers_failed: int = 0
    events_published: int = 0
    sagas_resumed: int = 0
    sagas_failed: int = 0
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class Outage:
    """The store has been failing the worker's passes.

    Attributes:
        reason: the last failure (``"disk_full: database or disk is full"``).
        since: when the first failed pass ended (monotonic seconds).
        failed_passes: passes failed since.
        next_retry_s: the current back-off, seconds.
    """

    reason: str
    since: float
    failed_passes: int
    next_retry_s: float


def _failure(exc: InfrastructureError) -> str:
    return f"{exc.context.get('reason', exc.code)}: {exc.detail}"


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
        backoff_min_s: the first wait after a failed pass (seconds).
        backoff_max_s: the longest wait between failed passes (seconds).
        checkpoint: called every ``checkpoint_s`` (``SqliteDatabase.checkpoint``: the WAL is truncated), or None.
        checkpoint_s: how often (seconds).

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
        backoff_min_s: float = 0.25,
        backoff_max_s: float = 5.0,
        checkpoint: Callable[[], object] | None = None,
        checkpoint_s: float = 60.0,
    ) -> None:
        for name, value in (
            ("poll_s", poll_s),
            ("lease_s", lease_s),
            ("sweep_s", sweep_s),
            ("backoff_min_s", backoff_min_s),
            ("backoff_max_s", backoff_max_s),
            ("checkpoint_s", checkpoint_s),
        ):
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
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = max(backoff_min_s, backoff_max_s)
        self.checkpoint = checkpoint
        self.checkpoint_s = checkpoint_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_sweep = time.monotonic() + sweep_s
        self._next_checkpoint = time.monotonic() + checkpoint_s
        self._outage: Outage | None = None
        # when the current outage began on the service's clock (sagas' ``updated_at`` are on it), and, once it is
        # over, how long a RUNNING saga must not have been saved to be resumed by the recovery sweep
        self._outage_began: datetime | None = None
        self._recovery_stale: timedelta | None = None
        self._pass_lock = threading.Lock()  # one pass at a time (the thread's, or a caller's)
        self._pass_failure: str | None = None
        self._unreleased: list[str] = []

    @property
    def outage(self) -> Outage | None:
        """The current outage (the last passes failed), or None while passes succeed."""
        return self._outage

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

    def note(self, outcome: Pass) -> float:
        """Take a pass run by a caller (start-up recovery's) into the outage state, logging only a change; returns
        how long the worker would wait before its next pass."""
        return self._after_pass(outcome.failure)

    def _run(self) -> None:
        outage = self._outage
        if outage is not None:  # start-up's pass already failed: the first retry waits its turn too
            self._stop.wait(outage.next_retry_s)
        while not self._stop.is_set():
            try:
                failure = self.run_once().failure
            except Exception as exc:  # a bug, not an outage: say so loudly (and back off, so it is not a flood)
                log.exception("background pass failed")
                failure = f"bug: {type(exc).__name__}: {exc}"
            self._stop.wait(self._after_pass(failure))

    def _after_pass(self, failure: str | None) -> float:
        """Update the outage state (logging only its changes); returns how long to sleep."""
        outage = self._outage
        if failure is None:
            if outage is not None:
                self._outage = None
                began = self._outage_began
                if began is not None:  # the next pass sweeps at once (see the module docstring)
                    since = self.service.clock.now() - began
                    self._recovery_stale = min(self.stale_after, max(since, timedelta(0)))
                self._outage_began = None
                log.warning(
                    "background work succeeds again after %.1f s (%d failed passes; last: %s)",
                    time.monotonic() - outage.since,
                    outage.failed_passes,
                    outage.reason,
                )
            return self._sleep_s()
        if outage is None:
            delay = self.backoff_min_s
            self._outage = Outage(failure, time.monotonic(), 1, delay)
            self._outage_began = self.service.clock.now()
            log.warning(
                "background work fails (%s); retrying with back-off (%g s doubling to at most %g s), logged "
                "again only when this changes",
                failure,
                self.backoff_min_s,
                self.backoff_max_s,
            )
            return delay
        delay = min(self.backoff_max_s, outage.next_retry_s * 2)
        if _kind(failure) != _kind(outage.reason):
            log.warning("background work still fails, now: %s", failure)
        self._outage = Outage(failure, outage.since, outage.failed_passes + 1, delay)
        return delay

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
            What the pass did; ``failure`` says why it stopped early (the store failed).
        """
        with self._pass_lock:
            return self._pass(sweep)

    def _pass(self, sweep: bool | None) -> Pass:
        self._pass_failure = None
        self._release_leftovers()
        delivered = failed = published = resumed = resume_failed = 0
        if self._pass_failure is None:
            delivered, failed = self.deliver_due()
        if self._pass_failure is None:
            published = self._pump()
        now_mono = time.monotonic()
        recovery = self._recovery_stale
        if self._pass_failure is None and (
            sweep or recovery is not None or (sweep is None and now_mono >= self._next_sweep)
        ):
            self._next_sweep = now_mono + self.sweep_s
            resumed, resume_failed = self.resume_stuck(recovery)
            if self._pass_failure is None:
                self._recovery_stale = None
            if self._pass_failure is None and self.service.dead_letters:
                try:
                    retried = self.service.resume_sagas()
                except InfrastructureError as exc:
                    self._pass_failure = _failure(exc)
                else:
                    log.info("retried %d saga events that had failed in process", retried)
        if self._pass_failure is None and self.checkpoint is not None and now_mono >= self._next_checkpoint:
            self._next_checkpoint = now_mono + self.checkpoint_s
            try:
                self.checkpoint()
            except InfrastructureError as exc:
                self._pass_failure = _failure(exc)
        return Pass(delivered, failed, published, resumed, resume_failed, self._pass_failure)

    def _release_leftovers(self) -> None:
        """Hand back the timers leased when a failure stopped their delivery (the store may work again)."""
        if not self._unreleased:
            return
        try:
            self.scheduler.release(self._unreleased)
        except InfrastructureError as exc:
            self._pass_failure = _failure(exc)
            return
        self._unreleased = []

    def deliver_due(self) -> tuple[int, int]:
        """Deliver every timer due now; returns (delivered, failed).

        A delivery failing with a bug is logged with its traceback and left leased: it is delivered again when
        the lease ends, and the timers after it are not held up. When the store fails (``InfrastructureError``:
        claiming, delivering or acknowledging) the pass stops there: the timers leased and not delivered are
        released once the store works again, and the worker backs off.
        """
        delivered = failed = 0
        while True:
            now = self.service.clock.now()
            try:
                earliest = self.scheduler.next_due()  # a read: an idle pass never takes the write lock
                due = self.scheduler.claim_due(now, self.lease) if earliest is not None and earliest <= now else []
            except InfrastructureError as exc:
                self._pass_failure = _failure(exc)
                return delivered, failed
            if not due:
                return delivered, failed
            for i, message in enumerate(due):
                try:
                    self.service.deliver_timer(message)
                except InfrastructureError as exc:
                    self._pass_failure = _failure(exc)
                    self._unreleased.extend(m.message_id for m in due[i:])
                    return delivered, failed + 1
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
                except InfrastructureError as exc:
                    # handled; delivered again when its lease ends (the saga ignores a timer it no longer waits for)
                    self._pass_failure = _failure(exc)
                    self._unreleased.extend(m.message_id for m in due[i + 1 :])
                    return delivered + 1, failed
                delivered += 1

    def _pump(self) -> int:
        try:
            return self.service.pump()
        except InfrastructureError as exc:  # committed events stay in the outbox for the next pass
            self._pass_failure = _failure(exc)
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
        except InfrastructureError as exc:
            self._pass_failure = _failure(exc)
            return 0, 0
        now = self.service.clock.now()
        for saga_id in running:
            try:
                state = self.sagas.get(saga_id)
                if state.status is not SagaStatus.RUNNING or now - state.updated_at < threshold:
                    continue
                self.service.resume_saga(saga_id)
                resumed += 1
            except InfrastructureError as exc:  # the store, not the saga: stop here and back off
                self._pass_failure = _failure(exc)
                return resumed, failed + 1
            except Exception:
                failed += 1
                log.exception("saga %s could not be resumed; trying again in %.0f s", saga_id, self.sweep_s)
        return resumed, failed


def _kind(failure: str) -> str:
    """The reason part of a failure (``"disk_full"`` of ``"disk_full: database or disk is full"``)."""
    return failure.split(":", 1)[0]
