"""The Cosmos DB containers, their partition keys and indexing policies -- and why.

One database (``COSMOS_DATABASE``, default ``fooddelivery``) with four containers (five in the earlier layout,
with the saga instances in a ``sagas`` container of their own). A partition key is chosen for the
hot access pattern of its container: the point reads and conditional writes every request and saga step makes,
each on one logical partition ("Partitioning and horizontal scaling in Azure Cosmos DB",
https://learn.microsoft.com/azure/cosmos-db/partitioning-overview). Listings and searches are cross-partition
queries served by the index; at this service's scale (one order touched by a handful of writes, listings paged by
20) their fan-out is cheaper than keeping copies of documents per listing.

=============  ===============  ==========================================================================
container      partition key    why
=============  ===============  ==========================================================================
``orders``     ``/orderId``     An order, its outbox documents, (for a keyed placement, whose order id
                                is ``order_id_for_key(customer, key)``) its idempotency binding and its
                                saga instance (``saga-<orderId>``; the saga id is the order id) share one
                                logical partition, so one **transactional batch** writes them together
                                (batches are single-container and single-partition:
                                https://learn.microsoft.com/azure/cosmos-db/nosql/transactional-batch): a
                                saga step's order, events and saga state in one write, the order read with
                                its saga in one single-partition query (the native unit of work,
                                :mod:`fooddelivery_azure.cosmos.unit_of_work`).
                                ``get`` and ``find_idempotent`` are point reads. Customer and restaurant
                                listings and ``pending()`` are cross-partition queries on indexed fields
                                (composite indexes below serve their ``ORDER BY``). The change feed of
                                this container carries the outbox documents to the relay.
``restaurants`` ``/restaurantId`` Point reads (menu, placement) and etag-conditional replaces; search is a
                                cross-partition query (cuisine, rank, ``ST_DISTANCE`` on the spatial index).
``drivers``    ``/driverId``    A reservation is a read and an etag-conditional replace of one driver: the
                                contended path, on one partition. "Available near" is a cross-partition
                                ``ST_DISTANCE`` query on the spatial index, widened ring by ring.
``sagas``      ``/sagaId``      **Earlier layout only** (``COSMOS_SAGAS_CONTAINER=sagas``; deployed only with
                                the template's ``sagasContainer=sagas``, deploy/azure/README.md):
                                one saga instance per order, read and replaced (etag-conditional) after
                                every step -- a second write per step, not atomic with the order's, since a
                                batch cannot span containers. :data:`SAGAS`, not in :data:`CONTAINERS`.
``timers``     ``/messageId``   The scheduler's ledger: a scheduled message's sequence number by message id
                                (scheduling the same id twice is a no-op; cancelling needs the number).
=============  ===============  ==========================================================================

The composite indexes are those the ``ORDER BY`` clauses need ("Indexing policies": an ``ORDER BY`` on several
properties needs a composite index, https://learn.microsoft.com/azure/cosmos-db/index-policy); ``deploy/azure``
declares the same policies in Bicep (a test compares them). :func:`ensure_containers` creates them where they are
missing -- for the local stand-in and tests; a deployment creates them with Bicep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from azure.cosmos import DatabaseProxy

__all__ = ["CONTAINERS", "DRIVERS", "ORDERS", "RESTAURANTS", "SAGAS", "TIMERS", "ContainerSpec", "ensure_containers"]


def _composite(*paths: tuple[str, str]) -> list[dict[str, str]]:
    return [{"path": path, "order": order} for path, order in paths]


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One container.

    Attributes:
        key: the logical name (the settings' container name defaults to it).
        partition_key_path: the partition key path (``/orderId``).
        composite_indexes: composite indexes, each a list of ``{"path", "order"}``.
        spatial_paths: paths with a spatial index for GeoJSON points.
    """

    key: str
    partition_key_path: str
    composite_indexes: tuple[tuple[tuple[str, str], ...], ...] = ()
    spatial_paths: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def indexing_policy(self) -> dict[str, Any]:
        """The container's indexing policy (consistent, every path, plus its composite and spatial indexes)."""
        policy: dict[str, Any] = {
            "indexingMode": "consistent",
            "automatic": True,
            "includedPaths": [{"path": "/*"}],
            "excludedPaths": [{"path": '/"_etag"/?'}],
        }
        if self.composite_indexes:
            policy["compositeIndexes"] = [_composite(*c) for c in self.composite_indexes]
        if self.spatial_paths:
            policy["spatialIndexes"] = [{"path": f"{p}/*", "types": ["Point"]} for p in self.spatial_paths]
        return policy


ORDERS: Final = ContainerSpec(
    "orders",
    "/orderId",
    composite_indexes=(
        (("/createdAt", "descending"), ("/orderId", "descending")),
        (("/createdAt", "ascending"), ("/orderId", "ascending")),
    ),
)
RESTAURANTS: Final = ContainerSpec(
    "restaurants",
    "/restaurantId",
    composite_indexes=((("/rankKey", "ascending"), ("/restaurantId", "ascending")),),
    spatial_paths=("/location",),
)
DRIVERS: Final = ContainerSpec("drivers", "/driverId", spatial_paths=("/location",))
SAGAS: Final = ContainerSpec("sagas", "/sagaId")
TIMERS: Final = ContainerSpec("timers", "/messageId")
#: Every deployed container, by logical name (the saga instances live in ``orders``; :data:`SAGAS` is the earlier
#: layout's container of their own).
CONTAINERS: Final[Mapping[str, ContainerSpec]] = {s.key: s for s in (ORDERS, RESTAURANTS, DRIVERS, TIMERS)}


def ensure_containers(
    database: DatabaseProxy, names: Mapping[str, str] | None = None, *, sagas_container: bool = False
) -> None:
    """Create every container of :data:`CONTAINERS` that is missing (local stand-ins and tests).

    Args:
        database: the SDK's database.
        names: logical name -> container name, where they differ.
        sagas_container: also :data:`SAGAS` (the earlier layout, saga instances in a container of their own).
    """
    from azure.cosmos import PartitionKey

    for spec in (*CONTAINERS.values(), *((SAGAS,) if sagas_container else ())):
        database.create_container_if_not_exists(
            (names or {}).get(spec.key, spec.key),
            PartitionKey(path=spec.partition_key_path),
            indexing_policy=spec.indexing_policy(),
        )
