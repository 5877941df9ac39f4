"""What the Google Cloud adapters bill, recorded for cost metering: Firestore document operations, Pub/Sub bytes and
Cloud Tasks operations.

Firestore bills per document read, write and delete (https://cloud.google.com/firestore/pricing): a point read of
a document counts one read whether or not the document exists; a query counts one read per document returned and
at least one read when it returns none; every document created, updated or set in a write, batch or transaction is
one write; every document deleted is one delete. The adapters call :meth:`FirestoreMeter.record` with exactly
those counts, per collection (``firestore.<collection>.reads|writes|deletes``); with ``forward=`` the core's meter
(:class:`fooddelivery.metering.Meter`) gets the same counts as ``GCP.FIRESTORE_READS|WRITES|DELETES``.

Pub/Sub bills the data volume of every publish and every delivery: the message's data, each attribute's key and
value, 20 bytes for the timestamp and the message id, **at least 1,000 bytes per publish, push or pull request**
(https://cloud.google.com/pubsub/pricing). :class:`MeteredPublisher` records, for each message the service
accepted, :func:`~fooddelivery.metering.units.pubsub_billable_bytes` of its volume (the message id is the one the
service returned); the runtime function records each push delivery it gets (:func:`record_pubsub_delivery`). Each
message is counted as its own request: the client library may batch several messages of one ordering key into one
publish request, which Google bills at least 1,000 bytes once, so the publish side is an upper bound.

Cloud Tasks bills operations: every API call and every delivery attempt, per 32 KB of the task
(https://cloud.google.com/tasks/pricing): :class:`~fooddelivery_gcp.tasks.CloudTasksScheduler` records each
``CreateTask`` by the task's size (:func:`task_operations`) and each ``DeleteTask``; the timer function records each
dispatch it receives (:func:`record_task_dispatch`).

:func:`fooddelivery_gcp.bootstrap.build_gcp_app` wires all of it when given a ``meter`` (opt-in: tests, benchmarks,
cost runs).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Final, Literal

from fooddelivery.metering import GCP, Meter
from fooddelivery.metering.units import chunks, pubsub_billable_bytes

__all__ = [
    "OPERATIONS",
    "PUBSUB_TIMESTAMP_BYTES",
    "TASK_CHUNK_BYTES",
    "FirestoreMeter",
    "MeteredPublisher",
    "Operation",
    "pubsub_message_bytes",
    "record_pubsub_delivery",
    "record_task_dispatch",
    "task_operations",
]

Operation = Literal["reads", "writes", "deletes"]
#: The three billed kinds of document operation.
OPERATIONS: Final[tuple[Operation, ...]] = ("reads", "writes", "deletes")
#: Bytes Pub/Sub adds to a message's volume for its publish timestamp.
PUBSUB_TIMESTAMP_BYTES: Final[int] = 20
#: A Cloud Tasks operation covers up to this many bytes of a task (32 KB).
TASK_CHUNK_BYTES: Final[int] = 32 * 1024
_CORE_NAMES: Final[Mapping[str, str]] = {
    "reads": GCP.FIRESTORE_READS,
    "writes": GCP.FIRESTORE_WRITES,
    "deletes": GCP.FIRESTORE_DELETES,
}


class FirestoreMeter:
    """A thread-safe tally of Firestore document operations by collection.

    Names are ``firestore.<collection>.<operation>`` (``firestore.orders.reads``); :meth:`totals` sums them per
    operation over every collection.

    Args:
        forward: the core's meter, which gets every count too (``GCP.FIRESTORE_READS``...), or None.
    """

    __slots__ = ("_counts", "_forward", "_lock")

    def __init__(self, forward: Meter | None = None) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._forward = forward

    def record(self, collection: str, *, reads: int = 0, writes: int = 0, deletes: int = 0) -> None:
        """Add billed operations on ``collection``.

        Raises:
            ValueError: a negative count.
        """
        if reads < 0 or writes < 0 or deletes < 0:
            raise ValueError("operation counts are never negative")
        with self._lock:
            for operation, n in (("reads", reads), ("writes", writes), ("deletes", deletes)):
                if n:
                    name = f"firestore.{collection}.{operation}"
                    self._counts[name] = self._counts.get(name, 0) + n
        if self._forward is not None:
            for operation, n in (("reads", reads), ("writes", writes), ("deletes", deletes)):
                if n:
                    self._forward.record(_CORE_NAMES[operation], n)

    def get(self, collection: str, operation: Operation) -> int:
        """The count of ``operation`` on ``collection`` (0 if none)."""
        with self._lock:
            return self._counts.get(f"firestore.{collection}.{operation}", 0)

    def snapshot(self) -> dict[str, int]:
        """An independent ``{name: count}`` copy of every non-zero count."""
        with self._lock:
            return dict(self._counts)

    def totals(self) -> Mapping[Operation, int]:
        """Reads, writes and deletes summed over every collection."""
        out: dict[Operation, int] = dict.fromkeys(OPERATIONS, 0)
        with self._lock:
            for name, n in self._counts.items():
                operation = name.rsplit(".", 1)[1]
                for known in OPERATIONS:
                    if operation == known:
                        out[known] += n
        return out

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()

    def __repr__(self) -> str:
        return f"FirestoreMeter({self.snapshot()!r})"


# -- Pub/Sub --------------------------------------------------------------------------------------------------------
def pubsub_message_bytes(data: bytes, attributes: Mapping[str, str], message_id: str) -> int:
    """A message's data volume as Pub/Sub bills it: data + every attribute key and value (UTF-8) + 20 bytes of
    timestamp + the message id (see the module docstring; the 1,000-byte minimum is applied when recorded)."""
    size = len(data) + PUBSUB_TIMESTAMP_BYTES + len(message_id.encode())
    return size + sum(len(str(k).encode()) + len(str(v).encode()) for k, v in attributes.items())


class _MeteredFuture:
    """A publish future that records the message's billable bytes the first time its result (the message id) is
    read successfully; everything else is the inner future's."""

    def __init__(self, inner: Any, meter: Meter, data: bytes, attributes: Mapping[str, str]) -> None:
        self._inner = inner
        self._meter = meter
        self._data = data
        self._attributes = dict(attributes)
        self._recorded = False
        self._lock = threading.Lock()

    def result(self, timeout: float | None = None) -> Any:
        message_id = self._inner.result(timeout=timeout)
        with self._lock:
            if not self._recorded:
                self._recorded = True
                size = pubsub_message_bytes(self._data, self._attributes, str(message_id))
                self._meter.record(GCP.PUBSUB_BYTES, pubsub_billable_bytes(size))
        return message_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class MeteredPublisher:
    """A Pub/Sub ``PublisherClient`` whose accepted publishes record ``GCP.PUBSUB_BYTES`` on ``meter``: each
    ``publish`` returns a future that records the message's billable bytes when its result is read (the adapters
    always wait for it); anything else is the inner client's.

    Args:
        client: the publisher client.
        meter: the core's meter.
    """

    def __init__(self, client: Any, meter: Meter) -> None:
        self.client = client
        self._meter = meter

    def publish(self, topic: str, data: bytes, ordering_key: str = "", **kwargs: Any) -> Any:
        """``client.publish``, metered (``retry`` and ``timeout`` are the client's options, not attributes)."""
        future = self.client.publish(topic, data, ordering_key=ordering_key, **kwargs)
        attributes = {k: str(v) for k, v in kwargs.items() if k not in ("retry", "timeout")}
        return _MeteredFuture(future, self._meter, data, attributes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def record_pubsub_delivery(meter: Meter, data: bytes, attributes: Mapping[str, str], message_id: str) -> None:
    """Record one push delivery of a message (at least 1,000 bytes)."""
    meter.record(GCP.PUBSUB_BYTES, pubsub_billable_bytes(pubsub_message_bytes(data, attributes, message_id)))


# -- Cloud Tasks ----------------------------------------------------------------------------------------------------
def task_operations(task: Mapping[str, Any]) -> int:
    """Billable operations of creating ``task`` (the ``CreateTask`` mapping of
    :func:`fooddelivery_gcp.tasks.build_task`): one per 32 KB of its name, URL, headers and body."""
    request = task.get("http_request") or {}
    size = len(str(task.get("name", "")).encode()) + len(str(request.get("url", "")).encode())
    size += sum(len(str(k).encode()) + len(str(v).encode()) for k, v in (request.get("headers") or {}).items())
    body = request.get("body") or b""
    size += len(body if isinstance(body, bytes) else str(body).encode())
    return chunks(size, TASK_CHUNK_BYTES)


def record_task_dispatch(meter: Meter, body: bytes) -> None:
    """Record one delivery of a task to the timer function (one operation per 32 KB of its body)."""
    meter.record(GCP.TASKS_OPERATIONS, chunks(len(body), TASK_CHUNK_BYTES))
