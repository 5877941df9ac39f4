"""The Azure Functions app (Python v2 programming model): the functions of ``fooddelivery_azure``'s Blueprint.

Nothing else lives here: the functions, their bindings and their bodies are in
``fooddelivery_azure.functions.blueprint`` (a Durable Functions Blueprint: HTTP, Service Bus, Cosmos DB change feed,
timer, and the saga's orchestrators and activities); the application is built by the first invocation in each host
process.
"""

import azure.durable_functions as df
from fooddelivery_azure.functions import blueprint

app = df.DFApp()
app.register_functions(blueprint)
