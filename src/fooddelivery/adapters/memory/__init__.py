"""In-memory adapters of every port: shipped with the core for tests, local runs and the simulation.

Each one enforces the rules a real store or service enforces (version checks, idempotency, money
limits), stores independent copies, is thread-safe, and exposes what it saw (``published``,
``sent``, ``charges``...). Pass one :class:`OperationCounters` to all of them to count port
operations.
"""

from fooddelivery.adapters.counters import OPERATION_NAMES, OperationCounters
from fooddelivery.adapters.memory.clock import VirtualClock
from fooddelivery.adapters.memory.drivers import InMemoryDriverRepository
from fooddelivery.adapters.memory.ids import SequentialIdGenerator
from fooddelivery.adapters.memory.location import InMemoryLocationStream
from fooddelivery.adapters.memory.messaging import InMemoryEventPublisher
from fooddelivery.adapters.memory.notifications import InMemoryNotifier
from fooddelivery.adapters.memory.orders import InMemoryOrderRepository
from fooddelivery.adapters.memory.payments import FakePaymentGateway
from fooddelivery.adapters.memory.restaurants import InMemoryRestaurantRepository
from fooddelivery.adapters.memory.saga_store import InMemorySagaStateStore, copy_saga_state
from fooddelivery.adapters.memory.scheduler import InMemoryScheduler

__all__ = [
    "OPERATION_NAMES",
    "FakePaymentGateway",
    "InMemoryDriverRepository",
    "InMemoryEventPublisher",
    "InMemoryLocationStream",
    "InMemoryNotifier",
    "InMemoryOrderRepository",
    "InMemoryRestaurantRepository",
    "InMemorySagaStateStore",
    "InMemoryScheduler",
    "OperationCounters",
    "SequentialIdGenerator",
    "VirtualClock",
    "copy_saga_state",
]
