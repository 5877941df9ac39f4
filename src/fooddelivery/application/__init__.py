"""Application layer: use cases, the order saga, the outbox relay and the event envelope."""

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
