"""The stores on Cosmos DB (NoSQL API): orders with their outbox and idempotency bindings, restaurants, drivers,
saga instances, and the orders' native unit of work (an order with its saga: one query, one transactional batch).
Containers, partition keys and the reasons for them: :mod:`fooddelivery_azure.cosmos.containers`; document shapes:
:mod:`fooddelivery_azure.cosmos.records`."""

from fooddelivery_azure.cosmos.client import build_cosmos_client
from fooddelivery_azure.cosmos.containers import CONTAINERS, ContainerSpec, ensure_containers
from fooddelivery_azure.cosmos.drivers import CosmosDriverRepository
from fooddelivery_azure.cosmos.orders import CosmosOrderRepository
from fooddelivery_azure.cosmos.restaurants import CosmosRestaurantRepository
from fooddelivery_azure.cosmos.sagas import CosmosSagaStateStore
from fooddelivery_azure.cosmos.unit_of_work import CosmosUnitOfWork

__all__ = [
    "CONTAINERS",
    "ContainerSpec",
    "CosmosDriverRepository",
    "CosmosOrderRepository",
    "CosmosRestaurantRepository",
    "CosmosSagaStateStore",
    "CosmosUnitOfWork",
    "build_cosmos_client",
    "ensure_containers",
]
