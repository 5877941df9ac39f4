"""A cold start of the HTTP function builds only what a request needs: a guard on modules, not on time.

A fresh interpreter (a subprocess, as Lambda starts one) with the stack's environment answers ``GET /health``
without building the core (no saga runtime, no use cases, no DynamoDB or messaging adapters imported), then answers
``POST /orders`` with the reference payload, which builds the core once and writes the order to DynamoDB (read back
here). ``bench/cold_start.py`` measures what this saves; this test keeps the laziness from going unnoticed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from aws_stack import Stack
from gateway import CUSTOMER, REFERENCE_PAYLOAD, rest_event, seed

from fooddelivery.domain import Money, OrderStatus
from fooddelivery_aws.dynamodb import DynamoDBDriverRepository, DynamoDBOrderRepository, DynamoDBRestaurantRepository

#: What answering ``GET /health`` must not import (the core's saga runtime and use cases, the order aggregate and its
#: port, the AWS adapters).
DEFERRED = (
    "fooddelivery.domain.order",
    "fooddelivery.ports.orders",
    "fooddelivery.application",
    "fooddelivery.application.saga.runner",
    "fooddelivery.application.runtime",
    "fooddelivery.application.services",
    "fooddelivery.application.messages",
    "fooddelivery.application.envelope",
    "fooddelivery.application.fanout",
    "fooddelivery_aws.dynamodb",
    "fooddelivery_aws.messaging",
    "fooddelivery_aws.relay",
    "fooddelivery_aws.sagas",
)

_PROGRAM = """
import json, sys
from fooddelivery_aws.bootstrap import aws_app
from fooddelivery_aws.entrypoints.http import handler

health = handler({health!r})
after_health = sorted(sys.modules)
built_after_health = aws_app().built
order = handler({order!r})
print(json.dumps({{
    "health": [health["statusCode"], json.loads(health["body"])],
    "after_health": after_health,
    "built_after_health": built_after_health,
    "order": [order["statusCode"], json.loads(order["body"])],
    "after_order": sorted(sys.modules),
    "same_app": aws_app() is aws_app() and aws_app().built,
}}))
"""


def _run(stack: Stack, program: str) -> dict[str, object]:
    # (PYTHONPATH is kept: the child imports the same code as this test session)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON")) or k == "PYTHONPATH"}
    env |= stack.environ(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_get_health_builds_nothing_of_the_core_and_the_next_post_orders_builds_it_and_writes_the_order(
    stack: Stack,
) -> None:
    ddb = stack.clients["dynamodb"]
    seed(
        DynamoDBRestaurantRepository(stack.tables["restaurants"], client=ddb),
        DynamoDBDriverRepository(stack.tables["drivers"], client=ddb),
    )
    program = textwrap.dedent(_PROGRAM).format(
        health=rest_event("GET", "/health"),
        order=rest_event("POST", "/orders", body=REFERENCE_PAYLOAD, claims=CUSTOMER),
    )
    result = _run(stack, program)

    assert result["health"] == [200, {"status": "ok", "checks": {}}]
    after_health = set(result["after_health"])  # type: ignore[call-overload]
    assert "fooddelivery_aws.bootstrap" in after_health  # the application (settings, clients) was made
    assert result["built_after_health"] is False
    assert sorted(m for m in DEFERRED if m in after_health) == []

    status, body = result["order"]  # type: ignore[misc]
    assert status == 201, body
    after_order = set(result["after_order"])  # type: ignore[call-overload]
    assert {"fooddelivery.application.saga.runner", "fooddelivery_aws.dynamodb"} <= after_order
    assert result["same_app"] is True
    stored = DynamoDBOrderRepository(stack.tables["orders"], client=ddb).get(body["orderId"])
    assert stored.customer_id == "user-1"
    assert stored.restaurant_id == "rest-1"
    assert body["pricing"]["total"] == "28.01"  # 21.97 + tax 1.95 + delivery 2.99 + service 1.10
    assert stored.pricing.total == Money.of("28.01", "USD")
    assert stored.status is OrderStatus.PENDING
