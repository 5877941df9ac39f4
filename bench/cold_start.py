"""Cold start: each cloud's HTTP entrypoint next to the reference design's order service, in one run.

For every measured target, a fresh process is timed from its start until

- **module loaded**: ``import <the entrypoint module>``;
- **first request answered**: the module imported and the handler called once with the platform's request -- on
  AWS an API Gateway REST (payload 1.0) event: ``GET /health`` (no AWS call), and ``POST /orders`` with the
  reference's order (the order written to DynamoDB: real calls over loopback to a moto server this script starts,
  created tables and a seeded ``rest-0``); on Azure and Google Cloud the same two requests as the platform's request
  objects, their POST against local stand-ins of the clouds' stores (below).

Each measured program leaves with ``os._exit(0)`` as soon as its last check passed (:data:`ANSWERED`): its time
ends at the import or the answer, not at the interpreter's exit, which a platform's process does not wait for
before it answers and which took 85 to 480 ms after a first POST /orders (2 to 4 ms after ``pass``; load average
~10).

Targets:

- **ours, AWS**: ``fooddelivery_aws.entrypoints.http`` (the Lambda handler), in ``--python``;
- **ours, Azure**: ``deploy/azure/app/function_app.py`` (what the Functions host loads: a ``FunctionApp`` with
  every function of the package, ``FOODDELIVERY_AZURE_FUNCTIONS=all``; the Durable Functions SDK is imported on first
  use, not here), then its HTTP function's body (``fooddelivery_azure.functions.http_functions.handle_http``) on an
  ``azure.functions.HttpRequest``: ``GET /health`` (no network call), and ``POST /orders`` with the k6 payload from a
  customer that App Service authentication vouched for (``X-MS-CLIENT-PRINCIPAL``, ``FOODDELIVERY_AUTH=easyauth``),
  in ``--azure-python`` (default ``.venv-azure`` of this clone); and the same three probes as an **Azure HTTP-only
  app** (``FOODDELIVERY_AZURE_FUNCTIONS=http``: the app registers the HTTP function alone, without the Service Bus
  worker extension; ``deploy/azure/main.bicep``'s ``functionApps='two'``). The POST's Cosmos DB calls go over HTTPS
  to a real ``@vercel/cosmosdb-server`` this script starts (``adapters/azure/node/serve.js``, as the Azure tests
  do: a self-signed certificate, so ``COSMOS_VERIFY_TLS=false``, the emulator's public key, ``FOODDELIVERY_LOCAL``),
  with the database and containers created (``ensure_containers``) and ``rest-0`` seeded. The first Cosmos DB call
  of the process builds the client, which asks the account for its settings (``GetDatabaseAccount``) first. On
  Azure the POST writes the order and its outbox rows in Cosmos DB and answers; the change feed publishes them
  later (``publish_after_commit=False`` in ``fooddelivery_azure.bootstrap``), so the request makes no Service Bus
  call: the probe asserts the application's Service Bus client was never built (``ServiceBusClients`` builds it on
  first use), and a check after the first runs and after the measured runs finds each order's event still pending
  in the outbox;
- **ours, Google Cloud**: ``fooddelivery_gcp.main`` (what functions-framework loads), then its ``http_api`` function
  on a Flask request: ``GET /health``, and ``POST /orders`` with the k6 payload and the claims API Gateway forwards
  (``X-Apigateway-Api-Userinfo``, ``FOODDELIVERY_AUTH=gateway``), in ``--gcp-python`` (default ``.venv-gcp``). Its
  calls go to the official Firestore and Pub/Sub emulators this script starts as the GCP tests do (google-cloud-cli
  and Java; ``setsid``, stopped by process group; ``FIRESTORE_EMULATOR_HOST``, ``PUBSUB_EMULATOR_HOST``), with the
  topics created and ``rest-0`` seeded. The GCP application publishes after commit: the POST writes the order and
  its outbox, publishes its event to the topics and marks the outbox published before it answers; a check after
  the first runs and after the measured runs finds the outbox empty;
- a cloud whose interpreter is missing is left out with a line saying so, and so is a POST whose stand-in cannot run
  here (no Node.js or no ``npm ci --prefix adapters/azure/node``; no gcloud or Java). Every POST probe asserts
  ``201 Created`` (a request refused or failed fast would flatter us), and every POST run's order is read back
  (ours and the references', from moto, Cosmos DB and Firestore: one per run, after the first runs and again after
  the measured ones, so a later run that answered without writing fails the benchmark); ``GET /health`` asserts
  200. A cloud's ``GET /health`` runs in the same environment as its POST (emulator hosts, the local Cosmos DB
  endpoint): it reads the settings and reaches none of them;
- **platform, Azure and Google Cloud**: ``import azure.functions`` and ``import functions_framework`` alone (see
  :data:`PLATFORM_MODULES`): what the host's own process has imported before it loads our module. Our figures
  include it (a fresh interpreter runs each probe); the summary also prints them less it, as what is ours;
- **reference, AWS**: the reference design's ``functions/order-service/app.py``, taken from the lab text given with
  ``--reference`` (default: ``../shared/reference/000_d5207dfdec717999.txt`` next to this clone, if it is there),
  written to a temporary folder with only its compile error patched (:data:`AWS_REFERENCE_PATCHES`:
  ``MetricUnit.None`` -> ``MetricUnit.NoUnit``). It builds its boto3 resources, Powertools Logger/Tracer/Metrics and
  resolver at import. Its ``POST /orders`` is sent the k6 payload with whole-number prices: with the payload's own
  floats it fails before writing anything (boto3 refuses floats), which would flatter it. Without the file, the
  comparison is left out, with a line saying so;
- **reference, Google Cloud**: the lab text's ``functions-gcp/order_processor/main.py``, taken the same way, with
  the patches of :data:`GCP_REFERENCE_PATCHES` only (one: ``import base64``, which its Pub/Sub function uses without
  importing it; not on the measured path, and ``base64`` is already imported by the client libraries, so it costs
  nothing), run in ``--gcp-python`` in a Firestore project of its own (``GCP_PROJECT``, which it reads, and
  ``GOOGLE_CLOUD_PROJECT``: ``bench-reference``). At import it builds a Firestore and a Pub/Sub client (on the
  emulators) and ``tasks_v2.CloudTasksClient()``, which needs credentials: a service-account key generated at run
  time (a fresh RSA key, never a real account; ``GOOGLE_APPLICATION_CREDENTIALS``), used offline (the client signs
  its own JWT: no token endpoint). Measured: module loaded, and its ``process_order`` function on a Flask
  ``POST`` with the k6 payload as is (it sums float prices, so floats do not fail it), which writes the order to
  Firestore, publishes it to Pub/Sub (``projects/bench-reference/topics/order-events``, created; it waits for the
  publish) and creates a Cloud Task. Cloud Tasks has no emulator: its call reaches a loopback stand-in
  (``bench/_cloud_tasks_stand_in.py``: gRPC over TLS, a CA made for this run) through the environment only --
  ``grpc_proxy`` (a CONNECT proxy that tunnels ``cloudtasks.googleapis.com:443`` and nothing else), ``no_grpc_proxy``
  (the emulators) and ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` (that CA) -- so the client's own TLS handshake and gRPC
  call run, unchanged. The probe asserts ``201`` (the function answers 500 when a call fails, fast or after a
  timeout);
- **reference, Azure**: there is none to measure: the reference's Azure function is JavaScript
  (``functions-azure/OrderProcessor/index.js``). The summary prints the Azure ratios against the reference's AWS
  Python module (``app.py`` above, in ``--python``), and says so on each line: a cross-cloud, cross-interpreter
  comparison, not like for like;
- **interpreter**: ``python -c pass``, the floor under everything.

Each is run ``--runs`` times after ``--warmup`` runs (bytecode cached, as a deployment that ships ``.pyc`` files),
with ``hyperfine`` when installed (``apt-get install -y hyperfine``; one target group after another), else
interleaved ``subprocess`` runs timed with ``time.perf_counter`` (every target once per round, round after round, so
a change in the shared machine's load reaches ours and the references alike and spares the ratios); it prints
median, min and mean wall time and mean CPU time (user + system), and the ratios ours / reference of the medians
(per cloud, where a reference module exists). The machine is shared: medians move with its load; the minimum is the
least disturbed run. Target: our first request under 100 ms.

Interpreter and packages: the reference needs boto3, Powertools and the X-Ray SDK next to our packages, and the
AWS ``POST /orders`` runs need moto's server (the Azure and Google Cloud probes use ``.venv-azure`` and ``.venv-gcp``,
as ``scripts/test`` makes them; the GCP one also runs the Cloud Tasks stand-in: grpcio, cryptography)::

    python3.12 -m venv .venv-bench        # the Lambda runtime's version (deploy/aws/template.yaml)
    .venv-bench/bin/pip install -e . -e adapters/aws aws-lambda-powertools aws-xray-sdk 'moto[server]'
    .venv-bench/bin/python bench/cold_start.py --runs 20

Environment of every measured process: the settings each module reads (dummy resource names; the table names
exist in moto), a region, test credentials, ``AWS_ENDPOINT_URL`` (moto), no ``PYTHON*`` variables but ``PYTHONPATH``
(so bytecode is cached by the warm-up runs; ``PYTHONPATH`` lets a git worktree's sources be measured with the
interpreter of another clone, whose editable installs point elsewhere).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

#: How ``bench/run_all.py`` runs this benchmark (``.venv-bench``: see the module docstring). With these arguments the
#: whole script (every probe of the three clouds and both references, the stand-ins' start included) took 177, 238
#: and 194 s in three runs on 2026-12-07 (2 cores shared with other work, 1-minute load average 1.2 to 4.9): the
#: timeout is five times the longest.
RUN_ALL = {"python": "bench", "args": ["--runs", "20", "--warmup", "3"], "timeout": 1200}

ROOT: Final = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE: Final = ROOT.parent / "shared" / "reference" / "000_d5207dfdec717999.txt"
TARGET_MS: Final = 100.0
_BLOCK: Final = re.compile(r"Create `functions/order-service/app\.py`:\s*```python\n(.*?)\n```", re.DOTALL)
_GCP_BLOCK: Final = re.compile(
    r"Create `functions-gcp/order_processor/main\.py`:\s*```python\n(.*?)\n```", re.DOTALL
)


@dataclass(frozen=True, slots=True)
class Patch:
    """One change to a reference module, the only kind this script makes: what stops the module running.

    Attributes:
        pattern: a regular expression (``re.MULTILINE``) that must match exactly once in the module.
        replacement: what replaces the match (``re.sub`` syntax).
        why: the fault it fixes, as printed in the report.
    """

    pattern: str
    replacement: str
    why: str


#: The patches of the reference's ``functions/order-service/app.py`` (AWS).
AWS_REFERENCE_PATCHES: Final[tuple[Patch, ...]] = (
    Patch(r"\bMetricUnit\.None\b", "MetricUnit.NoUnit", "MetricUnit.None is a syntax error (None is a keyword)"),
)
#: The patches of the reference's ``functions-gcp/order_processor/main.py`` (Google Cloud).
GCP_REFERENCE_PATCHES: Final[tuple[Patch, ...]] = (
    Patch(
        r"^import json$",
        "import base64\nimport json",
        "handle_order_event calls base64.b64decode without importing base64 (NameError)",
    ),
)

#: Our HTTP entrypoint per cloud (the module a function's handler setting names, or the app the host loads).
ENTRYPOINTS: Final[Mapping[str, str]] = {
    "AWS": "fooddelivery_aws.entrypoints.http",
    "Azure": "fooddelivery_azure.functions.apps",
    "Google Cloud": "fooddelivery_gcp.main",
}
#: What the platform's own process imports before it loads our module, measured alone so the report can say what
#: of a cloud's figure is ours: the Azure Functions Python worker imports ``azure.functions`` itself to load its
#: binding registry (``azure_functions_worker/bindings/meta.py``, ``load_binding_registry``); functions-framework's
#: command line imports ``functions_framework`` (and Flask with it) before it loads the source file. On AWS the
#: Lambda runtime interface client imports nothing of ours or of the SDK: everything counts.
PLATFORM_MODULES: Final[Mapping[str, str]] = {"Azure": "azure.functions", "Google Cloud": "functions_framework"}
#: Where the Azure Functions app lives (``function_app.py``).
AZURE_APP: Final = ROOT / "deploy" / "azure" / "app"
#: The settings the Azure and Google Cloud applications need to start (resources that need not exist: the first
#: request, ``GET /health``, reaches none of them).
AZURE_ENV: Final[Mapping[str, str]] = {
    "COSMOS_ENDPOINT": "https://bench.documents.azure.com:443/",
    "SERVICEBUS_NAMESPACE": "bench.servicebus.windows.net",
    "FOODDELIVERY_AUTH": "easyauth",
    "FOODDELIVERY_PAYMENT_GATEWAY": "fake",
    "FOODDELIVERY_AZURE_FUNCTIONS": "all",
}
#: The Azure HTTP-only app's setting (the other Azure settings are :data:`AZURE_ENV`'s).
AZURE_HTTP_ONLY_ENV: Final[Mapping[str, str]] = {"FOODDELIVERY_AZURE_FUNCTIONS": "http"}
GCP_ENV: Final[Mapping[str, str]] = {
    "GOOGLE_CLOUD_PROJECT": "bench",
    "ORDER_EVENTS_TOPIC": "order-events",
    "RUNTIME_TOPIC": "runtime",
    "DEAD_LETTER_TOPIC": "dead-letters",
    "NOTIFICATIONS_TOPIC": "notifications",
    "LOCATIONS_TOPIC": "locations",
    "TASKS_QUEUE": "projects/bench/locations/us-central1/queues/saga-timers",
    "TIMER_URL": "https://saga-timer.example.test/",
    "TASKS_SERVICE_ACCOUNT": "tasks@bench.iam.gserviceaccount.com",
    "FOODDELIVERY_AUTH": "gateway",
    "FOODDELIVERY_PAYMENT_GATEWAY": "fake",
}

#: The Cosmos DB emulator's well-known key (public: "Use the Azure Cosmos DB emulator for local development",
#: https://learn.microsoft.com/azure/cosmos-db/emulator); the stand-in accepts any key. Never a real one.
EMULATOR_KEY: Final = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
#: Where the Cosmos DB stand-in's npm package is installed (``npm ci --prefix adapters/azure/node``).
AZURE_NODE: Final = ROOT / "adapters" / "azure" / "node"
#: The Google Cloud project of our application's documents and topics (:data:`GCP_ENV`) and of the reference's.
GCP_PROJECT: Final = GCP_ENV["GOOGLE_CLOUD_PROJECT"]
GCP_REFERENCE_PROJECT: Final = "bench-reference"
#: The Pub/Sub topics our application publishes to (created in the emulator).
GCP_TOPICS: Final = tuple(GCP_ENV[k] for k in GCP_ENV if k.endswith("_TOPIC"))

#: Names of the moto tables and the reference's environment.
REFERENCE_ENV: Final[Mapping[str, str]] = {
    "ORDERS_TABLE": "ref-orders",
    "RESTAURANTS_TABLE": "ref-restaurants",
    "EVENT_BUS": "ref-events",
    "POWERTOOLS_SERVICE_NAME": "order-service",
    "POWERTOOLS_METRICS_NAMESPACE": "FoodDelivery",
}
OUR_ENV: Final[Mapping[str, str]] = {
    "ORDERS_TABLE": "orders",
    "RESTAURANTS_TABLE": "restaurants",
    "DRIVERS_TABLE": "drivers",
    "SAGAS_TABLE": "sagas",
    "EVENT_BUS_NAME": "bus",
    "SAGA_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/saga.fifo",
    "TIMER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/timers",
    "NOTIFICATIONS_TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:notifications",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:alerts",
    "LOCATION_STREAM_NAME": "locations",
    "FOODDELIVERY_PAYMENT_GATEWAY": "fake",
}
BASE_ENV: Final[Mapping[str, str]] = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}

#: The reference k6 payload (scripts/load-test.js) for ours; whole-number prices for the reference (see above).
OUR_ORDER: Final[str] = (
    '{"userId": "user-1", "restaurantId": "rest-0", "items": [{"name": "Pizza", "price": 15.99, "quantity": 1}, '
    '{"name": "Soda", "price": 2.99, "quantity": 2}], "deliveryAddress": "123 Main St", "paymentMethod": "card"}'
)
REFERENCE_ORDER: Final[str] = OUR_ORDER.replace("15.99", "16").replace("2.99", "3")
#: The customer ``user-1`` as App Service authentication passes it to the Azure function (``X-MS-CLIENT-PRINCIPAL``:
#: base64 JSON, "Access user claims in app code", https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities).
AZURE_PRINCIPAL: Final[str] = base64.b64encode(
    json.dumps(
        {
            "auth_typ": "aad",
            "claims": [
                {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "user-1"},
                {"typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "val": "customer"},
            ],
            "name_typ": "name",
            "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
        }
    ).encode()
).decode()
#: The customer ``user-1`` as API Gateway forwards its verified claims to the function (``X-Apigateway-Api-Userinfo``:
#: base64url JSON, https://cloud.google.com/api-gateway/docs/authenticating-users-jwt).
GCP_USERINFO: Final[str] = base64.urlsafe_b64encode(
    json.dumps({"sub": "user-1", "roles": ["customer"]}).encode()
).decode()

_EVENT: Final[str] = """
def rest_event(method, path, body=None, claims=None):
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "headers": {"Content-Type": "application/json", "Host": "api.example.com"},
        "multiValueHeaders": {"Content-Type": ["application/json"], "Host": ["api.example.com"]},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method, "path": "/prod" + path,
                           "stage": "prod", "requestId": "bench-1", "accountId": "123456789012",
                           "identity": {"sourceIp": "127.0.0.1"},
                           **({"authorizer": {"claims": claims}} if claims else {})},
        "body": body, "isBase64Encoded": False,
    }
"""

#: The measured snippets (each a whole program; ``__ORDER__`` and ``__FOLDER__`` are filled in by :func:`_fill`).
PROBES: Final[Mapping[str, str]] = {
    "ours GET /health": _EVENT
    + """
from fooddelivery_aws.entrypoints.http import handler
r = handler(rest_event("GET", "/health"))
assert r["statusCode"] == 200, r
""",
    "ours POST /orders": _EVENT
    + """
from fooddelivery_aws.entrypoints.http import handler
claims = {"sub": "user-1", "cognito:groups": "customer", "token_use": "id"}
r = handler(rest_event("POST", "/orders", __ORDER__, claims))
assert r["statusCode"] == 201, r
""",
    "Azure module loaded": """
import sys
sys.path.insert(0, __FOLDER__)
import function_app
""",
    "Azure GET /health": """
import sys
sys.path.insert(0, __FOLDER__)
import function_app  # what the Functions host loads: the FunctionApp with the functions the setting chooses
import azure.functions as func
from fooddelivery_azure.bootstrap import azure_app
from fooddelivery_azure.functions.http_functions import handle_http
r = handle_http(func.HttpRequest("GET", "https://bench.azurewebsites.net/health", headers={}, body=b""), azure_app())
assert r.status_code == 200, r.get_body()
""",
    "Google Cloud GET /health": """
from fooddelivery_gcp.main import http_api  # what functions-framework loads for the http_api target
from flask import Request
from werkzeug.test import EnvironBuilder
r = http_api(Request(EnvironBuilder(path="/health", method="GET").get_environ()))
assert r.status_code == 200, r.get_data()
""",
    "Azure POST /orders": """
import sys, warnings
warnings.filterwarnings("ignore", message="Unverified HTTPS request")  # the stand-in's self-signed certificate
sys.path.insert(0, __FOLDER__)
import function_app  # what the Functions host loads: the FunctionApp with the functions the setting chooses
import azure.functions as func
from fooddelivery_azure.bootstrap import azure_app
from fooddelivery_azure.functions.http_functions import handle_http
headers = {"Content-Type": "application/json", "X-MS-CLIENT-PRINCIPAL": __PRINCIPAL__}
req = func.HttpRequest("POST", "https://bench.azurewebsites.net/orders", headers=headers, body=__ORDER__.encode())
app = azure_app()
r = handle_http(req, app)
assert r.status_code == 201, (r.status_code, r.get_body()[:2000])
assert app.servicebus._client is None, "POST /orders built a Service Bus client"  # built on first use only
""",
    "Google Cloud POST /orders": """
from fooddelivery_gcp.main import http_api  # what functions-framework loads for the http_api target
from flask import Request
from werkzeug.test import EnvironBuilder
headers = {"Content-Type": "application/json", "X-Apigateway-Api-Userinfo": __USERINFO__}
r = http_api(Request(EnvironBuilder(path="/orders", method="POST", data=__ORDER__, headers=headers).get_environ()))
assert r.status_code == 201, (r.status_code, r.get_data()[:2000])
""",
    "reference (Google Cloud) POST /orders": """
import sys
sys.path.insert(0, __FOLDER__)
import main  # functions-gcp/order_processor/main.py
from flask import Request
from werkzeug.test import EnvironBuilder
headers = {"Content-Type": "application/json"}
r = main.process_order(Request(EnvironBuilder(path="/", method="POST", data=__ORDER__, headers=headers).get_environ()))
assert isinstance(r, tuple) and r[1] == 201 and '"status": "CREATED"' in r[0], r
""",
    "reference POST /orders": _EVENT
    + """
import sys, types
sys.path.insert(0, __FOLDER__)
import app
context = types.SimpleNamespace(function_name="order-service", memory_limit_in_mb=512, aws_request_id="bench-1",
                                invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:order-service")
r = app.lambda_handler(rest_event("POST", "/orders", __ORDER__), context)
assert r["statusCode"] == 200 and '"statusCode":201' in r["body"].replace(" ", ""), r
""",
}

_SETUP: Final[str] = """
import sys, boto3
from decimal import Decimal
endpoint = sys.argv[1]
ddb = boto3.client("dynamodb", endpoint_url=endpoint)
from fooddelivery_aws.dynamodb.tables import ORDERS, RESTAURANTS, DRIVERS, SAGAS, create_table
for spec, name in ((ORDERS, "orders"), (RESTAURANTS, "restaurants"), (DRIVERS, "drivers"), (SAGAS, "sagas")):
    create_table(ddb, spec, name)
from fooddelivery_aws.dynamodb.restaurants import DynamoDBRestaurantRepository
from fooddelivery.domain import GeoPoint, MenuItem, Money, Restaurant

DynamoDBRestaurantRepository("restaurants", client=ddb).add(Restaurant(
    "rest-0", "Luigi's", "pizza", Decimal("4.6"), GeoPoint(40.7128, -74.0060), "USD", Decimal("0.08875"), 15,
    (MenuItem("pizza", "Pizza", Money.of("15.99", "USD")), MenuItem("soda", "Soda", Money.of("2.99", "USD")))))
for name, key in (("ref-orders", "orderId"), ("ref-restaurants", "restaurantId")):
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
ddb.put_item(TableName="ref-restaurants", Item={"restaurantId": {"S": "rest-0"}, "name": {"S": "Luigi's"}})
boto3.client("events", endpoint_url=endpoint).create_event_bus(Name="ref-events")
"""

_RESTAURANT: Final[str] = """
from decimal import Decimal
from fooddelivery.domain import GeoPoint, MenuItem, Money, Restaurant
REST_0 = Restaurant(
    "rest-0", "Luigi's", "pizza", Decimal("4.6"), GeoPoint(40.7128, -74.0060), "USD", Decimal("0.08875"), 15,
    (MenuItem("pizza", "Pizza", Money.of("15.99", "USD")), MenuItem("soda", "Soda", Money.of("2.99", "USD"))))
"""

#: The Cosmos DB stand-in's database and containers, and ``rest-0`` (argv: endpoint, key), in the Azure interpreter.
_AZURE_SETUP: Final[str] = (
    _RESTAURANT
    + """
import sys, warnings
warnings.filterwarnings("ignore", message="Unverified HTTPS request")
from azure.cosmos import CosmosClient
from fooddelivery_azure.cosmos import CosmosRestaurantRepository
from fooddelivery_azure.cosmos.containers import ensure_containers
database = CosmosClient(sys.argv[1], credential=sys.argv[2], connection_verify=False).create_database_if_not_exists(
    "fooddelivery")
ensure_containers(database)
CosmosRestaurantRepository(database.get_container_client("restaurants")).add(REST_0)
"""
)
#: Every order ``user-1`` placed, page after page (``list_by_customer`` returns at most 100 at a time).
_ALL_PLACED: Final[str] = """
def all_placed(orders):
    placed, cursor = [], None
    while True:
        page = orders.list_by_customer("user-1", limit=100, cursor=cursor)
        placed += page.items
        cursor = page.next_cursor
        if cursor is None:
            return placed
"""
#: After the POST runs (argv: moto's endpoint, runs of each POST probe, "reference" when the reference's ran): every
#: run's order is in DynamoDB, ours and the reference's.
_AWS_VERIFY: Final[str] = (
    _ALL_PLACED
    + """
import sys, boto3
from fooddelivery_aws.dynamodb.orders import DynamoDBOrderRepository
ddb = boto3.client("dynamodb", endpoint_url=sys.argv[1])
runs = int(sys.argv[2])
placed = all_placed(DynamoDBOrderRepository("orders", client=ddb))
assert len(placed) == runs, (len(placed), runs)
if sys.argv[3] == "reference":
    stored, more = 0, {}
    while True:
        page = ddb.scan(TableName="ref-orders", Select="COUNT", **more)
        stored += page["Count"]
        if "LastEvaluatedKey" not in page:
            break
        more = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    assert stored == runs, ("reference", stored, runs)
"""
)
#: After the POST runs (argv: endpoint, key, runs of each POST probe): both apps' orders are in Cosmos DB and their
#: events wait in the outbox (no Service Bus call: the change feed publishes them).
_AZURE_VERIFY: Final[str] = _ALL_PLACED + """
import sys, warnings
warnings.filterwarnings("ignore", message="Unverified HTTPS request")
from azure.cosmos import CosmosClient
from fooddelivery_azure.cosmos import CosmosOrderRepository
database = CosmosClient(sys.argv[1], credential=sys.argv[2], connection_verify=False).get_database_client(
    "fooddelivery")
orders = CosmosOrderRepository(database.get_container_client("orders"))
runs = 2 * int(sys.argv[3])  # the POST probe of the app with every function, and of the HTTP-only app
placed = all_placed(orders)
pending = orders.pending(runs + 1)
assert len(placed) == runs and len(pending) == runs, (len(placed), runs, [r.event for r in pending])
assert {r.event.order_id for r in pending} == {o.order_id for o in placed}
"""
#: The topics of both projects and ``rest-0`` in the Firestore emulator (argv: our project, the reference's, topics).
_GCP_SETUP: Final[str] = (
    _RESTAURANT
    + """
import sys
from google.cloud import firestore, pubsub_v1
from fooddelivery_gcp.firestore.restaurants import FirestoreRestaurantRepository
ours, reference, topics = sys.argv[1], sys.argv[2], sys.argv[3:]
publisher = pubsub_v1.PublisherClient()
for topic in topics:
    publisher.create_topic(name=f"projects/{ours}/topics/{topic}")
publisher.create_topic(name=f"projects/{reference}/topics/order-events")
FirestoreRestaurantRepository(client=firestore.Client(project=ours)).add(REST_0)
"""
)
#: After the POST runs (argv: our project, runs of each POST probe, the reference's project or ""): our orders are
#: stored and their outbox empty (published after commit); the reference's orders are stored.
_GCP_VERIFY: Final[str] = _ALL_PLACED + """
import sys
from google.cloud import firestore
from fooddelivery_gcp.firestore import FirestoreOrderRepository
orders = FirestoreOrderRepository(client=firestore.Client(project=sys.argv[1]))
runs = int(sys.argv[2])
placed = all_placed(orders)
pending = orders.pending(runs + 1)
assert len(placed) == runs and pending == [], (len(placed), runs, [r.event for r in pending])
if sys.argv[3]:
    stored = len(list(firestore.Client(project=sys.argv[3]).collection("orders").select([]).stream()))
    assert stored == runs, ("reference", stored, runs)
"""
#: A throwaway service-account key (a fresh RSA key; argv: the file to write), for ``CloudTasksClient()``'s
#: credentials: the client signs its own JWTs with it and never calls a token endpoint.
_GCP_KEY: Final[str] = """
import json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump({"type": "service_account", "project_id": "bench-reference", "private_key_id": "cold-start-bench",
               "private_key": pem.decode(), "client_email": "cold-start@bench-reference.iam.gserviceaccount.com",
               "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}, out)
"""


class BenchError(Exception):
    """The benchmark cannot run as asked (a missing package, a stand-in that does not start)."""


@dataclass(frozen=True, slots=True)
class Timing:
    """Times of one command's runs.

    Attributes:
        name: what was run.
        seconds: each run's wall time.
        cpu_seconds: mean user + system CPU time per run, when measured.
    """

    name: str
    seconds: tuple[float, ...]
    cpu_seconds: float | None = None

    @property
    def median_ms(self) -> float:
        """The median wall time, ms."""
        return statistics.median(self.seconds) * 1000

    @property
    def min_ms(self) -> float:
        """The fastest run, ms."""
        return min(self.seconds) * 1000

    def cpu_text(self, minus: Timing | None = None) -> str:
        """`` (CPU x ms)``: the mean CPU time, less ``minus``'s; empty when either was not measured."""
        if self.cpu_seconds is None or (minus is not None and minus.cpu_seconds is None):
            return ""
        less = minus.cpu_seconds if minus is not None and minus.cpu_seconds is not None else 0.0
        cpu = self.cpu_seconds - less
        return f" (CPU {cpu * 1000:.1f} ms)"

    def line(self) -> str:
        """Median, min, mean (wall) and mean CPU in ms."""
        ms = [s * 1000 for s in self.seconds]
        cpu = f"   cpu {self.cpu_seconds * 1000:7.1f}" if self.cpu_seconds is not None else ""
        return (
            f"{self.name:<42} median {self.median_ms:7.1f} ms   min {self.min_ms:7.1f}   "
            f"mean {statistics.fmean(ms):7.1f}{cpu}   (n={len(ms)})"
        )


def extract_module(text: str, block: re.Pattern[str], name: str, patches: Sequence[Patch]) -> str:
    """The code block ``block`` finds in the lab text, with ``patches`` applied, checked to compile.

    Args:
        text: the reference design's lab text.
        block: a pattern whose group 1 is the module's code.
        name: the module's path in the lab text (for messages and the compile check).
        patches: applied in order, each exactly once.

    Raises:
        BenchError: the code block is not there, a patch does not match exactly once, or the patched module does
            not compile.
    """
    match = block.search(text)
    if match is None:
        raise BenchError(f"no `{name}` code block in the reference")
    code = match.group(1)
    for patch in patches:
        code, count = re.subn(patch.pattern, patch.replacement, code, flags=re.MULTILINE)
        if count != 1:
            raise BenchError(f"{name}: expected one match of {patch.pattern!r} to patch, found {count}")
    try:
        compile(code, name, "exec")  # the patches are the only changes, and they suffice
    except SyntaxError as exc:
        raise BenchError(f"{name} does not compile after its patches: {exc}") from exc
    return code


def extract_reference(text: str) -> str:
    """The reference's ``functions/order-service/app.py``, with :data:`AWS_REFERENCE_PATCHES` applied
    (``MetricUnit.None`` -> ``MetricUnit.NoUnit``).

    Raises:
        BenchError: the code block is not there, or the patch does not apply exactly once.
    """
    return extract_module(text, _BLOCK, "functions/order-service/app.py", AWS_REFERENCE_PATCHES)


def extract_reference_gcp(text: str) -> str:
    """The reference's ``functions-gcp/order_processor/main.py``, with :data:`GCP_REFERENCE_PATCHES` applied.

    Raises:
        BenchError: the code block is not there, or a patch does not apply exactly once.
    """
    return extract_module(text, _GCP_BLOCK, "functions-gcp/order_processor/main.py", GCP_REFERENCE_PATCHES)


def ready_port(line: str) -> int:
    """The port of the Cloud Tasks stand-in's first line, ``ready PORT``.

    Raises:
        BenchError: the line is anything else (the stand-in's error, for instance).
    """
    match = re.fullmatch(r"ready (\d{1,5})\s*", line)
    if match is None or not 0 < int(match.group(1)) < 65536:
        raise BenchError(f"the Cloud Tasks stand-in did not start: {line.strip()[-2000:]!r}")
    return int(match.group(1))


def _has_module(python: str, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    try:
        return subprocess.run([python, "-c", code], capture_output=True, check=False).returncode == 0
    except OSError:  # no such interpreter (or not executable): it has no module
        return False


def _hyperfine(commands: Mapping[str, list[str]], env: Mapping[str, str], runs: int, warmup: int) -> list[Timing]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hyperfine.json"
        argv = ["hyperfine", "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs)]
        argv += ["--export-json", str(out)]
        for name, command in commands.items():
            argv += ["--command-name", name, shlex.join(command)]
        done = subprocess.run(argv, env=dict(env), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BenchError(f"hyperfine failed:\n{done.stderr or done.stdout}")
        results = json.loads(out.read_text(encoding="utf-8"))["results"]
    return [Timing(r["command"], tuple(r["times"]), r["user"] + r["system"]) for r in results]


def _interleaved(
    commands: Mapping[str, tuple[list[str], Mapping[str, str]]], runs: int, warmup: int
) -> list[Timing]:
    """Each command (argv, environment) once per round, in order, ``warmup + runs`` rounds: a change in the machine's
    load reaches every command alike."""
    import resource

    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, float] = dict.fromkeys(commands, 0.0)
    for i in range(warmup + runs):
        for name, (command, env) in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(command, env=dict(env), capture_output=True, check=False)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                raise BenchError(f"{name} failed:\n{done.stderr.decode(errors='replace')}")
            if i >= warmup:
                times[name].append(elapsed)
                cpu[name] += after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return [Timing(name, tuple(values), cpu[name] / len(values)) for name, values in times.items()]


def _check(commands: Mapping[str, list[str]], env: Mapping[str, str]) -> None:
    for name, command in commands.items():
        done = subprocess.run(command, env=dict(env), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BenchError(f"{name} does not run ({shlex.join(command)}):\n{done.stderr.strip()[-2000:]}")


#: Opens loopback URLs directly: an ``http_proxy`` of the user's must not answer for a stand-in still starting.
_LOOPBACK: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _loopback_unproxied(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with ``127.0.0.1`` and ``localhost`` added to ``no_proxy`` and ``NO_PROXY`` (the user's entries kept):
    with an ``http_proxy``/``https_proxy`` set, boto3, the Azure SDK and gRPC (which reads ``no_proxy`` when
    ``no_grpc_proxy`` is unset) would send every call to the stand-ins through it."""
    out = dict(env)
    for name in ("no_proxy", "NO_PROXY"):
        entries = [e for e in out.get(name, "").split(",") if e.strip()]
        out[name] = ",".join([*entries, *(h for h in ("127.0.0.1", "localhost") if h not in entries)])
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_moto(python: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    with _stopped_if_interrupted(proc):
        while time.monotonic() < deadline:
            try:
                _LOOPBACK.open(url + "/moto-api/", timeout=1).close()
                return proc, url
            except urllib.error.HTTPError:
                return proc, url
            except OSError:
                if proc.poll() is not None:  # its port taken, say: no use waiting 30 s
                    break
                time.sleep(0.1)
    _stop(proc)
    if proc.returncode is not None and proc.returncode >= 0:
        raise BenchError(f"the moto server exited (status {proc.returncode}) before it answered")
    raise BenchError("the moto server did not start in 30 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's group, SIGKILL after 10 s, then SIGKILL to what is left of the group (gcloud's
    emulator wrapper may leave its Java child behind)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def _stopped_if_interrupted(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """Stop ``proc`` (:func:`_stop`) if the block raises anything, Ctrl-C's ``KeyboardInterrupt`` and the SIGTERM
    handler's ``SystemExit`` included: a server still starting is not yet in the run's ``ExitStack``."""
    try:
        yield
    except BaseException:
        _stop(proc)
        raise


class Missing(Exception):
    """A stand-in cannot run on this machine (a tool or package not installed): its probes are left out."""


def _drain(stream: Any) -> None:
    """Read ``stream`` to its end in a daemon thread, so a server logging to a pipe never blocks on it."""
    threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()


def _first_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The first line ``proc`` prints (stdout and stderr joined), or what it printed before ``timeout`` s."""
    assert proc.stdout is not None
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline() if proc.stdout else b""), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0].decode(errors="replace") if box else f"(nothing in {timeout:.0f} s)"


def _start_cosmos() -> tuple[subprocess.Popen[bytes], str]:
    """Start the Cosmos DB stand-in (``adapters/azure/node/serve.js``: HTTPS, self-signed) on a free port.

    Raises:
        Missing: Node.js or the npm package is not installed.
        BenchError: it did not start.
    """
    node = shutil.which("node")
    package = AZURE_NODE / "node_modules" / "@vercel" / "cosmosdb-server"
    if node is None:
        raise Missing("node (Node.js) is not on PATH")
    if not package.exists():
        raise Missing(f"{package.relative_to(ROOT)} is missing (npm ci --prefix adapters/azure/node)")
    port = _free_port()
    proc = subprocess.Popen(
        [node, str(AZURE_NODE / "serve.js"), "127.0.0.1", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    with _stopped_if_interrupted(proc):
        line = _first_line(proc, 30)
    if "Ready to accept" not in line:
        _stop(proc)
        raise BenchError(f"the Cosmos DB stand-in did not start: {line.strip()!r}")
    _drain(proc.stdout)
    return proc, f"https://127.0.0.1:{port}"


@dataclass(frozen=True, slots=True)
class _Emulator:
    name: str
    proc: subprocess.Popen[bytes]
    host: str
    log: Path


def _launch_gcp_emulators(folder: Path) -> list[_Emulator]:
    """Start the Firestore and Pub/Sub emulators (``setsid``, free loopback ports; not waited for: :func:`_wait_http`).

    Raises:
        Missing: gcloud or java is not installed.
    """
    gcloud = shutil.which("gcloud")
    if gcloud is None or shutil.which("java") is None:
        raise Missing(f"{'gcloud (google-cloud-cli)' if gcloud is None else 'java'} is not installed")
    started: list[_Emulator] = []
    # nothing outside ``folder``: gcloud writes a log file per command under ~/.config/gcloud/logs, and the Pub/Sub
    # emulator its env.yaml in its data directory (default ~/.config/gcloud/emulators/pubsub)
    env = os.environ | {"CLOUDSDK_CORE_DISABLE_FILE_LOGGING": "true"}
    (folder / "pubsub").mkdir()  # gcloud does not make it
    pubsub = ["beta", "emulators", "pubsub", "start", f"--project={GCP_PROJECT}", f"--data-dir={folder / 'pubsub'}"]
    try:
        for name, command in (("firestore", ["emulators", "firestore", "start", "--quiet"]), ("pubsub", pubsub)):
            host = f"127.0.0.1:{_free_port()}"
            log = folder / f"{name}-emulator.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [gcloud, *command, f"--host-port={host}"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append(_Emulator(name, proc, host, log))
    except BaseException:  # the first one started, the second not: stop the first
        for emulator in started:
            _stop(emulator.proc)
        raise
    return started


def _wait_http(emulator: _Emulator, timeout: float = 90.0) -> None:
    """Poll the emulator until it answers (any HTTP status).

    Raises:
        BenchError: it did not answer in ``timeout`` s (its log's end in the message).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _LOOPBACK.open(f"http://{emulator.host}/", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if emulator.proc.poll() is not None:
                break
            time.sleep(0.2)
    tail = emulator.log.read_text(errors="replace")[-2000:]
    status = emulator.proc.poll()
    if status is not None:
        raise BenchError(f"the {emulator.name} emulator exited (status {status}) before it answered:\n{tail}")
    raise BenchError(f"the {emulator.name} emulator did not answer in {timeout:.0f} s:\n{tail}")


def _start_tasks_stand_in(python: str, folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``bench/_cloud_tasks_stand_in.py`` in ``python``; returns it and its proxy's port (its CA is written to
    ``folder/ca.pem``).

    Raises:
        BenchError: it did not start.
    """
    proc = subprocess.Popen(
        [python, str(Path(__file__).resolve().parent / "_cloud_tasks_stand_in.py"), str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    with _stopped_if_interrupted(proc):
        port = ready_port(_first_line(proc, 30))
    _drain(proc.stdout)
    return proc, port


def _run_snippet(python: str, what: str, code: str, args: Sequence[str], env: Mapping[str, str]) -> None:
    """Run ``code`` once in ``python``.

    Raises:
        BenchError: it failed (``what`` and its stderr's end in the message).
    """
    done = subprocess.run([python, "-c", code, *args], env=dict(env), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{what} failed:\n{done.stderr[-3000:]}")


def _fill(code: str, **values: str) -> str:
    """``code`` with each ``__NAME__`` replaced by the Python literal of ``values[name]``."""
    for name, value in values.items():
        code = code.replace(f"__{name.upper()}__", repr(value))
    return code


#: The end of every measured program: once its last check passed (the module imported, the answer asserted), the
#: process leaves at once, so its time ends at the answer. Without it the time ran to the interpreter's exit, which a
#: platform's process never waits for before it answers, and which after a first POST /orders took 85 to 480 ms
#: (medians 133 ms AWS, 182 ms Azure HTTP-only app, 266 ms Google Cloud; a bare interpreter's exit 2 to 4 ms)
#: measured at load average ~10 on 2026-12-08: the finalization of 500 to 1,100 modules and their objects and of the
#: SDKs' C extensions and threads (gRPC; on Azure the Cosmos DB SDK's endpoint health check, a ``ThreadPoolExecutor``
#: task the interpreter joins at exit). A probe that fails raises before it, with its traceback and status 1.
ANSWERED: Final[str] = "\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_sys.stderr.flush()\n_os._exit(0)\n"


def answered(code: str) -> str:
    """``code`` followed by :data:`ANSWERED`: a measured program whose time ends when it is done, not at the
    interpreter's exit."""
    return code.rstrip("\n") + "\n" + ANSWERED


def _write(folder: Path, name: str, code: str) -> Path:
    """Write a measured program (ending in :data:`ANSWERED`) to ``folder/name``."""
    path = folder / name
    path.write_text(answered(code), encoding="utf-8")
    return path


def run(
    python: str,
    runs: int,
    warmup: int,
    use_hyperfine: bool,
    reference: Path | None,
    others: Mapping[str, str | None] | None = None,
) -> int:
    """Measure and print (see the module docstring); returns the exit status.

    Args:
        python: the interpreter of our AWS entrypoint and the reference.
        runs: measured runs per command.
        warmup: unmeasured runs first.
        use_hyperfine: time with hyperfine when installed.
        reference: the reference design's lab text, or None.
        others: the interpreter of each other cloud (``"Azure"``, ``"Google Cloud"``), or None to leave it out.

    Raises:
        BenchError: a package is missing from ``python``'s environment, a stand-in does not start, or a probe fails
            (a POST not answered ``201``, for one).
    """
    aws = ENTRYPOINTS["AWS"]
    needed = [aws, "boto3", "moto"]
    reference_text: str | None = None
    if reference is not None and reference.is_file():
        reference_text = reference.read_text(encoding="utf-8")
        needed += ["aws_lambda_powertools", "aws_xray_sdk"]
    missing = [m for m in needed if not _has_module(python, m)]
    if missing:
        raise BenchError(
            f"{python} lacks {', '.join(missing)}; install into a bench venv:\n"
            "  .venv-bench/bin/pip install -e . -e adapters/aws aws-lambda-powertools aws-xray-sdk 'moto[server]'"
        )
    version = subprocess.run([python, "-VV"], capture_output=True, text=True, check=False).stdout.strip()
    tool = "hyperfine" if use_hyperfine and shutil.which("hyperfine") else "perf_counter"
    # (PYTHONPATH is kept, so a worktree's code can be measured with another clone's interpreter)
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON")) or k == "PYTHONPATH"
    } | dict(BASE_ENV)
    base = _loopback_unproxied(base)
    clean = {
        k: v
        for k, v in base.items()
        if not k.startswith(("COSMOS", "SERVICEBUS", "GOOGLE", "FIRESTORE_", "PUBSUB_", "GCP_", "FOODDELIVERY_"))
    }
    notes: list[str] = []
    interpreters: dict[str, str] = {}
    for cloud in ("Azure", "Google Cloud"):
        interpreter = (others or {}).get(cloud)
        module = ENTRYPOINTS[cloud]
        if interpreter is None or not _has_module(interpreter, module):
            notes.append(f"{cloud}: not measured ({module} is not installed in {interpreter or 'no interpreter'})")
            continue
        cloud_version = subprocess.run([interpreter, "-V"], capture_output=True, text=True, check=False).stdout
        notes.append(f"{cloud}: {interpreter} ({cloud_version.strip()})")
        interpreters[cloud] = interpreter
    timings: dict[str, Timing] = {}
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cold-start-")))
        gcp = interpreters.get("Google Cloud")
        emulators: list[_Emulator] = []
        if gcp is not None:  # started first: they take seconds to come up
            try:
                emulators = _launch_gcp_emulators(folder)
            except Missing as exc:
                notes.append(
                    f"Google Cloud POST /orders and the reference's Google Cloud module: not measured ({exc}; the "
                    "Firestore and Pub/Sub emulators ship with google-cloud-cli and need Java)"
                )
            for emulator in emulators:
                stack.callback(_stop, emulator.proc)
        moto, endpoint = _start_moto(python)
        stack.callback(_stop, moto)
        env = base | {"AWS_ENDPOINT_URL": endpoint}
        _run_snippet(python, "setting up moto", _SETUP, [endpoint], env)
        ours_env = env | dict(OUR_ENV)
        ref_env = env | dict(REFERENCE_ENV)
        interpreter = {"interpreter": [python, "-c", answered("pass")]}
        groups: list[tuple[dict[str, list[str]], dict[str, str]]] = [(interpreter, env)]
        ours = {"ours (AWS) module loaded": [python, "-c", answered(f"import {aws}")]}
        ours["ours (AWS) GET /health"] = [python, str(_write(folder, "health.py", PROBES["ours GET /health"]))]
        ours["ours (AWS) POST /orders"] = [
            python,
            str(_write(folder, "post.py", _fill(PROBES["ours POST /orders"], order=OUR_ORDER))),
        ]
        groups.append((ours, ours_env))
        checks: list[Check] = []

        azure = interpreters.get("Azure")
        if azure is not None:
            azure_env = clean | dict(AZURE_ENV)
            app = str(AZURE_APP)
            cmds = {
                "ours (Azure) module loaded": [
                    azure,
                    str(_write(folder, "az_loaded.py", _fill(PROBES["Azure module loaded"], folder=app))),
                ],
                "ours (Azure) GET /health": [
                    azure,
                    str(_write(folder, "az_health.py", _fill(PROBES["Azure GET /health"], folder=app))),
                ],
            }
            try:
                cosmos, cosmos_url = _start_cosmos()
            except Missing as exc:
                notes.append(f"Azure POST /orders: not measured ({exc}; the Cosmos DB stand-in needs it)")
            else:
                stack.callback(_stop, cosmos)
                azure_env |= {
                    "COSMOS_ENDPOINT": cosmos_url,
                    "COSMOS_KEY": EMULATOR_KEY,
                    "COSMOS_VERIFY_TLS": "false",
                    "FOODDELIVERY_LOCAL": "true",
                }
                notes.append(f"Azure Cosmos DB calls: @vercel/cosmosdb-server over HTTPS on loopback ({cosmos_url})")
                _run_snippet(
                    azure, "setting up the Cosmos DB stand-in", _AZURE_SETUP, [cosmos_url, EMULATOR_KEY], azure_env
                )
                post = _fill(PROBES["Azure POST /orders"], folder=app, order=OUR_ORDER, principal=AZURE_PRINCIPAL)
                cmds["ours (Azure) POST /orders"] = [azure, str(_write(folder, "az_post.py", post))]
                checks.append(
                    ("checking the Azure orders", azure, _AZURE_VERIFY, [cosmos_url, EMULATOR_KEY, RUNS], azure_env)
                )
            cmds["platform (Azure) import"] = [azure, "-c", answered(f"import {PLATFORM_MODULES['Azure']}")]
            groups.append((cmds, azure_env))
            # the same probes, the app registering the HTTP function alone
            http_only = {name.replace("(Azure)", "(Azure HTTP-only app)"): cmd for name, cmd in cmds.items()}
            del http_only["platform (Azure HTTP-only app) import"]
            groups.append((http_only, azure_env | dict(AZURE_HTTP_ONLY_ENV)))

        if gcp is not None:
            module = ENTRYPOINTS["Google Cloud"]
            gcp_env = clean | dict(GCP_ENV)
            gcp_health = PROBES["Google Cloud GET /health"]
            cmds = {
                "ours (Google Cloud) module loaded": [gcp, "-c", answered(f"import {module}")],
                "ours (Google Cloud) GET /health": [gcp, str(_write(folder, "gcp_health.py", gcp_health))],
            }
            reference_group: tuple[dict[str, list[str]], dict[str, str]] | None = None
            if emulators:
                for emulator in emulators:
                    _wait_http(emulator)
                hosts = {f"{e.name.upper()}_EMULATOR_HOST": e.host for e in emulators}
                gcp_env |= hosts
                notes.append(
                    "Google Cloud calls: the Firestore and Pub/Sub emulators on loopback ("
                    + ", ".join(f"{e.name} {e.host}" for e in emulators)
                    + ")"
                )
                setup_args = [GCP_PROJECT, GCP_REFERENCE_PROJECT, *GCP_TOPICS]
                _run_snippet(gcp, "setting up the Google Cloud emulators", _GCP_SETUP, setup_args, gcp_env)
                post = _fill(PROBES["Google Cloud POST /orders"], order=OUR_ORDER, userinfo=GCP_USERINFO)
                cmds["ours (Google Cloud) POST /orders"] = [gcp, str(_write(folder, "gcp_post.py", post))]
                reference_gcp = ""
                lacks = [m for m in ("google.cloud.tasks_v2", "cryptography", "grpc") if not _has_module(gcp, m)]
                if reference_text is None:
                    notes.append("reference (Google Cloud): not measured: the reference design's lab text is not here")
                elif lacks:
                    notes.append(f"reference (Google Cloud): not measured ({gcp} lacks {', '.join(lacks)})")
                else:
                    reference_group = _reference_gcp(gcp, reference_text, folder, clean | hosts, stack)
                    reference_gcp = GCP_REFERENCE_PROJECT
                    notes.append(
                        "reference (Google Cloud): functions-gcp/order_processor/main.py, patched: "
                        + "; ".join(p.why for p in GCP_REFERENCE_PATCHES)
                        + "; its Cloud Tasks call goes to a loopback stand-in (bench/_cloud_tasks_stand_in.py)"
                    )
                checks.append(
                    ("checking the Google Cloud orders", gcp, _GCP_VERIFY, [GCP_PROJECT, RUNS, reference_gcp], gcp_env)
                )
            cmds["platform (Google Cloud) import"] = [gcp, "-c", answered(f"import {PLATFORM_MODULES['Google Cloud']}")]
            groups.append((cmds, gcp_env))
            if reference_group is not None:
                groups.append(reference_group)

        if reference_text is not None:
            ref_dir = folder / "reference"
            ref_dir.mkdir()
            (ref_dir / "app.py").write_text(extract_reference(reference_text), encoding="utf-8")
            probe = _fill(PROBES["reference POST /orders"], folder=str(ref_dir), order=REFERENCE_ORDER)
            reference_cmds = {
                "reference module loaded": [
                    python,
                    "-c",
                    answered(f"import sys; sys.path.insert(0, {str(ref_dir)!r}); import app"),
                ],
                "reference POST /orders": [python, str(_write(folder, "ref_post.py", probe))],
            }
            groups.append((reference_cmds, ref_env))
        aws_args = [endpoint, RUNS, "reference" if reference_text is not None else ""]
        checks.insert(0, ("checking the AWS orders", python, _AWS_VERIFY, aws_args, env))
        timings = _measure(groups, checks, tool, runs, warmup)
    _report(timings, tool=tool, runs=runs, warmup=warmup, python=python, version=version, endpoint=endpoint)
    for line in notes:
        print(line)
    _summary(timings, reference, reference_text is not None, python)
    return 0


#: In a check's arguments: the number of times each POST probe ran so far.
RUNS: Final = "__RUNS__"
#: A check of the stores after the POST runs: (what, interpreter, code, arguments, environment).
Check = tuple[str, str, str, list[str], dict[str, str]]


def _verify(checks: Sequence[Check], runs: int, when: str) -> None:
    for what, interpreter, code, args, check_env in checks:
        argv = [str(runs) if a == RUNS else a for a in args]
        _run_snippet(interpreter, f"{what} ({when}: {runs} run(s) of each POST)", code, argv, check_env)


def _measure(
    groups: Sequence[tuple[dict[str, list[str]], dict[str, str]]],
    checks: Sequence[Check],
    tool: str,
    runs: int,
    warmup: int,
) -> dict[str, Timing]:
    """Run every probe once and check the stores, time them (``warmup`` + ``runs`` more runs each), then check the
    stores again: every POST run wrote its order, not the first alone (a probe answering ``201`` without writing
    would flatter its side).

    Raises:
        BenchError: a probe failed, or a check found fewer (or more) writes than runs.
    """
    for commands, group_env in groups:
        _check(commands, group_env)
    _verify(checks, 1, "after the first runs")
    timings: dict[str, Timing] = {}
    if tool == "hyperfine":  # one environment per hyperfine run: group by group
        for commands, group_env in groups:
            for t in _hyperfine(commands, group_env, runs, warmup):
                timings[t.name] = t
    else:  # every probe of every group in each round
        every = {name: (cmd, group_env) for commands, group_env in groups for name, cmd in commands.items()}
        for t in _interleaved(every, runs, warmup):
            timings[t.name] = t
    _verify(checks, 1 + warmup + runs, "after the measured runs")
    return timings


def _reference_gcp(
    python: str, text: str, folder: Path, env: Mapping[str, str], stack: contextlib.ExitStack
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The reference's Google Cloud probes and their environment (see the module docstring); starts the Cloud Tasks
    stand-in (stopped with ``stack``).

    Raises:
        BenchError: the module cannot be extracted, the key cannot be made, or the stand-in does not start.
    """
    ref_dir = folder / "reference-gcp"
    ref_dir.mkdir()
    (ref_dir / "main.py").write_text(extract_reference_gcp(text), encoding="utf-8")
    key = folder / "throwaway-service-account.json"
    _run_snippet(python, "making a throwaway service-account key", _GCP_KEY, [str(key)], env)
    tasks_dir = folder / "cloud-tasks"
    tasks_dir.mkdir()
    tasks, proxy = _start_tasks_stand_in(python, tasks_dir)
    stack.callback(_stop, tasks)
    ref_env = dict(env) | {
        "GOOGLE_CLOUD_PROJECT": GCP_REFERENCE_PROJECT,
        "GCP_PROJECT": GCP_REFERENCE_PROJECT,
        "GOOGLE_APPLICATION_CREDENTIALS": str(key),
        "grpc_proxy": f"http://127.0.0.1:{proxy}",
        "no_grpc_proxy": "127.0.0.1,localhost",
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(tasks_dir / "ca.pem"),
    }
    post = _fill(PROBES["reference (Google Cloud) POST /orders"], folder=str(ref_dir), order=OUR_ORDER)
    cmds = {
        "reference (Google Cloud) module loaded": [
            python,
            "-c",
            answered(f"import sys; sys.path.insert(0, {str(ref_dir)!r}); import main"),
        ],
        "reference (Google Cloud) POST /orders": [python, str(_write(folder, "ref_gcp_post.py", post))],
    }
    return cmds, ref_env


def _report(
    timings: Mapping[str, Timing], *, tool: str, runs: int, warmup: int, python: str, version: str, endpoint: str
) -> None:
    print(
        f"cold start: process start -> module loaded / first request answered ({tool}, {runs} runs after "
        f"{warmup} warm-up runs)"
    )
    print(f"python: {python} ({version})")
    print(f"AWS calls: moto server on loopback ({endpoint}); POST /orders writes the order to DynamoDB")


def _ratio(ours: Timing | None, reference: Timing | None) -> str:
    """``ours / reference`` of the medians, 3 decimals, or ``n/a`` when either was not measured."""
    if ours is None or reference is None:
        return "n/a"
    return f"{ours.median_ms / reference.median_ms:.3f}"


def _summary(timings: Mapping[str, Timing], reference: Path | None, has_reference: bool, python: str) -> None:
    for timing in timings.values():
        print("  " + timing.line())
    floor = timings["interpreter"].median_ms
    first = timings["ours (AWS) GET /health"].median_ms
    post = timings["ours (AWS) POST /orders"].median_ms
    module = timings["ours (AWS) module loaded"].median_ms
    print(
        f"above the bare interpreter ({floor:.1f} ms): module {module - floor:.1f} ms, GET /health "
        f"{first - floor:.1f} ms, POST /orders {post - floor:.1f} ms"
    )
    verdict = "meets" if first < TARGET_MS else "MISSES"
    print(f"our first request (GET /health, median): {first:.1f} ms -> {verdict} the target < {TARGET_MS:.0f} ms"
          f" (min {timings['ours (AWS) GET /health'].min_ms:.1f} ms); POST /orders: {post:.1f} ms")
    for cloud in ("Azure", "Google Cloud"):
        health = timings.get(f"ours ({cloud}) GET /health")
        platform = timings.get(f"platform ({cloud}) import")
        if health is not None and platform is not None:
            verdict = "meets" if health.median_ms < TARGET_MS else "MISSES"
            print(
                f"{cloud} first request (GET /health, median): {health.median_ms:.1f} ms -> {verdict} the target "
                f"(module loaded {timings[f'ours ({cloud}) module loaded'].median_ms:.1f} ms); of it, the "
                f"interpreter and 'import {PLATFORM_MODULES[cloud]}' (what the platform's process does before it "
                f"loads ours) take {platform.median_ms:.1f} ms{platform.cpu_text()}: ours above that "
                f"{health.median_ms - platform.median_ms:.1f} ms{health.cpu_text(minus=platform)}"
            )
            cloud_post = timings.get(f"ours ({cloud}) POST /orders")
            if cloud_post is not None:
                print(
                    f"{cloud} first POST /orders answered (201, median): {cloud_post.median_ms:.1f} ms (min "
                    f"{cloud_post.min_ms:.1f} ms); ours above the platform's import "
                    f"{cloud_post.median_ms - platform.median_ms:.1f} ms{cloud_post.cpu_text(minus=platform)}"
                )
        http_only = timings.get(f"ours ({cloud} HTTP-only app) GET /health")
        if health is not None and platform is not None and http_only is not None:
            verdict = "meets" if http_only.median_ms < TARGET_MS else "MISSES"
            print(
                f"{cloud} HTTP-only app (FOODDELIVERY_AZURE_FUNCTIONS=http) first request (GET /health, median): "
                f"{http_only.median_ms:.1f} ms -> {verdict} the target (module loaded "
                f"{timings[f'ours ({cloud} HTTP-only app) module loaded'].median_ms:.1f} ms); ours above the "
                f"platform's import {http_only.median_ms - platform.median_ms:.1f} ms"
                f"{http_only.cpu_text(minus=platform)}"
            )
            http_post = timings.get(f"ours ({cloud} HTTP-only app) POST /orders")
            if http_post is not None:
                print(
                    f"{cloud} HTTP-only app first POST /orders answered (201, median): {http_post.median_ms:.1f} ms "
                    f"(min {http_post.min_ms:.1f} ms); ours above the platform's import "
                    f"{http_post.median_ms - platform.median_ms:.1f} ms{http_post.cpu_text(minus=platform)}"
                )
    if not has_reference:
        where = reference if reference is not None else "(no --reference given)"
        print(f"reference: not measured: the reference design's lab text is not at {where}")
        return
    ref_mod, ref_post = timings["reference module loaded"], timings["reference POST /orders"]
    print(f"ratio ours/reference, module loaded (medians): {module / ref_mod.median_ms:.3f}")
    print(f"ratio ours/reference, first POST /orders answered (medians): {post / ref_post.median_ms:.3f}")
    gcp_ref = timings.get("reference (Google Cloud) module loaded")
    if gcp_ref is not None:
        ours_post, ref_gcp_post = "ours (Google Cloud) POST /orders", "reference (Google Cloud) POST /orders"
        gcp_post = _ratio(timings.get(ours_post), timings.get(ref_gcp_post))
        print(
            "Google Cloud ratio ours/reference (the reference's functions-gcp/order_processor/main.py, same "
            f"interpreter): module loaded {_ratio(timings.get('ours (Google Cloud) module loaded'), gcp_ref)}; "
            f"first POST /orders answered {gcp_post} (medians)"
        )
    if "ours (Azure) module loaded" in timings:
        print(
            "Azure ratio: the reference has no Azure module in Python (its Azure function is JavaScript, "
            "functions-azure/OrderProcessor/index.js): the Azure ratios below are against the reference's AWS "
            f"order-service module (functions/order-service/app.py in {python}), across clouds and interpreters, "
            "not like for like"
        )
        for app, label in (("Azure", "all functions"), ("Azure HTTP-only app", "HTTP-only app")):
            print(
                f"Azure ({label}) ratio ours/reference-AWS: module loaded "
                f"{_ratio(timings.get(f'ours ({app}) module loaded'), ref_mod)}; first POST /orders answered "
                f"{_ratio(timings.get(f'ours ({app}) POST /orders'), ref_post)} (medians)"
            )


def _at_least(low: int) -> Any:
    """An argparse type: an int >= ``low`` (``--runs 0`` would measure nothing and divide by zero at the end)."""

    def count(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value

    return count


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 when the benchmark cannot run)."""
    parser = argparse.ArgumentParser(prog="python bench/cold_start.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=_at_least(1), default=20, help="measured runs per command (default 20)")
    parser.add_argument("--warmup", type=_at_least(0), default=3, help="unmeasured runs first (default 3)")
    parser.add_argument("--python", default=sys.executable, help="interpreter to measure (default: this one)")
    parser.add_argument("--no-hyperfine", action="store_true", help="time with perf_counter even if hyperfine exists")
    parser.add_argument(
        "--reference",
        type=Path,
        default=DEFAULT_REFERENCE if DEFAULT_REFERENCE.is_file() else None,
        help="the reference design's lab text (default: ../shared/reference/000_d5207dfdec717999.txt if present)",
    )
    clouds = (("Azure", "--azure-python", ".venv-azure"), ("Google Cloud", "--gcp-python", ".venv-gcp"))
    for cloud, flag, venv in clouds:
        default = ROOT / venv / "bin" / "python"
        parser.add_argument(
            flag,
            default=str(default) if default.exists() else None,
            help=f"interpreter with the {cloud} package (default: {venv} of this clone, if there); 'none' to skip",
        )
    args = parser.parse_args(argv)
    others = {
        "Azure": None if args.azure_python in (None, "none") else args.azure_python,
        "Google Cloud": None if args.gcp_python in (None, "none") else args.gcp_python,
    }
    # stopped by run_all's timeout or a user: still stop the moto server (the ``finally`` in ``run``)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(args.python, args.runs, args.warmup, not args.no_hyperfine, args.reference, others)
    except BenchError as exc:
        print(f"cold_start: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
