"""Orders in memory, with the transactional outbox in the same store (one lock, one transaction)."""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import islice

from fooddelivery.adapters.counters import OperationCounters, meter_of
from fooddelivery.adapters.paging import (
    bad_cursor,
    check_limit,
    decode_cursor,
    encode_cursor,
)
from fooddelivery.adapters.sizes import forget_order, idempotency_size, order_size, outbox_size
from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    NotFound,
)
from fooddelivery.domain.events import DomainEvent
from fooddelivery.domain.order import Order, OrderStatus
from fooddelivery.metering import UsageMeter
from fooddelivery.metering.operations import store
from fooddelivery.ports.messaging import OutboxRecord
from fooddelivery.ports.orders import IdempotencyRecord, Page
from fooddelivery.ports.saga_store import SagaStateStore
from fooddelivery.ports.unit_of_work import OrderUnitOfWork

__all__ = ["InMemoryOrderRepository"]

_ORDERS_READ = store("orders", "read")
_ORDERS_READ_MISS = store("orders", "read_miss")
_ORDERS_QUERY = store("orders", "query")
_ORDERS_QUERY_ITEM = store("orders", "query_item")
_OUTBOX_QUERY_ITEM = store("outbox", "query_item")
_ORDERS_WRITE = store("orders", "write")
_ORDERS_TXN = store("orders", "txn")
_ORDERS_TXN_ITEM = store("orders", "txn_item")
_OUTBOX_TXN_ITEM = store("outbox", "txn_item")
_OUTBOX_QUERY = store("outbox", "query")
_OUTBOX_DELETE = store("outbox", "delete")
_OUTBOX_UPDATE = store("outbox", "update")
_IDEMPOTENCY_TXN_ITEM = store("idempotency", "txn_item")
_IDEMPOTENCY_READ = store("idempotency", "read")
_IDEMPOTENCY_READ_MISS = store("idempotency", "read_miss")

#: An index entry: (created_at, order_id). One tuple object is shared by every index the order is
#: in.
_Key = tuple[datetime, str]


def _insert(index: list[_Key], key: _Key) -> None:
    # Orders mostly arrive in time order: appending is the common, O(1) case.
    if not index or index[-1] < key:
        index.append(key)
    else:
        insort(index, key)


def _remove(index: list[_Key], key: _Key) -> None:
    i = bisect_left(index, key)
    if i < len(index) and index[i] == key:
        del index[i]


def _key_cursor(kind: str, scope: str, key: _Key) -> str:
    return encode_cursor({"k": kind, "s": scope, "t": key[0].isoformat(), "id": key[1]})


def _cursor_key(cursor: str, kind: str, scope: str) -> _Key:
    pos = decode_cursor(cursor, kind, ("s", "t", "id"))
    if pos["s"] != scope:
        raise bad_cursor()
    try:
        at = datetime.fromisoformat(pos["t"])
    except ValueError:
        raise bad_cursor() from None
    if at.utcoffset() is None:
        raise bad_cursor()
    return (at, pos["id"])


class InMemoryOrderRepository:
    """Orders, their idempotency keys and their outbox records in one locked store.

    Implements both ``OrderRepository`` and ``Outbox``: ``add``/``save`` write the order, its
    pending events (taken from the aggregate) and the idempotency binding under one lock, exactly
    like a transactional write in a real store. Stored orders are independent snapshots
    (``Order.snapshot()``), never changed once stored (a write replaces one); reads return new snapshots, so callers
    never share state with the store or with each other, and ``get`` reads without the lock (one dict read).

    Indexes mirror the cloud stores' secondary indexes: customer + created_at (newest first),
    restaurant + created_at and restaurant + status + created_at (oldest first). Per order the store
    keeps one snapshot and one shared index key; outbox records are dropped when marked published.
    Outbox records hold the events handed over by ``Order.take_events()`` (frozen dataclasses that
    the aggregate no longer references); their ``payload`` dicts are treated as read-only.

    Counted operations (with ``counters``): ``orders.reads`` per
    ``get``/``find_idempotent``/``list_*`` call, ``orders.writes`` per ``add``/``save`` call
    (successful or not), ``outbox.writes`` per outbox record written, removed by ``mark_published``
    or updated by ``mark_failed``.

    Metered operations (with ``counters``, sized as in :mod:`fooddelivery.adapters.sizes`), as the cloud
    stores would do them: an ``add``/``save`` with events or a binding is one atomic write
    (``store.orders.txn``) of ``store.orders.txn_item`` + one ``store.outbox.txn_item`` per event (+ one
    ``store.idempotency.txn_item``), without them one ``store.orders.write``; ``get`` is a
    ``store.orders.read``, ``find_idempotent`` a ``store.idempotency.read`` (or ``read_miss``), each listing
    page and ``pending`` call a ``store.orders.query`` / ``store.outbox.query`` (sized: the items
    returned), ``mark_published`` one ``store.outbox.delete`` per record, ``mark_failed`` one
    ``store.outbox.update`` per record. Refused writes are not metered.

    Args:
        counters: optional shared operation counters (and meter).
    """

    def __init__(self, *, counters: OperationCounters | None = None) -> None:
        self._lock = threading.Lock()
        self._counters = counters
        self._meter = meter_of(counters)
        self._orders: dict[str, Order] = {}
        self._by_customer: dict[str, list[_Key]] = {}
        self._by_restaurant: dict[str, list[_Key]] = {}
        self._by_restaurant_status: dict[tuple[str, OrderStatus], list[_Key]] = {}
        self._idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        # a pending event is kept as itself until a publish of it fails (then as its OutboxRecord with the attempts):
        # no record object per event written; pending() makes the records it returns
        self._outbox: OrderedDict[str, DomainEvent | OutboxRecord] = OrderedDict()
        # stored sizes (bytes) of orders and outbox records, for metering reads and deletes
        self._sizes: dict[str, int] = {}
        self._outbox_sizes: dict[str, int] = {}

    @property
    def lock(self) -> threading.Lock:
        """The lock every read and write of this store takes: give it to an ``InMemorySagaStateStore`` (its
        ``lock``) and their unit of work takes this one lock instead of both stores'."""
        return self._lock

    # -- OrderRepository ---------------------------------------------------------------------------
    def add(self, order: Order, idempotency: IdempotencyRecord | None = None) -> None:
        """Insert ``order`` with its pending events and bind ``idempotency`` if given, atomically.

        On success the order's pending events move to the outbox and ``order.persisted_version`` is
        set to ``order.version``. On any error nothing is written and the order is left untouched.

        Raises:
            DuplicateRequest: the key is bound with the same fingerprint (``resource_id`` = the
                first order).
            IdempotencyKeyReused: the key is bound with another fingerprint.
            ConcurrencyConflict: an order with this id exists.
        """
        counters = self._counters
        if counters is not None:
            counters.local.counts["orders.writes"] += 1
        with self._lock:
            self._check_add(order, idempotency)
            stored, events = self._apply_add(order, idempotency)
        self._after_write(stored, events, idempotency)

    def _check_add(self, order: Order, idempotency: IdempotencyRecord | None) -> None:
        """Refuse an insert (call with the lock held; changes nothing).

        Raises:
            DuplicateRequest, IdempotencyKeyReused, ConcurrencyConflict: see :meth:`add`.
        """
        if idempotency is not None:
            bound = self._idempotency.get((idempotency.scope, idempotency.key))
            if bound is not None:
                raise idempotency.refused_by(bound)
        if order.order_id in self._orders:
            raise ConcurrencyConflict(f"order {order.order_id} already exists", order_id=order.order_id)

    def _apply_add(
        self, order: Order, idempotency: IdempotencyRecord | None
    ) -> tuple[Order, list[DomainEvent]]:
        """Insert a checked order (call with the lock held); returns what was stored and the events taken."""
        events, order.pending_events = order.pending_events, []  # order.take_events()
        stored = order.snapshot()
        stored.persisted_version = order.version
        self._orders[order.order_id] = stored
        key: _Key = (order.created_at, order.order_id)
        _insert(self._by_customer.setdefault(order.customer_id, []), key)
        _insert(self._by_restaurant.setdefault(order.restaurant_id, []), key)
        _insert(self._by_restaurant_status.setdefault((order.restaurant_id, order.status), []), key)
        if idempotency is not None:
            self._idempotency[(idempotency.scope, idempotency.key)] = idempotency
        outbox = self._outbox
        for event in events:
            outbox[event.event_id] = event
        order.persisted_version = order.version
        return stored, events

    def _after_write(
        self, stored: Order, events: Sequence[DomainEvent], idempotency: IdempotencyRecord | None
    ) -> None:
        """Count and meter a write that took effect (outside the lock)."""
        if self._counters is not None and events:
            self._counters.local.counts["outbox.writes"] += len(events)
        if self._meter is not None:
            self._meter_write(self._meter, stored, events, idempotency)

    def _meter_write(
        self,
        meter: UsageMeter,
        stored: Order,
        events: Sequence[DomainEvent],
        idempotency: IdempotencyRecord | None,
        *,
        in_transaction: bool = False,
    ) -> None:
        """Meter an order write that took effect: a single write when it carries no outbox record and no binding
        (and ``in_transaction`` is False), else one atomic write (``orders.txn``) of the order's, its records' and
        its binding's items. ``in_transaction``: another item (the saga, in a unit of work) is in the same atomic
        write, which the caller meters as its ``txn_item``."""
        size = order_size(stored)
        self._sizes[stored.order_id] = size
        local = meter.local  # meter.record(...) without the calls (see UsageMeter)
        if not events and idempotency is None and not in_transaction:
            local.sized[_ORDERS_WRITE, size] += 1
            return
        local.unsized[_ORDERS_TXN] += 1
        recorded = local.sized
        recorded[_ORDERS_TXN_ITEM, size] += 1
        sizes = self._outbox_sizes
        for event in events:
            event_size = sizes[event.event_id] = outbox_size(event)
            recorded[_OUTBOX_TXN_ITEM, event_size] += 1
        if idempotency is not None:
            recorded[_IDEMPOTENCY_TXN_ITEM, idempotency_size(idempotency)] += 1

    def get(self, order_id: str) -> Order:
        """A fresh snapshot of the stored order, ``persisted_version`` set to its stored version.

        Raises:
            NotFound: no such order.
        """
        counters = self._counters
        if counters is not None:
            counters.local.counts["orders.reads"] += 1
        # No lock: a stored order is never changed once stored (a write stores a new snapshot in its place), and one
        # dict read is atomic, so this sees the order of one committed write, whole, as it would under the lock.
        # (A subscript, not dict.get: no call on the way through.)
        try:
            stored = self._orders[order_id]
        except KeyError:
            if self._meter is not None:
                self._meter.record(_ORDERS_READ_MISS)
            raise NotFound(f"order {order_id} not found", order_id=order_id) from None
        snapshot = stored.snapshot()
        if self._meter is not None:
            self._meter.local.sized[_ORDERS_READ, self._size_of(snapshot)] += 1  # meter.record, without the call
        return snapshot

    def _size_of(self, order: Order) -> int:
        size = self._sizes.get(order.order_id)
        return size if size is not None else order_size(order)

    def save(self, order: Order) -> None:
        """Write ``order`` and its events if the stored version is ``order.persisted_version``.

        On success the events move to the outbox and ``order.persisted_version`` becomes
        ``order.version``.

        Raises:
            NotFound: the order was never added.
            ConcurrencyConflict: the stored version differs (nothing written, the order left
                untouched).
        """
        counters = self._counters
        try:
            with self._lock:
                # self._check_save(order), its test written out: called only to raise what it raises
                orders, order_id = self._orders, order.order_id
                if order_id not in orders or orders[order_id].version != order.persisted_version:
                    self._check_save(order)
                new, events = self._apply_save(order)
        except BaseException:
            if counters is not None:
                counters.local.counts["orders.writes"] += 1  # an attempt counts, as a refused write does on a store
            raise
        if counters is not None:  # the write and, as self._after_write(new, events, None) does, its outbox records
            if events:
                counts = counters.local.counts
                counts["orders.writes"] += 1
                counts["outbox.writes"] += len(events)
            else:
                counters.local.counts["orders.writes"] += 1
        if self._meter is not None:
            self._meter_write(self._meter, new, events, None)

    def _check_save(self, order: Order) -> None:
        """Refuse a replacement (call with the lock held; changes nothing).

        Raises:
            NotFound, ConcurrencyConflict: see :meth:`save`.
        """
        stored = self._orders.get(order.order_id)
        if stored is None:
            raise NotFound(f"order {order.order_id} not found", order_id=order.order_id)
        if stored.version != order.persisted_version:
            raise ConcurrencyConflict(
                f"order {order.order_id} is at version {stored.version}, not {order.persisted_version} as read",
                order_id=order.order_id,
                stored_version=stored.version,
                expected_version=order.persisted_version,
            )

    def _apply_save(self, order: Order) -> tuple[Order, list[DomainEvent]]:
        """Replace a checked order (call with the lock held); returns what was stored and the events taken."""
        stored = self._orders[order.order_id]
        events, order.pending_events = order.pending_events, []  # order.take_events()
        new = order.snapshot()
        new.persisted_version = order.version
        if stored.status is not new.status:
            # _remove(old, key) and _insert(new, key), written out (every status change passes here)
            key: _Key = (stored.created_at, stored.order_id)
            index = self._by_restaurant_status
            old = (stored.restaurant_id, stored.status)
            if old in index:  # (tests and subscripts, not dict.get / setdefault / len: no call per change)
                old_index = index[old]
                i = bisect_left(old_index, key)
                try:
                    if old_index[i] == key:
                        del old_index[i]
                except IndexError:  # not indexed (cannot happen: every stored order is)
                    pass
            to = (stored.restaurant_id, new.status)
            if to in index:
                new_index = index[to]
            else:
                new_index = index[to] = []
            if not new_index or new_index[-1] < key:
                new_index.append(key)
            else:
                insort(new_index, key)
        self._orders[order.order_id] = new
        outbox = self._outbox
        for event in events:
            outbox[event.event_id] = event
        order.persisted_version = order.version
        return new, events

    def _read(self, order_id: str) -> Order:
        """A snapshot of the stored order, counted and metered as a read (call with the lock held).

        Raises:
            NotFound: no such order.
        """
        stored = self._orders.get(order_id)
        if stored is None:
            if self._meter is not None:
                self._meter.record(_ORDERS_READ_MISS)
            raise NotFound(f"order {order_id} not found", order_id=order_id)
        return stored.snapshot()

    def unit_of_work(self, sagas: SagaStateStore) -> OrderUnitOfWork | None:
        """The native unit of work over this store and ``sagas`` when it is an in-memory saga store (one commit
        under both stores' locks), else None (``UnitOfWorkSource``)."""
        from fooddelivery.adapters.memory.saga_store import InMemorySagaStateStore
        from fooddelivery.adapters.memory.unit_of_work import InMemoryUnitOfWork

        if isinstance(sagas, InMemorySagaStateStore):
            return InMemoryUnitOfWork(self, sagas)
        return None

    def find_idempotent(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The binding of ``key`` in ``scope`` (an immutable record), or None."""
        with self._lock:
            found = self._idempotency.get((scope, key))
        if self._counters is not None:
            self._counters.local.counts["orders.reads"] += 1
        meter = self._meter
        if meter is not None:
            if found is None:
                meter.record(_IDEMPOTENCY_READ_MISS)
            else:
                meter.record(_IDEMPOTENCY_READ, size=idempotency_size(found))
        return found

    def list_by_customer(self, customer_id: str, limit: int = 20, cursor: str | None = None) -> Page[Order]:
        """Up to ``limit`` of the customer's orders, newest first (created_at, then id, descending).

        Raises:
            ValidationError: ``limit`` outside 1..100 (field ``limit``) or a malformed cursor
                (``cursor``).
        """
        check_limit(limit)
        if self._counters is not None:
            self._counters.local.counts["orders.reads"] += 1
        after = _cursor_key(cursor, "oc", customer_id) if cursor is not None else None
        with self._lock:
            index = self._by_customer.get(customer_id, [])
            end = bisect_left(index, after) if after is not None else len(index)
            start = max(0, end - limit)
            keys = index[start:end]
            keys.reverse()
            orders = self._orders
            items = [orders[k[1]].snapshot() for k in keys]
        next_cursor = _key_cursor("oc", customer_id, keys[-1]) if start > 0 and keys else None
        self._meter_query(items)
        return Page(items, next_cursor)

    def _meter_query(self, items: Sequence[Order]) -> None:
        if self._meter is not None:
            self._meter.record(_ORDERS_QUERY, size=sum(self._size_of(o) for o in items))
            self._meter.record(_ORDERS_QUERY_ITEM, len(items))

    def list_by_restaurant(
        self,
        restaurant_id: str,
        status: OrderStatus | None = None,
        limit: int = 20,
        cursor: str | None = None,
        *,
        newest_first: bool = False,
    ) -> Page[Order]:
        """Up to ``limit`` of the restaurant's orders (of ``status`` if given), oldest first, or newest first.

        Raises:
            ValidationError: ``limit`` outside 1..100 (field ``limit``) or a malformed cursor
                (``cursor``).
        """
        check_limit(limit)
        if self._counters is not None:
            self._counters.local.counts["orders.reads"] += 1
        scope = f"{restaurant_id}|{status.value if status is not None else '*'}"
        kind = "ord" if newest_first else "or"
        after = _cursor_key(cursor, kind, scope) if cursor is not None else None
        with self._lock:
            if status is None:
                index = self._by_restaurant.get(restaurant_id, [])
            else:
                index = self._by_restaurant_status.get((restaurant_id, status), [])
            if newest_first:
                end = bisect_left(index, after) if after is not None else len(index)
                start = max(0, end - limit)
                keys = index[start:end]
                keys.reverse()
                more = start > 0
            else:
                start = bisect_right(index, after) if after is not None else 0
                end = start + limit
                keys = index[start:end]
                more = end < len(index)
            orders = self._orders
            items = [orders[k[1]].snapshot() for k in keys]
        next_cursor = _key_cursor(kind, scope, keys[-1]) if more and keys else None
        self._meter_query(items)
        return Page(items, next_cursor)

    # -- Outbox ------------------------------------------------------------------------------------
    def pending(self, limit: int = 100) -> Sequence[OutboxRecord]:
        """Up to ``limit`` unpublished records, oldest first (one order's in version order)."""
        if limit <= 0:
            return []
        with self._lock:
            records = [
                kept if isinstance(kept, OutboxRecord) else OutboxRecord(kept)
                for kept in islice(self._outbox.values(), limit)
            ]
        if self._meter is not None:
            sizes = self._outbox_sizes
            total = sum(sizes.get(r.event.event_id) or outbox_size(r.event) for r in records)
            self._meter.record(_OUTBOX_QUERY, size=total)
            self._meter.record(_OUTBOX_QUERY_ITEM, len(records))
        return records

    def mark_published(self, event_ids: Sequence[str]) -> None:
        """Drop these records from the outbox; unknown or already-marked ids are ignored."""
        metering = self._meter is not None
        if not metering:  # nothing to size: drop the records, count them
            dropped = 0
            with self._lock:
                outbox, sizes = self._outbox, self._outbox_sizes
                for event_id in event_ids:
                    if event_id in outbox:
                        del outbox[event_id]
                        dropped += 1
                        if sizes:
                            sizes.pop(event_id, None)
            if self._counters is not None and dropped:
                self._counters.local.counts["outbox.writes"] += dropped
            return
        removed: list[int] = []
        with self._lock:
            outbox, sizes = self._outbox, self._outbox_sizes
            for event_id in event_ids:
                record = outbox.pop(event_id, None)
                if record is not None:
                    size = sizes.pop(event_id, None)
                    if size is None and metering:
                        size = outbox_size(record.event if isinstance(record, OutboxRecord) else record)
                    removed.append(size or 0)
        if self._counters is not None and removed:
            self._counters.local.counts["outbox.writes"] += len(removed)
        if self._meter is not None:
            recorded = self._meter.local.sized  # meter.record(_OUTBOX_DELETE, size=size), without the calls
            for size in removed:
                recorded[_OUTBOX_DELETE, size] += 1

    def mark_failed(self, event_ids: Sequence[str]) -> None:
        """Add one failed attempt to each of these pending records (unknown ids are ignored)."""
        updated = 0
        with self._lock:
            outbox = self._outbox
            for event_id in event_ids:
                kept = outbox.get(event_id)
                if kept is not None:
                    record = kept if isinstance(kept, OutboxRecord) else OutboxRecord(kept)
                    outbox[event_id] = OutboxRecord(record.event, record.attempts + 1)
                    updated += 1
                    if self._meter is not None:
                        self._meter.record(_OUTBOX_UPDATE, size=outbox_size(record.event))
        if self._counters is not None and updated:
            self._counters.local.counts["outbox.writes"] += updated

    # -- retention ---------------------------------------------------------------------------------
    def release(self, order_id: str) -> Order | None:
        """Forget a finished order: drop it from the store, its indexes and its idempotency bindings (its outbox
        records, if any are still pending, stay). Returns what was stored (None: unknown). Not a port operation
        (neither counted nor metered): a long simulation folds finished orders into its report and releases them,
        so memory follows the orders in flight, not every order ever placed.
        """
        with self._lock:
            stored = self._orders.pop(order_id, None)
            if stored is None:
                return None
            key: _Key = (stored.created_at, order_id)
            for index in (
                self._by_customer.get(stored.customer_id),
                self._by_restaurant.get(stored.restaurant_id),
                self._by_restaurant_status.get((stored.restaurant_id, stored.status)),
            ):
                if index is not None:
                    _remove(index, key)
            if not self._by_customer.get(stored.customer_id, True):
                del self._by_customer[stored.customer_id]
            bound = [k for k, record in self._idempotency.items() if record.order_id == order_id] if (
                self._idempotency
            ) else []
            for k in bound:
                del self._idempotency[k]
            self._sizes.pop(order_id, None)
        forget_order(order_id)
        return stored

    # -- inspection --------------------------------------------------------------------------------
    def iter_orders(self) -> Iterator[Order]:
        """Snapshots of every stored order, in insertion order, made one at a time.

        An inspection aid for tests and the simulation's invariant checks, not part of the port (so
        not counted as port reads). The set of orders is fixed when iteration starts.
        """
        with self._lock:
            stored = list(self._orders.values())
        for order in stored:
            yield order.snapshot()

    def __len__(self) -> int:
        """How many orders are stored."""
        return len(self._orders)

    @property
    def outbox_size(self) -> int:
        """How many outbox records are pending."""
        return len(self._outbox)

    def count_by_status(self) -> dict[OrderStatus, int]:
        """``{status: number of stored orders}`` for every status that has orders."""
        with self._lock:
            totals: dict[OrderStatus, int] = {}
            for (_, status), index in self._by_restaurant_status.items():
                if index:
                    totals[status] = totals.get(status, 0) + len(index)
            return totals
