"""The domain: pure business rules, standard library only.

Public surface: money, catalog (restaurants, menus, drivers, addresses), the order aggregate and its lifecycle,
pricing, events, actors, driver assignment, tracking, and the error hierarchy.
"""

from fooddelivery.domain.actors import Actor, Role
from fooddelivery.domain.assignment import AssignmentPolicy, rank_candidates
from fooddelivery.domain.catalog import DeliveryAddress, Driver, DriverStatus, MenuItem, Restaurant
from fooddelivery.domain.errors import *  # noqa: F403
from fooddelivery.domain.errors import __all__ as _errors_all
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
from fooddelivery.domain.pricing import PriceBreakdown, PricingPolicy, PromoCode, PromoKind, price_order
from fooddelivery.domain.tracking import EtaPolicy, estimate_eta

__all__ = [
    "SCHEMA_VERSION",
    "TRANSITIONS",
    "Actor",
    "AssignmentPolicy",
    "DeliveryAddress",
    "DomainEvent",
    "Driver",
    "DriverStatus",
    "EtaPolicy",
    "EventType",
    "GeoPoint",
    "LineItem",
    "LineRequest",
    "MenuItem",
    "Money",
    "Order",
    "OrderStatus",
    "PaymentStatus",
    "PriceBreakdown",
    "PricingPolicy",
    "PromoCode",
    "PromoKind",
    "Restaurant",
    "Role",
    "estimate_eta",
    "haversine_km",
    "price_order",
    "rank_candidates",
    *_errors_all,
]
