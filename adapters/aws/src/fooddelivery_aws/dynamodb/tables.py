"""The DynamoDB tables and indexes, defined once.

Tests create tables from these specs (:func:`create_table`), and the SAM template author renders the same specs
(:meth:`TableSpec.cloudformation_properties`), so the repositories, the tests and the deployed stack cannot drift.
This module is plain data: it imports no AWS SDK.

Tables (logical id -> key; indexes), following the reference design's three tables plus what our design adds:

``OrdersTable`` -- hash key ``orderId`` (S). Holds three kinds of item, told apart by ``itemType``:

- orders (``orderId`` = the order id);
- outbox records (``orderId`` = ``"outbox#<eventId>"``), written in the same ``TransactWriteItems`` as their order;
- idempotency bindings (``orderId`` = ``"idem#<len(scope)>#<scope>#<key>"``), written in that transaction too.

Global secondary indexes (all ``ProjectionType: ALL``; every one is *sparse*: only items that carry its key
attributes are in it, so orders never show up among outbox records and vice versa):

- ``UserOrdersIndex``: ``userId`` (S) + ``createdAt`` (N, epoch seconds with microseconds), as in the reference.
- ``RestaurantOrdersIndex``: ``restaurantId`` (S) + ``statusCreatedAt`` (S, ``"<STATUS>#<createdAt ISO>#<orderId>"``).
  The reference keys it on ``status`` alone; items that share a GSI key come back in no documented order, so a
  restaurant's PENDING orders could not be paged oldest first. ``begins_with(statusCreatedAt, "PENDING#")`` still
  answers "orders of restaurant R in status S" with a key condition, and in time order.
- ``RestaurantTimeIndex``: ``restaurantId`` (S) + ``createdAtKey`` (S, ``"<createdAt ISO>#<orderId>"``): all of a
  restaurant's orders by creation time, then id (oldest first, or newest first with ``ScanIndexForward=False``).
  Keyed on ``createdAt`` (N) alone, orders created in the same microsecond would come back in no documented order.
- ``OutboxPendingIndex``: ``outboxPartition`` (S, ``"pending#<shard>"``) + ``outboxSeq`` (S). Only pending outbox
  records carry ``outboxPartition``, so ``Outbox.pending()`` is a Query on one or a few partitions, never a Scan.

The table's stream (``NEW_AND_OLD_IMAGES``, as in the reference) carries outbox inserts for a Streams relay.
``expiresAt`` (N, epoch seconds) is the TTL attribute (idempotency bindings may set it).

``RestaurantsTable`` -- hash key ``restaurantId`` (S).

- ``CuisineRatingIndex``: ``cuisineType`` (S) + ``ratingRank`` (S). The reference's sort key is ``rating`` (N),
  which orders by rating but leaves equal ratings (most restaurants share a handful of values) in no documented
  order. ``ratingRank`` is ``"<5 - rating>#<restaurantId>"``, so an ascending Query is rating descending, then id
  ascending, exactly; ``rating`` (N) is still stored on every item.
- ``RatingIndex``: ``listing`` (S, always ``"ALL"``) + ``ratingRank``: the same order across every cuisine.

``DriversTable`` -- hash key ``driverId`` (S).

- ``AvailableDriversIndex``: ``availableCell`` (S, ``"AVAILABLE#<geohash of the cell>"``) + ``locationKey`` (S, the
  precision-9 geohash). Only AVAILABLE drivers carry ``availableCell``. The reference keys this index on ``status``
  + ``location``, which puts every available driver (and every location update of one) in a single GSI partition;
  keying on status *and* cell spreads them, and "available near a point" is one Query per cell covering the circle.

``SagasTable`` -- hash key ``sagaId`` (S): saga instances (``SagaStateStore``), compare-and-set on ``version``.

``OutboxTable`` -- hash key ``eventId`` (S), with the same ``OutboxPendingIndex``: an optional dedicated outbox
(``DynamoDBOrderRepository(..., outbox_table=...)``); by default the outbox lives in ``OrdersTable``.

Every table is on-demand (``PAY_PER_REQUEST``) with point-in-time recovery and server-side encryption in the
CloudFormation form.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "ALL_TABLES",
    "DRIVERS",
    "ORDERS",
    "OUTBOX",
    "RESTAURANTS",
    "SAGAS",
    "AttributeType",
    "IndexSpec",
    "KeyAttribute",
    "TableSpec",
    "create_table",
    "create_tables",
]

AttributeType = Literal["S", "N", "B"]


@dataclass(frozen=True, slots=True)
class KeyAttribute:
    """A key attribute of a table or an index.

    Attributes:
        name: the attribute name.
        type: its DynamoDB scalar type (``"S"``, ``"N"`` or ``"B"``).
    """

    name: str
    type: AttributeType


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """A global secondary index (always ``ProjectionType: ALL``).

    Attributes:
        name: the index name.
        hash_key: its partition key.
        range_key: its sort key, or None.
    """

    name: str
    hash_key: KeyAttribute
    range_key: KeyAttribute | None = None

    def key_schema(self) -> list[dict[str, str]]:
        """``KeySchema`` as DynamoDB and CloudFormation spell it."""
        return _key_schema(self.hash_key, self.range_key)

    def definition(self) -> dict[str, Any]:
        """The ``GlobalSecondaryIndexes`` entry (no throughput: the table is on-demand)."""
        return {"IndexName": self.name, "KeySchema": self.key_schema(), "Projection": {"ProjectionType": "ALL"}}


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One table: keys, indexes, stream and TTL.

    Attributes:
        logical_id: the CloudFormation logical id (``"OrdersTable"``).
        env_var: the environment variable the functions read the table name from (``"ORDERS_TABLE"``).
        hash_key: the table's partition key.
        range_key: the table's sort key, or None.
        indexes: its global secondary indexes.
        stream_view: the stream's ``StreamViewType``, or None for no stream.
        ttl_attribute: the TTL attribute (epoch seconds, N), or None.
    """

    logical_id: str
    env_var: str
    hash_key: KeyAttribute
    range_key: KeyAttribute | None = None
    indexes: tuple[IndexSpec, ...] = ()
    stream_view: str | None = None
    ttl_attribute: str | None = None
    _by_name: dict[str, IndexSpec] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({index.name: index for index in self.indexes})

    def index(self, name: str) -> IndexSpec:
        """The index called ``name``.

        Raises:
            KeyError: no such index on this table.
        """
        return self._by_name[name]

    def attribute_definitions(self) -> list[dict[str, str]]:
        """``AttributeDefinitions``: every key attribute of the table and its indexes, once each.

        Raises:
            ValueError: one attribute name declared with two types.
        """
        types: dict[str, str] = {}
        for attribute in self._key_attributes():
            if types.setdefault(attribute.name, attribute.type) != attribute.type:
                raise ValueError(f"{attribute.name} is declared both {types[attribute.name]} and {attribute.type}")
        return [{"AttributeName": name, "AttributeType": kind} for name, kind in types.items()]

    def _key_attributes(self) -> Iterable[KeyAttribute]:
        yield self.hash_key
        if self.range_key is not None:
            yield self.range_key
        for index in self.indexes:
            yield index.hash_key
            if index.range_key is not None:
                yield index.range_key

    def key_schema(self) -> list[dict[str, str]]:
        """The table's ``KeySchema``."""
        return _key_schema(self.hash_key, self.range_key)

    def create_table_input(self, table_name: str) -> dict[str, Any]:
        """Keyword arguments of the low-level client's ``create_table`` for a table called ``table_name``.

        On-demand billing, the indexes and the stream. TTL and point-in-time recovery are separate API calls
        (:func:`create_table` makes the TTL one).
        """
        kwargs: dict[str, Any] = {
            "TableName": table_name,
            "AttributeDefinitions": self.attribute_definitions(),
            "KeySchema": self.key_schema(),
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.indexes:
            kwargs["GlobalSecondaryIndexes"] = [index.definition() for index in self.indexes]
        if self.stream_view is not None:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": self.stream_view}
        return kwargs

    def cloudformation_properties(self, table_name: Any) -> dict[str, Any]:
        """``Properties`` of an ``AWS::DynamoDB::Table`` resource.

        Args:
            table_name: the ``TableName`` value, e.g. ``{"Fn::Sub": "food-delivery-orders-${Environment}"}``.

        Returns:
            JSON-ready properties: keys, indexes, on-demand billing, stream, TTL, point-in-time recovery and
            server-side encryption (the reference template enables both on its orders table; we do on all).
        """
        props: dict[str, Any] = {
            "TableName": table_name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": self.attribute_definitions(),
            "KeySchema": self.key_schema(),
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        }
        if self.indexes:
            props["GlobalSecondaryIndexes"] = [index.definition() for index in self.indexes]
        if self.stream_view is not None:
            props["StreamSpecification"] = {"StreamViewType": self.stream_view}
        if self.ttl_attribute is not None:
            props["TimeToLiveSpecification"] = {"AttributeName": self.ttl_attribute, "Enabled": True}
        return props


def _key_schema(hash_key: KeyAttribute, range_key: KeyAttribute | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key.name, "KeyType": "HASH"}]
    if range_key is not None:
        schema.append({"AttributeName": range_key.name, "KeyType": "RANGE"})
    return schema


_S: Final = "S"
_N: Final = "N"

_OUTBOX_PENDING_INDEX: Final = IndexSpec(
    "OutboxPendingIndex", KeyAttribute("outboxPartition", _S), KeyAttribute("outboxSeq", _S)
)

#: Orders, their outbox records and their idempotency bindings.
ORDERS: Final = TableSpec(
    logical_id="OrdersTable",
    env_var="ORDERS_TABLE",
    hash_key=KeyAttribute("orderId", _S),
    indexes=(
        IndexSpec("UserOrdersIndex", KeyAttribute("userId", _S), KeyAttribute("createdAt", _N)),
        IndexSpec("RestaurantOrdersIndex", KeyAttribute("restaurantId", _S), KeyAttribute("statusCreatedAt", _S)),
        IndexSpec("RestaurantTimeIndex", KeyAttribute("restaurantId", _S), KeyAttribute("createdAtKey", _S)),
        _OUTBOX_PENDING_INDEX,
    ),
    stream_view="NEW_AND_OLD_IMAGES",
    ttl_attribute="expiresAt",
)

#: Restaurants and their menus.
RESTAURANTS: Final = TableSpec(
    logical_id="RestaurantsTable",
    env_var="RESTAURANTS_TABLE",
    hash_key=KeyAttribute("restaurantId", _S),
    indexes=(
        IndexSpec("CuisineRatingIndex", KeyAttribute("cuisineType", _S), KeyAttribute("ratingRank", _S)),
        IndexSpec("RatingIndex", KeyAttribute("listing", _S), KeyAttribute("ratingRank", _S)),
    ),
)

#: Drivers, with the available ones indexed by map cell.
DRIVERS: Final = TableSpec(
    logical_id="DriversTable",
    env_var="DRIVERS_TABLE",
    hash_key=KeyAttribute("driverId", _S),
    indexes=(IndexSpec("AvailableDriversIndex", KeyAttribute("availableCell", _S), KeyAttribute("locationKey", _S)),),
)

#: Saga instances.
SAGAS: Final = TableSpec(
    logical_id="SagasTable",
    env_var="SAGAS_TABLE",
    hash_key=KeyAttribute("sagaId", _S),
    ttl_attribute="expiresAt",
)

#: An optional dedicated outbox table (the default outbox is inside ``ORDERS``).
OUTBOX: Final = TableSpec(
    logical_id="OutboxTable",
    env_var="OUTBOX_TABLE",
    hash_key=KeyAttribute("eventId", _S),
    indexes=(_OUTBOX_PENDING_INDEX,),
    stream_view="NEW_IMAGE",
)

#: The tables a deployment needs (the dedicated outbox table is optional and not among them).
ALL_TABLES: Final[tuple[TableSpec, ...]] = (ORDERS, RESTAURANTS, DRIVERS, SAGAS)


def create_table(client: Any, spec: TableSpec, table_name: str, *, wait: bool = True) -> None:
    """Create ``table_name`` from ``spec`` with a low-level DynamoDB client (tests and local tooling).

    Enables TTL when the spec has one and the service supports it (emulators without TTL are tolerated).

    Args:
        client: a ``boto3`` DynamoDB client.
        spec: what to create.
        table_name: the physical name.
        wait: block until the table and its indexes are ACTIVE (polled every 20 ms, up to 60 s).

    Raises:
        botocore.exceptions.ClientError: the service refused (e.g. the table exists).
        TimeoutError: the table did not become ACTIVE in time.
    """
    client.create_table(**spec.create_table_input(table_name))
    if wait:
        _wait_active(client, table_name)
    if spec.ttl_attribute is not None:
        try:
            client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
        except Exception as exc:  # an emulator without TTL (dynalite): the item layout does not depend on it
            if getattr(exc, "response", None) is None:
                raise


def _wait_active(client: Any, table_name: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        table = client.describe_table(TableName=table_name)["Table"]
        indexes = table.get("GlobalSecondaryIndexes", [])
        if table.get("TableStatus") == "ACTIVE" and all(i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {table_name} is not ACTIVE after {timeout_s} s")
        time.sleep(0.02)


def create_tables(client: Any, names: Mapping[TableSpec, str]) -> None:
    """Create every table in ``names`` (spec -> physical name) with :func:`create_table`."""
    for spec, table_name in names.items():
        create_table(client, spec, table_name)
