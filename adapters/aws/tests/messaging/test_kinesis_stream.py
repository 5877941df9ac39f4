"""KinesisLocationStream on moto's Kinesis: the core's LocationStream contract (read back per partition key) and
what the stream refuses."""

from __future__ import annotations

import base64

import pytest
from aws_stack import Stack

from fooddelivery.application.envelope import from_json
from fooddelivery.domain.errors import InfrastructureError, ValidationError
from fooddelivery.domain.events import DomainEvent
from fooddelivery.ports.location import LocationStream
from fooddelivery.testing.builders import make_event, make_location_event
from fooddelivery.testing.contracts.location_stream_contract import LocationStreamContract
from fooddelivery_aws.messaging.kinesis import KinesisLocationStream


class TestKinesisLocationStreamContract(LocationStreamContract):
    """The core's contract: a partition is read back as the stream's records with that partition key, in order."""

    @pytest.fixture
    def stream(self, stack: Stack) -> LocationStream:
        self._stack = stack
        return KinesisLocationStream(stack.stream_name, client=stack.clients["kinesis"])

    def appended(self, stream: LocationStream, partition_key: str) -> list[DomainEvent]:
        return [
            from_json(base64.b64decode(r["kinesis"]["data"]))
            for r in self._stack.kinesis_records()
            if r["kinesis"]["partitionKey"] == partition_key
        ]


def test_each_record_is_our_cloudevent_keyed_by_the_driver(stack: Stack) -> None:
    event = make_location_event("drv-7", order_id="ord-3")
    KinesisLocationStream(stack.stream_name, client=stack.clients["kinesis"]).append(event, "drv-7")
    (record,) = stack.kinesis_records()
    assert record["kinesis"]["partitionKey"] == "drv-7"
    assert from_json(base64.b64decode(record["kinesis"]["data"])) == event


@pytest.mark.parametrize(
    ("event", "key"),
    [
        (make_event(), "drv-1"),
        (make_location_event(), ""),
        (make_location_event(), "k" * 257),
    ],
    ids=["not a location event", "empty partition key", "partition key over 256 characters"],
)
def test_what_kinesis_cannot_take_is_refused(stack: Stack, event: DomainEvent, key: str) -> None:
    with pytest.raises(ValidationError):
        KinesisLocationStream(stack.stream_name, client=stack.clients["kinesis"]).append(event, key)
    assert stack.kinesis_records() == []


def test_a_missing_stream_is_an_infrastructure_error(stack: Stack) -> None:
    with pytest.raises(InfrastructureError) as caught:
        KinesisLocationStream("no-such-stream", client=stack.clients["kinesis"]).append(make_location_event(), "drv-1")
    assert caught.value.context["code"] == "ResourceNotFoundException"
