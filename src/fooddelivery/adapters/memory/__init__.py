"""In-memory adapters of every port: shipped with the core for tests, local runs and the simulation.

Each one enforces the rules a real store or service enforces (version checks, idempotency, money
limits), stores independent copies, is thread-safe, and exposes what it saw (``published``,
``sent``, ``charges``...). Pass one :class:`OperationCounters` to all of them to count port
operations.
"""

from typing import TYPE_CHECKING

from fooddelivery.adapters.counters import OPERATION_NAMES, OperationCounters
from fooddelivery.domain._lazy import lazy_names

if TYPE_CHECKING:
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
    from fooddelivery.adapters.memory.unit_of_work import InMemoryUnitOfWork

#: Where each adapter lives: importing one loads only its module (a cloud entrypoint that uses the fake card
#: processor does not pay for the in-memory stores on its cold start).
_MODULES = {
    "VirtualClock": ".clock",
    "InMemoryDriverRepository": ".drivers",
    "SequentialIdGenerator": ".ids",
    "InMemoryLocationStream": ".location",
    "InMemoryEventPublisher": ".messaging",
    "InMemoryNotifier": ".notifications",
    "InMemoryOrderRepository": ".orders",
    "FakePaymentGateway": ".payments",
    "InMemoryRestaurantRepository": ".restaurants",
    "InMemorySagaStateStore": ".saga_store",
    "copy_saga_state": ".saga_store",
    "InMemoryScheduler": ".scheduler",
    "InMemoryUnitOfWork": ".unit_of_work",
}


__getattr__, __dir__ = lazy_names(globals(), _MODULES)


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
    "InMemoryUnitOfWork",
    "OperationCounters",
    "SequentialIdGenerator",
    "VirtualClock",
    "copy_saga_state",
]
