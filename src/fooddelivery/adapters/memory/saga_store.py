"""Saga instances in memory, with optimistic concurrency on their version."""

from __future__ import annotations

import threading

from fooddelivery.adapters.counters import OperationCounters, meter_of
from fooddelivery.adapters.sizes import saga_size
from fooddelivery.domain.errors import ConcurrencyConflict, NotFound
from fooddelivery.metering.operations import store
from fooddelivery.ports.saga_store import SagaState

__all__ = ["InMemorySagaStateStore", "copy_saga_state"]

_READ = store("sagas", "read")
_READ_MISS = store("sagas", "read_miss")
_WRITE = store("sagas", "write")
_TXN_ITEM = store("sagas", "txn_item")


def copy_saga_state(state: SagaState) -> SagaState:
    """An independent copy of ``state``: ``SagaState.copy()`` (lists and ``attempts`` copied, ``data`` copied at
    every dict/list depth; strings, numbers, datetimes and other immutable values shared)."""
    return state.copy()


class InMemorySagaStateStore:
    """Saga instances keyed by ``saga_id`` (implements ``SagaStateStore``). Thread-safe.

    Stores and returns independent copies (``SagaState.copy``), so a caller's later changes never
    reach the store until it saves them.

    Counted operations (with ``counters``): ``saga.reads`` per ``get``, ``saga.writes`` per
    ``create``/``save`` (successful or not). Metered: ``store.sagas.write`` per stored write (sized: the
    instance), ``store.sagas.read`` (or ``read_miss``) per ``get``.

    Args:
        counters: optional shared operation counters.
        lock: the lock this store's reads and writes take: an in-memory order store's
            (``InMemoryOrderRepository.lock``) makes their unit of work take one lock, not two; by default its own.
    """

    def __init__(self, *, counters: OperationCounters | None = None, lock: threading.Lock | None = None) -> None:
        self._lock = lock if lock is not None else threading.Lock()
        self._counters = counters
        self._meter = meter_of(counters)
        self._states: dict[str, SagaState] = {}
        self._sizes: dict[str, int] = {}

    def create(self, state: SagaState) -> None:
        """Insert ``state`` at version 1 (sets ``state.version = 1``).

        Raises:
            ConcurrencyConflict: an instance with this id exists (``state`` is left unchanged).
        """
        if self._counters is not None:
            self._counters.local.counts["saga.writes"] += 1
        with self._lock:
            self._check_create(state)
            self._apply_create(state)
        self._after_write(state)

    def _check_create(self, state: SagaState) -> None:
        """Refuse an insert (call with the lock held).

        Raises:
            ConcurrencyConflict: the id exists.
        """
        if state.saga_id in self._states:
            raise ConcurrencyConflict(f"saga {state.saga_id} already exists", saga_id=state.saga_id)

    def _apply_create(self, state: SagaState) -> None:
        state.version = 1
        self._states[state.saga_id] = state.copy()

    def _after_write(self, state: SagaState, *, in_transaction: bool = False) -> None:
        """Meter a write that took effect: its own write, or (``in_transaction``) an item of another store's atomic
        write (a unit of work's commit with its order)."""
        if self._meter is not None:
            size = self._sizes[state.saga_id] = saga_size(state)
            self._meter.local.sized[_TXN_ITEM if in_transaction else _WRITE, size] += 1  # meter.record, no call

    def get(self, saga_id: str) -> SagaState:
        """An independent copy of the stored instance.

        Raises:
            NotFound: no such instance.
        """
        if self._counters is not None:
            self._counters.local.counts["saga.reads"] += 1
        with self._lock:
            copy = self._read(saga_id)
        return copy

    def _read(self, saga_id: str) -> SagaState:
        """A copy of the stored instance, metered as a read (call with the lock held).

        Raises:
            NotFound: no such instance.
        """
        stored = self._states.get(saga_id)
        meter = self._meter
        if stored is None:
            if meter is not None:
                meter.record(_READ_MISS)
            raise NotFound(f"saga {saga_id} not found", saga_id=saga_id)
        if meter is not None:
            size = self._sizes.get(saga_id)
            meter.local.sized[_READ, size if size is not None else saga_size(stored)] += 1  # meter.record, no call
        return stored.copy()

    def save(self, state: SagaState) -> None:
        """Replace if the stored version equals ``state.version``, then bump ``state.version``.

        Raises:
            NotFound: never created.
            ConcurrencyConflict: the stored version differs (nothing written, ``state`` unchanged).
        """
        if self._counters is not None:
            self._counters.local.counts["saga.writes"] += 1
        with self._lock:
            self._check_save(state)
            self._apply_save(state)
        self._after_write(state)

    def _check_save(self, state: SagaState) -> None:
        """Refuse a replacement (call with the lock held).

        Raises:
            NotFound, ConcurrencyConflict: see :meth:`save`.
        """
        stored = self._states.get(state.saga_id)
        if stored is None:
            raise NotFound(f"saga {state.saga_id} not found", saga_id=state.saga_id)
        if stored.version != state.version:
            raise ConcurrencyConflict(
                f"saga {state.saga_id} is at version {stored.version}, not {state.version}",
                saga_id=state.saga_id,
            )

    def _apply_save(self, state: SagaState) -> None:
        state.version += 1
        self._states[state.saga_id] = state.copy()

    def release(self, saga_id: str, *, finished_only: bool = False) -> SagaState | None:
        """Forget an instance (a finished one, whose order the caller releases too); returns what was stored, or None
        when there is none (or, with ``finished_only``, when it has not finished: it is kept). Not a port operation:
        neither counted nor metered (see ``InMemoryOrderRepository.release``)."""
        with self._lock:
            stored = self._states.get(saga_id)
            if stored is None or (finished_only and not stored.finished):
                return None
            self._sizes.pop(saga_id, None)
            return self._states.pop(saga_id)

    def __len__(self) -> int:
        """How many instances are stored."""
        return len(self._states)

    def ids(self) -> list[str]:
        """Every stored saga id, sorted (for inspection and recovery sweeps in tests)."""
        with self._lock:
            return sorted(self._states)
