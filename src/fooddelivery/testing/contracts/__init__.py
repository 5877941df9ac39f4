"""One contract suite per port: every adapter of the port must pass it.

Subclass the suite in a ``Test*`` class and override the fixture that builds a fresh adapter (its docstring names
it). The suites assert real values: a fully populated aggregate round-trips field by field, a stale version is a
``ConcurrencyConflict``, a reused idempotency key is refused, concurrent reservations have one winner.
``OrderUnitOfWorkContract`` is the suite of a store's native ``OrderUnitOfWork`` (fixture ``stores``: a
:class:`UnitOfWorkStores`): a failed commit writes nothing, of the order and of its saga.
"""

from fooddelivery.testing.contracts.clock_contract import ClockContract
from fooddelivery.testing.contracts.driver_repository_contract import DriverRepositoryContract, race_for_drivers
from fooddelivery.testing.contracts.event_publisher_contract import EventPublisherContract
from fooddelivery.testing.contracts.id_generator_contract import IdGeneratorContract
from fooddelivery.testing.contracts.location_stream_contract import LocationStreamContract
from fooddelivery.testing.contracts.notifier_contract import NotifierContract
from fooddelivery.testing.contracts.operation_counts import EXPECTED_COUNTS, exercise_every_port
from fooddelivery.testing.contracts.order_repository_contract import OrderRepositoryContract
from fooddelivery.testing.contracts.payment_gateway_contract import PaymentGatewayContract
from fooddelivery.testing.contracts.restaurant_repository_contract import RestaurantRepositoryContract
from fooddelivery.testing.contracts.saga_store_contract import SagaStateStoreContract
from fooddelivery.testing.contracts.scheduler_contract import SchedulerContract
from fooddelivery.testing.contracts.unit_of_work_contract import OrderUnitOfWorkContract, UnitOfWorkStores

__all__ = [
    "EXPECTED_COUNTS",
    "ClockContract",
    "DriverRepositoryContract",
    "EventPublisherContract",
    "IdGeneratorContract",
    "LocationStreamContract",
    "NotifierContract",
    "OrderRepositoryContract",
    "OrderUnitOfWorkContract",
    "PaymentGatewayContract",
    "RestaurantRepositoryContract",
    "SagaStateStoreContract",
    "SchedulerContract",
    "UnitOfWorkStores",
    "exercise_every_port",
    "race_for_drivers",
]
