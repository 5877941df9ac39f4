"""The native unit of work on Cosmos DB: an order and its saga instance read in one query, written in one batch.

It exists when the saga instances live in the orders container, each in its order's partition (document
``saga-<orderId>``, :class:`~fooddelivery_azure.cosmos.sagas.CosmosSagaStateStore` with ``in_order_partition``):
a transactional batch is single-container and single-partition
(https://learn.microsoft.com/azure/cosmos-db/nosql/transactional-batch), so only then can the order, its outbox
documents, its idempotency binding and its saga be written together. ``CosmosOrderRepository.unit_of_work`` builds
it; for sagas in a container of their own it returns None and the core composes the unit from the two ports.

``load`` -- **one single-partition query**: ``SELECT * FROM c WHERE c.orderId = @order AND c.id IN (@orderDoc,
@sagaDoc)`` with the order id as partition key. One round trip whether or not the saga exists (a batch of two
``read`` operations would fail as a whole when the saga is missing, and two point reads are two calls). Its charge:
a query costs more than a point read (a point read of a 1 KB item is 1 RU; a query is billed by the index lookups
and the documents it loads, "Request units in Azure Cosmos DB", https://learn.microsoft.com/azure/cosmos-db/request-units),
so a few RU, about the two point reads it replaces; the real figure is the response's ``x-ms-request-charge``, which
is recorded as one call of ``units.load`` (the local stand-in charges a flat 1 RU per response, so offline runs
count calls, not real RU). Its page size is :data:`LOAD_PAGE_SIZE` (100), not 2: the service may end a **full**
page with a continuation without knowing whether more documents match, which would cost a second, empty round trip
for an order with its saga; a page larger than the two documents the query can match holds both and ends the
result. Every page is read anyway (the SDK's iterator follows continuations: a page cut short by the service's own
limits still loses nothing), each recorded as one call of ``units.load`` -- so "one round trip" holds in practice,
and the metering shows it when it does not.

``commit`` -- **one transactional batch** on the order's partition, recorded as ``units.commit``:

================================  ==================================================================================
order new, saga created           [create binding], create order, create outbox x N, create saga
order changed, saga replaced      replace order (``if_match_etag`` = ``Order.concurrency_token``), create outbox x N,
                                  replace saga (``if_match_etag`` = the etag the saga store read or wrote)
================================  ==================================================================================

Every operation or none ("all operations ... either succeed or fail together"): a lost race on the saga (412) writes
nothing of the order, and one on the order nothing of the saga; the refused operation's index tells which, and the
error is the one the order store or the saga store raises for it. A saga whose etag this process does not know (read
elsewhere) costs one point read first (``units.commit.read``), as ``CosmosSagaStateStore.save`` does. A commit that
writes only one side is that store's own single write (``orders.add`` / ``orders.save``, ``sagas.create`` /
``sagas.save``). A placement whose idempotency binding is not in the order's partition (a caller naming its own order
ids; the core never does) writes the binding alone first, then the batch, as ``CosmosOrderRepository.add`` does
(``batch_bound_alone``), and deletes the binding again only when the batch certainly wrote nothing: refused at an
operation, throttled (429) or never sent. After an unknown outcome (a lost answer, a timeout, a 5xx) the binding
stays -- the batch may have run, and removing it could let a retry place the order twice -- so a retry is told
``DuplicateRequest`` naming the order id the caller chose.

A lost answer (the connection dropped after the service committed the batch) surfaces as a retryable
``InfrastructureError``, the order and saga objects left as they were: the SDK does not resend a write whose answer
it lost (it does only with ``retry_write`` / ``RetryNonIdempotentWrites``, off by default and never set here). The
message is then delivered again and the step reloads what was committed; a caller that resent the same commit
instead would be refused and nothing written twice: ``ConcurrencyConflict`` for a step (the order's or the saga's
etag moved on) or an unkeyed placement (the order exists), ``DuplicateRequest`` naming the order for a keyed
placement (its binding exists).

Batches are capped at 100 operations (``check_size``); an order writes at most a handful of events per step.
"""

from __future__ import annotations

from typing import Any, Final, NoReturn

from fooddelivery.domain.errors import ConcurrencyConflict, InfrastructureError, NotFound
from fooddelivery.domain.order import Order, order_id_for_key
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaState
from fooddelivery_azure.cosmos._support import RETRYABLE_STATUSES, decode_document, doc_id
from fooddelivery_azure.cosmos.orders import CosmosOrderRepository, _etag, _Refused
from fooddelivery_azure.cosmos.records import TYPE_ORDER, TYPE_SAGA, order_from_doc, saga_doc_id
from fooddelivery_azure.cosmos.sagas import CosmosSagaStateStore

__all__ = ["LOAD_PAGE_SIZE", "CosmosUnitOfWork"]

_LOAD = "SELECT * FROM c WHERE c.orderId = @order AND c.id IN (@orderDoc, @sagaDoc)"
#: The load's page size (``max_item_count``): larger than the two documents it can match (see the module docstring).
LOAD_PAGE_SIZE: Final[int] = 100


class CosmosUnitOfWork:
    """``OrderUnitOfWork`` over a :class:`CosmosOrderRepository` and a :class:`CosmosSagaStateStore` whose instances
    live in the orders container (see the module docstring).

    Args:
        orders: the order store (and outbox).
        sagas: the saga store, built with ``in_order_partition=True`` on the same container.

    Raises:
        ValueError: the saga store is not in the orders container's order partitions.
    """

    atomic = True

    def __init__(self, orders: CosmosOrderRepository, sagas: CosmosSagaStateStore) -> None:
        if not sagas.in_order_partition or sagas.container is not orders.container:
            raise ValueError("the saga store must keep its instances in the orders container (in_order_partition)")
        self.orders = orders
        self.sagas = sagas

    def load(self, order_id: str) -> tuple[Order, SagaState | None]:
        """The order and its saga (None when it has none): one single-partition query (``units.load``), every page of
        it read (one in practice: see the module docstring).

        Raises:
            NotFound: no such order.
            InfrastructureError: the store failed, or a document is unreadable.
        """
        params = {
            "@order": order_id,
            "@orderDoc": doc_id(order_id),
            "@sagaDoc": saga_doc_id(order_id, in_order_partition=True),
        }
        pages = self.orders._calls.query("units.load", _LOAD, params, partition_key=order_id, page_size=LOAD_PAGE_SIZE)
        docs = list(pages)  # every page: the SDK's iterator follows the continuations
        order_doc = next((d for d in docs if d.get("type") == TYPE_ORDER), None)
        if order_doc is None:
            raise NotFound(f"order {order_id} not found", order_id=order_id)
        order = decode_document(order_from_doc, order_doc, "order")
        saga_doc = next((d for d in docs if d.get("type") == TYPE_SAGA), None)
        return order, None if saga_doc is None else self.sagas.decode(saga_doc)

    def commit(
        self,
        saga: SagaState | None,
        order: Order | None = None,
        *,
        create_saga: bool = False,
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        """Write the order (if new or changed) with its events, and the saga, in one transactional batch (see the
        module docstring and the port).

        Raises:
            ConcurrencyConflict: the order or the saga was written by someone else since it was read (or exists, for
                an insert); nothing was written.
            DuplicateRequest, IdempotencyKeyReused: as ``OrderRepository.add``; nothing was written.
            NotFound: the order or the saga to replace was never stored.
            ValueError: the saga is not the order's (its id differs from the order id).
            ValidationError: an event payload or the saga's data is not JSON-ready; nothing was written.
            InfrastructureError: the store failed or throttled, or the write exceeds one batch; nothing was written
                (a binding outside the order's partition, written first, stays only after an unknown outcome: see
                the module docstring).
        """
        insert = order is not None and order.persisted_version == 0 and order.concurrency_token is None
        changed = order is not None and (insert or order.version != order.persisted_version)
        if order is None or not changed:
            if saga is not None:
                self._saga_alone(saga, create_saga)
            return
        if saga is None:
            self._order_alone(order, insert, idempotency)
            return
        if saga.saga_id != order.order_id:
            raise ValueError(f"saga {saga.saga_id} is not the saga of order {order.order_id}")
        binding = None if idempotency is None else order_id_for_key(idempotency.scope, idempotency.key)
        elsewhere = binding if insert and binding is not None and binding != order.order_id else None
        if insert:
            plan = self.orders.plan_add(order, None if elsewhere is not None else idempotency)
        else:
            plan = self.orders.plan_save(order)
        if create_saga:
            version = 1
            saga_op: tuple[Any, ...] = ("create", (self.sagas.document(saga, version),))
        else:
            version = saga.version + 1
            etag = self.sagas.etag_to_replace(saga, "units.commit.read")
            new = self.sagas.document(saga, version)
            saga_op = ("replace", (new["id"], new), {"if_match_etag": etag})
        operations = [*plan.operations, saga_op]
        saga_index = len(plan.operations)
        self.orders.check_size(operations, order.order_id)
        try:
            if elsewhere is not None:  # the binding's partition is not the order's: written alone first, as add
                assert idempotency is not None
                results = self.orders.batch_bound_alone("units.commit", operations, order.order_id, idempotency)
            else:
                results = self.orders.batch("units.commit", operations, order.order_id)
        except _Refused as refused:
            if refused.index == saga_index:
                self._raise_saga_refused(saga, refused, create_saga)
            self.orders.raise_refused(plan, refused)
        self.orders.finish(plan, results)
        saga.version = version
        self.sagas.remember(saga.saga_id, version, _etag(results, saga_index))

    # one side alone: the store's own write, called under another name than its port method's so that a caller
    # counting port calls (the lifecycle's store-call count) sees one unit-of-work commit, not two calls
    def _order_alone(self, order: Order, insert: bool, idempotency: IdempotencyRecord | None) -> None:
        if insert:
            self.orders.insert(order, idempotency)
        else:
            self.orders.replace(order)

    def _saga_alone(self, saga: SagaState, create: bool) -> None:
        if create:
            self.sagas.insert(saga)
        else:
            self.sagas.replace(saga)

    @staticmethod
    def _raise_saga_refused(saga: SagaState, refused: _Refused, create: bool) -> NoReturn:
        saga_id = saga.saga_id
        if create and refused.status == 409:
            raise ConcurrencyConflict(f"saga {saga_id} already exists", saga_id=saga_id) from refused.vendor
        if refused.status == 412:
            raise ConcurrencyConflict(
                f"saga {saga_id} changed since version {saga.version}", saga_id=saga_id
            ) from refused.vendor
        if refused.status == 404:
            raise NotFound(f"saga {saga_id} not found", saga_id=saga_id) from refused.vendor
        raise InfrastructureError(
            f"units.commit: the batch was refused at the saga's operation with {refused.status}",
            service="cosmosdb",
            action="units.commit",
            code=str(refused.status),
            retryable=refused.status in RETRYABLE_STATUSES,
        ) from refused.vendor
