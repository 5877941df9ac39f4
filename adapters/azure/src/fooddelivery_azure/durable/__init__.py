"""The order saga on Durable Functions (``FOODDELIVERY_SAGA_MODE=durable``).

- :mod:`fooddelivery_azure.durable.orchestrator` -- the orchestrator that interprets the core's saga definition
  (an activity per step, fan-out/fan-in for the parallel block, retries and catch routes as defined, compensation
  newest first, the restaurant's confirmation as an external event raced with a durable timer);
- :mod:`fooddelivery_azure.durable.activities` -- the activity body: one core action per call, idempotent on the
  order id, its errors answered by name;
- :mod:`fooddelivery_azure.durable.engine` -- the core's ``SagaEngine`` port: starts an instance named after the
  order and raises the restaurant's and the customer's events to it.

Importing this package imports the core only (the Durable SDK is used by the functions that register these).
"""

from fooddelivery_azure.durable.engine import DurableSagaEngine, durable_client

__all__ = ["DurableSagaEngine", "durable_client"]
