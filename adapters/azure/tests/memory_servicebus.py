"""An in-memory Service Bus for the tests: no offline emulator of Service Bus exists (its official one needs Docker,
which the test machine does not have), so the adapters are tested against this stand-in, which speaks the SDK's
own types.

Senders take ``azure.servicebus.ServiceBusMessage`` objects; receivers hand out real
``azure.servicebus.ServiceBusReceivedMessage`` objects, AMQP-encoded and decoded by the SDK itself
(``ServiceBusReceivedMessage.from_bytes``), with the broker's annotations set (sequence number, enqueued time, lock
token, delivery count). It enforces what the adapters rely on, as Service Bus documents it:

- **sessions**: a session-enabled entity refuses a message without ``session_id``; a session receiver locks one
  session (``NEXT_AVAILABLE_SESSION`` picks the first session with a visible message that no other receiver holds)
  and only gets that session's messages, in sequence order;
- **scheduling**: a scheduled message is invisible until its time (an injected clock), can be cancelled by sequence
  number until then, and ``cancel_scheduled_messages`` of anything else raises ``MessageNotFoundError``;
- **settlement** (peek-lock): complete removes; abandon makes the message visible again at its place; dead-letter
  moves it to the entity's dead-letter queue with the reason and description given; a receive counts a delivery and
  an entity's ``max_delivery_count`` dead-letters a message abandoned (or whose lock expired) that many times with
  reason ``MaxDeliveryCountExceeded``; settling twice raises ``MessageAlreadySettled``, settling after the lock
  expired raises ``MessageLockLostError`` / ``SessionLockLostError``;
- **duplicate detection**: a message id seen on the entity within its window is dropped;
- **topics**: a message sent to a topic is copied to each of its subscriptions.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.servicebus import NEXT_AVAILABLE_SESSION, ServiceBusMessage, ServiceBusReceivedMessage
from azure.servicebus._pyamqp._encode import encode_payload
from azure.servicebus._transport._pyamqp_transport import PyamqpTransport
from azure.servicebus.exceptions import (
    MessageAlreadySettled,
    MessageLockLostError,
    MessageNotFoundError,
    ServiceBusError,
    SessionCannotBeLockedError,
    SessionLockLostError,
)

Clock = Callable[[], datetime]


@dataclass
class _Entry:
    sequence: int
    message: ServiceBusMessage
    enqueued_at: datetime
    visible_at: datetime
    delivery_count: int = 0
    lock_token: bytes | None = None
    locked_until: datetime | None = None
    settled: bool = False

    @property
    def session_id(self) -> str | None:
        return self.message.session_id


@dataclass(frozen=True)
class DeadLetter:
    """A dead-lettered message, with why."""

    message_id: str | None
    session_id: str | None
    body: bytes
    reason: str | None
    description: str | None
    delivery_count: int


@dataclass
class _Entity:
    name: str
    requires_session: bool
    max_delivery_count: int
    lock_duration: timedelta
    duplicate_window: timedelta | None
    entries: list[_Entry] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    seen_ids: dict[str, datetime] = field(default_factory=dict)
    session_locks: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    completed: list[ServiceBusMessage] = field(default_factory=list)


class MemoryServiceBus:
    """Queues, topics and subscriptions in memory (see the module docstring).

    Args:
        clock: the current time (default: the system's, UTC).
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self._entities: dict[str, _Entity] = {}
        self._topics: dict[str, list[str]] = {}
        self._topic_windows: dict[str, timedelta | None] = {}
        self._topic_seen: dict[str, dict[str, datetime]] = {}
        self._sequence = 0
        self._receivers = 0
        self.lock = threading.RLock()

    # -- entities ---------------------------------------------------------------------------------------------
    def create_queue(
        self,
        name: str,
        *,
        requires_session: bool = False,
        max_delivery_count: int = 10,
        lock_duration: timedelta = timedelta(seconds=30),
        duplicate_window: timedelta | None = timedelta(minutes=10),
    ) -> None:
        """A queue."""
        self._entities[name] = _Entity(name, requires_session, max_delivery_count, lock_duration, duplicate_window)

    def create_topic(self, name: str, *, duplicate_window: timedelta | None = timedelta(minutes=10)) -> None:
        """A topic (without subscriptions, a message sent to it goes nowhere, as in Service Bus)."""
        self._topics[name] = []
        self._topic_windows[name] = duplicate_window
        self._topic_seen[name] = {}

    def create_subscription(
        self, topic: str, name: str, *, requires_session: bool = False, max_delivery_count: int = 10
    ) -> None:
        """A subscription of ``topic`` (its own entity ``<topic>/subscriptions/<name>``)."""
        path = f"{topic}/subscriptions/{name}"
        self._entities[path] = _Entity(path, requires_session, max_delivery_count, timedelta(seconds=30), None)
        self._topics[topic].append(path)

    def entity(self, name: str) -> _Entity:
        """An entity by name (a queue, or ``<topic>/subscriptions/<name>``)."""
        return self._entities[name]

    def dead_letters(self, name: str) -> list[DeadLetter]:
        """The dead-letter queue of an entity."""
        return list(self._entities[name].dead)

    def active(self, name: str) -> list[ServiceBusMessage]:
        """Messages of an entity not settled yet (scheduled ones included)."""
        with self.lock:
            return [e.message for e in self._entities[name].entries if not e.settled]

    # -- clients ----------------------------------------------------------------------------------------------
    def get_queue_sender(self, queue_name: str) -> MemorySender:
        """A sender of a queue."""
        if queue_name not in self._entities:
            raise ServiceBusError(message=f"no queue {queue_name}")
        return MemorySender(self, queue_name, topic=False)

    def get_topic_sender(self, topic_name: str) -> MemorySender:
        """A sender of a topic."""
        if topic_name not in self._topics:
            raise ServiceBusError(message=f"no topic {topic_name}")
        return MemorySender(self, topic_name, topic=True)

    def get_queue_receiver(self, queue_name: str, session_id: Any = None) -> MemoryReceiver:
        """A peek-lock receiver of a queue (of one session of it, for a session-enabled queue)."""
        return self._receiver(queue_name, session_id)

    def get_subscription_receiver(
        self, topic_name: str, subscription_name: str, session_id: Any = None
    ) -> MemoryReceiver:
        """A peek-lock receiver of a subscription."""
        return self._receiver(f"{topic_name}/subscriptions/{subscription_name}", session_id)

    def _receiver(self, name: str, session_id: Any) -> MemoryReceiver:
        entity = self._entities[name]
        with self.lock:
            self._receivers += 1
            rid = self._receivers
            session: str | None = None
            if entity.requires_session:
                if session_id is None:
                    raise ServiceBusError(message=f"{name} requires sessions: give a session_id or NEXT_AVAILABLE")
                session = self._lock_session(entity, rid, session_id)
            elif session_id is not None:
                raise ServiceBusError(message=f"{name} is not session-enabled")
            return MemoryReceiver(self, entity, rid, session)

    def _lock_session(self, entity: _Entity, rid: int, wanted: Any) -> str:
        now = self.clock()
        self._expire(entity, now)
        held = {s for s, (owner, until) in entity.session_locks.items() if owner != rid and until > now}
        if wanted is NEXT_AVAILABLE_SESSION:
            for e in sorted(entity.entries, key=lambda x: x.sequence):
                if not e.settled and e.visible_at <= now and e.lock_token is None and e.session_id not in held:
                    assert e.session_id is not None
                    wanted = e.session_id
                    break
            else:
                raise OperationTimeoutErrorNoSession(message=f"no session with messages available on {entity.name}")
        if wanted in held:
            raise SessionCannotBeLockedError(message=f"session {wanted} is locked by another receiver")
        entity.session_locks[str(wanted)] = (rid, now + entity.lock_duration)
        return str(wanted)

    # -- internals --------------------------------------------------------------------------------------------
    def _enqueue(self, name: str, message: ServiceBusMessage, visible_at: datetime | None) -> int:
        entity = self._entities[name]
        now = self.clock()
        if entity.requires_session and not message.session_id:
            raise ServiceBusError(message=f"{name} is session-enabled: a message needs a session_id")
        if entity.duplicate_window is not None and message.message_id:
            seen = entity.seen_ids.get(message.message_id)
            if seen is not None and now - seen < entity.duplicate_window:
                return -1
            entity.seen_ids[message.message_id] = now
        self._sequence += 1
        entity.entries.append(_Entry(self._sequence, message, now, visible_at or now))
        return self._sequence

    def _send(self, name: str, topic: bool, message: ServiceBusMessage, visible_at: datetime | None) -> list[int]:
        if not topic:
            return [self._enqueue(name, message, visible_at)]
        window = self._topic_windows[name]
        now = self.clock()
        if window is not None and message.message_id:
            seen = self._topic_seen[name].get(message.message_id)
            if seen is not None and now - seen < window:
                return []
            self._topic_seen[name][message.message_id] = now
        return [self._enqueue(sub, message, visible_at) for sub in self._topics[name]]

    def _expire(self, entity: _Entity, now: datetime) -> None:
        for e in entity.entries:
            if e.lock_token is not None and not e.settled and e.locked_until is not None and e.locked_until <= now:
                e.lock_token, e.locked_until = None, None
                self._maybe_dead_letter(entity, e, "MaxDeliveryCountExceeded", "the lock expired too often")

    def _maybe_dead_letter(self, entity: _Entity, e: _Entry, reason: str, description: str) -> None:
        if e.delivery_count >= entity.max_delivery_count:
            self._dead_letter(entity, e, reason, description)

    def _dead_letter(self, entity: _Entity, e: _Entry, reason: str | None, description: str | None) -> None:
        e.settled = True
        e.lock_token = None
        body = b"".join(bytes(p) for p in e.message.body) if not isinstance(e.message.body, bytes) else e.message.body
        entity.dead.append(DeadLetter(e.message.message_id, e.session_id, body, reason, description, e.delivery_count))


class OperationTimeoutErrorNoSession(ServiceBusError):
    """No session had a message to lock (what the SDK reports as an operation timeout)."""


class MemorySender:
    """A sender of one queue or topic (the ``ServiceBusSender`` methods the adapters use)."""

    def __init__(self, bus: MemoryServiceBus, name: str, *, topic: bool) -> None:
        self.bus = bus
        self.name = name
        self.topic = topic
        self.fail_next: list[BaseException] = []
        self.sends = 0

    def _messages(self, message: ServiceBusMessage | Iterable[ServiceBusMessage]) -> list[ServiceBusMessage]:
        return [message] if isinstance(message, ServiceBusMessage) else list(message)

    def _maybe_fail(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    def send_messages(self, message: ServiceBusMessage | Iterable[ServiceBusMessage], **_: Any) -> None:
        """Send one message or a list, in order (all or none are accepted)."""
        with self.bus.lock:
            self._maybe_fail()
            self.sends += 1
            for m in self._messages(message):
                self.bus._send(self.name, self.topic, m, None)

    def schedule_messages(
        self, messages: ServiceBusMessage | Iterable[ServiceBusMessage], schedule_time_utc: datetime, **_: Any
    ) -> list[int]:
        """Schedule messages for ``schedule_time_utc``; their sequence numbers."""
        with self.bus.lock:
            self._maybe_fail()
            numbers: list[int] = []
            for m in self._messages(messages):
                numbers.extend(self.bus._send(self.name, self.topic, m, schedule_time_utc))
            return numbers

    def cancel_scheduled_messages(self, sequence_numbers: int | list[int], **_: Any) -> None:
        """Cancel scheduled messages not yet enqueued.

        Raises:
            MessageNotFoundError: one of them is not a pending scheduled message.
        """
        numbers = [sequence_numbers] if isinstance(sequence_numbers, int) else list(sequence_numbers)
        with self.bus.lock:
            now = self.bus.clock()
            names = self.bus._topics[self.name] if self.topic else [self.name]
            for number in numbers:
                for name in names:
                    entity = self.bus._entities[name]
                    match = [e for e in entity.entries if e.sequence == number and not e.settled and e.visible_at > now]
                    if not match:
                        raise MessageNotFoundError(message=f"no scheduled message {number} on {name}")
                    entity.entries.remove(match[0])

    def close(self) -> None:
        """Nothing to release."""


class MemoryReceiver:
    """A peek-lock receiver of one entity, or of one session of it."""

    def __init__(self, bus: MemoryServiceBus, entity: _Entity, rid: int, session: str | None) -> None:
        self.bus = bus
        self.entity = entity
        self.rid = rid
        self.session_id = session
        self._by_token: dict[bytes, _Entry] = {}

    def receive_messages(self, max_message_count: int | None = 1, max_wait_time: float | None = None) -> list[Any]:
        """Up to ``max_message_count`` visible, unlocked messages (of the locked session), in sequence order, each
        locked for the entity's lock duration and its delivery counted."""
        with self.bus.lock:
            now = self.bus.clock()
            self.bus._expire(self.entity, now)
            if self.session_id is not None:
                owner, until = self.entity.session_locks.get(self.session_id, (None, now))
                if owner != self.rid or until <= now:
                    raise SessionLockLostError(message=f"the lock on session {self.session_id} was lost")
            out: list[Any] = []
            for e in sorted(self.entity.entries, key=lambda x: x.sequence):
                if len(out) >= (max_message_count or 1):
                    break
                if e.settled or e.lock_token is not None or e.visible_at > now:
                    continue
                if self.session_id is not None and e.session_id != self.session_id:
                    continue
                e.delivery_count += 1
                e.lock_token = uuid.uuid4().bytes_le
                e.locked_until = now + self.entity.lock_duration
                self._by_token[e.lock_token] = e
                out.append(_received(e))
            return out

    def _entry(self, message: Any) -> _Entry:
        token = message.lock_token
        key = token if isinstance(token, bytes) else uuid.UUID(str(token)).bytes_le
        entry = self._by_token.get(key)
        if entry is None:
            raise MessageLockLostError(message="this receiver holds no lock on the message")
        if entry.settled:
            raise MessageAlreadySettled(action="settle")
        now = self.bus.clock()
        if entry.lock_token != key or entry.locked_until is None or entry.locked_until <= now:
            raise (SessionLockLostError if self.session_id is not None else MessageLockLostError)(
                message="the message's lock expired"
            )
        return entry

    def complete_message(self, message: Any) -> None:
        """Remove the message."""
        with self.bus.lock:
            e = self._entry(message)
            e.settled, e.lock_token = True, None
            self.entity.completed.append(e.message)

    def abandon_message(self, message: Any) -> None:
        """Release the lock (delivered again; dead-lettered at the maximum delivery count)."""
        with self.bus.lock:
            e = self._entry(message)
            e.lock_token, e.locked_until = None, None
            self.bus._maybe_dead_letter(self.entity, e, "MaxDeliveryCountExceeded", "abandoned too often")

    def dead_letter_message(
        self, message: Any, reason: str | None = None, error_description: str | None = None
    ) -> None:
        """Move the message to the dead-letter queue."""
        with self.bus.lock:
            e = self._entry(message)
            self.bus._dead_letter(self.entity, e, reason, error_description)

    def close(self) -> None:
        """Release the session lock."""
        with self.bus.lock:
            if self.session_id is not None:
                owner, _ = self.entity.session_locks.get(self.session_id, (None, None))
                if owner == self.rid:
                    del self.entity.session_locks[self.session_id]

    def __enter__(self) -> MemoryReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _received(e: _Entry) -> ServiceBusReceivedMessage:
    """The SDK's received message of an entry: the outgoing message AMQP-encoded with the broker's annotations,
    decoded by ``ServiceBusReceivedMessage.from_bytes``."""
    raw = e.message.raw_amqp_message
    header_count = raw.header.delivery_count if raw.header else None
    raw.header.delivery_count = e.delivery_count
    raw.annotations = {
        **(raw.annotations or {}),
        b"x-opt-sequence-number": e.sequence,
        b"x-opt-enqueued-time": e.enqueued_at,
        b"x-opt-locked-until": e.locked_until,
    }
    raw.delivery_annotations = {b"x-opt-lock-token": e.lock_token}
    data = bytearray()
    encode_payload(data, PyamqpTransport.to_outgoing_amqp_message(raw))
    raw.header.delivery_count = header_count
    return ServiceBusReceivedMessage.from_bytes(bytes(data))


def drain(
    bus: MemoryServiceBus,
    queue: str,
    handle: Callable[[Any, MemoryReceiver], Any],
    *,
    rounds: int = 1000,
) -> int:
    """Receive every visible message of a session queue, session by session, handing each to ``handle(message,
    receiver)`` (which settles it); returns how many were handed over. Stops when no session has a visible message.
    """
    handled = 0
    for _ in range(rounds):
        try:
            receiver = bus.get_queue_receiver(queue, session_id=NEXT_AVAILABLE_SESSION)
        except OperationTimeoutErrorNoSession:
            return handled
        with receiver:
            while True:
                messages = receiver.receive_messages(max_message_count=1)
                if not messages:
                    break
                handle(messages[0], receiver)
                handled += 1
    raise AssertionError(f"{queue} still had messages after {rounds} sessions")
