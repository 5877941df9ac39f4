"""One order's partition read and written as a unit: the order, its outbox records and its saga instance.

The saga id IS the order id, so an order, the outbox records of its events, its idempotency binding and its saga
instance all belong to the order's partition. A store that can write several items of one partition atomically (a
SQLite or DynamoDB transaction, a Cosmos DB transactional batch, a Firestore transaction) can therefore commit one
saga step -- the order's changes, the events they recorded and the saga's new state -- in one write, and read the
order and its saga together in one call. That is this port.

Every store gets it: :class:`fooddelivery.application.unit_of_work.ComposedUnitOfWork` composes it from the
``OrderRepository`` and ``SagaStateStore`` ports (two calls where the port says one, and not atomic: the order is
written first, then the saga, which the saga's idempotent steps make safe). A store implements it natively when it
can do better (the in-memory, SQLite, DynamoDB, Cosmos DB and Firestore stores do, over a saga store they can write
with in one call).

A native unit may also hold a scheduler's timers (:class:`TimerUnitOfWork`: the SQLite unit of work with the SQLite
scheduler of the same database). The saga runner then writes the timer a step schedules (a retry back-off, a wait's
timeout) and the timer a step cancels (the wait's timeout, once a signal answered it) in the step's own commit: one
write instead of two, and the timer and the saga state are written together or not at all. Everywhere else the
runner schedules a timer before the commit and cancels one after it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from fooddelivery.domain.order import Order
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaState, SagaStateStore
from fooddelivery.ports.scheduler import ScheduledMessage, Scheduler

__all__ = ["OrderUnitOfWork", "TimerUnitOfWork", "UnitOfWorkSource"]


@runtime_checkable
class OrderUnitOfWork(Protocol):
    """Reads and writes one order's partition (order, outbox, idempotency binding, saga instance) as a unit.

    Attributes:
        atomic: True when :meth:`commit` writes everything or nothing (a native implementation); False for the
            composition of two ports (the order is written first, then the saga).
    """

    atomic: bool

    def load(self, order_id: str) -> tuple[Order, SagaState | None]:
        """The stored order (``persisted_version`` / ``concurrency_token`` set, as ``OrderRepository.get``) and its
        saga instance, or None when no saga was started for it.

        A native unit returns a pair that was stored together (a snapshot of the partition, or reads that cannot mix
        two commits): a commit decided on the pair, even one that writes only the saga, must never succeed on a pair
        that never existed. The composed unit reads the two one after the other and gives no such promise.

        Raises:
            NotFound: no such order.
            InfrastructureError: the store failed.
        """
        ...

    def commit(
        self,
        saga: SagaState | None,
        order: Order | None = None,
        *,
        create_saga: bool = False,
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        """Write the order (when given and changed), its pending events and the saga (when given) in one write.

        - ``order``: inserted with its events (and ``idempotency``) when it was never stored (``persisted_version``
          0), as ``OrderRepository.add``; otherwise written with its events if it changed (``version`` differs from
          ``persisted_version``) and the stored order is still the one it was read as, as ``OrderRepository.save``;
          an unchanged order is neither written nor compared (a saga-only step succeeds even if the order changed
          since it was read). On success its pending events are taken from it and ``persisted_version`` (and
          ``concurrency_token``) set anew.
        - ``saga``: inserted at version 1 when ``create_saga``, else replaced if the stored version equals
          ``saga.version``, as ``SagaStateStore.create`` / ``save``; ``saga.version`` is set anew on success.

        A store may resend a write whose answer was lost (a client library's retry). A native unit then either
        recognises its own applied commit (and succeeds) or refuses the resend (``ConcurrencyConflict`` /
        ``DuplicateRequest``); it never writes a commit twice, and never takes another writer's commit for its own.

        Args:
            saga: the saga instance's new state, or None to write the order only; when both are given,
                ``saga.saga_id`` is ``order.order_id`` (the saga lives in the order's partition).
            order: the order, or None to write the saga only.
            create_saga: insert the saga instead of replacing it.
            idempotency: the placement's idempotency binding (only with a new order).

        Raises:
            ConcurrencyConflict: the order or the saga was written by someone else since it was read (or exists,
                for an insert). An atomic commit then wrote nothing; a composed one may have written the order.
            DuplicateRequest / IdempotencyKeyReused: as ``OrderRepository.add``.
            NotFound: an order or saga to replace was never stored.
            InfrastructureError: the store failed. When the answer was lost for good the commit may have been
                applied: the caller reloads before deciding again (the saga's idempotent steps absorb a repeat).
        """
        ...


@runtime_checkable
class UnitOfWorkSource(Protocol):
    """An order store that can build a native :class:`OrderUnitOfWork` over itself and a saga store."""

    def unit_of_work(self, sagas: SagaStateStore) -> OrderUnitOfWork | None:
        """A native unit of work over this order store and ``sagas``, or None when it cannot make one with that
        saga store (another technology, another database): the caller then composes one from the two ports."""
        ...


@runtime_checkable
class TimerUnitOfWork(OrderUnitOfWork, Protocol):
    """An :class:`OrderUnitOfWork` that can also hold a scheduler's timers: its :meth:`commit` then writes the timer
    to schedule and the timer to cancel in the same atomic write as the order, its outbox records and the saga.

    The capability is declared, not assumed: :attr:`timers` names the scheduler whose timers this unit writes, or is
    None when it holds none (then ``schedule`` / ``cancel`` are refused). A caller checks it once (the saga runner,
    at construction, against the scheduler it was given) and passes ``schedule`` / ``cancel`` only when it is the
    scheduler it would otherwise call.

    Attributes:
        timers: the scheduler whose pending timers :meth:`commit` writes (the same messages ``timers.schedule``
            and ``timers.cancel`` would write, counted as they count them), or None.
    """

    timers: Scheduler | None

    def commit(
        self,
        saga: SagaState | None,
        order: Order | None = None,
        *,
        create_saga: bool = False,
        idempotency: IdempotencyRecord | None = None,
        schedule: ScheduledMessage | None = None,
        cancel: str | None = None,
    ) -> None:
        """:meth:`OrderUnitOfWork.commit`, plus the timers, in the same atomic write.

        - ``schedule``: the message to schedule, as ``timers.schedule(schedule)`` would (a no-op while a pending
          message has its ``message_id``; once that id was delivered or cancelled, a new message).
        - ``cancel``: the ``message_id`` of a pending message to remove, as ``timers.cancel(cancel)`` would (none
          pending: nothing removed, not an error). Cancelled before ``schedule`` is written.

        Either timer alone (with ``saga`` and ``order`` None) is one write too. When the commit fails neither timer
        is written: a version conflict on the order or the saga leaves the scheduler as it was.

        Raises:
            TypeError: ``schedule`` or ``cancel`` given while :attr:`timers` is None; nothing was written.
            ValidationError: the message's ``due_at`` is not timezone-aware UTC (field ``due_at``) or its body is not
                JSON-ready (field ``body``); nothing was written.
            ConcurrencyConflict, DuplicateRequest, IdempotencyKeyReused, NotFound, InfrastructureError: as
                :meth:`OrderUnitOfWork.commit`; nothing was written, the timers included.
        """
        ...

    def with_timers(self, scheduler: Scheduler) -> TimerUnitOfWork | None:
        """A unit of work over the same stores that holds ``scheduler``'s timers, or None when it cannot (a
        scheduler of another technology or another database): the caller then keeps this unit and the scheduler
        apart (timer first, then commit; cancel after commit)."""
        ...
