"""Cold start: each cloud's HTTP entrypoint next to the reference design's order service, in one run.

For every measured target, a fresh process is timed from its start until

- **module loaded**: ``import <the entrypoint module>``;
- **first request answered**: the module imported and the handler called once with an API Gateway REST (payload 1.0)
  event -- ``GET /health`` (no AWS call), and ``POST /orders`` with the reference's order (the order written to
  DynamoDB: real calls over loopback to a moto server this script starts, created tables and a seeded ``rest-0``).

Targets:

- **ours, AWS**: ``fooddelivery_aws.entrypoints.http`` (the Lambda handler), in ``--python``;
- **ours, Azure**: ``deploy/azure/app/function_app.py`` (what the Functions host loads: a ``FunctionApp`` with
  every function of the package, ``FOODDELIVERY_AZURE_FUNCTIONS=all``; the Durable Functions SDK is imported on first
  use, not here), then its HTTP function's body (``fooddelivery_azure.functions.http_functions.handle_http``) on an
  ``azure.functions.HttpRequest`` ``GET /health``, in ``--azure-python`` (default ``.venv-azure`` of this clone);
  and the same two probes as an **Azure HTTP-only app** (``FOODDELIVERY_AZURE_FUNCTIONS=http``: the app registers
  the HTTP function alone, without the Service Bus worker extension; ``deploy/azure/main.bicep``'s
  ``functionApps='two'``);
- **ours, Google Cloud**: ``fooddelivery_gcp.main`` (what functions-framework loads), then its ``http_api`` function
  on a Flask request ``GET /health``, in ``--gcp-python`` (default ``.venv-gcp``);
  a cloud whose interpreter is missing is left out with a line saying so. Azure's and Google's first requests make
  no network call (their clients are built on first use; the settings name resources that need not exist);
- **platform, Azure and Google Cloud**: ``import azure.functions`` and ``import functions_framework`` alone (see
  :data:`PLATFORM_MODULES`): what the host's own process has imported before it loads our module. Our figures
  include it (a fresh interpreter runs each probe); the summary also prints them less it, as what is ours;
- **reference**: the reference design's ``functions/order-service/app.py``, taken from the lab text given with
  ``--reference`` (default: ``../shared/reference/000_d5207dfdec717999.txt`` next to this clone, if it is there),
  written to a temporary folder with only its compile error patched (``MetricUnit.None`` -> ``MetricUnit.NoUnit``).
  It builds its boto3 resources, Powertools Logger/Tracer/Metrics and resolver at import. Its ``POST /orders`` is
  sent the k6 payload with whole-number prices: with the payload's own floats it fails before writing anything
  (boto3 refuses floats), which would flatter it. Without the file, the comparison is left out, with a line saying
  so;
- **interpreter**: ``python -c pass``, the floor under everything.

Each is run ``--runs`` times after ``--warmup`` runs (bytecode cached, as a deployment that ships ``.pyc`` files),
with ``hyperfine`` when installed (``apt-get install -y hyperfine``), else interleaved ``subprocess`` runs timed with
``time.perf_counter``; it prints median, min and mean wall time and mean CPU time (user + system), and the ratios
ours / reference of the medians. The machine is shared: medians move with its load; the minimum is the least
disturbed run. Target: our first request under 100 ms.

Interpreter and packages: the reference needs boto3, Powertools and the X-Ray SDK next to our packages, and the
``POST /orders`` runs need moto's server::

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
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

#: How ``bench/run_all.py`` runs this benchmark (``.venv-bench``: see the module docstring).
RUN_ALL = {"python": "bench", "args": ["--runs", "20", "--warmup", "3"], "timeout": 1200}

ROOT: Final = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE: Final = ROOT.parent / "shared" / "reference" / "000_d5207dfdec717999.txt"
TARGET_MS: Final = 100.0
_BLOCK: Final = re.compile(r"Create `functions/order-service/app\.py`:\s*```python\n(.*?)\n```", re.DOTALL)

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


def extract_reference(text: str) -> str:
    """The reference's ``functions/order-service/app.py``, with ``MetricUnit.None`` patched to ``MetricUnit.NoUnit``.

    Raises:
        BenchError: the code block is not there, or the patch does not apply exactly once.
    """
    match = _BLOCK.search(text)
    if match is None:
        raise BenchError("no `functions/order-service/app.py` code block in the reference")
    patched, count = re.subn(r"\bMetricUnit\.None\b", "MetricUnit.NoUnit", match.group(1))
    if count != 1:
        raise BenchError(f"expected one MetricUnit.None to patch, found {count}")
    compile(patched, "app.py", "exec")  # the patch is the only change, and it suffices
    return patched


def _has_module(python: str, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    try:
        return subprocess.run([python, "-c", code], capture_output=True, check=False).returncode == 0
    except ModuleNotFoundError:
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


def _interleaved(commands: Mapping[str, list[str]], env: Mapping[str, str], runs: int, warmup: int) -> list[Timing]:
    import resource

    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, float] = dict.fromkeys(commands, 0.0)
    for i in range(warmup + runs):
        for name, command in commands.items():
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
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
            return proc, url
        except urllib.error.HTTPError:
            return proc, url
        except OSError:
            time.sleep(0.1)
    _stop(proc)
    raise BenchError("the moto server did not start in 30 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def _fill(code: str, **values: str) -> str:
    """``code`` with each ``__NAME__`` replaced by the Python literal of ``values[name]``."""
    for name, value in values.items():
        code = code.replace(f"__{name.upper()}__", repr(value))
    return code


def _write(folder: Path, name: str, code: str) -> Path:
    path = folder / name
    path.write_text(code, encoding="utf-8")
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
        BenchError: a package is missing from ``python``'s environment, or a stand-in does not start.
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
    measure = _hyperfine if tool == "hyperfine" else _interleaved
    # (PYTHONPATH is kept, so a worktree's code can be measured with another clone's interpreter)
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON")) or k == "PYTHONPATH"
    } | dict(BASE_ENV)
    moto, endpoint = _start_moto(python)
    try:
        env = base | {"AWS_ENDPOINT_URL": endpoint}
        setup = subprocess.run([python, "-c", _SETUP, endpoint], env=env, capture_output=True, text=True, check=False)
        if setup.returncode != 0:
            raise BenchError(f"setting up moto failed:\n{setup.stderr[-2000:]}")
        with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
            folder = Path(tmp)
            ours_env = env | dict(OUR_ENV)
            ref_env = env | dict(REFERENCE_ENV)
            groups: list[tuple[dict[str, list[str]], dict[str, str]]] = [
                ({"interpreter": [python, "-c", "pass"]}, env)
            ]
            ours = {"ours (AWS) module loaded": [python, "-c", f"import {aws}"]}
            ours["ours (AWS) GET /health"] = [python, str(_write(folder, "health.py", PROBES["ours GET /health"]))]
            ours["ours (AWS) POST /orders"] = [
                python,
                str(_write(folder, "post.py", _fill(PROBES["ours POST /orders"], order=OUR_ORDER))),
            ]
            groups.append((ours, ours_env))
            notes: list[str] = []
            clean = {k: v for k, v in base.items() if not k.startswith(("COSMOS", "SERVICEBUS", "GOOGLE"))}
            for cloud, cloud_env in (("Azure", AZURE_ENV), ("Google Cloud", GCP_ENV)):
                interpreter = (others or {}).get(cloud)
                module = ENTRYPOINTS[cloud]
                if interpreter is None or not _has_module(interpreter, module):
                    where = interpreter or "no interpreter"
                    notes.append(f"{cloud}: not measured ({module} is not installed in {where})")
                    continue
                cloud_version = subprocess.run(
                    [interpreter, "-V"], capture_output=True, text=True, check=False
                ).stdout.strip()
                notes.append(f"{cloud}: {interpreter} ({cloud_version})")
                if cloud == "Azure":
                    loaded = _fill(PROBES["Azure module loaded"], folder=str(AZURE_APP))
                    first = _fill(PROBES["Azure GET /health"], folder=str(AZURE_APP))
                    cloud_cmds = {
                        "ours (Azure) module loaded": [interpreter, str(_write(folder, "az_loaded.py", loaded))],
                        "ours (Azure) GET /health": [interpreter, str(_write(folder, "az_health.py", first))],
                    }
                else:
                    first = PROBES["Google Cloud GET /health"]
                    cloud_cmds = {
                        "ours (Google Cloud) module loaded": [interpreter, "-c", f"import {module}"],
                        "ours (Google Cloud) GET /health": [interpreter, str(_write(folder, "gcp_health.py", first))],
                    }
                cloud_cmds[f"platform ({cloud}) import"] = [interpreter, "-c", f"import {PLATFORM_MODULES[cloud]}"]
                groups.append((cloud_cmds, clean | dict(cloud_env)))
                if cloud == "Azure":  # the same probes, the app registering the HTTP function alone
                    http_only = {
                        "ours (Azure HTTP-only app) module loaded": cloud_cmds["ours (Azure) module loaded"],
                        "ours (Azure HTTP-only app) GET /health": cloud_cmds["ours (Azure) GET /health"],
                    }
                    groups.append((http_only, clean | dict(cloud_env) | dict(AZURE_HTTP_ONLY_ENV)))
            if reference_text is not None:
                ref_dir = folder / "reference"
                ref_dir.mkdir()
                (ref_dir / "app.py").write_text(extract_reference(reference_text), encoding="utf-8")
                probe = _fill(PROBES["reference POST /orders"], folder=str(ref_dir), order=REFERENCE_ORDER)
                reference_cmds = {
                    "reference module loaded": [
                        python,
                        "-c",
                        f"import sys; sys.path.insert(0, {str(ref_dir)!r}); import app",
                    ],
                    "reference POST /orders": [python, str(_write(folder, "ref_post.py", probe))],
                }
                groups.append((reference_cmds, ref_env))
            for commands, group_env in groups:
                _check(commands, group_env)
            timings: dict[str, Timing] = {}
            for commands, group_env in groups:
                for t in measure(commands, group_env, runs, warmup):
                    timings[t.name] = t
    finally:
        _stop(moto)
    print(
        f"cold start: process start -> module loaded / first request answered ({tool}, {runs} runs after "
        f"{warmup} warm-up runs)"
    )
    print(f"python: {python} ({version})")
    print(f"AWS calls: moto server on loopback ({endpoint}); POST /orders writes the order to DynamoDB")
    for line in notes:
        print(line)
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
        if health is not None:
            verdict = "meets" if health.median_ms < TARGET_MS else "MISSES"
            platform = timings[f"platform ({cloud}) import"]
            print(
                f"{cloud} first request (GET /health, median): {health.median_ms:.1f} ms -> {verdict} the target "
                f"(module loaded {timings[f'ours ({cloud}) module loaded'].median_ms:.1f} ms); of it, the "
                f"interpreter and 'import {PLATFORM_MODULES[cloud]}' (what the platform's process does before it "
                f"loads ours) take {platform.median_ms:.1f} ms{platform.cpu_text()}: ours above that "
                f"{health.median_ms - platform.median_ms:.1f} ms{health.cpu_text(minus=platform)}"
            )
        http_only = timings.get(f"ours ({cloud} HTTP-only app) GET /health")
        if health is not None and http_only is not None:
            verdict = "meets" if http_only.median_ms < TARGET_MS else "MISSES"
            print(
                f"{cloud} HTTP-only app (FOODDELIVERY_AZURE_FUNCTIONS=http) first request (GET /health, median): "
                f"{http_only.median_ms:.1f} ms -> {verdict} the target (module loaded "
                f"{timings[f'ours ({cloud} HTTP-only app) module loaded'].median_ms:.1f} ms); ours above the "
                f"platform's import {http_only.median_ms - platform.median_ms:.1f} ms"
                f"{http_only.cpu_text(minus=platform)}"
            )
    if reference_text is None:
        where = reference if reference is not None else "(no --reference given)"
        print(f"reference: not measured: the reference design's lab text is not at {where}")
    else:
        ref_mod = timings["reference module loaded"].median_ms
        ref_post = timings["reference POST /orders"].median_ms
        print(f"ratio ours/reference, module loaded (medians): {module / ref_mod:.3f}")
        print(f"ratio ours/reference, first POST /orders answered (medians): {post / ref_post:.3f}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 when the benchmark cannot run)."""
    parser = argparse.ArgumentParser(prog="python bench/cold_start.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="measured runs per command (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured runs first (default 3)")
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
