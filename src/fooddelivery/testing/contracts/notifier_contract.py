"""Contract of ``Notifier``: every notification channel adapter must pass it.

Subclass :class:`NotifierContract` in a ``Test*`` class, provide the ``notifier`` fixture and
implement :meth:`NotifierContract.delivered` (for a cloud channel: by reading the emulator's
subscription).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from fooddelivery.ports.notifications import Notification, NotificationKind, Notifier
from fooddelivery.testing.builders import make_notification

__all__ = ["NotifierContract"]


class NotifierContract:
    """Behaviour every ``Notifier`` must show (fixture ``notifier``; hook :meth:`delivered`)."""

    @pytest.fixture
    def notifier(self) -> Notifier:
        """The Notifier under test, fresh for each test (subclasses override this fixture)."""
        raise NotImplementedError("a subclass provides the notifier under test")

    def delivered(self, notifier: Notifier) -> list[Notification]:
        """Every notification the channel delivered, in order."""
        raise NotImplementedError("a subclass says how deliveries are observed")

    def test_a_notification_is_delivered_with_every_field(self, notifier: Notifier) -> None:
        notification = make_notification(kind=NotificationKind.CUSTOMER, template="order_confirmed")
        notifier.send(notification)
        assert self.delivered(notifier) == [notification]

    def test_sending_the_same_notification_id_twice_delivers_once(self, notifier: Notifier) -> None:
        notification = make_notification(notification_id="ntf-once")
        notifier.send(notification)
        notifier.send(replace(notification, template="different_body_same_id"))
        assert self.delivered(notifier) == [notification]

    def test_different_ids_are_each_delivered(self, notifier: Notifier) -> None:
        first = make_notification()
        second = make_notification(kind=NotificationKind.OPERATIONS_ALERT, recipient_id="ops-alerts")
        notifier.send(first)
        notifier.send(second)
        assert self.delivered(notifier) == [first, second]

    def test_changing_the_data_after_sending_does_not_change_what_was_delivered(self, notifier: Notifier) -> None:
        data = {"customerName": "Zoë", "items": "寿司盛り合わせ x2"}
        notifier.send(make_notification(data=data))
        data["customerName"] = "changed"
        (delivered,) = self.delivered(notifier)
        assert delivered.data == {"customerName": "Zoë", "items": "寿司盛り合わせ x2"}
