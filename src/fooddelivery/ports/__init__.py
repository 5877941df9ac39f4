"""Ports: what the application needs from the outside world, as ``typing.Protocol`` classes.

One module per concern; every signature uses domain types only. Each port has an in-memory adapter in
``fooddelivery.adapters.memory`` and a contract suite in ``tests/contract`` that every adapter must pass.
"""

from fooddelivery.ports.auth import Authenticator, CredentialSource
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.drivers import DriverRepository
from fooddelivery.ports.ids import IdGenerator
from fooddelivery.ports.location import LocationStream
from fooddelivery.ports.messaging import EventPublisher, Outbox, OutboxRecord
from fooddelivery.ports.notifications import Notification, NotificationKind, Notifier
from fooddelivery.ports.orders import IdempotencyRecord, OrderRepository, Page
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
