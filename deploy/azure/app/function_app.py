"""The Azure Functions app (Python v2 programming model): the functions of ``fooddelivery_azure``.

Nothing else lives here: ``fooddelivery_azure.functions.apps.function_app`` builds the ``azure.functions.FunctionApp``
with the functions the app setting ``FOODDELIVERY_AZURE_FUNCTIONS`` chooses -- ``all`` (the default: HTTP, Service Bus,
Cosmos DB change feed, timer, and the saga's orchestrators and activities), ``http`` (the HTTP API alone: an app whose
instances never import the Service Bus worker extension nor the Durable functions) or ``background`` (everything
but HTTP); any other value fails the load with an error naming the setting. The application is built by the first
invocation in each host process.

The Durable SDK (``azure.durable_functions``, ~300 ms to import) is imported by the first function that uses it, not
when the host loads this file (see ``fooddelivery_azure.functions.durable_bindings``).
"""

from fooddelivery_azure.functions.apps import function_app

app = function_app()
