"""DynamoDB repositories: orders (with the outbox and idempotency), restaurants, drivers and saga state, and the unit
of work over the orders and the sagas (``DynamoDBUnitOfWork``, built by ``DynamoDBOrderRepository.unit_of_work``).

Tables and indexes are defined once in :mod:`fooddelivery_aws.dynamodb.tables`; record mappers live in
:mod:`fooddelivery_aws.dynamodb.records`. Importing this package imports no AWS SDK: each repository takes a
``boto3`` DynamoDB client (``client=``) or builds one on first use.
"""

from fooddelivery_aws.dynamodb.drivers import DynamoDBDriverRepository
from fooddelivery_aws.dynamodb.orders import DynamoDBOrderRepository
from fooddelivery_aws.dynamodb.restaurants import DynamoDBRestaurantRepository
from fooddelivery_aws.dynamodb.saga_store import DynamoDBSagaStateStore
from fooddelivery_aws.dynamodb.unit_of_work import DynamoDBUnitOfWork

__all__ = [
    "DynamoDBDriverRepository",
    "DynamoDBOrderRepository",
    "DynamoDBRestaurantRepository",
    "DynamoDBSagaStateStore",
    "DynamoDBUnitOfWork",
]
