"""Helpers for the Step Functions tests: a small seeded core, an in-process moto server whose Lambda runs our
task handler, and readers of execution histories.

Why an in-process moto server as well as the session's moto subprocess: moto executes ASL for real, but its
Lambda without Docker ("lambda-simple") only ever *succeeds* (it answers the queued results, or echoes the
input), so a Lambda task can never fail there and Retry/Catch on a Lambda error cannot be reached. The stand-in
below plays the Lambda runtime's part inside the moto server (same process, same moto code): it runs a
registered Python handler and, when the handler raises, answers as Lambda does -- header
``X-Amz-Function-Error: Unhandled`` and body ``{"errorType": <exception class name>, "errorMessage": ...}``
(https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html) -- which moto's ASL interpreter turns into
the error name that Retry/Catch match. Everything else (the state machine, retries, catches, parallel branches,
the callback task and its timeout) is moto's own implementation.
"""

from __future__ import annotations

import io
import json
import os
import socket
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any
from unittest.mock import patch

from fooddelivery.adapters.memory import SequentialIdGenerator
from fooddelivery.adapters.system import SystemClock
from fooddelivery.application import PlaceOrder
from fooddelivery.application.saga.definition import Compensate, Parallel, Retry, SagaDefinition, State, Task
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.domain import (
    Actor,
    DeliveryAddress,
    Driver,
    DriverStatus,
    GeoPoint,
    LineRequest,
    MenuItem,
    Money,
    Restaurant,
)

REGION = "us-east-1"
PARIS = GeoPoint(48.8566, 2.3522)
NEAR_PARIS = GeoPoint(48.8611, 2.3522)  # 0.5 km north
HOME = GeoPoint(48.8296, 2.3522)  # 3 km south


# -- the core -----------------------------------------------------------------------------------------------------
def seeded_app(**overrides: Any) -> Bootstrapped:
    """The core with in-memory adapters (``overrides`` go to ``bootstrap``), one restaurant (``rest-1``, EUR)
    and two available drivers nearby (``drv-near`` 0.5 km, ``drv-far`` 2.5 km).

    The in-process saga runner is unplugged from the outbox relay: on Step Functions the state machine runs the
    saga, so placing an order only commits it and its ``OrderPlaced`` event.
    """
    app = bootstrap(Settings(), clock=SystemClock(), ids=SequentialIdGenerator(), **overrides)
    app.service.relay.consumer = None
    app.restaurants.add(
        Restaurant(
            restaurant_id="rest-1",
            name="Trattoria",
            cuisine="pizza",
            rating=Decimal("4.5"),
            location=PARIS,
            currency="EUR",
            tax_rate=Decimal("0.10"),
            avg_prep_minutes=15,
            menu=(MenuItem("margherita", "Pizza Margherita", Money.of("9.50", "EUR")),),
        )
    )
    for driver_id, point in (("drv-near", NEAR_PARIS), ("drv-far", GeoPoint(48.8791, 2.3522))):
        app.drivers.add(Driver(driver_id, driver_id, DriverStatus.AVAILABLE, point, "scooter", SystemClock().now()))
    return app


def place(app: Bootstrapped, token: str = "tok_visa") -> str:
    """Place an order for two pizzas paid with card ``token``; returns its id."""
    command = PlaceOrder(
        restaurant_id="rest-1",
        lines=[LineRequest(2, item_id="margherita")],
        delivery_address=DeliveryAddress("1 rue de Rivoli, Paris", HOME),
        payment_method=token,
    )
    return str(app.service.place_order(Actor.customer("cust-ana"), command).order.order_id)


def with_retry_intervals(definition: SagaDefinition, seconds: float) -> SagaDefinition:
    """The same saga with every retry interval set to ``seconds`` (the tests cannot wait 5 s + 10 s + 20 s)."""

    def quick(policies: tuple[Retry, ...]) -> tuple[Retry, ...]:
        return tuple(replace(p, interval_seconds=seconds) for p in policies)

    def state(s: State) -> State:
        if isinstance(s, Task):
            return replace(s, retry=quick(s.retry))
        if isinstance(s, Parallel):
            return replace(s, branches=tuple(replace(b, retry=quick(b.retry)) for b in s.branches))
        if isinstance(s, Compensate):
            return replace(s, retry=quick(s.retry))
        return s

    return replace(definition, states={name: state(s) for name, s in definition.states.items()})


# -- moto -----------------------------------------------------------------------------------------------------------
def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post_json(url: str, body: Mapping[str, Any]) -> None:
    """POST ``body`` as JSON to ``url`` (moto's control API)."""
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(req, timeout=10).close()


def enable_execution(endpoint: str) -> None:
    """Step Functions executes ASL, Lambda runs without Docker (must precede CreateStateMachine)."""
    post_json(
        endpoint + "/moto-api/config",
        {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}},
    )


def queue_lambda_results(endpoint: str, results: Iterable[Any]) -> None:
    """Queue what moto's simple Lambda answers next, one result per invocation, in order."""
    post_json(
        endpoint + "/moto-api/static/lambda-simple/response",
        {"results": [json.dumps(r) for r in results], "region": REGION},
    )


def clients(endpoint: str) -> dict[str, Any]:
    """boto3 clients (iam, lambda, stepfunctions) for the moto server at ``endpoint``."""
    import boto3

    return {
        name: boto3.client(name, endpoint_url=endpoint, region_name=REGION)
        for name in ("iam", "lambda", "stepfunctions")
    }


def create_task_function(endpoint: str, name: str = "fooddelivery-saga-task") -> tuple[str, str]:
    """Create the task Lambda function (placeholder code: moto never runs it) and a role.

    Returns:
        (function ARN, role ARN).
    """
    c = clients(endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = c["iam"].create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return {}\n")
    fn = c["lambda"].create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="index.handler", Code={"ZipFile": code.getvalue()}
    )["FunctionArn"]
    return str(fn), str(role)


class LambdaStandIn:
    """Runs registered Python handlers for moto's simple Lambda backend, answering errors as Lambda does."""

    def __init__(self) -> None:
        self.functions: dict[str, Callable[[Any, Any], Any]] = {}

    @staticmethod
    def _function_name(name_or_arn: str) -> str:
        return name_or_arn.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]

    def invoke(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """A replacement for ``LambdaSimpleBackend.invoke`` that falls back to ``original`` for other functions."""
        stand_in = self

        def invoke(
            backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
        ) -> Any:
            handler = stand_in.functions.get(stand_in._function_name(function_name))
            if handler is None:
                return original(backend, function_name, qualifier, body, headers, response_headers)
            event = json.loads(body or b"{}")
            try:
                result = handler(event, None)
            except Exception as exc:
                response_headers["x-amz-function-error"] = "Unhandled"
                error = {"errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": "", "stackTrace": []}
                return json.dumps(error).encode()
            return json.dumps(result).encode()

        return invoke


@contextmanager
def inprocess_moto() -> Iterator[tuple[str, LambdaStandIn]]:
    """A moto server in this process (so the Lambda stand-in can run our handler), execution enabled.

    Yields:
        (endpoint URL, the Lambda stand-in to register handlers with).
    """
    import pytest
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    port = free_port()
    stand_in = LambdaStandIn()
    # The config this server's /moto-api/config sets is process-wide: restore it for other in-process moto users.
    with pytest.MonkeyPatch.context() as mp, patch.dict(default_user_config):
        # moto's Step Functions calls its Lambda through http://localhost:$MOTO_PORT.
        mp.setitem(os.environ, "MOTO_PORT", str(port))
        mp.setattr(LambdaSimpleBackend, "invoke", stand_in.invoke(LambdaSimpleBackend.invoke))
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
        try:
            enable_execution(endpoint)
            yield endpoint, stand_in
        finally:
            server.stop()


# -- executions -----------------------------------------------------------------------------------------------------
def wait_for_end(sfn: Any, execution_arn: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll DescribeExecution until the execution leaves RUNNING; returns the description."""
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{execution_arn} still RUNNING after {timeout} s; visited {visited(sfn, execution_arn)}"
            )
        time.sleep(0.05)


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every history event of the execution, oldest first."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return sorted(events, key=lambda e: e["id"])
        kwargs["nextToken"] = page["nextToken"]


def visited(sfn: Any, execution_arn: str) -> list[str]:
    """Names of the states entered, in order (each entry is one billed state transition)."""
    return [
        e["stateEnteredEventDetails"]["name"] for e in history(sfn, execution_arn) if e["type"].endswith("StateEntered")
    ]


def assert_path(actual: Sequence[str], expected: Sequence[str | frozenset[str]]) -> None:
    """``actual`` follows ``expected``, where a frozenset stands for parallel branches entered in any order."""
    flat: list[str] = []
    i = 0
    for step in expected:
        if isinstance(step, frozenset):
            chunk = list(actual[i : i + len(step)])
            assert set(chunk) == step, f"expected branches {sorted(step)} at {i}, got {chunk}; path {list(actual)}"
            flat += chunk
            i += len(step)
        else:
            flat.append(step)
            i += 1
    assert list(actual) == flat, f"path {list(actual)} != expected {flat}"


def task_failures(sfn: Any, execution_arn: str) -> list[str]:
    """Error names of the failed Lambda invocations, in order."""
    return [
        e["lambdaFunctionFailedEventDetails"]["error"]
        for e in history(sfn, execution_arn)
        if e["type"] == "LambdaFunctionFailed"
    ]


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
