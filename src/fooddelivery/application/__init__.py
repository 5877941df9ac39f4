"""Application layer: use cases, the order saga, the outbox relay and the event envelope.

Names are imported on first access (PEP 562), as in :mod:`fooddelivery.domain`: importing one module of this package
(``fooddelivery.application.messages``, the runtime's message bodies a cloud entrypoint decodes) loads neither the
use cases nor the saga, and a submodule stays an attribute of the package (``fooddelivery.application.relay``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fooddelivery.domain._lazy import lazy_names

if TYPE_CHECKING:
    from fooddelivery.application.order_saga import ORDER_SAGA, OrderSagaSteps, build_order_saga
    from fooddelivery.application.relay import OutboxRelay
    from fooddelivery.application.services import FoodDeliveryService, PlaceOrder, PlaceOrderResult, Tracking

__all__ = [
    "ORDER_SAGA",
    "FoodDeliveryService",
    "OrderSagaSteps",
    "OutboxRelay",
    "PlaceOrder",
    "PlaceOrderResult",
    "Tracking",
    "build_order_saga",
]

_WHERE = {
    "ORDER_SAGA": ".order_saga",
    "OrderSagaSteps": ".order_saga",
    "build_order_saga": ".order_saga",
    "OutboxRelay": ".relay",
    "FoodDeliveryService": ".services",
    "PlaceOrder": ".services",
    "PlaceOrderResult": ".services",
    "Tracking": ".services",
}


__getattr__, __dir__ = lazy_names(globals(), _WHERE, submodules=True)
