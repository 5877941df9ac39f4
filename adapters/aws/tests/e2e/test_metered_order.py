"""Metering wired in the deployment: an application built with a meter records, through its clients and its
wrapped Lambda handlers, what one placed order bills -- checked against units computed by hand from AWS's rules
(``fooddelivery.metering.units``) for the calls the placement makes.

The order is the reference payload with an ``Idempotency-Key``, placed through the HTTP function (a REST API
event), then its ``OrderPlaced`` record relayed by the stream function.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from aws_stack import Stack
from deployment import Deployment
from gateway import CUSTOMER, REFERENCE_PAYLOAD, rest_event

from fooddelivery.metering import AWS, UsageMeter
from fooddelivery.metering.units import LAMBDA_PLATFORM_LOG_BYTES
from fooddelivery_aws import metering
from fooddelivery_aws.entrypoints import stream


@pytest.fixture
def metered(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Deployment, UsageMeter]]:
    meter = UsageMeter()
    deployment = Deployment(stack, monkeypatch, meter=meter)
    try:
        yield deployment, meter
    finally:
        deployment.close()


def _units(meter: UsageMeter) -> dict[str, object]:
    return {name: tally.quantity for name, tally in meter.usage().items() if name != AWS.LAMBDA_GB_SECONDS}


def test_one_placed_order_records_the_units_computed_by_hand(metered: tuple[Deployment, UsageMeter]) -> None:
    deployment, meter = metered
    assert metering.process_meter() is meter  # the bootstrap set it: the wrapped handlers record on it
    meter.reset()  # the catalog seeded by the test is not the order's

    answer = deployment.http(
        rest_event("POST", "/orders", body=REFERENCE_PAYLOAD, claims=CUSTOMER, headers={"Idempotency-Key": "m-1"})
    )
    assert answer["statusCode"] == 201

    stored = deployment.order_items()
    sizes = sorted(metering.dynamodb_item_size(item) for item in stored)
    assert len(stored) == 3 and max(sizes) < 1024  # order, OrderPlaced outbox record, idempotency binding
    assert _units(meter) == {
        AWS.LAMBDA_REQUESTS: 1,
        AWS.APIGW_REST_REQUESTS: 1,
        # GetItem (strongly consistent) of the idempotency binding (absent: the 1-unit minimum) and of the restaurant
        # (< 4 KB); the answer is the order the placement committed, from the call's scope (not read back)
        AWS.DYNAMODB_READ_UNITS: Decimal(2),
        # one TransactWriteItems of three items under 1 KB: 3 x 1 unit, doubled in a transaction
        AWS.DYNAMODB_WRITE_UNITS: 6,
        # the platform's START/END/REPORT lines: the placement logs nothing at WARNING
        AWS.LOG_BYTES: LAMBDA_PLATFORM_LOG_BYTES,
    }
    gb_s = meter.quantity(AWS.LAMBDA_GB_SECONDS)
    # whole milliseconds at 128 MB: 0.000125 GB-s each
    assert isinstance(gb_s, Decimal) and gb_s > 0 and gb_s % Decimal("0.000125") == 0

    meter.reset()
    records = deployment.stack.stream_records()
    assert stream.handler({"Records": records}, None) == {"batchItemFailures": []}
    assert _units(meter) == {
        AWS.LAMBDA_REQUESTS: 1,  # no gateway request: a stream invocation
        AWS.EVENTBRIDGE_EVENTS: 1,  # OrderPlaced to the bus: one entry under 64 KB
        AWS.SQS_FIFO_REQUESTS: 1,  # and to the saga queue: one SendMessage under 64 KB
        AWS.DYNAMODB_WRITE_UNITS: 1,  # the outbox record deleted (BatchWriteItem: one delete)
        AWS.LOG_BYTES: LAMBDA_PLATFORM_LOG_BYTES,
    }


def test_an_application_built_without_a_meter_records_nothing(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = Deployment(stack, monkeypatch)
    try:
        assert deployment.app.meter is None and metering.process_meter() is None
        answer = deployment.http(rest_event("POST", "/orders", body=REFERENCE_PAYLOAD, claims=CUSTOMER))
        assert answer["statusCode"] == 201
        client = deployment.app.clients("dynamodb")  # built lazily by the placement
        assert client.meta.service_model.service_name == "dynamodb" and not metering.is_instrumented(client)
    finally:
        deployment.close()
