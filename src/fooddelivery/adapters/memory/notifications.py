"""An in-memory notifier that records what it delivered, at most once per notification id."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from typing import Final

from fooddelivery.adapters.counters import OperationCounters, meter_of
from fooddelivery.adapters.sizes import notification_size
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.metering.operations import NOTIFICATION
from fooddelivery.ports.notifications import Notification, NotificationKind

__all__ = ["InMemoryNotifier"]

#: Each kind's text (a dict lookup: an enum member's ``.value`` is a descriptor call).
_KIND_TEXT: Final[dict[NotificationKind, str]] = {kind: kind.value for kind in NotificationKind}


class InMemoryNotifier:
    """Delivers each ``notification_id`` once and records deliveries (implements ``Notifier``).

    Thread-safe.

    Counts per kind and per template cover the notifier's whole life even when ``retain`` keeps only
    the most recent deliveries. A repeated id is a no-op counted in ``duplicates``.

    Counted operations (with ``counters``): ``notifications.sent`` per delivery (repeats are not
    delivered).

    Args:
        retain: keep only the last ``retain`` delivered notifications, or None to keep all.
        dedupe_window: remember only the last ``dedupe_window`` ids for deduplication (like a FIFO
            topic's deduplication interval), or None to remember every id (the strict default).
        counters: optional shared operation counters.

    Raises:
        ValueError: a negative ``retain`` or a ``dedupe_window`` < 1.
    """

    def __init__(
        self,
        *,
        retain: int | None = None,
        dedupe_window: int | None = None,
        counters: OperationCounters | None = None,
    ) -> None:
        if retain is not None and retain < 0:
            raise ValueError("retain must be None or >= 0")
        if dedupe_window is not None and dedupe_window < 1:
            raise ValueError("dedupe_window must be None or >= 1")
        self._lock = threading.Lock()
        self._counters = counters
        self._meter = meter_of(counters)
        self._sent: deque[Notification] = deque(maxlen=retain)
        self._ids: set[str] = set()
        self._id_order: deque[str] | None = deque() if dedupe_window is not None else None
        self._window = dedupe_window
        self._by_kind: defaultdict[str, int] = defaultdict(int)
        self._by_template: defaultdict[str, int] = defaultdict(int)
        self._total = 0
        self._duplicates = 0
        self._fail_next = 0

    def send(self, notification: Notification) -> None:
        """Deliver ``notification`` unless its id was delivered before (then nothing happens).

        Raises:
            InfrastructureError: an injected failure (see :meth:`fail_next`); nothing was delivered
                and retrying with the same id is safe.
        """
        with self._lock:
            if self._fail_next:
                self._fail_next -= 1
                raise InfrastructureError(
                    "notification channel unavailable (injected failure)",
                    notification_id=notification.notification_id,
                )
            nid = notification.notification_id
            if nid in self._ids:
                self._duplicates += 1
                return
            self._ids.add(nid)
            order = self._id_order
            if order is not None:
                order.append(nid)
                if len(order) > (self._window or 0):
                    self._ids.discard(order.popleft())
            n = notification  # kept with its own copy of ``data`` (the caller's dict may change)
            kept = Notification(n.notification_id, n.kind, n.recipient_id, n.order_id, n.template, dict(n.data))
            self._sent.append(kept)
            kind = _KIND_TEXT[notification.kind]
            self._by_kind[kind] += 1
            self._by_template[notification.template] += 1
            self._total += 1
        if self._counters is not None:
            self._counters.local.counts["notifications.sent"] += 1
        if self._meter is not None:
            self._meter.local.sized[NOTIFICATION, notification_size(notification)] += 1  # meter.record, no call

    def fail_next(self, n: int = 1) -> None:
        """Make the next ``n`` ``send`` calls raise ``InfrastructureError`` without delivering."""
        with self._lock:
            self._fail_next = n

    # -- what it saw -------------------------------------------------------------------------------
    @property
    def sent(self) -> list[Notification]:
        """The retained deliveries, oldest first (a new list)."""
        with self._lock:
            return list(self._sent)

    @property
    def counts_by_kind(self) -> dict[str, int]:
        """``{kind value: deliveries}`` over the notifier's whole life."""
        with self._lock:
            return dict(self._by_kind)

    @property
    def counts_by_template(self) -> dict[str, int]:
        """``{template: deliveries}`` over the notifier's whole life."""
        with self._lock:
            return dict(self._by_template)

    @property
    def total(self) -> int:
        """How many notifications were delivered, retained or not."""
        return self._total

    @property
    def duplicates(self) -> int:
        """How many sends were no-ops because the id had been delivered."""
        return self._duplicates

    def sent_to(self, recipient_id: str) -> list[Notification]:
        """The retained deliveries to one recipient, oldest first."""
        with self._lock:
            return [n for n in self._sent if n.recipient_id == recipient_id]
