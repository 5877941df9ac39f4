"""The composite indexes the Firestore repositories' queries need, declared once; ``firestore.indexes.json`` (the
file ``firebase deploy --only firestore:indexes`` and Terraform's ``google_firestore_index`` take) is generated
from :data:`COMPOSITE_INDEXES`.

Firestore serves an equality filter or a single ``order_by`` from its automatic single-field indexes; a query that
combines an equality filter with an ``order_by`` on another field, or orders by several fields, needs a composite
index whose fields are the equality fields, then the order-by fields in their directions
(https://firebase.google.com/docs/firestore/query-data/index-overview#composite_indexes). The emulator does not
enforce indexes, so :func:`required_index` derives the index a query needs and the tests check every query the
repositories build against this list.

Source of the file format: https://firebase.google.com/docs/reference/firestore/indexes
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["COMPOSITE_INDEXES", "CompositeIndex", "indexes_json", "required_index"]


@dataclass(frozen=True, slots=True)
class CompositeIndex:
    """One composite index of a collection.

    Attributes:
        collection: the logical collection name (without a deployment prefix).
        fields: ``(field path, "ASCENDING" | "DESCENDING")`` in index order.
        used_by: the repository method whose query needs it.
    """

    collection: str
    fields: tuple[tuple[str, str], ...]
    used_by: str


_ASC, _DESC = "ASCENDING", "DESCENDING"

#: Every composite index the repositories need.
COMPOSITE_INDEXES: Final[tuple[CompositeIndex, ...]] = (
    CompositeIndex(
        "orders",
        (("customerId", _ASC), ("createdAt", _DESC), ("orderId", _DESC)),
        "FirestoreOrderRepository.list_by_customer",
    ),
    CompositeIndex(
        "orders",
        (("restaurantId", _ASC), ("createdAt", _ASC), ("orderId", _ASC)),
        "FirestoreOrderRepository.list_by_restaurant",
    ),
    CompositeIndex(
        "orders",
        (("restaurantId", _ASC), ("status", _ASC), ("createdAt", _ASC), ("orderId", _ASC)),
        "FirestoreOrderRepository.list_by_restaurant (with a status)",
    ),
    CompositeIndex(
        "orders",
        (("restaurantId", _ASC), ("createdAt", _DESC), ("orderId", _DESC)),
        "FirestoreOrderRepository.list_by_restaurant (newest first)",
    ),
    CompositeIndex(
        "orders",
        (("restaurantId", _ASC), ("status", _ASC), ("createdAt", _DESC), ("orderId", _DESC)),
        "FirestoreOrderRepository.list_by_restaurant (newest first, with a status)",
    ),
    CompositeIndex(
        "outbox",
        (("committedAt", _ASC), ("orderId", _ASC), ("orderVersion", _ASC)),
        "FirestoreOrderRepository.pending",
    ),
    CompositeIndex(
        "restaurants",
        (("ratingRank", _ASC), ("restaurantId", _ASC)),
        "FirestoreRestaurantRepository.search",
    ),
    CompositeIndex(
        "restaurants",
        (("cuisine", _ASC), ("ratingRank", _ASC), ("restaurantId", _ASC)),
        "FirestoreRestaurantRepository.search (with a cuisine)",
    ),
)


def indexes_json(prefix: str = "") -> str:
    """The text of ``firestore.indexes.json`` for collections named with ``prefix`` (stable, 2-space indented)."""
    document: dict[str, Any] = {
        "indexes": [
            {
                "collectionGroup": f"{prefix}{index.collection}",
                "queryScope": "COLLECTION",
                "fields": [{"fieldPath": path, "order": order} for path, order in index.fields],
            }
            for index in COMPOSITE_INDEXES
        ],
        "fieldOverrides": [],
    }
    return json.dumps(document, indent=2) + "\n"


def required_index(
    collection: str, equalities: Sequence[str], orders: Sequence[tuple[str, str]]
) -> tuple[tuple[str, str], ...] | None:
    """The composite index a query needs, or None when single-field indexes serve it.

    Args:
        collection: the logical collection.
        equalities: fields with ``==`` filters, in any order (sorted into the index as Firestore's own error
            message suggests them).
        orders: the query's ``order_by`` fields with their directions, including an inequality field (Firestore
            orders by an inequality field first).

    Returns:
        ``(field, direction)`` pairs: the equality fields ascending, then the order-by fields.
    """
    if not orders or (not equalities and len(orders) == 1):
        return None
    return tuple([(f, _ASC) for f in sorted(equalities)] + list(orders))
