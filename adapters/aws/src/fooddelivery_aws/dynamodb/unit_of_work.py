"""The DynamoDB unit of work: one order's partition -- the order, its outbox records, its idempotency binding and its
saga instance -- read with one ``TransactGetItems`` and written with one ``TransactWriteItems``.

**The write.** ``commit`` puts the order's actions exactly as ``DynamoDBOrderRepository.add`` / ``save`` would (the
binding conditioned on ``attribute_not_exists``, the order on ``attribute_not_exists`` or on the version it was read
at, one ``attribute_not_exists`` Put per outbox record) and appends the saga's Put to the same transaction
(``attribute_not_exists(sagaId)`` to create it at version 1, ``version = <as read>`` to replace it). The saga lives
in its own table: ``TransactWriteItems`` spans tables of one account and region (DynamoDB API reference,
TransactWriteItems: "a synchronous write operation that groups up to 100 action requests ... in different tables
... within the same account and Region"), so either every item is written or none is. A commit with a single item
to write (the saga alone, or an order without events and no saga) is one conditional ``PutItem``. Limits: at most
:data:`~fooddelivery_aws.dynamodb.orders.MAX_TRANSACTION_ITEMS` actions (the order, its events, the binding and
the saga: one action fewer for events than ``save`` alone leaves) and
:data:`~fooddelivery_aws.dynamodb.orders.MAX_TRANSACTION_BYTES` (4 MB) of items in all, as for the order store's own
writes; a commit beyond either is refused before anything is sent (``InfrastructureError``,
``transaction_too_large``). The outbox records are the same items as before, in the same table, so the orders
table's stream (:mod:`fooddelivery_aws.relay`) carries them exactly as it carries the order store's own writes; the
saga's item goes to the sagas table as the saga store's own writes do.

**What it costs.** DynamoDB bills a transactional write twice the write units of a standard one (DynamoDB developer
guide, "Capacity unit consumption for write operations": "Transactional write requests require 2 write request
units to perform one write for items up to 1 KB"). The saga's write costs 1 write unit alone but 2 inside the
order's transaction; an order write without events (a single ``PutItem``, 1 unit today) costs 2 once it shares a
transaction with the saga. That is the price of the one atomic write per step (and one fewer request). A commit
that writes only the saga (the order unchanged) stays one standard ``PutItem``. Measured over one full order
lifecycle (``tests/dynamodb/test_dynamodb_unit_of_work.py``, on moto): 24 requests instead of 29 with the unit
composed of the two stores (besides the driver search's Queries), 60 write units instead of 56, and 2 read units
more (its one load, a ``TransactGetItems``: see below).

**The read.** ``load`` is one ``TransactGetItems`` of the order's item (orders table) and the saga's item (sagas
table): a snapshot, serializable with every transaction (DynamoDB developer guide, "Isolation levels for DynamoDB
transactions"), so the pair it returns existed together. A ``BatchGetItem`` would not do: it is read-committed
across items and may return the order from before a transaction and the saga from after it; a step decided on that
pair and writing the saga alone (conditioned on the saga only) would commit on a state that never existed. What it
costs (DynamoDB developer guide, "Capacity unit consumption for read operations": "Transactional read requests
require 2 read request units to perform one read for items up to 4 KB"): 2 read units per 4 KB (rounded up) of each
item, an absent item (no saga yet) counted as one of the minimum size, so 4 for an order and a saga under 4 KB each,
where the two strongly consistent reads of a batch cost 2. A ``TransactGetItems`` is cancelled
(``TransactionConflict``) when a transaction writing one of its items is in flight: it is asked again, with backoff,
up to 4 times, then refused ``InfrastructureError`` (``transaction_conflict``, retryable); throttling is refused at
once (retryable), as botocore has already retried it.

**A lost answer.** botocore resends a request whose answer did not arrive (standard retry mode). A resent
``TransactWriteItems`` carries the same ``ClientRequestToken`` (botocore fills it in), which DynamoDB answers as the
first call for 10 minutes; a resent ``PutItem``, or a transaction resent to a stand-in that ignores the token (moto),
fails its conditions instead. The unit then looks for proof that the stored items are its own, never at their
content (two processes driving one step from one read put equal items, and only one may win): every outbox record
it put exists (their event ids are its own), and the saga it put carries this commit's ``commitId`` (a random id
every saga write stamps, :func:`~fooddelivery_aws.dynamodb.records.saga_to_item`; 40 bytes of the item, billed). A
commit with neither (an order written alone, without events) counts as its own when the stored order is the item it
put (numbers compared by value: DynamoDB trims their zeros): a rival's equal write had the same effect and emitted
nothing.

Source of the rules above: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html,
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactGetItems.html,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-isolation.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final, NoReturn, cast

from fooddelivery.domain.errors import ConcurrencyConflict, InfrastructureError, NotFound
from fooddelivery.domain.order import Order
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaState
from fooddelivery_aws.dynamodb._support import decode_item, error_code, get_item, reraise
from fooddelivery_aws.dynamodb.orders import _THROTTLED_REASONS, _Cancelled, _order, _str_or_none
from fooddelivery_aws.dynamodb.records import ITEM_ORDER, saga_from_item, saga_to_item

if TYPE_CHECKING:
    from fooddelivery_aws.dynamodb.orders import DynamoDBOrderRepository
    from fooddelivery_aws.dynamodb.saga_store import DynamoDBSagaStateStore

__all__ = ["DynamoDBUnitOfWork"]

#: Calls at a ``TransactGetItems`` cancelled by concurrent transactions on its items.
_READ_ATTEMPTS: Final[int] = 4
_ACTION: Final[str] = "unit_of_work.commit"
_LOAD: Final[str] = "unit_of_work.load"


class DynamoDBUnitOfWork:
    """``OrderUnitOfWork`` over a :class:`DynamoDBOrderRepository` and a :class:`DynamoDBSagaStateStore` reached by
    the same client (see the module docstring for the calls and what they cost).

    Counted operations (with the order store's ``counters``): ``units.reads`` per ``load``, ``units.writes`` per
    ``commit`` (successful or not), ``outbox.writes`` per outbox record written.

    Args:
        orders: the order store (and outbox).
        sagas: the saga store (its own table).

    Raises:
        ValueError: the two stores name the same table.
    """

    atomic = True

    def __init__(self, orders: DynamoDBOrderRepository, sagas: DynamoDBSagaStateStore) -> None:
        if orders.table_name == sagas.table_name:
            raise ValueError("the orders and the sagas must be in two tables (their keys differ)")
        self.orders = orders
        self.sagas = sagas

    def load(self, order_id: str) -> tuple[Order, SagaState | None]:
        """The order (``persisted_version`` set) and its saga (None when it has none): one ``TransactGetItems`` of
        both items, a snapshot (see the module docstring).

        Raises:
            NotFound: no such order.
            InfrastructureError: the store failed or throttled, another transaction held an item past the retries
                (retryable), or an item is unreadable.
        """
        orders, sagas = self.orders, self.sagas
        orders._count("units.reads")
        order_item, saga_item = self._transact_get(
            [
                {"Get": {"TableName": orders.table_name, "Key": {"orderId": {"S": order_id}}}},
                {"Get": {"TableName": sagas.table_name, "Key": {"sagaId": {"S": order_id}}}},
            ]
        )
        if order_item is None or _str_or_none(order_item, "itemType") != ITEM_ORDER:
            raise NotFound(f"order {order_id} not found", order_id=order_id)
        order = _order(order_item)
        saga = decode_item(saga_from_item, saga_item, "saga") if saga_item is not None else None
        return order, saga

    def commit(
        self,
        saga: SagaState | None,
        order: Order | None = None,
        *,
        create_saga: bool = False,
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        """Write the order (if new or changed) with its events and binding, and the saga, in one
        ``TransactWriteItems`` (see the port and the module docstring).

        A request sent again after its answer was lost (botocore's retries) and refused because it was applied the
        first time -- the order and the saga are stored exactly as this commit puts them -- counts as written.

        Raises:
            ConcurrencyConflict: the order or the saga changed since read (or exists, for an insert), an outbox
                record with one of the event ids exists, or another transaction held an item past the retries;
                nothing was written.
            DuplicateRequest / IdempotencyKeyReused: as ``OrderRepository.add``; nothing was written.
            NotFound: the order or the saga to replace was never stored; nothing was written.
            ValidationError: an event payload or the saga's data cannot be stored; nothing was written.
            InfrastructureError: the store failed or throttled, or the write exceeds one transaction; nothing was
                written.
        """
        orders = self.orders
        orders._count("units.writes")
        insert = order is not None and order.persisted_version == 0
        write_order = order if order is not None and (insert or order.version != order.persisted_version) else None
        actions: list[dict[str, Any]] = []
        order_index = 0
        events = 0
        if write_order is not None:
            events = len(write_order.pending_events)
            if insert:
                actions, order_index = orders._add_actions(write_order, idempotency)
            else:
                actions = orders._save_actions(write_order)
        saga_index = len(actions)
        if saga is not None:
            actions.append(self._saga_put(saga, create=create_saga))
        if not actions:
            return
        mine = ([(order_index, "orderId")] if write_order is not None else []) + (
            [(saga_index, "sagaId")] if saga is not None else []
        )
        try:
            orders._write(actions, _ACTION)
        except _Cancelled as cancelled:
            # unless this very write was applied (its answer lost, the request sent again): then it succeeded
            records = range(order_index + 1, order_index + 1 + events) if write_order is not None else range(0)
            if not self._written(cancelled, actions, mine, records):
                self._explain(cancelled, write_order, saga, idempotency, insert, order_index, saga_index, create_saga)
        if write_order is not None:
            write_order.take_events()
            write_order.persisted_version = write_order.version
            orders._count("outbox.writes", events)
        if saga is not None:
            saga.version = 1 if create_saga else saga.version + 1

    # -- plumbing ----------------------------------------------------------------------------------------
    def _explain(
        self,
        cancelled: _Cancelled,
        order: Order | None,
        saga: SagaState | None,
        idempotency: IdempotencyRecord | None,
        insert: bool,
        order_index: int,
        saga_index: int,
        create_saga: bool,
    ) -> NoReturn:
        """Raise the core's error for a refused commit: the order's conditions first, then the saga's, then the
        rest (an outbox record, throttling, a conflict with another transaction)."""
        if order is not None:
            self.orders._explain_order_failure(cancelled, order, idempotency, insert=insert, order_index=order_index)
        if saga is not None:
            self._explain_saga_failure(cancelled, saga, create=create_saga, index=saga_index)
        subject = order.order_id if order is not None else saga.saga_id if saga is not None else ""
        self.orders._raise_cancelled(cancelled, _ACTION, subject)

    def _written(
        self, cancelled: _Cancelled, actions: list[dict[str, Any]], mine: list[tuple[int, str]], records: range
    ) -> bool:
        """Whether a refused commit was this very write applied before. Proof of ownership, never the content (two
        writers of one step from one read put equal items): each outbox record it puts (action indexes ``records``)
        exists -- its event id is this commit's own, so only this transaction can have written it -- and, when it
        puts the saga, the stored saga carries the ``commitId`` this commit stamped on it (a random id per write,
        :func:`~fooddelivery_aws.dynamodb.records.saga_to_item`); the transaction being atomic, either proves the
        whole of it. A commit with neither (an order written alone, without events) counts as its own when the
        stored order is the item it put (numbers by value, see :func:`_same_item`): a rival's equal write from the
        same read had the same effect and emitted nothing, so either may report it.
        ``mine`` (action index, key attribute) are the order's and the saga's actions, whose conditions a resent
        write fails.

        That happens when the answer to the write was lost and the request sent again (botocore's retries resend
        it; DynamoDB itself answers a resent ``TransactWriteItems`` with its ``ClientRequestToken``, which botocore
        fills in, as the first one for 10 minutes; a resent ``PutItem`` fails its condition).
        """
        if any(cancelled.code(index) != "ConditionalCheckFailed" for index in records):
            return False  # a record of its own is missing: not applied (or published since: a conflict is safe)
        proof = bool(records)
        for index, key_attr in mine:
            if cancelled.code(index) != "ConditionalCheckFailed":
                return False
            if key_attr == "orderId" and (proof or len(mine) > 1):
                continue  # the records or the saga prove it
            put = actions[index]
            stored = cancelled.item(index)
            if stored is None:  # emulators may not return the old item: read it (strongly consistent)
                key = {key_attr: put["Item"][key_attr]}
                stored = get_item(self.orders._client.get(), put["TableName"], key, _ACTION)
            if stored is None:
                return False
            if key_attr == "sagaId" and stored.get("commitId") != put["Item"]["commitId"]:
                return False
            if key_attr == "orderId" and not _same_item(stored, put["Item"]):
                return False
            proof = True
        return proof

    def _saga_put(self, saga: SagaState, *, create: bool) -> dict[str, Any]:
        """The saga's Put: a new item at version 1, or the next version if the stored one is still as read.

        Raises:
            ValidationError: ``saga.data`` holds a float or another non-JSON value.
        """
        item = saga_to_item(saga)
        if create:
            item["version"] = {"N": "1"}
            return self.orders._put_new(self.sagas.table_name, "sagaId", item)
        item["version"] = {"N": str(saga.version + 1)}
        return {
            "TableName": self.sagas.table_name,
            "Item": item,
            "ConditionExpression": "#v = :expected",
            "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": {":expected": {"N": str(saga.version)}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _explain_saga_failure(self, cancelled: _Cancelled, saga: SagaState, *, create: bool, index: int) -> None:
        """Raise the core's error when the saga's condition refused the write; return when it did not.

        Raises:
            ConcurrencyConflict: the saga exists (create) or is at another version than read (replace).
            NotFound: the saga to replace was never created.
        """
        if cancelled.code(index) != "ConditionalCheckFailed":
            return
        what = f"saga {saga.saga_id}"
        if create:
            conflict = ConcurrencyConflict(f"{what} already exists", action=_ACTION, saga_id=saga.saga_id)
            raise conflict from cancelled.vendor
        stored = cancelled.item(index)
        if stored is None:  # emulators may not return the old item: read it (strongly consistent)
            key = {"sagaId": {"S": saga.saga_id}}
            stored = get_item(self.orders._client.get(), self.sagas.table_name, key, _ACTION)
        if stored is None:
            raise NotFound(f"{what} not found", action=_ACTION, saga_id=saga.saga_id) from cancelled.vendor
        stored_version = stored.get("version", {}).get("N")
        raise ConcurrencyConflict(
            f"{what} is at version {stored_version}, not {saga.version}",
            action=_ACTION,
            saga_id=saga.saga_id,
            stored_version=stored_version,
            expected_version=saga.version,
        ) from cancelled.vendor

    def _transact_get(self, gets: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """The items of one ``TransactGetItems`` (None for an absent one), in the order of ``gets``; asked again,
        with backoff, while the only reason it is cancelled is another transaction on one of the items.

        Raises:
            InfrastructureError: the service failed or throttled, or the read kept being cancelled by concurrent
                transactions (``transaction_conflict``, retryable).
        """
        client = self.orders._client.get()
        for attempt in range(_READ_ATTEMPTS):
            try:
                response = client.transact_get_items(TransactItems=cast(Any, gets))
            except Exception as exc:
                if error_code(exc) != "TransactionCanceledException":
                    reraise(exc, _LOAD)
                reasons = list(getattr(exc, "response", {}).get("CancellationReasons") or [])
                codes = {str(r.get("Code")) for r in reasons}
                if "TransactionConflict" in codes and codes <= {"TransactionConflict", "None"}:
                    time.sleep(min(1.0, 0.01 * 2**attempt) * random.uniform(0.5, 1.0))
                    continue
                throttled = bool(codes & _THROTTLED_REASONS)
                raise InfrastructureError(
                    f"{_LOAD}: DynamoDB cancelled the read ({', '.join(sorted(codes))})",
                    action=_LOAD,
                    reason="throttled" if throttled else "cancelled",
                    codes=sorted(codes),
                    retryable=throttled,
                ) from exc
            responses = list(response.get("Responses") or [])
            return [dict(r["Item"]) if r.get("Item") else None for r in responses] + [None] * (
                len(gets) - len(responses)
            )
        raise InfrastructureError(
            f"{_LOAD}: another transaction held the order's items for {_READ_ATTEMPTS} attempts",
            action=_LOAD,
            reason="transaction_conflict",
            retryable=True,
        )


def _same_item(stored: Mapping[str, Any], put: Mapping[str, Any]) -> bool:
    """Whether a stored item is the item put: the same attributes with equal values, numbers compared by value
    (DynamoDB stores a number without leading or trailing zeros: "1.50" comes back "1.5"; developer guide, "Data
    types", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html)
    and sets as sets (returned in no particular order)."""
    return stored.keys() == put.keys() and all(_same_value(stored[name], put[name]) for name in put)


def _same_value(a: Any, b: Any) -> bool:
    if not isinstance(a, Mapping) or not isinstance(b, Mapping) or a.keys() != b.keys() or len(a) != 1:
        return bool(a == b)
    [kind] = a.keys()
    x, y = a[kind], b[kind]
    if kind == "N":
        nx, ny = _number(x), _number(y)
        return nx == ny if nx is not None and ny is not None else bool(x == y)
    if kind == "NS":
        return {_number(n) for n in x} == {_number(n) for n in y}
    if kind in ("SS", "BS"):
        return set(x) == set(y)
    if kind == "M":
        return isinstance(x, Mapping) and isinstance(y, Mapping) and _same_item(x, y)
    if kind == "L":
        return len(x) == len(y) and all(_same_value(i, j) for i, j in zip(x, y, strict=True))
    return bool(x == y)


def _number(text: Any) -> Decimal | None:
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None
