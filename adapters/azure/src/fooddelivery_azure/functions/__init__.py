"""The Azure Functions app's functions: one Blueprint (:data:`blueprint`) with the HTTP, Service Bus, Cosmos DB
change-feed and timer functions; see :mod:`fooddelivery_azure.functions.blueprint`.

Importing this package imports ``azure.functions`` and the Service Bus worker extension (type annotations the host
reads when it indexes the functions), but builds nothing and connects nowhere.
"""

from fooddelivery_azure.functions.blueprint import blueprint

__all__ = ["blueprint"]
