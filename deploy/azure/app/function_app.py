"""The Azure Functions app (Python v2 programming model): the functions of ``fooddelivery_azure``'s Blueprint.

Nothing else lives here: the functions, their bindings and their bodies are in
``fooddelivery_azure.functions.blueprint``; the application is built by the first invocation in each host process.
"""

import azure.functions as func
from fooddelivery_azure.functions import blueprint

app = func.FunctionApp()
app.register_functions(blueprint)
