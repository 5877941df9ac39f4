"""Driver positions on Amazon Kinesis Data Streams.

Each ``DeliveryLocationUpdated`` event is one record: ``Data`` = the event's CloudEvents structured JSON (the same
envelope as on the bus), ``PartitionKey`` = the driver id, so one driver's positions land on one shard, in order.

Limits (Amazon Kinesis Data Streams API reference, PutRecord,
https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecord.html): the data blob plus the partition key
at most 1 MiB; a partition key of 1 to 256 Unicode characters. Throughput per shard is 1 MiB/s or 1,000 records/s
for writes; beyond that ``ProvisionedThroughputExceededException`` (retried by botocore's standard mode, then raised
as a retryable ``InfrastructureError``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from fooddelivery.application.envelope import to_json
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery_aws._clients import LazyClient, reraise

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

__all__ = ["MAX_PARTITION_KEY_CHARS", "MAX_RECORD_BYTES", "KinesisLocationStream"]

#: Largest record: data blob plus partition key (1 MiB).
MAX_RECORD_BYTES: Final[int] = 1024 * 1024
#: Longest partition key, in Unicode characters.
MAX_PARTITION_KEY_CHARS: Final[int] = 256


class KinesisLocationStream:
    """Appends location events to a Kinesis stream (implements ``LocationStream``).

    Args:
        stream_name: the stream.
        client: a boto3 Kinesis client; built lazily when None.
        region_name, endpoint_url: of a lazily built client.
    """

    def __init__(
        self,
        stream_name: str,
        *,
        client: KinesisClient | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.stream_name = stream_name
        self._client: LazyClient[KinesisClient] = LazyClient(
            "kinesis", client, region_name=region_name, endpoint_url=endpoint_url
        )

    def append(self, event: DomainEvent, partition_key: str) -> None:
        """``PutRecord`` of ``event`` on the shard of ``partition_key`` (the driver id).

        Raises:
            ValidationError: not a ``DeliveryLocationUpdated`` event, an empty or over-long partition key, or a
                record over 1 MiB.
            InfrastructureError: Kinesis refused the record.
        """
        if event.type is not EventType.DELIVERY_LOCATION_UPDATED:
            raise ValidationError.single("type", f"the location stream takes location events, not {event.type}")
        if not 1 <= len(partition_key) <= MAX_PARTITION_KEY_CHARS:
            raise ValidationError.single("partitionKey", f"must be 1..{MAX_PARTITION_KEY_CHARS} characters")
        data = to_json(event)
        if len(data) + len(partition_key.encode("utf-8")) > MAX_RECORD_BYTES:
            raise ValidationError.single("event", f"a record is at most {MAX_RECORD_BYTES} bytes", "too_large")
        try:
            self._client.get().put_record(StreamName=self.stream_name, Data=data, PartitionKey=partition_key)
        except Exception as exc:
            reraise(exc, "kinesis", "PutRecord", event_id=event.event_id, partition_key=partition_key)
