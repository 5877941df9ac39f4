"""What a cold start of the HTTP function imports: a guard on modules, not on time.

Each check runs in a fresh interpreter (a subprocess, as Lambda starts one) and lists the modules it loaded
(``sys.modules``): the Lambda handler's module must load without the AWS SDK, pydantic or the core's
application; ``GET /health`` is answered without the AWS SDK, pydantic, or the core's application and the AWS
adapters (built by the first request that needs them); the clients the package builds come from
botocore alone, without boto3's resource layer and s3transfer. ``bench/cold_start.py`` measures what these cost
(README, "Cold start"); this test only keeps them from coming back unnoticed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

#: The settings the AWS application reads (names only: nothing below calls AWS).
SETTINGS = {
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
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}

_HEALTH_EVENT = {
    "resource": "/{proxy+}",
    "path": "/health",
    "httpMethod": "GET",
    "headers": {"Host": "api.example.com"},
    "requestContext": {"stage": "prod", "requestId": "guard-1", "path": "/prod/health"},
    "body": None,
    "isBase64Encoded": False,
}


def loaded_after(code: str) -> set[str]:
    """The top-level and dotted names in ``sys.modules`` after a fresh interpreter ran ``code``."""
    program = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    # (PYTHONPATH is kept: the child imports the same code as this test session)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON")) or k == "PYTHONPATH"}
    env |= SETTINGS
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def offenders(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    """The packages of ``forbidden`` (or their submodules) found in ``modules``."""
    return sorted({f for f in forbidden if f in modules or any(m.startswith(f + ".") for m in modules)})


def test_loading_the_http_handler_imports_no_sdk_no_pydantic_and_not_the_application() -> None:
    modules = loaded_after("import fooddelivery_aws.entrypoints.http")
    assert "fooddelivery_aws.entrypoints.http" in modules
    forbidden = (
        "boto3",
        "botocore",
        "pydantic",
        "pydantic_core",
        "fooddelivery.application",
        "fooddelivery_aws.bootstrap",
    )
    assert offenders(modules, forbidden) == []


def test_the_first_get_health_imports_neither_the_sdk_nor_pydantic() -> None:
    modules = loaded_after(
        f"""
        from fooddelivery_aws.entrypoints.http import handler
        response = handler({_HEALTH_EVENT!r})
        assert response["statusCode"] == 200, response
        """
    )
    assert "fooddelivery_aws.bootstrap" in modules  # the application was built
    forbidden = (
        "boto3",
        "botocore",
        "s3transfer",
        "pydantic",
        "fooddelivery.http.models",
        "fooddelivery.http.openapi",
        # the core (stores, saga, runtime) is built by the first request that needs it, not by GET /health
        "fooddelivery.application",
        "fooddelivery.adapters.memory.orders",
        "fooddelivery_aws.dynamodb",
        "fooddelivery_aws.messaging",
        # the HTTP layer checks ids with fooddelivery.domain.ids; the catalog's entities load with the first listing
        "fooddelivery.domain.catalog",
        "fooddelivery.ports.restaurants",
    )
    assert offenders(modules, forbidden) == []
    assert "asyncio" not in modules  # the telemetry flush once imported it for async handlers: ~35 ms


@pytest.mark.parametrize(
    "build",
    [
        # the shared clients of the application (what every entrypoint uses)
        "from fooddelivery_aws.bootstrap import aws_app\naws_app().clients('dynamodb').meta",
        # a repository given no client builds its own
        "from fooddelivery_aws.dynamodb import DynamoDBOrderRepository\n"
        "DynamoDBOrderRepository('orders')._client.get().meta",
    ],
    ids=["application", "repository"],
)
def test_the_clients_the_package_builds_come_from_botocore_without_boto3(build: str) -> None:
    modules = loaded_after(build)
    assert "botocore.client" in modules  # a client was built
    assert offenders(modules, ("boto3", "s3transfer")) == []
