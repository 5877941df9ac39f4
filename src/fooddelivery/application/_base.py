"""What every group of use cases works with: the ports, the runtime, the relay, the commit hook, and
:func:`use_case`, the one place every use case runs through."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar, cast

from fooddelivery.application.order_saga import OrderSagaSteps
from fooddelivery.application.relay import OutboxRelay
from fooddelivery.application.runtime import OrderRuntime
from fooddelivery.application.saga.runner import SagaRunner
from fooddelivery.application.unit_of_work import OrderSession
from fooddelivery.domain.actors import Actor
from fooddelivery.domain.assignment import AssignmentPolicy
from fooddelivery.domain.catalog import check_id
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.order import Order
from fooddelivery.domain.pricing import PricingPolicy, PromoCode
from fooddelivery.domain.tracking import EtaPolicy
from fooddelivery.observability.instrument import _TRACE_API, _modules
from fooddelivery.observability.logs import FIELDS as LOG_FIELDS
from fooddelivery.observability.tracing import _providers
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.drivers import DriverRepository
from fooddelivery.ports.ids import IdGenerator
from fooddelivery.ports.location import LocationStream
from fooddelivery.ports.restaurants import RestaurantRepository
from fooddelivery.ports.saga_engine import SagaEngine
from fooddelivery.ports.saga_store import SagaStateStore

__all__ = ["UseCaseBase", "use_case"]

log = logging.getLogger("fooddelivery.application.services")

_P = ParamSpec("_P")
_R = TypeVar("_R")


def use_case(method: Callable[_P, _R], *, traced: Callable[_P, _R] | None = None) -> Callable[_P, _R]:
    """Run a use case (or any entry point of the service) inside its call's scope.

    The one place every use case passes through: the scope of the call (what it commits and reads, kept for the
    rest of the call: ``fooddelivery.application.unit_of_work.OrderSession``) opens here, and a nested use case
    shares its caller's. A tracer sees every use case (its name is ``method.__qualname__``): the returned function's
    ``with_tracing(traced)`` makes a copy that calls ``traced`` (``method`` wrapped in a span by
    ``fooddelivery.observability.instrument.traced_use_cases``) instead of ``method`` whenever a tracer or log fields
    are configured -- one wrapper per call, not two, when none is.
    """

    @functools.wraps(method)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        self: Any = args[0]
        # OrderSession.enter / OrderSession.leave, written out (every use case and every in-process event batch
        # passes here)
        scope = self.orders._scope
        scope.depth += 1
        try:
            if traced is not None and (
                LOG_FIELDS.on or _providers.tracer_provider is not None or _TRACE_API in _modules
            ):
                return traced(*args, **kwargs)
            return method(*args, **kwargs)
        finally:
            scope.depth -= 1
            if scope.depth == 0:
                scope.orders, scope.sagas, scope.restaurants = {}, {}, {}  # scope.clear()

    def with_tracing(wrapped: Callable[_P, _R]) -> Callable[_P, _R]:
        return use_case(method, traced=wrapped)

    cast(Any, run).with_tracing = with_tracing
    return run


@dataclass
class UseCaseBase:
    """The dependencies the use case groups share (see ``FoodDeliveryService`` for each)."""

    orders: OrderSession
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

    @use_case
    def get_order(self, actor: Actor, order_id: str) -> Order:
        """The order, for its customer, its restaurant, its assigned driver, or an admin.

        Raises:
            NotFound: no such order, or the actor may not see it.
        """
        check_id(order_id, "order_id")
        order = self.orders.get(order_id)
        order.ensure_visible_to(actor)
        return order

    def _load_for_saga(self, actor: Actor, order_id: str) -> Order:
        """The order (as :meth:`get_order`), read together with its saga instance when the saga runs in process:
        one read of the order's partition leaves both in the call's scope for the saga's signal that follows.

        Raises:
            NotFound: no such order, or the actor may not see it.
        """
        check_id(order_id, "order_id")
        if self.runtime.engine is self.runner:
            order, _ = self.orders.load(order_id)
        else:
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
