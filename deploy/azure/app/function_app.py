"""The Azure Functions app (Python v2 programming model): the functions of ``fooddelivery_azure``'s Blueprint.

Nothing else lives here: the functions, their bindings and their bodies are in
``fooddelivery_azure.functions.blueprint`` (an ``azure.functions`` Blueprint: HTTP, Service Bus, Cosmos DB change feed,
timer, and the saga's orchestrators and activities); the application is built by the first invocation in each host
process.

The app is a plain ``azure.functions.FunctionApp``: the Blueprint declares its Durable Functions bindings itself,
and the Durable SDK (``azure.durable_functions``, ~300 ms to import) is imported by the first function that uses it,
not when the host loads this file (see ``fooddelivery_azure.functions.durable_bindings``).
"""

import azure.functions as func
from fooddelivery_azure.functions import blueprint

app = func.FunctionApp()
app.register_functions(blueprint)
