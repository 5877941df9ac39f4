"""The AWS resources of the deployment, created on the session's moto server for the messaging, entrypoint and
end-to-end tests, plus readers of what arrived where.

:func:`create_stack` builds what the SAM template declares, with the same shapes:

- the five tables from ``fooddelivery_aws.dynamodb.tables`` (the orders table with its stream);
- the saga FIFO queue, fed by the outbox relay (explicit deduplication ids, no content-based deduplication), with a
  FIFO dead-letter queue (``maxReceiveCount`` 10, as in the template);
- the event bus and its rule (``source: fooddelivery.orders``: every event) whose target is the standard analytics
  queue;
- the standard timer queue;
- the notifications and alerts topics, each with an SQS subscription (raw delivery) to read what was sent, and a
  restaurant-only subscription filtered on the ``kind`` attribute;
- the Kinesis location stream;

and :meth:`Stack.environ` the variables a Lambda function of the stack gets.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from fooddelivery_aws.dynamodb.tables import DRIVERS, ORDERS, OUTBOX, RESTAURANTS, SAGAS, create_table

REGION = "us-east-1"


def clients(endpoint: str) -> dict[str, Any]:
    """boto3 clients of every service the stack uses, on ``endpoint``."""
    config = Config(retries={"mode": "standard", "max_attempts": 2}, max_pool_connections=32)
    return {
        service: boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )
        for service in (
            "dynamodb",
            "dynamodbstreams",
            "events",
            "sqs",
            "sns",
            "kinesis",
            "secretsmanager",
            "stepfunctions",
            "iam",
        )
    }


@dataclass
class Stack:
    """Names and URLs of the created resources, and the clients to read them."""

    endpoint: str
    clients: dict[str, Any]
    tables: dict[str, str]
    bus_name: str
    rule_name: str
    saga_queue_url: str
    saga_dlq_url: str
    analytics_queue_url: str
    timer_queue_url: str
    notifications_topic_arn: str
    alerts_topic_arn: str
    notifications_queue_url: str
    restaurant_queue_url: str
    alerts_queue_url: str
    stream_name: str
    _stream_positions: dict[str, str] = field(default_factory=dict)

    def environ(self, **overrides: str) -> dict[str, str]:
        """The environment of a Lambda function of this stack (queue mode; the core's fake payment gateway)."""
        env = {
            "FOODDELIVERY_PAYMENT_GATEWAY": "fake",
            "ORDERS_TABLE": self.tables["orders"],
            "RESTAURANTS_TABLE": self.tables["restaurants"],
            "DRIVERS_TABLE": self.tables["drivers"],
            "SAGAS_TABLE": self.tables["sagas"],
            "EVENT_BUS_NAME": self.bus_name,
            "SAGA_QUEUE_URL": self.saga_queue_url,
            "TIMER_QUEUE_URL": self.timer_queue_url,
            "NOTIFICATIONS_TOPIC_ARN": self.notifications_topic_arn,
            "ALERTS_TOPIC_ARN": self.alerts_topic_arn,
            "LOCATION_STREAM_NAME": self.stream_name,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
        }
        env.update(overrides)
        return env

    # -- SQS ------------------------------------------------------------------------------------------------------
    def receive(
        self, queue_url: str, *, max_messages: int = 10, wait_s: int = 0, delete: bool = True
    ) -> list[dict[str, Any]]:
        """One ReceiveMessage (all attributes); deletes what it got unless ``delete=False``."""
        sqs = self.clients["sqs"]
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if delete:
            for m in messages:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        return list(messages)

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message visible now (received and deleted), in receive order."""
        out: list[dict[str, Any]] = []
        while True:
            batch = self.receive(queue_url)
            if not batch:
                return out
            out.extend(batch)

    def attributes(self, queue_url: str) -> dict[str, str]:
        """The queue's attributes (message counts...)."""
        return dict(self.clients["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"])

    # -- DynamoDB Streams ---------------------------------------------------------------------------------------------
    def stream_records(self, table: str = "orders") -> list[dict[str, Any]]:
        """The table's stream records written since the last call (from the start the first time), shaped as the
        ``Records`` of a Lambda DynamoDB Streams event."""
        ddb, streams = self.clients["dynamodb"], self.clients["dynamodbstreams"]
        name = self.tables[table]
        arn = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
        records: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            key = f"{name}/{shard['ShardId']}"
            iterator = (
                self._stream_positions.get(key)
                or streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            while True:
                page = streams.get_records(ShardIterator=iterator, Limit=1000)
                records.extend(page["Records"])
                nxt = page.get("NextShardIterator")
                if not page["Records"] or not nxt:
                    break
                iterator = nxt
            self._stream_positions[key] = nxt or iterator
        for record in records:
            record["eventSourceARN"] = arn
            record["dynamodb"]["ApproximateCreationDateTime"] = time.time()
        return records

    # -- Kinesis -------------------------------------------------------------------------------------------------
    def kinesis_records(self) -> list[dict[str, Any]]:
        """Every record of the location stream, shaped as the ``Records`` of a Lambda Kinesis event."""
        kinesis = self.clients["kinesis"]
        out: list[dict[str, Any]] = []
        for shard in kinesis.describe_stream(StreamName=self.stream_name)["StreamDescription"]["Shards"]:
            iterator = kinesis.get_shard_iterator(
                StreamName=self.stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            for r in page["Records"]:
                out.append(
                    {
                        "kinesis": {
                            "kinesisSchemaVersion": "1.0",
                            "partitionKey": r["PartitionKey"],
                            "sequenceNumber": r["SequenceNumber"],
                            "data": base64.b64encode(r["Data"]).decode("ascii"),
                            "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
                        },
                        "eventSource": "aws:kinesis",
                        "eventID": f"{shard['ShardId']}:{r['SequenceNumber']}",
                        "eventName": "aws:kinesis:record",
                        "awsRegion": REGION,
                    }
                )
        return out


def _queue(sqs: Any, name: str, attributes: dict[str, str] | None = None) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes or {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _subscribe(sns: Any, topic_arn: str, queue_arn: str, filter_policy: dict[str, Any] | None = None) -> None:
    attributes = {"RawMessageDelivery": "true"}
    if filter_policy is not None:
        attributes["FilterPolicy"] = json.dumps(filter_policy)
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes)


def create_stack(endpoint: str) -> Stack:
    """Create every resource on a freshly reset moto server (see the module docstring)."""
    c = clients(endpoint)
    tables = {
        "orders": "orders",
        "restaurants": "restaurants",
        "drivers": "drivers",
        "sagas": "sagas",
        "outbox": "outbox",
    }
    for spec, name in zip((ORDERS, RESTAURANTS, DRIVERS, SAGAS, OUTBOX), tables.values(), strict=True):
        create_table(c["dynamodb"], spec, name)
    sqs, events, sns = c["sqs"], c["events"], c["sns"]
    dlq_url, dlq_arn = _queue(sqs, "saga-dlq.fifo", {"FifoQueue": "true"})
    saga_url, _ = _queue(
        sqs,
        "saga.fifo",
        {
            "FifoQueue": "true",
            "ContentBasedDeduplication": "false",
            "DeduplicationScope": "messageGroup",
            "FifoThroughputLimit": "perMessageGroupId",
            "VisibilityTimeout": "30",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 10}),
        },
    )
    timer_url, _ = _queue(sqs, "saga-timers")
    analytics_url, analytics_arn = _queue(sqs, "analytics")
    bus = "fooddelivery"
    events.create_event_bus(Name=bus)
    rule = "order-events"
    events.put_rule(
        Name=rule,
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["fooddelivery.orders"]}),
        State="ENABLED",
    )
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "analytics-queue", "Arn": analytics_arn}])
    notifications = sns.create_topic(Name="notifications")["TopicArn"]
    alerts = sns.create_topic(Name="alerts")["TopicArn"]
    notifications_url, notifications_arn = _queue(sqs, "notifications-all")
    restaurant_url, restaurant_arn = _queue(sqs, "restaurant-tablets")
    alerts_url, alerts_arn = _queue(sqs, "ops-alerts")
    _subscribe(sns, notifications, notifications_arn)
    _subscribe(sns, notifications, restaurant_arn, {"kind": ["restaurant"]})
    _subscribe(sns, alerts, alerts_arn)
    stream = "locations"
    c["kinesis"].create_stream(StreamName=stream, ShardCount=2)
    return Stack(
        endpoint=endpoint,
        clients=c,
        tables=tables,
        bus_name=bus,
        rule_name=rule,
        saga_queue_url=saga_url,
        saga_dlq_url=dlq_url,
        analytics_queue_url=analytics_url,
        timer_queue_url=timer_url,
        notifications_topic_arn=notifications,
        alerts_topic_arn=alerts,
        notifications_queue_url=notifications_url,
        restaurant_queue_url=restaurant_url,
        alerts_queue_url=alerts_url,
        stream_name=stream,
    )


def sqs_event(
    messages: Iterable[dict[str, Any]], queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:saga.fifo"
) -> dict[str, Any]:
    """A Lambda SQS event (the shape of ``events/sqs.json``) of messages received with boto3."""
    records = []
    for m in messages:
        attributes = dict(m.get("Attributes", {}))
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


EVENTS_DIR = Path(__file__).with_name("events")


def sample_event(name: str) -> dict[str, Any]:
    """A fresh copy of a SAM CLI sample event (``events/<name>.json``)."""
    return dict(json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8")))
