"""Ports: what the application needs from the outside world, as ``typing.Protocol`` classes.

One module per concern; every signature uses domain types only. Each port has an in-memory adapter in
``fooddelivery.adapters.memory`` and a contract suite in ``tests/contract`` that every adapter must pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fooddelivery.domain._lazy import lazy_names

if TYPE_CHECKING:
    from fooddelivery.ports.auth import Authenticator, CredentialSource
    from fooddelivery.ports.clock import Clock
    from fooddelivery.ports.drivers import DriverRepository
    from fooddelivery.ports.ids import IdGenerator
    from fooddelivery.ports.location import LocationStream
    from fooddelivery.ports.messaging import EventPublisher, Outbox, OutboxRecord
    from fooddelivery.ports.notifications import Notification, NotificationKind, Notifier
    from fooddelivery.ports.orders import IdempotencyRecord, OrderRepository
    from fooddelivery.ports.paging import Page
    from fooddelivery.ports.payments import Charge, PaymentGateway, Refund
    from fooddelivery.ports.restaurants import RestaurantQuery, RestaurantRepository
    from fooddelivery.ports.saga_engine import SagaEngine, SignalOutcome
    from fooddelivery.ports.saga_store import SagaState, SagaStateStore, SagaStatus
    from fooddelivery.ports.scheduler import ScheduledMessage, Scheduler

__all__ = [
    "Authenticator",
    "Charge",
    "Clock",
    "CredentialSource",
    "DriverRepository",
    "EventPublisher",
    "IdGenerator",
    "IdempotencyRecord",
    "LocationStream",
    "Notification",
    "NotificationKind",
    "Notifier",
    "OrderRepository",
    "Outbox",
    "OutboxRecord",
    "Page",
    "PaymentGateway",
    "Refund",
    "RestaurantQuery",
    "RestaurantRepository",
    "SagaEngine",
    "SagaState",
    "SagaStateStore",
    "SagaStatus",
    "ScheduledMessage",
    "Scheduler",
    "SignalOutcome",
]

#: Where each name lives: imported on first access (PEP 562), so importing one module of the package does not
#: import all of them (a cold start pays only for what it uses).
_WHERE: dict[str, str] = {
    "Authenticator": "fooddelivery.ports.auth",
    "CredentialSource": "fooddelivery.ports.auth",
    "Clock": "fooddelivery.ports.clock",
    "DriverRepository": "fooddelivery.ports.drivers",
    "IdGenerator": "fooddelivery.ports.ids",
    "LocationStream": "fooddelivery.ports.location",
    "EventPublisher": "fooddelivery.ports.messaging",
    "Outbox": "fooddelivery.ports.messaging",
    "OutboxRecord": "fooddelivery.ports.messaging",
    "Notification": "fooddelivery.ports.notifications",
    "NotificationKind": "fooddelivery.ports.notifications",
    "Notifier": "fooddelivery.ports.notifications",
    "IdempotencyRecord": "fooddelivery.ports.orders",
    "OrderRepository": "fooddelivery.ports.orders",
    "Page": "fooddelivery.ports.paging",
    "Charge": "fooddelivery.ports.payments",
    "PaymentGateway": "fooddelivery.ports.payments",
    "Refund": "fooddelivery.ports.payments",
    "RestaurantQuery": "fooddelivery.ports.restaurants",
    "RestaurantRepository": "fooddelivery.ports.restaurants",
    "SagaEngine": "fooddelivery.ports.saga_engine",
    "SignalOutcome": "fooddelivery.ports.saga_engine",
    "SagaState": "fooddelivery.ports.saga_store",
    "SagaStateStore": "fooddelivery.ports.saga_store",
    "SagaStatus": "fooddelivery.ports.saga_store",
    "ScheduledMessage": "fooddelivery.ports.scheduler",
    "Scheduler": "fooddelivery.ports.scheduler",
}


__getattr__, __dir__ = lazy_names(globals(), _WHERE, submodules=True)
