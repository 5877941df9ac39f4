"""The in-memory unit of work: an order's partition (order, outbox, idempotency binding, saga) read and written
under both stores' locks at once."""

from __future__ import annotations

import threading
from types import TracebackType

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.memory.orders import InMemoryOrderRepository
from fooddelivery.adapters.memory.saga_store import InMemorySagaStateStore
from fooddelivery.adapters.sizes import order_size, saga_size
from fooddelivery.domain.errors import NotFound
from fooddelivery.domain.events import DomainEvent
from fooddelivery.domain.order import Order
from fooddelivery.metering.operations import store
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaState

__all__ = ["InMemoryUnitOfWork"]

_ORDERS_READ = store("orders", "txn_read")
_ORDERS_READ_MISS = store("orders", "txn_read_miss")
_SAGAS_READ = store("sagas", "txn_read")
_SAGAS_READ_MISS = store("sagas", "txn_read_miss")


class _BothLocks:
    """Two locks taken as one (in this order) and released in reverse: the stores' own locks, when not shared."""

    __slots__ = ("first", "second")

    def __init__(self, first: threading.Lock, second: threading.Lock) -> None:
        self.first = first
        self.second = second

    def __enter__(self) -> None:
        self.first.acquire()
        try:
            self.second.acquire()
        except BaseException:
            self.first.release()
            raise

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.second.release()
        self.first.release()


class InMemoryUnitOfWork:
    """``OrderUnitOfWork`` over an :class:`InMemoryOrderRepository` and an :class:`InMemorySagaStateStore`.

    ``load`` reads the order and its saga under both locks; ``commit`` checks every write first (the order's
    version or its insert, the saga's version or its insert) and applies them only if all pass, under both locks
    (taken in one order: the order store's, then the saga store's; only one when the saga store shares the order
    store's, as ``bootstrap`` builds them: ``InMemorySagaStateStore(lock=orders.lock)``), so it writes everything or
    nothing. The stores keep what they keep for their own writes (independent copies, the outbox, the indexes).

    Counted operations (with the stores' ``counters``): ``units.reads`` per ``load``, ``units.writes`` per
    ``commit`` (successful or not), and ``outbox.writes`` per outbox record written. Metered as the cloud stores'
    native units of work bill it (DynamoDB ``TransactWriteItems``, a Cosmos DB transactional batch, a Firestore
    batched write), so ``fooddelivery cost`` prices the deployments as they run: a commit that writes the order and
    the saga is one atomic write (``orders.txn``) whose items are the order, its outbox records, its binding and the
    saga (``sagas.txn_item``); a commit of the order alone is the order store's own write, of the saga alone the saga
    store's; a load is one snapshot read of both items (``orders.txn_read`` and ``sagas.txn_read`` or
    ``sagas.txn_read_miss``: DynamoDB's ``TransactGetItems`` bills each item twice a strongly consistent ``GetItem``).

    Args:
        orders: the order store (and outbox).
        sagas: the saga store.
    """

    atomic = True

    def __init__(self, orders: InMemoryOrderRepository, sagas: InMemorySagaStateStore) -> None:
        self.orders = orders
        self.sagas = sagas
        self._counters: OperationCounters | None = orders._counters
        #: what load and commit hold: the one lock both stores share, else both stores' locks
        self._locked: threading.Lock | _BothLocks = (
            orders._lock if sagas._lock is orders._lock else _BothLocks(orders._lock, sagas._lock)
        )

    def load(self, order_id: str) -> tuple[Order, SagaState | None]:
        """The order (a snapshot) and its saga (a copy, or None).

        Raises:
            NotFound: no such order.
        """
        if self._counters is not None:
            self._counters.local.counts["units.reads"] += 1
        orders, sagas = self.orders, self.sagas
        with self._locked:
            found = orders._orders.get(order_id)
            order = found.snapshot() if found is not None else None
            stored = sagas._states.get(order_id)
            saga = stored.copy() if stored is not None else None
            saga_bytes = sagas._sizes.get(order_id) if stored is not None else None
        # one snapshot read of both items, billed per item whether found or not
        if orders._meter is not None:
            if order is None:
                orders._meter.record(_ORDERS_READ_MISS)
            else:
                size = orders._sizes.get(order_id)  # (the records: meter.record(...) without the calls)
                orders._meter.local.sized[_ORDERS_READ, size if size is not None else order_size(order)] += 1
        if sagas._meter is not None:
            if stored is None:
                sagas._meter.record(_SAGAS_READ_MISS)
            else:
                sagas._meter.local.sized[
                    _SAGAS_READ, saga_bytes if saga_bytes is not None else saga_size(stored)
                ] += 1
        if order is None:
            raise NotFound(f"order {order_id} not found", order_id=order_id)
        return order, saga

    def commit(
        self,
        saga: SagaState | None,
        order: Order | None = None,
        *,
        create_saga: bool = False,
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        """Write the order (if new or changed) with its events, and the saga, atomically (see the port).

        Raises:
            ConcurrencyConflict, DuplicateRequest, IdempotencyKeyReused, NotFound: nothing was written.
        """
        counters = self._counters
        orders, sagas = self.orders, self.sagas
        insert = order is not None and order.persisted_version == 0
        write_order = order is not None and (insert or order.version != order.persisted_version)
        stored: Order | None = None
        events: list[DomainEvent] = []
        try:
            with self._locked:
                if write_order:
                    assert order is not None
                    if insert:
                        orders._check_add(order, idempotency)
                    else:
                        # orders._check_save(order), its test written out: called only to raise what it raises
                        stored_orders, order_id = orders._orders, order.order_id  # (no dict.get call)
                        if order_id not in stored_orders or stored_orders[order_id].version != order.persisted_version:
                            orders._check_save(order)
                if saga is not None:
                    if create_saga:
                        sagas._check_create(saga)
                    else:
                        # sagas._check_save(saga), likewise
                        states, saga_id = sagas._states, saga.saga_id
                        if saga_id not in states or states[saga_id].version != saga.version:
                            sagas._check_save(saga)
                # every check passed: apply
                if write_order:
                    assert order is not None
                    stored, events = orders._apply_add(order, idempotency) if insert else orders._apply_save(order)
                if saga is not None:
                    if create_saga:
                        sagas._apply_create(saga)
                    else:  # sagas._apply_save(saga), written out
                        saga.version += 1
                        sagas._states[saga.saga_id] = saga.copy()
        except BaseException:
            if counters is not None:
                counters.local.counts["units.writes"] += 1  # an attempt counts, whatever its outcome
            raise
        # the stores' _after_write, written out: count (and meter) what took effect
        together = stored is not None and saga is not None
        if counters is not None:  # the unit's write and the outbox records it carried, in one call
            if events:
                counts = counters.local.counts
                counts["units.writes"] += 1
                counts["outbox.writes"] += len(events)
            else:
                counters.local.counts["units.writes"] += 1
        if stored is not None and orders._meter is not None:
            orders._meter_write(orders._meter, stored, events, idempotency, in_transaction=together)
        if saga is not None and sagas._meter is not None:
            sagas._after_write(saga, in_transaction=together)
