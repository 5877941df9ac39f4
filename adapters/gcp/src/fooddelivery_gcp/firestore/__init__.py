"""Firestore adapters of the core's store ports: orders (with the outbox and idempotency bindings), restaurants,
drivers and saga instances, and the unit of work that writes an order with its saga in one commit. Every query
they run is backed by an index declared in ``firestore.indexes.json`` (:mod:`fooddelivery_gcp.firestore.indexes`).
"""

from fooddelivery_gcp.firestore._support import LazyFirestore
from fooddelivery_gcp.firestore.drivers import FirestoreDriverRepository
from fooddelivery_gcp.firestore.orders import FirestoreOrderRepository
from fooddelivery_gcp.firestore.restaurants import FirestoreRestaurantRepository
from fooddelivery_gcp.firestore.saga_store import FirestoreSagaStateStore
from fooddelivery_gcp.firestore.unit_of_work import FirestoreUnitOfWork

__all__ = [
    "FirestoreDriverRepository",
    "FirestoreOrderRepository",
    "FirestoreRestaurantRepository",
    "FirestoreSagaStateStore",
    "FirestoreUnitOfWork",
    "LazyFirestore",
]
