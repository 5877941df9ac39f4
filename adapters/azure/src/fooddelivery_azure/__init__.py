"""Azure adapters and the Azure Functions app of the fooddelivery core.

Depends on the core and Azure's SDKs only (azure-cosmos, azure-servicebus, azure-functions, azure-functions-durable,
azure-identity); never on another cloud's package. Nothing connects at import time: every adapter takes an injected
SDK client or builds one lazily on first use, and :func:`fooddelivery_azure.bootstrap.azure_app` builds the whole
application once per Functions host process.

Modules:

- :mod:`fooddelivery_azure.cosmos` -- the stores on Cosmos DB (orders with their outbox and idempotency bindings,
  restaurants, drivers, saga state, the timer ledger), each call's request charge recorded;
- :mod:`fooddelivery_azure.servicebus` -- the publishers (topic, session queue), the scheduler (scheduled messages)
  and the consumer's settlement rules;
- :mod:`fooddelivery_azure.functions` -- the Functions blueprints (HTTP; Service Bus, change feed, timer, Durable)
  and :mod:`fooddelivery_azure.functions.apps`, which of them an app registers (``FOODDELIVERY_AZURE_FUNCTIONS``);
- :mod:`fooddelivery_azure.metering` -- request-unit recording;
- :mod:`fooddelivery_azure.settings`, :mod:`fooddelivery_azure.bootstrap` -- configuration and composition.
"""

__version__ = "0.1.0"
