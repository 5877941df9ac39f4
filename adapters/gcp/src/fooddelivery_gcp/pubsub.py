"""Pub/Sub adapters: the event publisher (``order-events`` and the runtime topic), the notifier, the driver
position stream, and the dead-letter publisher.

Every event is published as its CloudEvents structured JSON (``fooddelivery.application.envelope``) in the
message's ``data``, with

- ordering key = the order id (a subscription with message ordering delivers one order's events in publish order,
  https://cloud.google.com/pubsub/docs/ordering), and
- attributes ``eventType`` (``OrderPlaced``...), ``schemaVersion`` (the payload schema version), ``eventId``,
  ``orderId`` and ``orderVersion``, so subscriptions can filter without decoding the body
  (https://cloud.google.com/pubsub/docs/subscription-message-filter).

Why two topics (``order-events`` for everyone, a runtime topic for the saga runtime): the runtime needs only the
events of the reaction table, delivered in order per order, retried and dead-lettered under its own policy, and
its subscription pushes to the runtime function; a filter on ``order-events`` could express "only these types",
but the Pub/Sub emulator stores filters without applying them, so the tests could not show that the runtime never
sees the other events -- and a subscriber of ``order-events`` (analytics, the notification service) must never be
able to slow or poison the saga's delivery. :class:`~fooddelivery.application.fanout.FanOutPublisher` sends the
runtime's events to the runtime topic and every event to ``order-events``.

A publish that fails for one ordering key pauses that key in the client library (later publishes with the key fail
at once) until ``resume_publish``; the publisher resumes the key and reports every event of the key from the
failed one on as failed (``failed_ids``), so the caller keeps them in the outbox and publishes nothing of that
order past the gap.

The client (``google.cloud.pubsub_v1.PublisherClient``, with message ordering enabled and a 1 ms batch latency:
:data:`BATCH_LATENCY_S`) is built on first use; ``PUBSUB_EMULATOR_HOST`` points it at the emulator.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Final

from fooddelivery.application.envelope import to_json
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import SCHEMA_VERSION, DomainEvent
from fooddelivery.metering import Meter
from fooddelivery.ports.notifications import Notification
from fooddelivery_gcp.firestore._support import RETRYABLE_ERRORS, error_name
from fooddelivery_gcp.metering import MeteredPublisher

__all__ = [
    "LazyPublisher",
    "PubSubDeadLetters",
    "PubSubEventPublisher",
    "PubSubLocationStream",
    "PubSubNotifier",
    "event_attributes",
]

#: Seconds to wait for the service to accept one batch.
PUBLISH_TIMEOUT_S: Final[float] = 30.0
#: Seconds the client library holds a message before it sends its batch (``BatchSettings.max_latency``; the
#: library's default is 0.01). Every publish here waits for its messages to be accepted, on the request path of an
#: order written with ``publish_after_commit``, so the default's 10 ms were added to each topic's publish of every
#: request (``FanOutPublisher`` publishes to ``order-events``, then to the runtime topic: 20 ms). A call's messages
#: are handed to the client in one loop, microseconds apart, so 1 ms still sends them as one batch; messages of one
#: ordering key that do fall into two batches are still sent in order (the library's ordered sequencer commits a
#: key's batches one after the other).
BATCH_LATENCY_S: Final[float] = 0.001


class LazyPublisher:
    """One ``PublisherClient`` with message ordering: the injected one, or built on first use (thread-safe).

    Args:
        client: a ready client, or None.
        meter: the core's meter every accepted publish records its billable bytes on
            (:class:`~fooddelivery_gcp.metering.MeteredPublisher`), or None.
    """

    __slots__ = ("_client", "_lock", "_meter")

    def __init__(self, client: Any = None, *, meter: Meter | None = None) -> None:
        self._meter = meter
        self._client = self._metered(client) if client is not None else None
        self._lock = threading.Lock()

    def _metered(self, client: Any) -> Any:
        return client if self._meter is None else MeteredPublisher(client, self._meter)

    def get(self) -> Any:
        """The client.

        Raises:
            InfrastructureError: the client library could not build one (no credentials).
        """
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import importlib

                    pubsub_v1: Any = importlib.import_module("google.cloud.pubsub_v1")
                    try:
                        self._client = self._metered(
                            pubsub_v1.PublisherClient(
                                batch_settings=pubsub_v1.types.BatchSettings(max_latency=BATCH_LATENCY_S),
                                publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True),
                            )
                        )
                    except Exception as exc:
                        raise InfrastructureError(
                            f"cannot build a Pub/Sub publisher: {exc}", service="pubsub", reason="client_init"
                        ) from exc
        return self._client


def event_attributes(event: DomainEvent) -> dict[str, str]:
    """The message attributes of ``event`` (see the module docstring)."""
    return {
        "eventType": event.type.value,
        "schemaVersion": SCHEMA_VERSION,
        "eventId": event.event_id,
        "orderId": event.order_id,
        "orderVersion": str(event.order_version),
    }


def _resume(client: Any, topic: str, ordering_key: str) -> None:
    """Resume ``ordering_key`` on ``topic`` after a failed publish, if the client library paused it.

    A publish the service refused pauses its key (later publishes with it fail at once until resumed); one that only
    outlived our wait (``future.result(timeout)``: ``TimeoutError``, the message may still be accepted) leaves the key
    running, and ``PublisherClient.resume_publish`` then raises ``RuntimeError("Ordering key is not paused.")``
    (google-cloud-pubsub, ``_OrderedSequencer.unpause``), which must not turn the caller's committed request into a
    500: the events are reported failed either way and stay in the outbox.
    """
    with contextlib.suppress(RuntimeError):  # not paused (a wait that timed out), or a publisher already stopped
        client.resume_publish(topic, ordering_key)


def _wait(futures: Sequence[tuple[str, str, Future[str]]], timeout_s: float) -> dict[str, BaseException]:
    """Wait up to ``timeout_s`` seconds in all (not per future) for every ``(id, ordering key, future)``; returns
    id -> error of the failed ones (``TimeoutError`` for those not done by then)."""
    errors: dict[str, BaseException] = {}
    deadline = time.monotonic() + timeout_s
    for item_id, _, future in futures:
        try:
            future.result(timeout=max(0.0, deadline - time.monotonic()))
        except Exception as exc:
            errors[item_id] = exc
    return errors


class PubSubEventPublisher:
    """Publishes events to one Pub/Sub topic (implements ``EventPublisher``; see the module docstring).

    Args:
        topic: the topic's full name, ``projects/<project>/topics/<topic>``.
        client: a ``PublisherClient`` with message ordering enabled, or a :class:`LazyPublisher`; built lazily
            when None.
        timeout_s: how long to wait for the service to accept the batch.
    """

    def __init__(self, topic: str, *, client: Any = None, timeout_s: float = PUBLISH_TIMEOUT_S) -> None:
        self.topic = topic
        self._client = client if isinstance(client, LazyPublisher) else LazyPublisher(client)
        self.timeout_s = timeout_s

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Publish every event, in order per order; returns when the service accepted all of them.

        Raises:
            InfrastructureError: some were not accepted (``failed_ids``: for each order with a failure, its events
                from the first failed one on, in the given order; ``retryable``).
        """
        events = list(events)
        if not events:
            return
        client = self._client.get()
        futures: list[tuple[str, str, Future[str]]] = []
        for event in events:
            try:
                future = client.publish(
                    self.topic, to_json(event), ordering_key=event.order_id, **event_attributes(event)
                )
            except Exception as exc:
                if error_name(exc) is None and type(exc).__module__.split(".")[0] != "google":
                    raise
                future = Future()
                future.set_exception(exc)
            futures.append((event.event_id, event.order_id, future))
        errors = _wait(futures, self.timeout_s)
        if not errors:
            return
        failed_keys = {key for event_id, key, _ in futures if event_id in errors}
        for key in failed_keys:
            _resume(client, self.topic, key)
        failed: list[str] = []
        broken: set[str] = set()
        for event in events:
            if event.event_id in errors:
                broken.add(event.order_id)
            if event.order_id in broken:
                failed.append(event.event_id)
        names = {type(exc).__name__ for exc in errors.values()}
        raise InfrastructureError(
            f"Pub/Sub refused {len(errors)} of {len(events)} events on {self.topic}: {sorted(names)}",
            service="pubsub",
            topic=self.topic,
            failed_ids=failed,
            errors={k: f"{type(v).__name__}: {v}" for k, v in errors.items()},
            retryable=all(n in RETRYABLE_ERRORS or n == "TimeoutError" for n in names),
        )


class PubSubNotifier:
    """Notifications on a Pub/Sub topic (implements ``Notifier``), at most once per notification id.

    A ledger document ``notifications/{id}`` in Firestore makes the id idempotent: ``send`` reads it, publishes
    when it is absent, then creates it. A crash between the publish and the ledger write publishes again on the
    retry, so the message carries ``notificationId`` as an attribute for subscribers to deduplicate on.

    Args:
        topic: the notifications topic (``projects/<p>/topics/<t>``); operations alerts go to ``alerts_topic``.
        ledger: the Firestore collection reference factory (``lambda: client.collection(name)``).
        client: the publisher (or a :class:`LazyPublisher`).
        alerts_topic: where ``operations_alert`` notifications go (default: ``topic``).
    """

    def __init__(
        self,
        topic: str,
        ledger: Callable[[], Any],
        *,
        client: Any = None,
        alerts_topic: str | None = None,
        timeout_s: float = PUBLISH_TIMEOUT_S,
    ) -> None:
        self.topic = topic
        self.alerts_topic = alerts_topic or topic
        self._ledger = ledger
        self._client = client if isinstance(client, LazyPublisher) else LazyPublisher(client)
        self.timeout_s = timeout_s

    def send(self, notification: Notification) -> None:
        """Publish ``notification`` unless its id was sent before.

        Raises:
            InfrastructureError: Pub/Sub or Firestore failed; retrying with the same id is safe.
        """
        from fooddelivery_gcp.firestore._support import doc_id, reraise

        ref = self._ledger().document(doc_id(notification.notification_id))
        try:
            if ref.get().exists:
                return
        except Exception as exc:
            reraise(exc, "notifications.ledger", notification_id=notification.notification_id)
        body = json.dumps(
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
        ).encode()
        topic = self.alerts_topic if notification.kind.value == "operations_alert" else self.topic
        try:
            self._client.get().publish(
                topic,
                body,
                notificationId=notification.notification_id,
                kind=notification.kind.value,
                recipientId=notification.recipient_id,
            ).result(timeout=self.timeout_s)
        except Exception as exc:
            raise InfrastructureError(
                f"Pub/Sub refused notification {notification.notification_id}: {type(exc).__name__}",
                service="pubsub",
                retryable=True,
            ) from exc
        try:
            ref.set({"sentAt": _server_timestamp(), "template": notification.template})
        except Exception as exc:
            reraise(exc, "notifications.ledger", notification_id=notification.notification_id)


def _server_timestamp() -> Any:
    from google.cloud.firestore import SERVER_TIMESTAMP

    return SERVER_TIMESTAMP


class PubSubLocationStream:
    """Driver positions on a Pub/Sub topic (implements ``LocationStream``): ordering key = the driver id, so one
    driver's positions stay in order.

    Args:
        topic: ``projects/<p>/topics/<t>``.
        client: the publisher (or a :class:`LazyPublisher`).
    """

    def __init__(self, topic: str, *, client: Any = None, timeout_s: float = PUBLISH_TIMEOUT_S) -> None:
        self.topic = topic
        self._client = client if isinstance(client, LazyPublisher) else LazyPublisher(client)
        self.timeout_s = timeout_s

    def append(self, event: DomainEvent, partition_key: str) -> None:
        """Publish ``event`` with ordering key ``partition_key``.

        Raises:
            InfrastructureError: Pub/Sub refused it.
        """
        client = self._client.get()
        try:
            client.publish(self.topic, to_json(event), ordering_key=partition_key, **event_attributes(event)).result(
                timeout=self.timeout_s
            )
        except Exception as exc:
            _resume(client, self.topic, partition_key)
            raise InfrastructureError(
                f"Pub/Sub refused a position of {partition_key}: {type(exc).__name__}", service="pubsub", retryable=True
            ) from exc


class PubSubDeadLetters:
    """Where poison messages go: a dead-letter topic, with the reason as attributes.

    Args:
        topic: the dead-letter topic (``projects/<p>/topics/<t>``).
        client: the publisher (or a :class:`LazyPublisher`).
    """

    def __init__(self, topic: str, *, client: Any = None, timeout_s: float = PUBLISH_TIMEOUT_S) -> None:
        self.topic = topic
        self._client = client if isinstance(client, LazyPublisher) else LazyPublisher(client)
        self.timeout_s = timeout_s

    def send(self, data: bytes, reason: str, source: str, attributes: Mapping[str, str] | None = None) -> None:
        """Publish the poison ``data`` with ``deadLetterReason`` (truncated to 1,024 characters) and
        ``deadLetterSource`` attributes, plus the original message's attributes.

        Raises:
            InfrastructureError: Pub/Sub refused it (the caller then nacks, so the message is not lost).
        """
        attrs = {k: v for k, v in (attributes or {}).items() if not k.startswith("goog")}
        attrs.update(deadLetterReason=reason[:1024], deadLetterSource=source)
        try:
            self._client.get().publish(self.topic, data, **attrs).result(timeout=self.timeout_s)
        except Exception as exc:
            raise InfrastructureError(
                f"Pub/Sub refused a dead letter on {self.topic}: {type(exc).__name__}", service="pubsub", retryable=True
            ) from exc
