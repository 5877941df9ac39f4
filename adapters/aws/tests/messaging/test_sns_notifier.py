"""SnsNotifier on moto's SNS (read through SQS subscriptions) and DynamoDB (its ledger): the core's Notifier
contract, the topic per kind, the attributes subscription filters use, and the size limit."""

from __future__ import annotations

import json

import pytest
from aws_stack import Stack

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.domain.errors import InfrastructureError, ValidationError
from fooddelivery.ports.notifications import Notification, NotificationKind, Notifier
from fooddelivery.testing.builders import T0, make_notification
from fooddelivery.testing.contracts.notifier_contract import NotifierContract
from fooddelivery_aws.messaging.sns import SnsNotifier, notification_from_message


def _notifier(stack: Stack, **overrides: str) -> SnsNotifier:
    return SnsNotifier(
        overrides.get("notifications", stack.notifications_topic_arn),
        overrides.get("alerts", stack.alerts_topic_arn),
        stack.tables["sagas"],
        clock=VirtualClock(T0),
        sns_client=stack.clients["sns"],
        dynamodb_client=stack.clients["dynamodb"],
    )


def _delivered(stack: Stack, queue_url: str) -> list[Notification]:
    return [notification_from_message(m["Body"]) for m in stack.drain(queue_url)]


class TestSnsNotifierContract(NotifierContract):
    """The core's contract: deliveries are read from the SQS subscriptions of both topics."""

    @pytest.fixture
    def notifier(self, stack: Stack) -> Notifier:
        self._stack = stack
        return _notifier(stack)

    def delivered(self, notifier: Notifier) -> list[Notification]:
        return _delivered(self._stack, self._stack.notifications_queue_url) + _delivered(
            self._stack, self._stack.alerts_queue_url
        )


def test_operations_alerts_go_to_the_alerts_topic_and_the_rest_to_the_notifications_topic(stack: Stack) -> None:
    alert = make_notification(kind=NotificationKind.OPERATIONS_ALERT, recipient_id="ops", template="restaurant_timeout")
    customer = make_notification(kind=NotificationKind.CUSTOMER, template="order_received")
    notifier = _notifier(stack)
    notifier.send(alert)
    notifier.send(customer)
    assert _delivered(stack, stack.alerts_queue_url) == [alert]
    assert _delivered(stack, stack.notifications_queue_url) == [customer]


def test_message_attributes_let_a_subscription_take_restaurant_notifications_only(stack: Stack) -> None:
    restaurant = make_notification(kind=NotificationKind.RESTAURANT, recipient_id="rest-1", order_id="ord-1")
    customer = make_notification(kind=NotificationKind.CUSTOMER, recipient_id="user-1", order_id="ord-1")
    notifier = _notifier(stack)
    notifier.send(customer)
    notifier.send(restaurant)

    (message,) = stack.drain(stack.restaurant_queue_url)

    assert notification_from_message(message["Body"]) == restaurant
    assert {k: v["StringValue"] for k, v in message["MessageAttributes"].items()} == {
        "kind": "restaurant",
        "recipientId": "rest-1",
        "orderId": "ord-1",
        "template": restaurant.template,
        "notificationId": restaurant.notification_id,
    }


def test_the_ledger_remembers_a_sent_id_across_notifier_instances(stack: Stack) -> None:
    notification = make_notification()
    _notifier(stack).send(notification)
    _notifier(stack).send(notification)  # another Lambda environment, same id
    assert _delivered(stack, stack.notifications_queue_url) == [notification]


def test_a_failed_publish_records_nothing_so_the_retry_sends(stack: Stack) -> None:
    notification = make_notification()
    with pytest.raises(InfrastructureError) as caught:
        _notifier(stack, notifications="arn:aws:sns:us-east-1:123456789012:no-such-topic").send(notification)
    assert caught.value.context["code"] == "NotFound"
    _notifier(stack).send(notification)
    assert _delivered(stack, stack.notifications_queue_url) == [notification]


def test_a_notification_larger_than_sns_takes_is_refused_before_publishing(stack: Stack) -> None:
    with pytest.raises(ValidationError):
        _notifier(stack).send(make_notification(data={"items": "x" * 300_000}))
    assert stack.drain(stack.notifications_queue_url) == []


def test_a_message_that_is_not_a_notification_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        notification_from_message(json.dumps({"kind": "restaurant"}))
