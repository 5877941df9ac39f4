"""Unit-level behaviour of the GCP package that needs no emulator: settings, document ids, Cloud Tasks requests
(there is no usable Cloud Tasks emulator, so the requests are checked as the client library serializes them, and
through the REST transport against the recording stand-in), the OIDC checks, the meter, the package's boundaries."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.application.messages import TimerInput, decode_body
from fooddelivery.domain.errors import NotAuthenticated, ValidationError
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery_gcp.firestore._support import doc_id
from fooddelivery_gcp.metering import FirestoreMeter
from fooddelivery_gcp.settings import GcpSettings, SagaMode
from fooddelivery_gcp.tasks import MAX_SCHEDULE_AHEAD, CloudTasksScheduler, OidcVerifier, build_task, task_id
from gcp_stack import OidcKeys, TasksStandIn

SRC = Path(__file__).resolve().parents[1] / "src" / "fooddelivery_gcp"
QUEUE = "projects/p/locations/us-central1/queues/saga-timers"
URL = "https://saga-timer.example.test/"
SA = "tasks@p.iam.gserviceaccount.com"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

BASE_ENV = {
    "GOOGLE_CLOUD_PROJECT": "p",
    "ORDER_EVENTS_TOPIC": "order-events",
    "RUNTIME_TOPIC": "runtime",
    "DEAD_LETTER_TOPIC": "dead-letters",
    "NOTIFICATIONS_TOPIC": "notifications",
    "LOCATIONS_TOPIC": "locations",
    "TASKS_QUEUE": QUEUE,
    "TIMER_URL": URL,
    "TASKS_SERVICE_ACCOUNT": SA,
}


# -- settings ---------------------------------------------------------------------------------------------------
def test_settings_read_every_variable_and_name_the_topics_fully() -> None:
    settings = GcpSettings.from_env(BASE_ENV)
    assert settings.saga_mode is SagaMode.PUBSUB
    assert settings.topic(settings.runtime_topic) == "projects/p/topics/runtime"


@pytest.mark.parametrize("missing", sorted(BASE_ENV))
def test_a_missing_setting_fails_naming_its_variable(missing: str) -> None:
    env = {k: v for k, v in BASE_ENV.items() if k != missing}
    with pytest.raises(ValidationError) as caught:
        GcpSettings.from_env(env)
    assert [f.field for f in caught.value.fields] == [missing]


def test_workflows_mode_needs_its_workflow_and_step_function() -> None:
    with pytest.raises(ValidationError) as caught:
        GcpSettings.from_env({**BASE_ENV, "FOODDELIVERY_SAGA_MODE": "workflows"})
    assert [f.field for f in caught.value.fields] == ["WORKFLOW"]
    with pytest.raises(ValidationError) as bad:
        GcpSettings.from_env({**BASE_ENV, "FOODDELIVERY_SAGA_MODE": "stepfunctions"})
    assert [f.field for f in bad.value.fields] == ["FOODDELIVERY_SAGA_MODE"]


def test_the_payment_gateway_must_be_named() -> None:
    from fooddelivery_gcp.bootstrap import build_gcp_app

    with pytest.raises(ValidationError) as caught:
        build_gcp_app(GcpSettings.from_env(BASE_ENV), environ=BASE_ENV)
    assert [f.field for f in caught.value.fields] == ["FOODDELIVERY_PAYMENT_GATEWAY"]


def test_the_app_reads_and_writes_an_order_with_its_saga_through_the_native_firestore_unit_of_work() -> None:
    from fooddelivery_gcp.bootstrap import build_gcp_app
    from fooddelivery_gcp.firestore.unit_of_work import FirestoreUnitOfWork

    env = {**BASE_ENV, "FOODDELIVERY_PAYMENT_GATEWAY": "fake"}
    app = build_gcp_app(GcpSettings.from_env(env), environ=env)
    unit = app.boot.adapters["unit_of_work"]
    assert isinstance(unit, FirestoreUnitOfWork) and unit.atomic
    assert unit.orders is app.orders and unit.sagas is app.boot.adapters["sagas"]
    assert unit.orders._lazy._client is None  # choosing it built no client (nothing connects before a request)


# -- document ids -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["ord-1", "drv-zoë 🛵", "a.b"])
def test_ids_firestore_accepts_are_kept(value: str) -> None:
    assert doc_id(value) == value


@pytest.mark.parametrize("value", ["a/b", ".", "..", "__x__", "~tilde", "tab\there"])
def test_ids_firestore_refuses_are_escaped_one_to_one(value: str) -> None:
    escaped = doc_id(value)
    assert escaped.startswith("~") and "/" not in escaped and escaped != doc_id(value + "x")


# -- Cloud Tasks ------------------------------------------------------------------------------------------------
def _timer(message_id: str = "ord-1:WaitForRestaurantConfirmation:timeout", due: datetime | None = None) -> Any:
    return ScheduledMessage(message_id, due or NOW + timedelta(minutes=5), "saga.timeout", {"sagaId": "ord-1"})


def test_a_timer_becomes_a_named_http_task_with_its_due_time_and_an_oidc_token() -> None:
    from google.cloud import tasks_v2

    message = _timer()
    task = tasks_v2.Task(build_task(QUEUE, message, url=URL, service_account=SA, now=NOW))
    assert task.name == f"{QUEUE}/tasks/{task_id(message.message_id)}"
    assert task.schedule_time == NOW + timedelta(minutes=5)
    assert task.http_request.http_method == tasks_v2.HttpMethod.POST
    assert (task.http_request.url, task.http_request.headers["Content-Type"]) == (URL, "application/json")
    assert (task.http_request.oidc_token.service_account_email, task.http_request.oidc_token.audience) == (SA, URL)
    decoded = decode_body(task.http_request.body)
    assert isinstance(decoded, TimerInput) and decoded.message == message


def test_task_names_are_stable_hashes_in_the_allowed_alphabet() -> None:
    name = task_id("ord-zoë/🍕:timeout")
    assert name == task_id("ord-zoë/🍕:timeout") and len(name) == 33
    assert all(c.isalnum() for c in name) and name != task_id("ord-zoë/🍕:retry")


def test_a_timer_beyond_thirty_days_is_scheduled_at_the_limit_and_keeps_its_due_time() -> None:
    from google.cloud import tasks_v2

    far = _timer(due=NOW + timedelta(days=200))
    task = tasks_v2.Task(build_task(QUEUE, far, url=URL, service_account=SA, now=NOW))
    assert task.schedule_time == NOW + MAX_SCHEDULE_AHEAD
    decoded = decode_body(task.http_request.body)
    assert isinstance(decoded, TimerInput) and decoded.message.due_at == NOW + timedelta(days=200)


@pytest.fixture
def stand_in() -> Any:
    tasks = TasksStandIn()
    try:
        yield tasks
    finally:
        tasks.stop()


def _scheduler(stand_in: TasksStandIn) -> CloudTasksScheduler:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import tasks_v2

    client = tasks_v2.CloudTasksClient(
        transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": stand_in.url}
    )
    return CloudTasksScheduler(QUEUE, URL, SA, VirtualClock(NOW), client=client)


def test_scheduling_the_same_timer_twice_creates_one_task_and_cancel_reports_what_it_removed(
    stand_in: TasksStandIn,
) -> None:
    scheduler = _scheduler(stand_in)
    scheduler.schedule(_timer())
    scheduler.schedule(_timer())  # ALREADY_EXISTS: a no-op
    assert len(stand_in.created) == 1
    (task,) = stand_in.created
    assert task["scheduleTime"] == "2026-12-06T12:05:00Z"
    assert task["httpRequest"]["oidcToken"] == {"serviceAccountEmail": SA, "audience": URL}
    assert scheduler.cancel(_timer().message_id) is True
    assert scheduler.cancel(_timer().message_id) is False
    assert scheduler.cancel("never-scheduled") is False


# -- OIDC -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> OidcKeys:
    return OidcKeys(tmp_path_factory.mktemp("oidc"))


def test_a_google_token_for_this_audience_and_account_is_accepted(keys: OidcKeys) -> None:
    claims = OidcVerifier(URL, [SA], jwks=keys.jwks).verify(f"Bearer {keys.token(URL, SA)}")
    assert claims["email"] == SA


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("no header", lambda k: None),
        ("another scheme", lambda k: f"Basic {k.token(URL, SA)}"),
        ("another audience", lambda k: f"Bearer {k.token('https://other.example/', SA)}"),
        ("another account", lambda k: f"Bearer {k.token(URL, 'mallory@p.iam.gserviceaccount.com')}"),
        ("another issuer", lambda k: f"Bearer {k.token(URL, SA, issuer='https://evil.example')}"),
        ("expired", lambda k: f"Bearer {k.token(URL, SA, ttl=-3600)}"),
        ("garbage", lambda k: "Bearer not.a.token"),
    ],
)
def test_anything_else_is_refused(keys: OidcKeys, case: str, make: Any) -> None:
    with pytest.raises(NotAuthenticated):
        OidcVerifier(URL, [SA], jwks=keys.jwks).verify(make(keys))


def test_a_token_signed_by_another_key_is_refused(keys: OidcKeys, tmp_path: Path) -> None:
    other = OidcKeys(tmp_path)
    other.kid = keys.kid  # same key id, different key: the signature must fail
    with pytest.raises(NotAuthenticated):
        OidcVerifier(URL, [SA], jwks=keys.jwks).verify(f"Bearer {other.token(URL, SA)}")


# -- the meter --------------------------------------------------------------------------------------------------
def test_the_meter_sums_operations_per_collection_and_in_total() -> None:
    meter = FirestoreMeter()
    meter.record("orders", reads=2, writes=1)
    meter.record("outbox", writes=3, deletes=3)
    assert meter.get("orders", "reads") == 2 and meter.get("outbox", "deletes") == 3
    assert dict(meter.totals()) == {"reads": 2, "writes": 4, "deletes": 3}
    with pytest.raises(ValueError):
        meter.record("orders", reads=-1)


# -- boundaries -------------------------------------------------------------------------------------------------
FORBIDDEN = ("fooddelivery_aws", "fooddelivery_azure", "boto3", "botocore", "azure", "aws_lambda_powertools")


def test_no_module_of_the_package_imports_another_clouds_sdk_or_package() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [(path.name, n) for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_every_module_loads_no_other_cloud_and_connects_nothing() -> None:
    modules = sorted(
        "fooddelivery_gcp." + ".".join(p.relative_to(SRC).with_suffix("").parts)
        for p in SRC.rglob("*.py")
        if p.name != "__init__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "lazy = sorted(m for m in ('google.cloud.firestore', 'google.cloud.pubsub_v1', 'google.cloud.tasks_v2') "
        "if m in sys.modules)\n"
        "print(bad, lazy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[] []", out


# -- the envelope under functions-framework's CloudEvents SDK -----------------------------------------------------
def test_events_round_trip_through_the_envelope_with_the_1x_cloudevents_sdk_functions_framework_requires() -> None:
    import cloudevents

    from fooddelivery.application.envelope import from_json, to_json
    from fooddelivery.domain.events import DomainEvent, EventType

    assert cloudevents.__version__.startswith("1.")  # functions-framework 3.x pins cloudevents <= 1.12
    event = DomainEvent(
        "evt-1", EventType.PAYMENT_CAPTURED, NOW, "ord-zoë", 3, {"amount": "21.97", "huge": 2**70, "note": "寿司 🍣"}
    )
    assert from_json(to_json(event)) == event


# -- the cold start: GET /health builds no core, a missing setting still fails the first request -------------------
#: Run in a fresh interpreter: load the module as functions-framework does, answer GET /health, list our modules.
HEALTH_PROBE = """
import json, sys
from fooddelivery_gcp.main import http_api
from flask import Request
from werkzeug.test import EnvironBuilder
from fooddelivery_gcp.bootstrap import gcp_app
health = http_api(Request(EnvironBuilder(path="/health", method="GET").get_environ()))
print(json.dumps({
    "health": [health.status_code, health.get_json()], "built": gcp_app().built,
    "loaded": sorted(m for m in sys.modules if m.startswith(("fooddelivery.", "fooddelivery_gcp."))),
}))
"""
#: What GET /health must not load: the core's composition, use cases, saga and runtime, and the Google Cloud
#: adapters (the application builds its core on the first request that needs it).
CORE_BUILD = (
    "fooddelivery.composition",
    "fooddelivery.application.services",
    "fooddelivery.application.order_saga",
    "fooddelivery.application.runtime",
    "fooddelivery_gcp.firestore",
    "fooddelivery_gcp.pubsub",
    "fooddelivery_gcp.tasks",
)


def _health(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FOODDELIVERY", "GOOGLE", "PUBSUB", "FIRESTORE"))}
    return subprocess.run(
        [sys.executable, "-c", HEALTH_PROBE], env=clean | env, capture_output=True, text=True, timeout=120, check=False
    )


def test_get_health_on_a_cold_instance_builds_no_core() -> None:
    done = _health({**BASE_ENV, "FOODDELIVERY_AUTH": "gateway", "FOODDELIVERY_PAYMENT_GATEWAY": "fake"})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["health"] == [200, {"status": "ok", "checks": {}}]
    assert result["built"] is False
    assert "fooddelivery_gcp.bootstrap" in result["loaded"]  # the application was made (settings, payments)
    assert [m for m in result["loaded"] if m.startswith(CORE_BUILD)] == []


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT: environment variable GOOGLE_CLOUD_PROJECT is not set"),
        (
            "FOODDELIVERY_PAYMENT_GATEWAY",
            "FOODDELIVERY_PAYMENT_GATEWAY: is not set: name the payment gateway to charge with ('<module>:<factory>'), "
            "or 'fake' for the test gateway (demos only: it never moves money)",
        ),
    ],
)
def test_a_missing_setting_still_fails_the_first_request_even_a_get_health_naming_it(
    variable: str, message: str
) -> None:
    # the core is built on first use, but the settings and the payment gateway are read when the application is:
    # by the first request, whatever it asks (GET /health needs no store, and still fails)
    env = {**BASE_ENV, "FOODDELIVERY_AUTH": "gateway", "FOODDELIVERY_PAYMENT_GATEWAY": "fake"}
    del env[variable]
    done = _health(env)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == f"fooddelivery.domain.errors.ValidationError: {message}"


def test_racing_first_uses_build_one_core_and_a_failed_build_answers_503_and_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # functions-framework answers requests on threads: the first uses of the core race; a build that raises (a
    # missing client library, say) is the deployment's fault: a 503 problem, nothing kept, the next use builds again
    import threading
    import time

    from fooddelivery.http import HttpRequest
    from fooddelivery_gcp import bootstrap

    real = bootstrap._build_core
    calls: list[int] = []

    def build(*args: Any, **kwargs: Any) -> Any:
        calls.append(threading.get_ident())
        time.sleep(0.05)  # long enough for every thread to reach the lock
        if len(calls) == 1:
            raise ImportError("No module named 'google.cloud.firestore'")
        return real(*args, **kwargs)

    monkeypatch.setattr(bootstrap, "_build_core", build)
    env = {**BASE_ENV, "FOODDELIVERY_AUTH": "gateway", "FOODDELIVERY_PAYMENT_GATEWAY": "fake"}
    app = bootstrap.build_gcp_app(GcpSettings.from_env(env), firestore=object(), publisher=object(), environ=env)
    claims = {"sub": "c-1", "fooddelivery_role": "customer"}
    failed = app.http_api().handle(HttpRequest.build("GET", "/orders/ord-1", claims=claims))
    assert failed.status == 503
    assert json.loads(failed.body)["code"] == "infrastructure_error"
    assert (len(calls), app.built) == (1, False)

    seen: list[Any] = []
    barrier = threading.Barrier(8)

    def first_use() -> None:
        barrier.wait()
        seen.append(app.boot)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 2 and app.built
    assert len(seen) == 8 and all(boot is seen[0] for boot in seen)
    assert app.orders is app.boot.adapters["orders"]


@pytest.mark.parametrize("function", ["saga_timer", "outbox_sweep"])
def test_a_failed_core_build_answers_the_timer_and_the_sweep_503_with_a_problem_body(
    function: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the timer and the sweep build the core on their first use (as the HTTP API does, which answers 503): a build
    # that raises must not escape as Flask's HTML 500; nothing is kept and the next call builds again
    from flask import Flask
    from flask import request as flask_request

    from fooddelivery_gcp import bootstrap, entrypoints

    calls: list[str] = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append("build")
        raise ImportError("No module named 'google.cloud.tasks_v2'")

    monkeypatch.setattr(bootstrap, "_build_core", broken)
    sweep_url = "https://outbox-sweep.example.test/"
    env = {
        **BASE_ENV,
        "FOODDELIVERY_AUTH": "gateway",
        "FOODDELIVERY_PAYMENT_GATEWAY": "fake",
        "SWEEP_URL": sweep_url,
        "SCHEDULER_SERVICE_ACCOUNT": SA,
    }
    app = bootstrap.build_gcp_app(GcpSettings.from_env(env), environ=env)
    keys = OidcKeys(tmp_path)
    audience = URL if function == "saga_timer" else sweep_url
    app.install_verifier(audience, OidcVerifier(audience, (SA,), jwks=keys.jwks), SA)
    handler = entrypoints.handle_timer if function == "saga_timer" else entrypoints.handle_sweep
    flask = Flask("probe")
    flask.add_url_rule("/", "f", lambda: handler(flask_request, app), methods=["POST"])
    from fooddelivery.application.messages import timer_body

    body = timer_body(_timer()).encode() if function == "saga_timer" else b""
    for attempt in (1, 2):
        answer = flask.test_client().post(
            "/", data=body, headers={"Authorization": f"Bearer {keys.token(audience, SA)}"}
        )
        assert (answer.status_code, answer.content_type) == (503, "application/problem+json")
        assert answer.get_json()["status"] == 503
        assert (len(calls), app.built) == (attempt, False)


# -- pydantic's plugin discovery on the first request --------------------------------------------------------------
PLUGIN_PROBE = """
import importlib.metadata, os
calls = []
real = importlib.metadata.entry_points
importlib.metadata.entry_points = lambda **kw: (calls.append(kw.get("group")), real(**kw))[1]
import fooddelivery_gcp.main  # what functions-framework loads
from fooddelivery.http.models import PlaceOrderIn
try:
    PlaceOrderIn.model_validate({})  # the first model built: pydantic looks for plugins here unless told not to
except Exception:
    pass
print(repr(os.environ.get("PYDANTIC_DISABLE_PLUGINS")), calls.count("pydantic"))
"""


@pytest.mark.parametrize(("preset", "expected"), [(None, "'__all__' 0"), ("", "'' 1")])
def test_the_functions_turn_off_pydantic_plugin_discovery_unless_the_settings_turn_it_on(
    preset: str | None, expected: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if preset is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = preset
    done = subprocess.run([sys.executable, "-c", PLUGIN_PROBE], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
