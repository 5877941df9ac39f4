"""Messaging adapters: EventBridge (events), SQS (the saga's events, timers, saga commands), SNS (notifications),
Kinesis (positions).

Importing this package imports no AWS SDK: every adapter takes an injected boto3 client or builds one on first use.
"""

from fooddelivery_aws.messaging.eventbridge import EVENT_SOURCE, EventBridgePublisher, event_from_eventbridge
from fooddelivery_aws.messaging.kinesis import KinesisLocationStream
from fooddelivery_aws.messaging.sns import SnsNotifier, notification_from_message
from fooddelivery_aws.messaging.sqs_commands import SqsSagaCommandBus
from fooddelivery_aws.messaging.sqs_events import SqsFifoEventPublisher
from fooddelivery_aws.messaging.sqs_scheduler import SqsScheduler, TimerOutcome

__all__ = [
    "EVENT_SOURCE",
    "EventBridgePublisher",
    "KinesisLocationStream",
    "SnsNotifier",
    "SqsFifoEventPublisher",
    "SqsSagaCommandBus",
    "SqsScheduler",
    "TimerOutcome",
    "event_from_eventbridge",
    "notification_from_message",
]
