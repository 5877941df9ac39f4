"""Notifications on Amazon SNS: customers and restaurants on one topic, operations alerts on another.

Message: the notification as JSON (:func:`notification_to_message`), published to

- ``NOTIFICATIONS_TOPIC_ARN`` for ``customer`` and ``restaurant`` notifications, and
- ``ALERTS_TOPIC_ARN`` for ``operations_alert``,

with message attributes for subscription filter policies (``kind``, ``recipientId``, ``orderId``, ``template``,
``notificationId``), e.g. a restaurant tablet's SQS queue subscribes with ``{"kind": ["restaurant"],
"recipientId": ["rest-1"]}``. Limits (Amazon SNS API reference, Publish,
https://docs.aws.amazon.com/sns/latest/api/API_Publish.html): a message with its attributes is at most 256 KB, with at
most 10 attributes; a larger notification is refused with ``ValidationError`` before any call.

Deduplication by ``notification_id``: the topics are *standard* topics, because FIFO topics deliver to SQS queues
only -- no e-mail, SMS, HTTP or mobile push (Amazon SNS developer guide, "Message ordering details for FIFO
topics": https://docs.aws.amazon.com/sns/latest/dg/fifo-message-delivery.html) -- and deduplicate within 5 minutes
only. So the notifier keeps a ledger in the sagas table (``"notification#<id>"``, 30 days): an id recorded as SENT
is not published again. The record is written *after* ``Publish`` succeeds: a crash between the two publishes again
on retry (a duplicate, which subscribers can drop by the ``notificationId`` attribute) but never loses a
notification; recording first would lose it for good.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.domain.errors import ValidationError
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.notifications import Notification, NotificationKind
from fooddelivery_aws._clients import LazyClient, reraise
from fooddelivery_aws.messaging._ledger import Ledger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sns import SNSClient

__all__ = ["MAX_MESSAGE_BYTES", "SnsNotifier", "notification_from_message", "notification_to_message"]

#: Largest SNS message, attributes included (256 KB).
MAX_MESSAGE_BYTES: Final[int] = 256 * 1024
_SENT: Final[str] = "SENT"
_LEDGER_PREFIX: Final[str] = "notification#"
_LEDGER_TTL: Final[timedelta] = timedelta(days=30)


def notification_to_message(notification: Notification) -> str:
    """The SNS message of ``notification``: compact JSON with camelCase keys."""
    return json.dumps(
        {
            "notificationId": notification.notification_id,
            "kind": notification.kind.value,
            "recipientId": notification.recipient_id,
            "orderId": notification.order_id,
            "template": notification.template,
            "data": dict(notification.data),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def notification_from_message(message: str | Mapping[str, Any]) -> Notification:
    """Read back a message made by :func:`notification_to_message` (what a subscriber does).

    Raises:
        ValidationError: not such a message.
    """
    try:
        doc = json.loads(message) if isinstance(message, str) else dict(message)
        data = doc["data"]
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise TypeError("data must map names to strings")
        return Notification(
            notification_id=str(doc["notificationId"]),
            kind=NotificationKind(doc["kind"]),
            recipient_id=str(doc["recipientId"]),
            order_id=str(doc["orderId"]),
            template=str(doc["template"]),
            data={str(k): v for k, v in data.items()},
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError.single("message", f"not a notification message: {exc}", "invalid") from exc


def _attributes(notification: Notification) -> dict[str, Any]:
    values = {
        "kind": notification.kind.value,
        "recipientId": notification.recipient_id,
        "orderId": notification.order_id,
        "template": notification.template,
        "notificationId": notification.notification_id,
    }
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items() if value}


class SnsNotifier:
    """Sends notifications through SNS, once per ``notification_id`` (implements ``Notifier``).

    Args:
        notifications_topic_arn: topic of customer and restaurant notifications.
        alerts_topic_arn: topic of operations alerts.
        sagas_table: the table holding the ledger (the sagas table).
        clock: time source (the ledger entries' expiry).
        sns_client: a boto3 SNS client; built lazily when None.
        dynamodb_client: a boto3 DynamoDB client; built lazily when None.
        region_name, endpoint_url: of lazily built clients.
    """

    def __init__(
        self,
        notifications_topic_arn: str,
        alerts_topic_arn: str,
        sagas_table: str,
        *,
        clock: Clock,
        sns_client: SNSClient | None = None,
        dynamodb_client: DynamoDBClient | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.notifications_topic_arn = notifications_topic_arn
        self.alerts_topic_arn = alerts_topic_arn
        self.clock = clock
        self._sns: LazyClient[SNSClient] = LazyClient(
            "sns", sns_client, region_name=region_name, endpoint_url=endpoint_url
        )
        self.ledger = Ledger(
            sagas_table,
            _LEDGER_PREFIX,
            ttl=_LEDGER_TTL,
            client=dynamodb_client,
            region_name=region_name,
            endpoint_url=endpoint_url,
        )

    def topic_for(self, kind: NotificationKind) -> str:
        """The topic a notification of ``kind`` goes to."""
        return self.alerts_topic_arn if kind is NotificationKind.OPERATIONS_ALERT else self.notifications_topic_arn

    def send(self, notification: Notification) -> None:
        """Publish ``notification`` unless its id was sent before.

        Raises:
            ValidationError: the message is larger than SNS accepts (field ``notification``).
            InfrastructureError: SNS or DynamoDB failed; retrying with the same id is safe.
        """
        if self.ledger.status(notification.notification_id) == _SENT:
            return
        message = notification_to_message(notification)
        attributes = _attributes(notification)
        size = len(message.encode("utf-8")) + sum(
            len(name.encode()) + len(str(v["StringValue"]).encode()) + len(v["DataType"])
            for name, v in attributes.items()
        )
        if size > MAX_MESSAGE_BYTES:
            raise ValidationError.single(
                "notification", f"{size} bytes exceed SNS's {MAX_MESSAGE_BYTES}-byte message limit", "too_large"
            )
        try:
            self._sns.get().publish(
                TopicArn=self.topic_for(notification.kind), Message=message, MessageAttributes=attributes
            )
        except Exception as exc:
            reraise(exc, "sns", "Publish", notification_id=notification.notification_id)
        self.ledger.put(notification.notification_id, _SENT, self.clock.now())
