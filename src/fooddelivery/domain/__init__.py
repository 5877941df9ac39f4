"""The domain: pure business rules, standard library only.

Public surface: money, catalog (restaurants, menus, drivers, addresses), the order aggregate and its lifecycle,
pricing, events, actors, driver assignment, tracking, and the error hierarchy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fooddelivery.domain._lazy import lazy_names

if TYPE_CHECKING:
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
    from fooddelivery.domain.order import TRANSITIONS, LineItem, LineRequest, Order
    from fooddelivery.domain.pricing import (
        DEFAULT_MAX_DELIVERY_KM,
        OUT_OF_DELIVERY_AREA,
        PriceBreakdown,
        PricingPolicy,
        PromoCode,
        PromoKind,
        price_order,
    )
    from fooddelivery.domain.status import OrderStatus, PaymentStatus
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

#: Where each name lives: imported on first access (PEP 562), so importing one module of the package does not
#: import all of them (a cold start pays only for what it uses).
_WHERE: dict[str, str] = {
    "Actor": "fooddelivery.domain.actors",
    "Role": "fooddelivery.domain.actors",
    "AssignmentPolicy": "fooddelivery.domain.assignment",
    "rank_candidates": "fooddelivery.domain.assignment",
    "DeliveryAddress": "fooddelivery.domain.catalog",
    "Driver": "fooddelivery.domain.catalog",
    "DriverStatus": "fooddelivery.domain.catalog",
    "MenuItem": "fooddelivery.domain.catalog",
    "Restaurant": "fooddelivery.domain.catalog",
    "CatalogMismatch": "fooddelivery.domain.errors",
    "ConcurrencyConflict": "fooddelivery.domain.errors",
    "CurrencyMismatch": "fooddelivery.domain.errors",
    "DataCorrupted": "fooddelivery.domain.errors",
    "DuplicateRequest": "fooddelivery.domain.errors",
    "FieldError": "fooddelivery.domain.errors",
    "FoodDeliveryError": "fooddelivery.domain.errors",
    "IdempotencyKeyReused": "fooddelivery.domain.errors",
    "InfrastructureError": "fooddelivery.domain.errors",
    "InvalidTransition": "fooddelivery.domain.errors",
    "LateEvent": "fooddelivery.domain.errors",
    "NoDriverAvailable": "fooddelivery.domain.errors",
    "NotAllowed": "fooddelivery.domain.errors",
    "NotAuthenticated": "fooddelivery.domain.errors",
    "NotFound": "fooddelivery.domain.errors",
    "PaymentDeclined": "fooddelivery.domain.errors",
    "PaymentError": "fooddelivery.domain.errors",
    "PaymentRetryableError": "fooddelivery.domain.errors",
    "PriceChanged": "fooddelivery.domain.errors",
    "ValidationError": "fooddelivery.domain.errors",
    "SCHEMA_VERSION": "fooddelivery.domain.events",
    "DomainEvent": "fooddelivery.domain.events",
    "EventType": "fooddelivery.domain.events",
    "GeoPoint": "fooddelivery.domain.geo",
    "haversine_km": "fooddelivery.domain.geo",
    "Money": "fooddelivery.domain.money",
    "TRANSITIONS": "fooddelivery.domain.order",
    "LineItem": "fooddelivery.domain.order",
    "LineRequest": "fooddelivery.domain.order",
    "Order": "fooddelivery.domain.order",
    "OrderStatus": "fooddelivery.domain.status",
    "PaymentStatus": "fooddelivery.domain.status",
    "DEFAULT_MAX_DELIVERY_KM": "fooddelivery.domain.pricing",
    "OUT_OF_DELIVERY_AREA": "fooddelivery.domain.pricing",
    "PriceBreakdown": "fooddelivery.domain.pricing",
    "PricingPolicy": "fooddelivery.domain.pricing",
    "PromoCode": "fooddelivery.domain.pricing",
    "PromoKind": "fooddelivery.domain.pricing",
    "price_order": "fooddelivery.domain.pricing",
    "EtaPolicy": "fooddelivery.domain.tracking",
    "estimate_eta": "fooddelivery.domain.tracking",
}


__getattr__, __dir__ = lazy_names(globals(), _WHERE, submodules=True)
