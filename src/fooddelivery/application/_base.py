"""What every group of use cases works with: the ports, the runtime, the relay, and the commit hook."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from fooddelivery.application.order_saga import OrderSagaSteps
from fooddelivery.application.relay import OutboxRelay
from fooddelivery.application.runtime import OrderRuntime
from fooddelivery.application.saga.runner import SagaRunner
from fooddelivery.domain.actors import Actor
from fooddelivery.domain.assignment import AssignmentPolicy
from fooddelivery.domain.catalog import check_id
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.order import Order
from fooddelivery.domain.pricing import PricingPolicy, PromoCode
from fooddelivery.domain.tracking import EtaPolicy
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.drivers import DriverRepository
from fooddelivery.ports.ids import IdGenerator
from fooddelivery.ports.location import LocationStream
from fooddelivery.ports.orders import OrderRepository
from fooddelivery.ports.restaurants import RestaurantRepository
from fooddelivery.ports.saga_engine import SagaEngine
from fooddelivery.ports.saga_store import SagaStateStore

__all__ = ["UseCaseBase"]

log = logging.getLogger("fooddelivery.application.services")


@dataclass
class UseCaseBase:
    """The dependencies the use case groups share (see ``FoodDeliveryService`` for each)."""

    orders: OrderRepository
    restaurants: RestaurantRepository
    drivers: DriverRepository
    sagas: SagaStateStore
    location: LocationStream
    runner: SagaRunner
    steps: OrderSagaSteps
    relay: OutboxRelay
    runtime: OrderRuntime
    clock: Clock
    ids: IdGenerator
    pricing: PricingPolicy | None = None
    promotions: Mapping[str, PromoCode] = field(default_factory=dict)
    eta: EtaPolicy = field(default_factory=EtaPolicy)
    assignment: AssignmentPolicy = field(default_factory=AssignmentPolicy)

    @property
    def engine(self) -> SagaEngine:
        """Where order sagas run (the runtime's engine)."""
        return self.runtime.engine

    def get_order(self, actor: Actor, order_id: str) -> Order:
        """The order, for its customer, its restaurant, its assigned driver, or an admin.

        Raises:
            NotFound: no such order, or the actor may not see it.
        """
        check_id(order_id, "order_id")
        order = self.orders.get(order_id)
        order.ensure_visible_to(actor)
        return order

    def _after_commit(self) -> None:
        """Publish what this caller just committed (and what the runtime committed in reaction to it).

        A bus failure here does not fail the request: the change is committed and its events wait in the outbox
        for the sweep (at-least-once delivery); it is logged, never dropped.
        """
        try:
            self.relay.publish_own()
        except InfrastructureError:
            log.warning("event bus unavailable; committed events stay in the outbox", exc_info=True)
