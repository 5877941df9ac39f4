"""Settings read in one place, the AWS composition root, and the Lambda lifecycle: nothing at import, everything
built on the first invocation, reused by warm ones."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_stack import Stack
from gateway import CUSTOMER, REFERENCE_PAYLOAD, rest_event, seed

from fooddelivery.adapters.memory import FakePaymentGateway
from fooddelivery.application.fanout import FanOutPublisher
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.events import EventType
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery.testing.builders import make_event
from fooddelivery_aws.bootstrap import AwsApp, aws_app, build_aws_app, reset_aws_app
from fooddelivery_aws.dynamodb import (
    DynamoDBDriverRepository,
    DynamoDBOrderRepository,
    DynamoDBRestaurantRepository,
    DynamoDBSagaStateStore,
)
from fooddelivery_aws.dynamodb.unit_of_work import DynamoDBUnitOfWork
from fooddelivery_aws.entrypoints import http, kinesis, sqs, stream
from fooddelivery_aws.messaging import (
    EventBridgePublisher,
    KinesisLocationStream,
    SnsNotifier,
    SqsFifoEventPublisher,
    SqsScheduler,
)
from fooddelivery_aws.sagas import StepFunctionsEngine
from fooddelivery_aws.settings import AwsSettings, SagaMode
from fooddelivery_aws.stepfunctions import task_handler

ENV = {
    "ORDERS_TABLE": "orders",
    "RESTAURANTS_TABLE": "restaurants",
    "DRIVERS_TABLE": "drivers",
    "SAGAS_TABLE": "sagas",
    "EVENT_BUS_NAME": "bus",
    "SAGA_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/saga.fifo",
    "TIMER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/timers",
    "NOTIFICATIONS_TOPIC_ARN": "arn:aws:sns:us-east-1:1:notifications",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:1:alerts",
    "LOCATION_STREAM_NAME": "locations",
}
REQUIRED = [k for k in ENV if k != "TIMER_QUEUE_URL"]


@pytest.fixture(autouse=True)
def fresh_app() -> Iterator[None]:
    reset_aws_app()
    yield
    reset_aws_app()


def test_every_setting_is_read_from_its_variable() -> None:
    settings = AwsSettings.from_env(
        {
            **ENV,
            "OUTBOX_TABLE": "outbox",
            "PAYMENT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:pay",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "AWS_REGION": "eu-west-1",
            "FOODDELIVERY_CONFIRMATION_TIMEOUT_S": "120",
        }
    )
    assert settings.orders_table == "orders"
    assert settings.saga_queue_url.endswith("saga.fifo")
    assert settings.outbox_table == "outbox"
    assert settings.payment_secret_arn is not None
    assert settings.saga_mode is SagaMode.QUEUE
    assert (settings.endpoint_url, settings.region_name) == ("http://127.0.0.1:5000", "eu-west-1")
    assert settings.core.confirmation_timeout_s == 120


@pytest.mark.parametrize("variable", REQUIRED)
def test_a_missing_required_variable_fails_naming_it(variable: str) -> None:
    env = {k: v for k, v in ENV.items() if k != variable}
    with pytest.raises(ValidationError) as caught:
        AwsSettings.from_env(env)
    assert variable in str(caught.value)
    assert [f.field for f in caught.value.fields] == [variable]


def test_an_empty_variable_counts_as_missing() -> None:
    with pytest.raises(ValidationError, match="ORDERS_TABLE"):
        AwsSettings.from_env({**ENV, "ORDERS_TABLE": "  "})


def test_queue_mode_needs_the_timer_queue() -> None:
    env = {k: v for k, v in ENV.items() if k != "TIMER_QUEUE_URL"}
    with pytest.raises(ValidationError, match="TIMER_QUEUE_URL"):
        AwsSettings.from_env(env)


def test_stepfunctions_mode_needs_the_state_machine_and_not_the_timer_queue() -> None:
    env = {k: v for k, v in ENV.items() if k != "TIMER_QUEUE_URL"}
    with pytest.raises(ValidationError, match="STATE_MACHINE_ARN"):
        AwsSettings.from_env({**env, "FOODDELIVERY_SAGA_MODE": "stepfunctions"})
    settings = AwsSettings.from_env(
        {**env, "FOODDELIVERY_SAGA_MODE": "StepFunctions", "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:sm:x"}
    )
    assert settings.saga_mode is SagaMode.STEPFUNCTIONS


def test_an_unknown_saga_mode_is_refused() -> None:
    with pytest.raises(ValidationError, match="FOODDELIVERY_SAGA_MODE"):
        AwsSettings.from_env({**ENV, "FOODDELIVERY_SAGA_MODE": "cron"})


def test_an_invalid_core_setting_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match="FOODDELIVERY_DRIVER_RADIUS_KM"):
        AwsSettings.from_env({**ENV, "FOODDELIVERY_DRIVER_RADIUS_KM": "far"})


def test_importing_the_entrypoints_reads_no_setting_and_loads_no_aws_sdk() -> None:
    code = (
        "import sys\n"
        "import fooddelivery_aws.entrypoints.http, fooddelivery_aws.entrypoints.sqs\n"
        "import fooddelivery_aws.entrypoints.stream, fooddelivery_aws.entrypoints.kinesis\n"
        "import fooddelivery_aws.stepfunctions.task_handler\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in {'boto3', 'botocore', 'pydantic'})\n"
        "print(loaded)\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_first_invocation_builds_the_app_from_the_environment_and_warm_ones_reuse_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack.environ().items():
        monkeypatch.setenv(name, value)

    first = http.handler({"version": "2.0", "rawPath": "/health", "requestContext": {"http": {"method": "GET"}}})
    app = aws_app()
    second = http.handler({"version": "2.0", "rawPath": "/health", "requestContext": {"http": {"method": "GET"}}})

    assert first["statusCode"] == second["statusCode"] == 200
    assert aws_app() is app
    assert app.http_api("") is app.http_api("")
    assert app.clients("dynamodb") is app.clients("dynamodb")
    assert sqs.handler({"Records": []}) == {"batchItemFailures": []}
    assert stream.handler({"Records": []}) == {"batchItemFailures": []}
    assert kinesis.handler({"Records": []}) == {"batchItemFailures": []}
    assert aws_app() is app


def test_a_missing_variable_fails_the_first_invocation_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV, "OUTBOX_TABLE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="ORDERS_TABLE"):
        sqs.handler({"Records": []})


def test_queue_mode_wires_the_aws_adapters_and_leaves_publishing_to_the_stream(stack: Stack) -> None:
    app = build_aws_app(environ=stack.environ())
    adapters = app.boot.adapters
    assert isinstance(adapters["orders"], DynamoDBOrderRepository)
    assert isinstance(adapters["sagas"], DynamoDBSagaStateStore)
    # the two stores share the client: a saga step is one TransactWriteItems (the native unit of work)
    unit = adapters["unit_of_work"]
    assert isinstance(unit, DynamoDBUnitOfWork) and unit.atomic is True
    assert unit.orders is adapters["orders"] and unit.sagas is adapters["sagas"]
    publisher = adapters["publisher"]
    assert isinstance(publisher, FanOutPublisher)
    assert isinstance(publisher.bus, EventBridgePublisher)
    assert isinstance(publisher.runtime_queue, SqsFifoEventPublisher)
    assert publisher.runtime_queue.queue_url == stack.saga_queue_url
    assert app.relay.publisher is publisher
    assert isinstance(adapters["scheduler"], SqsScheduler)
    assert isinstance(adapters["notifier"], SnsNotifier)
    assert isinstance(adapters["location"], KinesisLocationStream)
    assert isinstance(adapters["payments"], FakePaymentGateway)
    assert app.runtime is app.boot.service.runtime and app.runtime.runner is app.boot.runner
    assert app.timers is adapters["scheduler"]
    assert app.boot.service.relay.publish_after_commit is False  # the table's stream publishes
    assert app.boot.service.relay.consumer is None
    assert app.boot.service.relay.publish_own() == 0  # nothing published in-process


def test_a_payment_gateway_factory_gets_the_cached_payment_key(stack: Stack) -> None:
    arn = stack.clients["secretsmanager"].create_secret(Name="pay", SecretString="sk_live_x")["ARN"]
    seen: list[str] = []

    def factory(secret: object) -> FakePaymentGateway:
        assert secret is not None
        seen.append(secret.value())  # type: ignore[attr-defined]
        return FakePaymentGateway()

    sys.modules[__name__].payment_factory = factory  # type: ignore[attr-defined]
    env = stack.environ(PAYMENT_SECRET_ARN=arn, FOODDELIVERY_PAYMENT_GATEWAY=f"{__name__}:payment_factory")
    app = build_aws_app(environ=env)
    assert seen == []  # made with the core, by the first invocation that needs it
    assert app.payment_secret is not None and app.payment_secret.fetches == 0
    assert app.boot.adapters["payments"] is app.boot.adapters["payments"]
    assert seen == ["sk_live_x"]
    assert app.payment_secret.fetches == 1


def test_a_payment_gateway_factory_that_cannot_be_imported_fails_naming_it(stack: Stack) -> None:
    with pytest.raises(ValidationError, match="FOODDELIVERY_PAYMENT_GATEWAY"):
        build_aws_app(environ=stack.environ(FOODDELIVERY_PAYMENT_GATEWAY="no.such.module:factory"))


def test_a_deployment_with_no_payment_gateway_fails_at_start_naming_the_setting(stack: Stack) -> None:
    env = {k: v for k, v in stack.environ().items() if k != "FOODDELIVERY_PAYMENT_GATEWAY"}
    with pytest.raises(ValidationError) as caught:
        build_aws_app(environ=env)
    assert [f.field for f in caught.value.fields] == ["FOODDELIVERY_PAYMENT_GATEWAY"]


def test_the_step_functions_task_handler_builds_on_this_composition_root(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack.environ().items():
        monkeypatch.setenv(name, value)
    handler = task_handler.StepFunctionsTaskHandler()
    assert isinstance(handler.app.adapters["sagas"], DynamoDBSagaStateStore)


def test_stepfunctions_mode_starts_one_execution_per_order_however_often_it_is_placed(stack: Stack) -> None:
    sfn = stack.clients["stepfunctions"]
    role = stack.clients["iam"].create_role(
        RoleName="sfn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]
    machine = sfn.create_state_machine(
        name="order-saga",
        definition=json.dumps({"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 60, "End": True}}}),
        roleArn=role,
    )["stateMachineArn"]
    env = {k: v for k, v in stack.environ().items() if k != "TIMER_QUEUE_URL"}
    app: AwsApp = build_aws_app(
        environ={**env, "FOODDELIVERY_SAGA_MODE": "stepfunctions", "STATE_MACHINE_ARN": machine}
    )
    assert app.runtime.runner is None  # the state machine keeps its own time: no timers, no resume commands
    assert isinstance(app.boot.service.engine, StepFunctionsEngine)  # the use cases start and signal through it
    assert app.boot.service.engine.status("ord-sfn-1") is None

    placed = make_event(type=EventType.ORDER_PLACED, order_id="ord-sfn-1")
    app.runtime.on_event(placed)
    app.runtime.on_event(placed)  # a redelivery

    (execution,) = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert execution["name"] == "ord-sfn-1"
    assert execution["executionArn"] == app.boot.service.engine.execution_arn("ord-sfn-1")  # type: ignore[attr-defined]
    assert app.boot.service.engine.status("ord-sfn-1") is SagaStatus.RUNNING
    assert json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"]) == {
        "sagaId": "ord-sfn-1",
        "orderId": "ord-sfn-1",
    }


def test_the_package_imports_neither_another_cloud_nor_an_sdk_at_module_level() -> None:
    source = Path(__file__).resolve().parents[2] / "src" / "fooddelivery_aws"
    for path in source.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only: SDK imports belong inside functions or TYPE_CHECKING
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in {"boto3", "botocore", "azure", "google", "fooddelivery_azure", "fooddelivery_gcp"}, (
                    f"{path.name} imports {name} at module level"
                )


def _post_order(app: AwsApp) -> dict[str, Any]:
    return http.ApiGatewayAdapter(app.http_api).handle(
        rest_event("POST", "/orders", body=REFERENCE_PAYLOAD, claims=CUSTOMER)
    )


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(lambda secret: object(), id="the factory returns no gateway (a setting error)"),
        pytest.param(lambda secret: secret.value(), id="Secrets Manager cannot give the key"),  # type: ignore[attr-defined]
        pytest.param(lambda secret: {}["STRIPE_ACCOUNT"], id="the factory fails untyped"),
    ],
)
def test_a_core_that_cannot_be_built_answers_the_http_client_503_and_the_next_request_builds_it(
    stack: Stack, failure: object
) -> None:
    # Before the core was built lazily, these failed the cold start (the function errored: API Gateway 502, the
    # cause in the log). Now the first request that needs the core meets them: it is the deployment's fault, not the
    # client's, and passes: a 503 problem (retry later), never a 422 naming a setting nor a 500.
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret"
    calls: list[int] = []

    def factory(secret: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            return failure(secret)  # type: ignore[operator]
        return FakePaymentGateway()

    sys.modules[__name__].failing_payment_factory = factory  # type: ignore[attr-defined]
    env = stack.environ(PAYMENT_SECRET_ARN=arn, FOODDELIVERY_PAYMENT_GATEWAY=f"{__name__}:failing_payment_factory")
    app = build_aws_app(environ=env)
    ddb = stack.clients["dynamodb"]
    seed(
        DynamoDBRestaurantRepository(stack.tables["restaurants"], client=ddb),
        DynamoDBDriverRepository(stack.tables["drivers"], client=ddb),
    )

    first = _post_order(app)
    body = json.loads(first["body"])
    assert first["statusCode"] == 503, body
    assert first["headers"]["Content-Type"] == "application/problem+json"
    assert first["headers"]["Retry-After"] == "1"
    assert body["status"] == 503 and body["code"] == "infrastructure_error"
    assert "PAYMENT" not in first["body"] and "STRIPE" not in first["body"]
    assert app.built is False  # nothing half-built kept

    # the next request builds the core (the factory works now): the order is validated and placed as usual
    second = _post_order(app)
    assert second["statusCode"] == 201, second["body"]
    assert app.built is True
    assert len(calls) == 2
