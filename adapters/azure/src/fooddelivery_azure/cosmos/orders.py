"""Orders on Cosmos DB, with the transactional outbox and idempotent placement in the order's partition.

Layout (container ``orders``, partition key ``/orderId``; see :mod:`fooddelivery_azure.cosmos.containers`): each
order's logical partition holds the order document (``type: order``), one outbox document per event not yet
published (``type: outbox``, id ``outbox-<eventId>``) and, for a keyed placement, the idempotency binding
(``type: idempotency``, id ``idempotency``) -- because the core gives a keyed order the id
``order_id_for_key(customer, key)``, the binding's partition is the order's own -- and, in the deployed layout, the
order's saga instance (``type: saga``, id ``saga-<orderId>``; :mod:`fooddelivery_azure.cosmos.sagas`).

The write path is **one transactional batch** on the order's partition
(https://learn.microsoft.com/azure/cosmos-db/nosql/transactional-batch: "all operations ... either succeed or fail
together"), its operations ordered so that the one whose precondition decides comes first:

==========  =================================================================================================
``add``     [create binding (keyed)], create order, create outbox x N. A 409 on the binding means the key was
            used: the binding is read and the caller gets ``DuplicateRequest`` or ``IdempotencyKeyReused``; a
            409 on the order means its id exists (``ConcurrencyConflict``).
``save``    replace order *if its etag is still the one read* (``if_match_etag`` = ``Order.concurrency_token``),
            create outbox x N. A 412 is a lost race (``ConcurrencyConflict``), a 404 an order never added.
==========  =================================================================================================

With the saga instance in the partition, :meth:`CosmosOrderRepository.unit_of_work` gives the core a native unit of
work (:mod:`fooddelivery_azure.cosmos.unit_of_work`): a saga step's order write above and the saga's conditional
create or replace go in **the same batch** (``units.commit``), and the order is read with its saga in one
single-partition query (``units.load``).

A binding whose order id is not the key's derived id (a caller that names its own ids) cannot share the order's
partition: it is then written first, alone (its 409 decides as above), and deleted again if the order's batch
certainly wrote nothing -- refused at an operation, throttled (429) or never sent -- but kept after an unknown
outcome (a lost answer, a timeout, a 5xx: the batch may have run, and removing the binding could break
idempotency); see :meth:`CosmosOrderRepository.batch_bound_alone`. Two steps, documented rather than hidden; the
core never takes that path.

Optimistic concurrency: ``get`` puts the document's etag in ``Order.concurrency_token``; ``save`` sends it as the
batch's ``if_match_etag``. An order built elsewhere (no token) is read first and compared by ``version``.

The outbox: ``pending()`` is a cross-partition query ordered by ``outboxSeq`` (order creation time, order id,
version: one order's events contiguous and in version order); ``mark_published`` deletes the documents (a delete
never shows in the change feed's latest-version mode, so the relay does not see its own marks);
``mark_failed`` patches ``attempts`` (``incr``). Both need each document's partition: the repository remembers the
order id of every event it wrote or read (:meth:`CosmosOrderRepository.remember`), and looks up the rest with one
query. The change feed carries the outbox documents (:meth:`CosmosOrderRepository.change_records`).

Every call's request charge goes to the ``charges`` sink (:mod:`fooddelivery_azure.metering`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, NoReturn

from fooddelivery.application.relay import ChangeRecord
from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    DuplicateRequest,
    IdempotencyKeyReused,
    InfrastructureError,
    NotFound,
)
from fooddelivery.domain.events import DomainEvent
from fooddelivery.domain.order import Order, OrderStatus, order_id_for_key
from fooddelivery.ports.messaging import OutboxRecord
from fooddelivery.ports.orders import IdempotencyRecord, Page
from fooddelivery.ports.saga_store import SagaStateStore
from fooddelivery.ports.unit_of_work import OrderUnitOfWork
from fooddelivery_azure.cosmos._support import (
    RETRYABLE_STATUSES,
    CosmosCalls,
    RecordError,
    bad_cursor,
    check_limit,
    decode_cursor,
    decode_document,
    doc_id,
    encode_cursor,
    ran_nothing,
    status_of,
)
from fooddelivery_azure.cosmos.records import (
    IDEMPOTENCY_DOC_ID,
    TYPE_ORDER,
    TYPE_OUTBOX,
    idempotency_from_doc,
    idempotency_to_doc,
    order_from_doc,
    order_to_doc,
    outbox_doc_id,
    outbox_record_from_doc,
    outbox_to_doc,
    utc_text,
)
from fooddelivery_azure.metering import ChargeSink, RequestChargeRecorder

if TYPE_CHECKING:
    from azure.cosmos import ContainerProxy

__all__ = ["MAX_BATCH_OPERATIONS", "CosmosOrderRepository", "OrderWrite"]

#: Most operations in one transactional batch ("Azure Cosmos DB service quotas": 100 operations, 2 MB).
MAX_BATCH_OPERATIONS: Final[int] = 100
#: Event ids whose partition (order id) is remembered, most recent first out.
_REMEMBERED: Final[int] = 10_000
_ORDER_FIELDS: Final = "*"


class CosmosOrderRepository:
    """Orders, their outbox documents and their idempotency bindings in one Cosmos DB container
    (``OrderRepository`` + ``Outbox``; see the module docstring).

    Args:
        container: the ``orders`` container (the SDK's ``ContainerProxy``).
        charges: where each call's request charge goes (default: a private :class:`RequestChargeRecorder`).
    """

    def __init__(self, container: ContainerProxy, *, charges: ChargeSink | None = None) -> None:
        self.charges: ChargeSink = charges if charges is not None else RequestChargeRecorder()
        self._calls = CosmosCalls(container, self.charges)
        self._partitions: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    # -- OrderRepository ---------------------------------------------------------------------------------
    def add(self, order: Order, idempotency: IdempotencyRecord | None = None) -> None:
        """Insert ``order`` with its pending events and bind ``idempotency`` if given, in one transactional batch.

        On success the events leave the aggregate, ``persisted_version`` becomes ``version`` and
        ``concurrency_token`` the new etag; on any error the order is left untouched.

        Raises:
            DuplicateRequest: the key is bound with the same fingerprint (``resource_id`` = the first order).
            IdempotencyKeyReused: the key is bound with another fingerprint.
            ConcurrencyConflict: an order with this id (or an outbox document of one of its events) exists.
            InfrastructureError: the store failed or throttled, or the write exceeds the batch limit. Nothing was
                written, except in one case: a binding outside the order's partition (an order id that is not
                ``order_id_for_key(scope, key)``) is written first and stays when the batch's outcome is unknown (a
                lost answer, a timeout, a 5xx; see :meth:`batch_bound_alone`).
        """
        self.insert(order, idempotency)

    def insert(self, order: Order, idempotency: IdempotencyRecord | None = None) -> None:
        """What :meth:`add` does (the unit of work calls it for a write of the order alone).

        Raises:
            As :meth:`add`.
        """
        binding_partition = None if idempotency is None else order_id_for_key(idempotency.scope, idempotency.key)
        separate_binding = idempotency is not None and binding_partition != order.order_id
        plan = self.plan_add(order, None if separate_binding else idempotency)
        self.check_size(plan.operations, order.order_id)
        try:
            if separate_binding:
                assert idempotency is not None and binding_partition is not None
                results = self.batch_bound_alone("orders.add", plan.operations, order.order_id, idempotency)
            else:
                results = self.batch("orders.add", plan.operations, order.order_id)
        except _Refused as refused:
            self.raise_refused(plan, refused)
        self.finish(plan, results)

    def plan_add(self, order: Order, idempotency: IdempotencyRecord | None) -> OrderWrite:
        """The batch operations inserting ``order``, its outbox documents and ``idempotency`` (which must belong to
        the order's partition): [create binding], create order, create outbox x N.

        Raises:
            ValidationError: an event payload is not JSON-ready.
        """
        events = list(order.pending_events)
        operations: list[tuple[Any, ...]] = []
        if idempotency is not None:
            operations.append(("create", (idempotency_to_doc(idempotency, order.order_id),)))
        order_index = len(operations)
        operations.append(("create", (order_to_doc(order),)))
        operations.extend(("create", (outbox_to_doc(order, e),)) for e in events)
        return OrderWrite(order, events, operations, order_index, idempotency, insert=True)

    def plan_save(self, order: Order) -> OrderWrite:
        """The batch operations writing a changed ``order`` and its outbox documents: replace order if its etag is
        still ``concurrency_token`` (without one: the stored document's, after one point read comparing
        ``persisted_version``), create outbox x N.

        Raises:
            NotFound: (without a token) the order was never added.
            ConcurrencyConflict: (without a token) the stored order is at another version.
            ValidationError: an event payload is not JSON-ready.
            InfrastructureError: (without a token) the read failed.
        """
        events = list(order.pending_events)
        etag = order.concurrency_token or self._etag_of_version(order)
        order_doc = order_to_doc(order)
        operations: list[tuple[Any, ...]] = [
            ("replace", (order_doc["id"], order_doc), {"if_match_etag": etag}),
            *(("create", (outbox_to_doc(order, e),)) for e in events),
        ]
        return OrderWrite(order, events, operations, 0, None, insert=False)

    def raise_refused(self, plan: OrderWrite, refused: _Refused) -> NoReturn:
        """The core's error for a batch of ``plan``'s operations refused at one of them (see the module docstring).

        Raises:
            DuplicateRequest, IdempotencyKeyReused: the binding exists (insert).
            ConcurrencyConflict: the order exists (insert), changed since it was read (replace: 412), or an outbox
                document of one of its events exists.
            NotFound: the order to replace was never added (404).
            InfrastructureError: any other refusal.
        """
        order_id = plan.order.order_id
        if plan.insert:
            if plan.idempotency is not None and refused.index == 0 and refused.status == 409:
                self._raise_bound(plan.idempotency, order_id, refused.vendor)
            if refused.index == plan.order_index and refused.status == 409:
                raise ConcurrencyConflict(f"order {order_id} already exists", order_id=order_id) from refused.vendor
            self._raise_refused(refused, "orders.add", order_id)
        if refused.index == plan.order_index and refused.status == 404:
            raise NotFound(f"order {order_id} not found", order_id=order_id) from refused.vendor
        if refused.index == plan.order_index and refused.status == 412:
            raise ConcurrencyConflict(
                f"order {order_id} changed since it was read (version {plan.order.persisted_version})",
                order_id=order_id,
                expected_version=plan.order.persisted_version,
            ) from refused.vendor
        self._raise_refused(refused, "orders.save", order_id)

    def finish(self, plan: OrderWrite, results: Sequence[Mapping[str, Any]]) -> None:
        """After ``plan``'s batch succeeded: the events leave the order, ``persisted_version`` becomes ``version``,
        ``concurrency_token`` the new etag, and the events' partition is remembered."""
        order = plan.order
        order.take_events()
        order.persisted_version = order.version
        order.concurrency_token = _etag(results, plan.order_index)
        self.remember((e.event_id, order.order_id) for e in plan.events)

    def batch_bound_alone(
        self, action: str, operations: list[tuple[Any, ...]], order_id: str, idempotency: IdempotencyRecord
    ) -> list[dict[str, Any]]:
        """Bind ``idempotency`` alone in its own partition (not the order's), then run the order's batch
        ``operations`` on ``order_id``'s partition; remove the binding again when the batch **certainly** wrote
        nothing. The two writes cannot be one (a batch is single-partition), so this is the rule:

        * the batch was refused at an operation (``_Refused``: the service answered, nothing of it ran), or failed
          with an answer that ran none of it (a 429, or a request never sent: :func:`~._support.ran_nothing`): the
          binding is deleted (``orders.add.unbind``), so the caller's retry of the same placement is not told
          ``DuplicateRequest`` for an order never stored;
        * the outcome is unknown (a lost answer, a timeout, a 5xx): the binding **stays**. The batch may have run;
          deleting the binding then could let a retry with the same key place a second order (and a resent batch
          is refused anyway: the order exists). A retry is told ``DuplicateRequest`` naming the order id the
          caller chose -- stored, or (if the batch did not run after all) never: a caller naming its own order ids
          reads the order to tell.

        If the delete itself fails, its ``InfrastructureError`` (action ``orders.add.unbind``) is raised instead and
        the binding stays. The core never takes this path (its keyed orders have the key's derived id, so the
        binding is in the order's batch).

        Raises:
            DuplicateRequest, IdempotencyKeyReused, ConcurrencyConflict: the key is bound (see :meth:`add`); nothing
                was written.
            _Refused: the batch was refused (the binding removed again).
            InfrastructureError: a call failed (the binding removed again only when nothing of the batch ran).
        """
        partition = order_id_for_key(idempotency.scope, idempotency.key)
        self.bind_alone(idempotency, partition)
        try:
            return self.batch(action, operations, order_id)
        except _Refused:
            self.unbind(partition)
            raise
        except InfrastructureError as failed:
            if ran_nothing(failed.__cause__):
                self.unbind(partition)
            raise

    def unbind(self, partition: str) -> None:
        """Delete the binding written alone in ``partition`` (its order's batch certainly wrote nothing).

        Raises:
            InfrastructureError: the store failed (the binding stays).
        """
        self._calls.delete("orders.add.unbind", IDEMPOTENCY_DOC_ID, partition)

    def bind_alone(self, idempotency: IdempotencyRecord, partition: str) -> None:
        """Create the binding alone in ``partition`` (not its order's: a caller naming its own order ids).

        Raises:
            DuplicateRequest, IdempotencyKeyReused, ConcurrencyConflict: the key is bound (see :meth:`add`).
            InfrastructureError: the store failed.
        """
        try:
            self._calls.create("orders.add.bind", idempotency_to_doc(idempotency, partition))
        except Exception as exc:
            if status_of(exc) == 409:
                self._raise_bound(idempotency, partition, exc)
            raise

    def _raise_bound(self, idempotency: IdempotencyRecord, partition: str, vendor: BaseException) -> NoReturn:
        bound = self._read_binding(partition)
        if bound is None or (bound.scope, bound.key) != (idempotency.scope, idempotency.key):
            raise ConcurrencyConflict(
                f"idempotency key {idempotency.key!r} changed while the order was written, retry",
                scope=idempotency.scope,
            ) from vendor
        if bound.fingerprint == idempotency.fingerprint:
            raise DuplicateRequest(
                f"idempotency key {idempotency.key!r} already created order {bound.order_id}",
                resource_id=bound.order_id,
            ) from vendor
        raise IdempotencyKeyReused(
            f"idempotency key {idempotency.key!r} was used with a different request",
            scope=idempotency.scope,
            key=idempotency.key,
        ) from vendor

    def get(self, order_id: str) -> Order:
        """The stored order (a point read), ``persisted_version`` and ``concurrency_token`` (its etag) set.

        Raises:
            NotFound: no such order.
            InfrastructureError: the store failed, or the document is unreadable.
        """
        doc = self._calls.read("orders.get", doc_id(order_id), order_id)
        if doc is None or doc.get("type") != TYPE_ORDER:
            raise NotFound(f"order {order_id} not found", order_id=order_id)
        return decode_document(order_from_doc, doc, "order")

    def save(self, order: Order) -> None:
        """Write ``order`` and its pending events in one batch if the stored order is still the one read (its etag,
        ``concurrency_token``; without one, its ``persisted_version``).

        Raises:
            NotFound: the order was never added.
            ConcurrencyConflict: someone else wrote first (nothing written, the order left untouched).
            InfrastructureError: the store failed or throttled; nothing was written.
        """
        self.replace(order)

    def replace(self, order: Order) -> None:
        """What :meth:`save` does (the unit of work calls it for a write of the order alone).

        Raises:
            As :meth:`save`.
        """
        plan = self.plan_save(order)
        self.check_size(plan.operations, order.order_id)
        try:
            results = self.batch("orders.save", plan.operations, order.order_id)
        except _Refused as refused:
            self.raise_refused(plan, refused)
        self.finish(plan, results)

    def _etag_of_version(self, order: Order) -> str:
        doc = self._calls.read("orders.save.read", doc_id(order.order_id), order.order_id)
        if doc is None or doc.get("type") != TYPE_ORDER:
            raise NotFound(f"order {order.order_id} not found", order_id=order.order_id)
        if doc.get("version") != order.persisted_version:
            raise ConcurrencyConflict(
                f"order {order.order_id} is at version {doc.get('version')}, not {order.persisted_version} as read",
                order_id=order.order_id,
                stored_version=doc.get("version"),
                expected_version=order.persisted_version,
            )
        return str(doc["_etag"])

    def find_idempotent(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The binding of ``key`` in ``scope``: one point read in partition ``order_id_for_key(scope, key)``.

        Raises:
            InfrastructureError: the store failed.
        """
        bound = self._read_binding(order_id_for_key(scope, key))
        return bound if bound is not None and (bound.scope, bound.key) == (scope, key) else None

    def _read_binding(self, partition: str) -> IdempotencyRecord | None:
        doc = self._calls.read("orders.idempotency", IDEMPOTENCY_DOC_ID, partition)
        return None if doc is None else decode_document(idempotency_from_doc, doc, "idempotency binding")

    # -- the unit of work --------------------------------------------------------------------------------
    def unit_of_work(self, sagas: SagaStateStore) -> OrderUnitOfWork | None:
        """A native unit of work when ``sagas`` keeps its instances in this store's container, in their orders'
        partitions (a :class:`~fooddelivery_azure.cosmos.sagas.CosmosSagaStateStore` built with
        ``in_order_partition=True`` on the same container object): one query reads an order with its saga, one
        transactional batch writes both. Else None: the core composes one from the two ports
        (``UnitOfWorkSource``), e.g. for sagas in a container of their own.
        """
        from fooddelivery_azure.cosmos.sagas import CosmosSagaStateStore
        from fooddelivery_azure.cosmos.unit_of_work import CosmosUnitOfWork

        if isinstance(sagas, CosmosSagaStateStore) and sagas.in_order_partition and sagas.container is self.container:
            return CosmosUnitOfWork(self, sagas)
        return None

    @property
    def container(self) -> ContainerProxy:
        """The orders container."""
        return self._calls.container

    # -- listings ----------------------------------------------------------------------------------------
    def list_by_customer(self, customer_id: str, limit: int = 20, cursor: str | None = None) -> Page[Order]:
        """The customer's orders, newest first (``createdAt``, then ``orderId``, descending): a cross-partition
        query served by the composite index ``(createdAt DESC, orderId DESC)``.

        Raises:
            ValidationError: a limit outside 1..100 (field ``limit``) or a malformed cursor (``cursor``).
            InfrastructureError: the store failed.
        """
        check_limit(limit)
        params: dict[str, Any] = {"@scope": customer_id}
        sql = f"SELECT TOP {limit + 1} {_ORDER_FIELDS} FROM c WHERE c.type = 'order' AND c.customerId = @scope"
        if cursor is not None:
            at, after = _position(cursor, "oc", customer_id)
            sql += " AND (c.createdAt < @at OR (c.createdAt = @at AND c.orderId < @after))"
            params.update({"@at": at, "@after": after})
        sql += " ORDER BY c.createdAt DESC, c.orderId DESC"
        return self._page("orders.list_by_customer", sql, params, limit, "oc", customer_id)

    def list_by_restaurant(
        self,
        restaurant_id: str,
        status: OrderStatus | None = None,
        limit: int = 20,
        cursor: str | None = None,
        *,
        newest_first: bool = False,
    ) -> Page[Order]:
        """The restaurant's orders (of ``status`` if given), oldest first (``createdAt``, then ``orderId``), or
        newest first with ``newest_first``: a cross-partition query served by the composite index
        ``(createdAt ASC, orderId ASC)``, or ``(createdAt DESC, orderId DESC)`` newest first (each direction has its
        own index in :data:`~fooddelivery_azure.cosmos.containers.ORDERS` and in the Bicep; an ``ORDER BY`` on
        several properties needs a composite index in its order or exactly its opposite,
        https://learn.microsoft.com/azure/cosmos-db/index-policy#composite-indexes). A cursor names its direction
        (kind ``or`` oldest first, ``ord`` newest first), restaurant and status.

        Raises:
            ValidationError: a limit outside 1..100 or a malformed cursor, or one of another listing or direction.
            InfrastructureError: the store failed.
        """
        check_limit(limit)
        kind = "ord" if newest_first else "or"
        scope = f"{restaurant_id}|{status.value if status is not None else '*'}"
        params: dict[str, Any] = {"@restaurant": restaurant_id}
        sql = f"SELECT TOP {limit + 1} {_ORDER_FIELDS} FROM c WHERE c.type = 'order' AND c.restaurantId = @restaurant"
        if status is not None:
            sql += " AND c.status = @status"
            params["@status"] = status.value
        after_op, direction = ("<", "DESC") if newest_first else (">", "ASC")
        if cursor is not None:
            at, after = _position(cursor, kind, scope)
            sql += f" AND (c.createdAt {after_op} @at OR (c.createdAt = @at AND c.orderId {after_op} @after))"
            params.update({"@at": at, "@after": after})
        sql += f" ORDER BY c.createdAt {direction}, c.orderId {direction}"
        return self._page("orders.list_by_restaurant", sql, params, limit, kind, scope)

    def _page(self, action: str, sql: str, params: dict[str, Any], limit: int, kind: str, scope: str) -> Page[Order]:
        docs = list(self._calls.query(action, sql, params, page_size=limit + 1))
        more = len(docs) > limit
        orders = [decode_document(order_from_doc, d, "order") for d in docs[:limit]]
        next_cursor = None
        if more:
            last = orders[-1]
            next_cursor = encode_cursor({"k": kind, "s": scope, "t": utc_text(last.created_at), "id": last.order_id})
        return Page(orders, next_cursor)

    # -- Outbox ------------------------------------------------------------------------------------------
    def pending(self, limit: int = 100) -> Sequence[OutboxRecord]:
        """Up to ``limit`` unpublished records, oldest order first, one order's in version order.

        Raises:
            InfrastructureError: the store failed.
        """
        if limit <= 0:
            return []
        sql = f"SELECT TOP {int(limit)} * FROM c WHERE c.type = 'outbox' ORDER BY c.outboxSeq ASC"
        docs = list(self._calls.query("outbox.pending", sql, page_size=min(limit, 1000)))
        self.remember((str(d["event"]["eventId"]), str(d["orderId"])) for d in docs if isinstance(d.get("event"), dict))
        return [decode_document(outbox_record_from_doc, d, "outbox") for d in docs]

    def mark_published(self, event_ids: Sequence[str]) -> None:
        """Delete these outbox documents; unknown or already-deleted ids are ignored.

        Raises:
            InfrastructureError: the store failed (the documents not yet deleted stay pending).
        """
        for event_id, order_id in self._locate(event_ids).items():
            self._calls.delete("outbox.mark_published", outbox_doc_id(event_id), order_id)
            self._forget(event_id)

    def mark_failed(self, event_ids: Sequence[str]) -> None:
        """Add one failed attempt to each of these pending documents (a patch ``incr``; unknown ids are ignored).

        Raises:
            InfrastructureError: the store failed.
        """
        for event_id, order_id in self._locate(event_ids).items():
            self._calls.patch(
                "outbox.mark_failed",
                outbox_doc_id(event_id),
                order_id,
                [{"op": "incr", "path": "/attempts", "value": 1}],
            )

    # -- the change feed ---------------------------------------------------------------------------------
    def change_records(self, documents: Iterable[Mapping[str, Any]]) -> list[ChangeRecord]:
        """The relay's records of a batch of changed documents (what the Cosmos DB trigger delivers), in order.

        An outbox document becomes ``ChangeRecord(position, event)`` -- its position is the document's ``_lsn``
        (the change feed's logical sequence number) when present, else ``_ts`` -- and its partition is remembered
        for ``mark_published``; any other document becomes ``ChangeRecord(position, None)`` (skipped by the relay).

        Raises:
            InfrastructureError: an outbox document is unreadable (a damaged document must not be skipped
                silently).
        """
        records: list[ChangeRecord] = []
        for i, doc in enumerate(documents):
            position = str(doc.get("_lsn", doc.get("_ts", i)))
            if doc.get("type") != TYPE_OUTBOX:
                records.append(ChangeRecord(position, None))
                continue
            record = decode_document(outbox_record_from_doc, doc, "outbox")
            self.remember([(record.event.event_id, record.event.order_id)])
            records.append(ChangeRecord(f"{position}:{doc.get('id')}", record.event))
        return records

    # -- partitions of outbox documents -----------------------------------------------------------------
    def remember(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Remember the order id (partition) of each ``(event id, order id)``, for marking them later."""
        with self._lock:
            for event_id, order_id in pairs:
                self._partitions[event_id] = order_id
                self._partitions.move_to_end(event_id)
            while len(self._partitions) > _REMEMBERED:
                self._partitions.popitem(last=False)

    def _forget(self, event_id: str) -> None:
        with self._lock:
            self._partitions.pop(event_id, None)

    def _locate(self, event_ids: Sequence[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(event_ids))
        with self._lock:
            found = {e: self._partitions[e] for e in ids if e in self._partitions}
        missing = [e for e in ids if e not in found]
        for start in range(0, len(missing), 100):
            chunk = missing[start : start + 100]
            sql = (
                "SELECT c.orderId, c.event.eventId FROM c WHERE c.type = 'outbox' "
                "AND ARRAY_CONTAINS(@ids, c.event.eventId)"
            )
            for doc in self._calls.query("outbox.locate", sql, {"@ids": chunk}):
                found[str(doc["eventId"])] = str(doc["orderId"])
        return found

    # -- the batch ---------------------------------------------------------------------------------------
    @staticmethod
    def check_size(operations: Sequence[object], order_id: str) -> None:
        if len(operations) > MAX_BATCH_OPERATIONS:
            raise InfrastructureError(
                f"order {order_id}: {len(operations)} writes exceed one transactional batch "
                f"({MAX_BATCH_OPERATIONS} operations)",
                reason="batch_too_large",
                retryable=False,
            )

    def batch(self, action: str, operations: list[tuple[Any, ...]], partition: str) -> list[dict[str, Any]]:
        """One transactional batch on ``partition``, recorded as ``action``.

        Raises:
            _Refused: an operation was refused (its index and status; nothing was written).
            InfrastructureError: the call failed.
        """
        from azure.cosmos.exceptions import CosmosBatchOperationError

        try:
            return self._calls.batch(action, operations, partition)
        except CosmosBatchOperationError as exc:
            index = exc.error_index if isinstance(exc.error_index, int) else 0
            responses = exc.operation_responses or []
            status = responses[index].get("statusCode") if index < len(responses) else status_of(exc)
            raise _Refused(index, int(status) if isinstance(status, int) else 0, exc) from exc

    @staticmethod
    def _raise_refused(refused: _Refused, action: str, order_id: str) -> NoReturn:
        if refused.status == 409:  # an outbox document of one of the events exists
            raise ConcurrencyConflict(
                f"{action}: an event of order {order_id} was already written", order_id=order_id
            ) from refused.vendor
        raise InfrastructureError(
            f"{action}: the batch was refused at operation {refused.index} with {refused.status}",
            service="cosmosdb",
            action=action,
            code=str(refused.status),
            retryable=refused.status in RETRYABLE_STATUSES,
        ) from refused.vendor


@dataclass(frozen=True, slots=True)
class OrderWrite:
    """The batch operations of one order write (:meth:`CosmosOrderRepository.plan_add` / ``plan_save``).

    Attributes:
        order: the order written.
        events: its pending events (one outbox document each).
        operations: the batch operations, the decisive one first.
        order_index: the index of the order's own operation.
        idempotency: the binding created with it (insert only).
        insert: an insert (``add``) rather than a replace (``save``).
    """

    order: Order
    events: list[DomainEvent]
    operations: list[tuple[Any, ...]]
    order_index: int
    idempotency: IdempotencyRecord | None
    insert: bool


class _Refused(Exception):
    """A transactional batch failed at operation ``index`` with ``status`` (nothing was written)."""

    def __init__(self, index: int, status: int, vendor: BaseException) -> None:
        super().__init__(f"batch refused at {index} with {status}")
        self.index = index
        self.status = status
        self.vendor = vendor


def _etag(results: Sequence[Mapping[str, Any]], index: int) -> str | None:
    if index >= len(results):
        return None
    etag = results[index].get("eTag") or (results[index].get("resourceBody") or {}).get("_etag")
    return str(etag) if etag else None


def _position(cursor: str, kind: str, scope: str) -> tuple[str, str]:
    """The (createdAt text, order id) a listing cursor points after.

    Raises:
        ValidationError: a malformed cursor or one of another listing (field ``cursor``).
    """
    position = decode_cursor(cursor, kind, ("s", "t", "id"))
    if position["s"] != scope:
        raise bad_cursor()
    try:
        at = datetime.fromisoformat(position["t"])
    except ValueError:
        raise bad_cursor() from None
    if at.utcoffset() is None:
        raise bad_cursor()
    try:
        return utc_text(at), position["id"]
    except (RecordError, ValueError):
        raise bad_cursor() from None
