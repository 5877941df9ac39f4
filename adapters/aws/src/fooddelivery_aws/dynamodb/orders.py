"""Orders on DynamoDB, with the transactional outbox and idempotent placement in the same table.

One write = one ``TransactWriteItems``: the order (conditioned on its version), one outbox record per pending event
and, on placement, the idempotency binding. Either all of them are written or none is, so no order is stored
without its events and no event exists without its order.

A saga step writes through the unit of work instead (:meth:`DynamoDBOrderRepository.unit_of_work`, over a
``DynamoDBSagaStateStore`` on the same client): the same order, outbox and binding Puts with the saga instance's
Put (sagas table) appended to the same ``TransactWriteItems``, and the order read with its saga in one
``TransactGetItems`` (see :mod:`fooddelivery_aws.dynamodb.unit_of_work`). The outbox records are the same items either
way, so the stream relay sees no difference.

Where the outbox lives, and why ``pending()`` is a Query: outbox records are items of the orders table (key
``"outbox#<eventId>"``) or, with ``outbox_table=``, of a dedicated table. Each pending record carries
``outboxPartition`` (``"pending#<shard>"``) and ``outboxSeq`` (``"<order createdAt>#<orderId>#<version>"``), the
keys of the sparse ``OutboxPendingIndex``: only pending records are in it, so ``pending()`` reads exactly the
pending records, oldest order first and each order's records in version order, with one Query per shard (a
merge of sorted lists when there are several shards), never a Scan of the orders. Publishing deletes the record
(``BatchWriteItem``), which drops it from the index. One shard is the default; raise ``outbox_shards`` if the
outbox's write rate nears what one index partition takes (about 1,000 writes per second per partition key
value: DynamoDB developer guide, "Best practices for designing and using partition keys effectively"); every
writer and reader of a table must use the same shard count. The same records appear on the table's stream, so a
Streams relay can publish from ``NewImage`` (:func:`fooddelivery_aws.dynamodb.records.outbox_record_from_item`)
and a sweeper can still use ``pending()`` for whatever the stream consumer left behind.

Consistency: ``get`` and ``find_idempotent`` are strongly consistent reads; listings and ``pending()`` read global
secondary indexes, which are eventually consistent (DynamoDB developer guide, "Read consistency"), so a record
written a moment ago may be missing from them, and one just published may still appear (a harmless republish:
delivery is at-least-once and consumers dedupe on the event id).
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final, NoReturn, cast

from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    InfrastructureError,
    NotFound,
)
from fooddelivery.domain.order import Order, OrderStatus
from fooddelivery.ports.messaging import OutboxRecord
from fooddelivery.ports.orders import IdempotencyRecord, Page
from fooddelivery.ports.saga_store import SagaStateStore
from fooddelivery.ports.unit_of_work import OrderUnitOfWork
from fooddelivery_aws.dynamodb._support import (
    RETRYABLE_CODES,
    Counters,
    TableRepository,
    bad_cursor,
    check_limit,
    decode_cursor,
    decode_item,
    encode_cursor,
    error_code,
    reraise,
)
from fooddelivery_aws.dynamodb.attributes import Item, RecordError, get_int, get_str
from fooddelivery_aws.dynamodb.records import (
    ITEM_ORDER,
    OUTBOX_KEY_PREFIX,
    idempotency_from_item,
    idempotency_key,
    idempotency_to_item,
    order_from_item,
    order_to_item,
    outbox_record_from_item,
    outbox_to_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["MAX_TRANSACTION_BYTES", "MAX_TRANSACTION_ITEMS", "DynamoDBOrderRepository"]

#: Most actions in one ``TransactWriteItems`` (source: DynamoDB API reference, TransactWriteItems: "up to 100
#: action requests"; the aggregate size of the items must also stay under 4 MB).
MAX_TRANSACTION_ITEMS: Final[int] = 100
#: Most bytes of the items of one ``TransactWriteItems`` (source: DynamoDB API reference, TransactWriteItems: "The
#: aggregate size of the items in the transaction cannot exceed 4 MB"), counted as DynamoDB sizes an item
#: (:func:`fooddelivery_aws.metering.dynamodb_item_size`).
MAX_TRANSACTION_BYTES: Final[int] = 4 * 1024 * 1024
#: Most requests in one ``BatchWriteItem`` (source: DynamoDB API reference, BatchWriteItem: "as many as 25 put or
#: delete requests").
_BATCH_WRITE_MAX: Final[int] = 25
#: Attempts at a transaction refused with ``TransactionConflict`` (another transaction held an item).
_CONFLICT_ATTEMPTS: Final[int] = 4
#: Attempts at a batch whose items keep coming back unprocessed.
_BATCH_ATTEMPTS: Final[int] = 8
_THROTTLED_REASONS: Final[frozenset[str]] = frozenset(
    {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ORDERS_BY_CUSTOMER: Final = "UserOrdersIndex"
_ORDERS_BY_RESTAURANT_STATUS: Final = "RestaurantOrdersIndex"
_ORDERS_BY_RESTAURANT: Final = "RestaurantTimeIndex"
_OUTBOX_PENDING: Final = "OutboxPendingIndex"


class _Cancelled(Exception):
    """A conditional write was refused: ``reasons`` has one entry per action (``Code``, maybe ``Item``)."""

    def __init__(self, reasons: list[dict[str, Any]], vendor: BaseException) -> None:
        super().__init__("transaction cancelled")
        self.reasons = reasons
        self.vendor = vendor

    def code(self, index: int) -> str:
        return str(self.reasons[index].get("Code", "None")) if index < len(self.reasons) else "None"

    def item(self, index: int) -> dict[str, Any] | None:
        if index >= len(self.reasons):
            return None
        item = self.reasons[index].get("Item")
        return item if isinstance(item, dict) and item else None


class DynamoDBOrderRepository(TableRepository):
    """Orders, their outbox records and their idempotency bindings in DynamoDB (``OrderRepository`` + ``Outbox``).

    Table layout: see :mod:`fooddelivery_aws.dynamodb.tables` (``ORDERS``, and ``OUTBOX`` for a dedicated outbox).

    Counted operations (with ``counters``), as the in-memory store counts them: ``orders.reads`` per
    ``get``/``find_idempotent``/``list_*`` call, ``orders.writes`` per ``add``/``save`` call (successful or not),
    ``outbox.writes`` per outbox record written, per delete request sent by ``mark_published`` and per record
    updated by ``mark_failed``.

    Args:
        table_name: the orders table.
        client: a ``boto3`` DynamoDB client; built lazily on first use when None.
        outbox_table: a dedicated outbox table (spec ``OUTBOX``), or None to keep the outbox in the orders table.
        outbox_shards: partitions of the OutboxPendingIndex (>= 1; the same for every writer and reader).
        idempotency_ttl: how long an idempotency binding is kept (TTL from the order's ``created_at``), or None
            to keep them for good. DynamoDB deletes expired items within a few days, not at once.
        counters: optional operation counters (``fooddelivery.adapters.memory.OperationCounters``).
        region_name: region of a lazily built client.
        endpoint_url: endpoint of a lazily built client.

    Raises:
        ValueError: ``outbox_shards`` below 1.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        outbox_table: str | None = None,
        outbox_shards: int = 1,
        idempotency_ttl: timedelta | None = None,
        counters: Counters | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        if outbox_shards < 1:
            raise ValueError("outbox_shards must be >= 1")
        super().__init__(
            table_name, client=client, counters=counters, region_name=region_name, endpoint_url=endpoint_url
        )
        self._outbox_table = outbox_table or table_name
        self._outbox_key_attr, self._outbox_key_prefix = (
            ("eventId", "") if outbox_table is not None else ("orderId", OUTBOX_KEY_PREFIX)
        )
        self._shards = outbox_shards
        self._idempotency_ttl = idempotency_ttl

    @property
    def outbox_table_name(self) -> str:
        """The table holding the outbox records (the orders table unless a dedicated one was given)."""
        return self._outbox_table

    # -- OrderRepository ---------------------------------------------------------------------------------
    def add(self, order: Order, idempotency: IdempotencyRecord | None = None) -> None:
        """Insert ``order`` with its pending events and bind ``idempotency`` if given, in one transaction.

        On success the events leave the aggregate and ``order.persisted_version`` becomes ``order.version``;
        on any error nothing is written and the order is left untouched.

        Raises:
            DuplicateRequest: the key is bound with the same fingerprint (``resource_id`` = the first order).
            IdempotencyKeyReused: the key is bound with another fingerprint.
            ConcurrencyConflict: an order with this id (or an outbox record with one of its event ids) exists.
            InfrastructureError: the store failed or throttled, or the write would exceed
                :data:`MAX_TRANSACTION_ITEMS`; nothing was written.
        """
        self._count("orders.writes")
        events = list(order.pending_events)
        actions, order_index = self._add_actions(order, idempotency)
        try:
            self._write(actions, "orders.add")
        except _Cancelled as cancelled:
            self._explain_order_failure(cancelled, order, idempotency, insert=True, order_index=order_index)
            self._raise_cancelled(cancelled, "orders.add", order.order_id)
        order.take_events()
        order.persisted_version = order.version
        self._count("outbox.writes", len(events))

    def _add_actions(self, order: Order, idempotency: IdempotencyRecord | None) -> tuple[list[dict[str, Any]], int]:
        """The Puts of an insert (the binding first if given, the order, its outbox records) and the order's index.

        Raises:
            ValidationError: an event's payload cannot be stored.
        """
        actions: list[dict[str, Any]] = []
        if idempotency is not None:
            expires = None
            if self._idempotency_ttl is not None:  # whole epoch seconds, by integer arithmetic
                expires = (order.created_at + self._idempotency_ttl - _EPOCH) // timedelta(seconds=1)
            actions.append(self._put_new(self._table, "orderId", idempotency_to_item(idempotency, expires_at=expires)))
        order_index = len(actions)
        actions.append(self._put_new(self._table, "orderId", order_to_item(order)))
        actions.extend(self._outbox_puts(order))
        return actions, order_index

    def _save_actions(self, order: Order) -> list[dict[str, Any]]:
        """The Puts of an update: the order (conditioned on the version it was read at), then its outbox records."""
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": order_to_item(order),
            "ConditionExpression": "#t = :order AND #v = :expected",
            "ExpressionAttributeNames": {"#t": "itemType", "#v": "version"},
            "ExpressionAttributeValues": {
                ":order": {"S": ITEM_ORDER},
                ":expected": {"N": str(order.persisted_version)},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        return [put, *self._outbox_puts(order)]

    def _explain_order_failure(
        self,
        cancelled: _Cancelled,
        order: Order,
        idempotency: IdempotencyRecord | None,
        *,
        insert: bool,
        order_index: int,
    ) -> None:
        """Raise the core's error when the order's own conditions refused the write (the binding's, the order's);
        return when they did not (the caller looks at the other actions).

        Raises:
            DuplicateRequest, IdempotencyKeyReused: the binding's condition failed (an insert with ``idempotency``).
            ConcurrencyConflict: the order exists (insert) or is at another version than read (update).
            NotFound: the order to update was never stored.
        """
        if insert:
            if idempotency is not None and cancelled.code(0) == "ConditionalCheckFailed":
                self._raise_idempotent(idempotency, cancelled)
            if cancelled.code(order_index) == "ConditionalCheckFailed":
                raise ConcurrencyConflict(
                    f"order {order.order_id} already exists", order_id=order.order_id
                ) from cancelled.vendor
            return
        if cancelled.code(order_index) != "ConditionalCheckFailed":
            return
        stored = cancelled.item(order_index)
        if stored is None:  # emulators may not return the old item: read it
            stored = self._get_item(self._table, {"orderId": {"S": order.order_id}}, "orders.save")
        if stored is None or _str_or_none(stored, "itemType") != ITEM_ORDER:
            raise NotFound(f"order {order.order_id} not found", order_id=order.order_id) from cancelled.vendor
        stored_version = _int_or_none(stored, "version")
        raise ConcurrencyConflict(
            f"order {order.order_id} is at version {stored_version}, not {order.persisted_version} as read",
            order_id=order.order_id,
            stored_version=stored_version,
            expected_version=order.persisted_version,
        ) from cancelled.vendor

    def _raise_idempotent(self, idempotency: IdempotencyRecord, cancelled: _Cancelled) -> NoReturn:
        raw = cancelled.item(0)
        bound: IdempotencyRecord | None
        if raw is not None:
            try:
                bound = idempotency_from_item(raw)
            except RecordError:  # the key is taken by an item of another kind
                bound = None
        else:  # emulators may not return the old item: read the binding (strongly consistent)
            bound = self._read_idempotency(idempotency.scope, idempotency.key)
        if bound is None:
            raise ConcurrencyConflict(
                f"idempotency key {idempotency.key!r} changed while the order was written, retry",
                scope=idempotency.scope,
            ) from cancelled.vendor
        raise idempotency.refused_by(bound) from cancelled.vendor

    def get(self, order_id: str) -> Order:
        """The stored order (strongly consistent read), ``persisted_version`` set.

        Raises:
            NotFound: no such order.
            InfrastructureError: the store failed, or the item is not a readable order.
        """
        self._count("orders.reads")
        item = self._get_item(self._table, {"orderId": {"S": order_id}}, "orders.get")
        if item is None or _str_or_none(item, "itemType") != ITEM_ORDER:
            raise NotFound(f"order {order_id} not found", order_id=order_id)
        return _order(item)

    def save(self, order: Order) -> None:
        """Write ``order`` and its pending events if the stored version is still ``order.persisted_version``.

        On success the events leave the aggregate and ``order.persisted_version`` becomes ``order.version``.

        Raises:
            NotFound: the order was never added.
            ConcurrencyConflict: the stored version differs (nothing written, the order left untouched).
            InfrastructureError: the store failed or throttled; nothing was written.
        """
        self._count("orders.writes")
        events = list(order.pending_events)
        try:
            self._write(self._save_actions(order), "orders.save")
        except _Cancelled as cancelled:
            self._explain_order_failure(cancelled, order, None, insert=False, order_index=0)
            self._raise_cancelled(cancelled, "orders.save", order.order_id)
        order.take_events()
        order.persisted_version = order.version
        self._count("outbox.writes", len(events))

    def find_idempotent(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The binding of ``key`` in ``scope`` (strongly consistent read), or None.

        Raises:
            InfrastructureError: the store failed.
        """
        self._count("orders.reads")
        return self._read_idempotency(scope, key)

    def _read_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        item = self._get_item(self._table, {"orderId": {"S": idempotency_key(scope, key)}}, "orders.idempotency")
        if item is None:
            return None
        try:
            return idempotency_from_item(item)
        except RecordError as exc:
            raise InfrastructureError(f"unreadable idempotency item: {exc}", reason="corrupt_item") from exc

    def list_by_customer(self, customer_id: str, limit: int = 20, cursor: str | None = None) -> Page[Order]:
        """Up to ``limit`` of the customer's orders, newest first (UserOrdersIndex: userId + createdAt).

        Raises:
            ValidationError: ``limit`` outside 1..100 (field ``limit``) or a malformed cursor (``cursor``).
            InfrastructureError: the store failed.
        """
        check_limit(limit)
        self._count("orders.reads")
        start = None
        if cursor is not None:
            pos = decode_cursor(cursor, "oc", ("s", "t", "id"), allow_empty=False)
            if pos["s"] != customer_id:
                raise bad_cursor()
            start = {
                "userId": {"S": customer_id},
                "createdAt": {"N": _number_text(pos["t"])},
                "orderId": {"S": pos["id"]},
            }
        items, more = self._query_page(
            {
                "IndexName": _ORDERS_BY_CUSTOMER,
                "KeyConditionExpression": "userId = :u",
                "ExpressionAttributeValues": {":u": {"S": customer_id}},
                "ScanIndexForward": False,
            },
            limit,
            start,
        )
        orders = [_order(item) for item in items]
        next_cursor = None
        if more:
            last = items[-1]
            next_cursor = encode_cursor(
                {"k": "oc", "s": customer_id, "t": _number_attr_text(last, "createdAt"), "id": get_str(last, "orderId")}
            )
        return Page(orders, next_cursor)

    def list_by_restaurant(
        self,
        restaurant_id: str,
        status: OrderStatus | None = None,
        limit: int = 20,
        cursor: str | None = None,
        *,
        newest_first: bool = False,
    ) -> Page[Order]:
        """Up to ``limit`` of the restaurant's orders (of ``status`` if given), oldest first (creation time, then
        id), or newest first with ``newest_first``.

        With a status: RestaurantOrdersIndex, ``begins_with(statusCreatedAt, "<STATUS>#")``; without:
        RestaurantTimeIndex (restaurantId + ``createdAtKey``). Both sort keys are ``...<createdAt ISO>#<orderId>``
        text, so either direction is one Query (``ScanIndexForward``) in exactly the port's order. A cursor names
        its direction (kind ``or`` oldest first, ``ord`` newest first), restaurant and status.

        Raises:
            ValidationError: ``limit`` outside 1..100 (field ``limit``) or a malformed cursor, or one of another
                listing or direction (``cursor``).
            InfrastructureError: the store failed.
        """
        check_limit(limit)
        self._count("orders.reads")
        kind = "ord" if newest_first else "or"
        scope = f"{restaurant_id}|{status.value if status is not None else '*'}"
        sort_attr = "statusCreatedAt" if status is not None else "createdAtKey"
        prefix = f"{status.value}#" if status is not None else ""
        start = None
        if cursor is not None:
            pos = decode_cursor(cursor, kind, ("s", "t", "id"), allow_empty=False)
            if pos["s"] != scope or not pos["t"].startswith(prefix) or not pos["t"].endswith(f"#{pos['id']}"):
                raise bad_cursor()
            start = {"restaurantId": {"S": restaurant_id}, sort_attr: {"S": pos["t"]}, "orderId": {"S": pos["id"]}}
        if status is not None:
            query = {
                "IndexName": _ORDERS_BY_RESTAURANT_STATUS,
                "KeyConditionExpression": "restaurantId = :r AND begins_with(statusCreatedAt, :s)",
                "ExpressionAttributeValues": {":r": {"S": restaurant_id}, ":s": {"S": prefix}},
                "ScanIndexForward": not newest_first,
            }
        else:
            query = {
                "IndexName": _ORDERS_BY_RESTAURANT,
                "KeyConditionExpression": "restaurantId = :r",
                "ExpressionAttributeValues": {":r": {"S": restaurant_id}},
                "ScanIndexForward": not newest_first,
            }
        items, more = self._query_page(query, limit, start)
        orders = [_order(item) for item in items]
        next_cursor = None
        if more:
            last = items[-1]
            next_cursor = encode_cursor(
                {"k": kind, "s": scope, "t": get_str(last, sort_attr), "id": get_str(last, "orderId")}
            )
        return Page(orders, next_cursor)

    # -- the unit of work --------------------------------------------------------------------------------
    def unit_of_work(self, sagas: SagaStateStore) -> OrderUnitOfWork | None:
        """A native unit of work (``UnitOfWorkSource``) when ``sagas`` is a :class:`DynamoDBSagaStateStore` on the
        same client as this store (one account and region: a ``TransactWriteItems`` spans tables of one account and
        region, not of two), else None (the caller composes one from the two ports).

        See :class:`fooddelivery_aws.dynamodb.unit_of_work.DynamoDBUnitOfWork`.
        """
        from fooddelivery_aws.dynamodb.saga_store import DynamoDBSagaStateStore
        from fooddelivery_aws.dynamodb.unit_of_work import DynamoDBUnitOfWork

        if isinstance(sagas, DynamoDBSagaStateStore) and self._client.same_as(sagas._client):
            return DynamoDBUnitOfWork(self, sagas)
        return None

    # -- Outbox ------------------------------------------------------------------------------------------
    def pending(self, limit: int = 100) -> Sequence[OutboxRecord]:
        """Up to ``limit`` unpublished records: oldest order first, one order's records in version order.

        One Query of the OutboxPendingIndex per shard (eventually consistent, see the module docstring).

        Raises:
            InfrastructureError: the store failed, or a pending item is unreadable.
        """
        if limit <= 0:
            return []
        per_shard: list[list[dict[str, Any]]] = []
        for shard in range(self._shards):
            items, _ = self._query_page(
                {
                    "IndexName": _OUTBOX_PENDING,
                    "KeyConditionExpression": "outboxPartition = :p",
                    "ExpressionAttributeValues": {":p": {"S": f"pending#{shard}"}},
                    "ScanIndexForward": True,
                },
                limit,
                None,
                table=self._outbox_table,
            )
            per_shard.append(items)
        merged = per_shard[0] if len(per_shard) == 1 else list(heapq.merge(*per_shard, key=_seq))
        records = []
        for item in merged[:limit]:
            try:
                records.append(outbox_record_from_item(item))
            except RecordError as exc:
                raise InfrastructureError(f"unreadable outbox item: {exc}", reason="corrupt_item") from exc
        return records

    def mark_published(self, event_ids: Sequence[str]) -> None:
        """Delete these records (``BatchWriteItem``, 25 per request); unknown ids are ignored.

        Raises:
            InfrastructureError: the store failed, or some deletes stayed unprocessed after retries (the records
                stay pending and are republished: harmless, consumers dedupe on the event id).
        """
        ids = list(dict.fromkeys(event_ids))
        for start in range(0, len(ids), _BATCH_WRITE_MAX):
            chunk = ids[start : start + _BATCH_WRITE_MAX]
            requests = [{"DeleteRequest": {"Key": self._outbox_key(event_id)}} for event_id in chunk]
            self._batch_write(requests, "outbox.mark_published")
            self._count("outbox.writes", len(chunk))

    def mark_failed(self, event_ids: Sequence[str]) -> None:
        """Add one failed attempt to each of these pending records (unknown or published ids are ignored).

        Raises:
            InfrastructureError: the store failed.
        """
        updated = 0
        client = self._client.get()
        for event_id in dict.fromkeys(event_ids):
            try:
                client.update_item(
                    TableName=self._outbox_table,
                    Key=self._outbox_key(event_id),
                    UpdateExpression="SET #a = #a + :one",
                    ConditionExpression="attribute_exists(#p)",
                    ExpressionAttributeNames={"#a": "attempts", "#p": "outboxPartition"},
                    ExpressionAttributeValues={":one": {"N": "1"}},
                )
            except Exception as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    continue
                reraise(exc, "outbox.mark_failed")
            updated += 1
        self._count("outbox.writes", updated)

    # -- plumbing ----------------------------------------------------------------------------------------
    def _outbox_key(self, event_id: str) -> Item:
        return {self._outbox_key_attr: {"S": self._outbox_key_prefix + event_id}}

    def _outbox_puts(self, order: Order) -> list[dict[str, Any]]:
        return [
            self._put_new(
                self._outbox_table,
                self._outbox_key_attr,
                outbox_to_item(
                    order,
                    event,
                    key_attr=self._outbox_key_attr,
                    key_prefix=self._outbox_key_prefix,
                    shards=self._shards,
                ),
            )
            for event in order.pending_events
        ]

    @staticmethod
    def _put_new(table: str, key_attr: str, item: Item) -> dict[str, Any]:
        return {
            "TableName": table,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(#k)",
            "ExpressionAttributeNames": {"#k": key_attr},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _write(self, puts: list[dict[str, Any]], action: str) -> None:
        """Write ``puts`` atomically: one ``PutItem`` alone, else ``TransactWriteItems``.

        Raises:
            _Cancelled: a condition failed (or a transaction conflict outlasted the retries).
            InfrastructureError: too many actions or bytes for one transaction, throttling or another service failure.
        """
        if len(puts) > MAX_TRANSACTION_ITEMS:
            raise InfrastructureError(
                f"{action}: {len(puts)} items exceed the {MAX_TRANSACTION_ITEMS} of one DynamoDB transaction",
                action=action,
                reason="transaction_too_large",
                retryable=False,
            )
        if len(puts) > 1:
            from fooddelivery_aws.metering import dynamodb_item_size

            size = sum(dynamodb_item_size(put["Item"]) for put in puts)
            if size > MAX_TRANSACTION_BYTES:
                raise InfrastructureError(
                    f"{action}: {size} bytes of items exceed the {MAX_TRANSACTION_BYTES} of one DynamoDB transaction",
                    action=action,
                    reason="transaction_too_large",
                    retryable=False,
                )
        client = self._client.get()
        if len(puts) == 1:
            try:
                client.put_item(**puts[0])
            except Exception as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    item = getattr(exc, "response", {}).get("Item")
                    raise _Cancelled([{"Code": "ConditionalCheckFailed", "Item": item}], exc) from exc
                reraise(exc, action)
            return
        for attempt in range(_CONFLICT_ATTEMPTS):
            try:
                client.transact_write_items(TransactItems=cast(Any, [{"Put": put} for put in puts]))
                return
            except Exception as exc:
                if error_code(exc) != "TransactionCanceledException":
                    reraise(exc, action)
                reasons = list(getattr(exc, "response", {}).get("CancellationReasons") or [])
                codes = {str(r.get("Code")) for r in reasons}
                only_conflicts = "TransactionConflict" in codes and codes <= {"TransactionConflict", "None"}
                if only_conflicts and attempt + 1 < _CONFLICT_ATTEMPTS:
                    time.sleep(random.uniform(0.01, 0.05) * 2**attempt)
                    continue
                raise _Cancelled(reasons, exc) from exc

    def _batch_write(self, requests: list[dict[str, Any]], action: str) -> None:
        """One ``BatchWriteItem`` on the outbox table, resending unprocessed requests with backoff.

        Raises:
            InfrastructureError: the service failed, or requests stayed unprocessed after the retries.
        """
        client = self._client.get()
        pending: dict[str, Any] = {self._outbox_table: requests}
        for attempt in range(_BATCH_ATTEMPTS):
            try:
                response = client.batch_write_item(RequestItems=pending)
            except Exception as exc:
                reraise(exc, action)
            unprocessed = response.get("UnprocessedItems") or {}
            if not unprocessed:
                return
            pending = dict(unprocessed)
            time.sleep(min(1.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
        left = sum(len(v) for v in pending.values())
        raise InfrastructureError(
            f"{action}: {left} requests stayed unprocessed after {_BATCH_ATTEMPTS} attempts",
            action=action,
            reason="unprocessed",
            retryable=True,
        )

    @staticmethod
    def _raise_cancelled(cancelled: _Cancelled, action: str, order_id: str) -> NoReturn:
        codes = [str(r.get("Code")) for r in cancelled.reasons]
        if any(code in _THROTTLED_REASONS or code in RETRYABLE_CODES for code in codes):
            raise InfrastructureError(
                f"{action}: throttled", action=action, codes=codes, retryable=True
            ) from cancelled.vendor
        if "ConditionalCheckFailed" in codes:  # an outbox record with one of the event ids exists
            raise ConcurrencyConflict(
                f"{action}: an event of order {order_id} was already written", order_id=order_id, codes=codes
            ) from cancelled.vendor
        if "TransactionConflict" in codes:
            raise ConcurrencyConflict(
                f"{action}: order {order_id} is being written concurrently", order_id=order_id, codes=codes
            ) from cancelled.vendor
        raise InfrastructureError(
            f"{action}: transaction refused ({codes})", action=action, codes=codes, retryable=False
        ) from cancelled.vendor

    def _get_item(self, table: str, key: Item, action: str) -> dict[str, Any] | None:
        try:
            response = self._client.get().get_item(TableName=table, Key=key, ConsistentRead=True)
        except Exception as exc:
            reraise(exc, action)
        item = response.get("Item")
        return dict(item) if item else None

    def _query_page(
        self,
        query: Mapping[str, Any],
        limit: int,
        start: Item | None,
        *,
        table: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` items of a Query from ``start``, and whether more follow.

        Reads one item beyond ``limit`` to know; follows ``LastEvaluatedKey`` across 1 MB pages.
        """
        client = self._client.get()
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": table or self._table, **query}
        if start is not None:
            kwargs["ExclusiveStartKey"] = start
        while True:
            kwargs["Limit"] = limit + 1 - len(items)
            try:
                response = client.query(**kwargs)
            except Exception as exc:
                if error_code(exc) == "ValidationException" and start is not None:
                    raise bad_cursor() from exc  # an ExclusiveStartKey the service refused
                reraise(exc, "orders.query")
            items.extend(dict(i) for i in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if len(items) > limit:
                return items[:limit], True
            if not last:
                return items, False
            kwargs["ExclusiveStartKey"] = last


def _seq(item: Mapping[str, Any]) -> str:
    return get_str(item, "outboxSeq")


def _order(item: Mapping[str, Any]) -> Order:
    return decode_item(order_from_item, item, "order")


def _str_or_none(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    if isinstance(value, Mapping) and isinstance(value.get("S"), str):
        return str(value["S"])
    return None


def _number_attr_text(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, Mapping) or not isinstance(value.get("N"), str):
        raise RecordError(f"attribute {name!r} is missing or not a number")
    return str(value["N"])


def _int_or_none(item: Mapping[str, Any], name: str) -> int | None:
    try:
        return get_int(item, name)
    except RecordError:
        return None


def _number_text(text: str) -> str:
    """``text`` if it is a finite decimal number, else the cursor is malformed."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise bad_cursor() from None
    if not value.is_finite() or len(text) > 40:
        raise bad_cursor()
    return text
