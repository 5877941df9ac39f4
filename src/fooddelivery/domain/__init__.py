"""The domain: pure business rules, standard library only.

Public surface: money, catalog (restaurants, menus, drivers, addresses), the order aggregate and its lifecycle,
pricing, events, actors, driver assignment, tracking, and the error hierarchy.
"""

from fooddelivery.domain.actors import Actor, Role
from fooddelivery.domain.assignment import AssignmentPolicy, rank_candidates
from fooddelivery.domain.catalog import DeliveryAddress, Driver, DriverStatus, MenuItem, Restaurant
from fooddelivery.domain.errors import (
    CatalogMismatch,
    ConcurrencyConflict,
    CurrencyMismatch,
    DataCorrupted,
    DuplicateRequest,
    FieldError,
    FoodDeliveryError,
    IdempotencyKeyReused,
    InfrastructureError,
    InvalidTransition,
    LateEvent,
    NoDriverAvailable,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    PaymentDeclined,
    PaymentError,
    PaymentRetryableError,
    PriceChanged,
    ValidationError,
)
from fooddelivery.domain.events import SCHEMA_VERSION, DomainEvent, EventType
from fooddelivery.domain.geo import GeoPoint, haversine_km
from fooddelivery.domain.money import Money
from fooddelivery.domain.order import (
    TRANSITIONS,
    LineItem,
    LineRequest,
    Order,
    OrderStatus,
    PaymentStatus,
)
from fooddelivery.domain.pricing import (
    DEFAULT_MAX_DELIVERY_KM,
    OUT_OF_DELIVERY_AREA,
    PriceBreakdown,
    PricingPolicy,
    PromoCode,
    PromoKind,
    price_order,
)
from fooddelivery.domain.tracking import EtaPolicy, estimate_eta

__all__ = [
    "DEFAULT_MAX_DELIVERY_KM",
    "OUT_OF_DELIVERY_AREA",
    "SCHEMA_VERSION",
    "TRANSITIONS",
    "Actor",
    "AssignmentPolicy",
    "CatalogMismatch",
    "ConcurrencyConflict",
    "CurrencyMismatch",
    "DataCorrupted",
    "DeliveryAddress",
    "DomainEvent",
    "Driver",
    "DriverStatus",
    "DuplicateRequest",
    "EtaPolicy",
    "EventType",
    "FieldError",
    "FoodDeliveryError",
    "GeoPoint",
    "IdempotencyKeyReused",
    "InfrastructureError",
    "InvalidTransition",
    "LateEvent",
    "LineItem",
    "LineRequest",
    "MenuItem",
    "Money",
    "NoDriverAvailable",
    "NotAllowed",
    "NotAuthenticated",
    "NotFound",
    "Order",
    "OrderStatus",
    "PaymentDeclined",
    "PaymentError",
    "PaymentRetryableError",
    "PaymentStatus",
    "PriceBreakdown",
    "PriceChanged",
    "PricingPolicy",
    "PromoCode",
    "PromoKind",
    "Restaurant",
    "Role",
    "ValidationError",
    "estimate_eta",
    "haversine_km",
    "price_order",
    "rank_candidates",
]
