"""Events leaving the core: the transactional outbox and the event bus.

An outbox may also publish to a bus whose log lives in its own store (:class:`PublishingOutbox`: the SQLite outbox
with the SQLite bus log of the same database): the relay then appends what a caller committed to the bus and marks
it sent in one write (:class:`OutboxPublication`) instead of two (``publish``, then ``mark_published``). The
capability is declared, not assumed: :meth:`PublishingOutbox.publishing_to` answers for one publisher, once, when
the relay is built. Everywhere else the relay publishes, then marks.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fooddelivery.domain.events import DomainEvent

__all__ = ["EventPublisher", "Outbox", "OutboxPublication", "OutboxRecord", "PublishingOutbox"]


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """An event written with its order, waiting to be published.

    Attributes:
        event: the event.
        attempts: how many publish attempts failed so far.
    """

    event: DomainEvent
    attempts: int = 0


@runtime_checkable
class Outbox(Protocol):
    """The outbox side of the order store. Records are written by ``OrderRepository.add/save``.

    The relay (``fooddelivery.application.relay``) reads pending records, publishes them, then marks them.
    Delivery is at-least-once: a crash between publish and mark republishes; consumers dedupe on event id.
    """

    def pending(self, limit: int = 100) -> Sequence[OutboxRecord]:
        """Up to ``limit`` unpublished records, oldest first; one order's records keep their version order."""
        ...

    def mark_published(self, event_ids: Sequence[str]) -> None:
        """Remove these records from the pending set (unknown ids are ignored: marking is idempotent)."""
        ...

    def mark_failed(self, event_ids: Sequence[str]) -> None:
        """Count a failed publish attempt for these records (they stay pending)."""
        ...


@runtime_checkable
class EventPublisher(Protocol):
    """The event bus (EventBridge, Service Bus, Pub/Sub; in memory for tests and the simulation).

    Each event travels as a CloudEvents 1.0 envelope (``fooddelivery.application.envelope``) whose
    ``partitionkey`` is the order id, so one order's events stay in order.
    """

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Publish all of ``events``; returns only when every one was accepted.

        Raises:
            InfrastructureError: some were not accepted after the adapter's retries (``failed_ids`` in the
                error's context lists them); the accepted ones stay published.
        """
        ...


@runtime_checkable
class OutboxPublication(Protocol):
    """An outbox's records published to one bus and marked sent in ONE atomic write of the outbox's store (built by
    :meth:`PublishingOutbox.publishing_to`; the relay's :meth:`~fooddelivery.application.relay.OutboxRelay.publish_own`
    and sweep use it instead of ``publisher.publish`` + ``outbox.mark_published``).

    """

    @property
    def publisher(self) -> EventPublisher:
        """The bus whose log :meth:`publish_and_mark` appends to (what ``publisher.publish`` would append, counted as
        it counts it)."""
        ...

    def publish_and_mark(
        self,
        events: Sequence[DomainEvent],
        unhandled: Collection[str] = (),
        handed: Mapping[str, DomainEvent] | None = None,
    ) -> list[str]:
        """In one atomic write: append to the bus every event of ``events`` that is still pending in the outbox, in
        the order the outbox holds them (the order they were committed), and mark them: removed from the pending
        set, except the ids in ``unhandled`` (the in-process consumer could not handle them), which are appended
        and stay pending with one failed attempt counted (as ``Outbox.mark_failed``), for the sweep.

        The pending records of the same orders that other callers committed and have handed to their consumer
        already (``handed``) are appended and marked in their place too, on those callers' behalf: one order's
        events go to the bus in commit order whichever caller writes first (a caller whose events were taken so
        finds them no longer pending).

        Left out, neither appended nor marked:

        - an event that is no longer pending: someone published and marked it meanwhile (so one successful call
          never appends an event twice, and an event the sweep took is not appended again by its caller);
        - an event whose order has an older record pending that neither ``events`` nor ``handed`` carries (another
          caller's that its consumer has not handled yet, or another process's), and the order's later events:
          appending them would overtake it. They stay pending (attempts unchanged), for that caller's write or the
          sweep, which publish them after it.

        Nothing is marked that is not appended in the same write; an unhandled id that is still pending gets its
        failed attempt whether or not it was appended.

        Args:
            events: committed events, each at most once (ids of ``events`` repeated are taken once).
            unhandled: ids of ``events`` the consumer could not handle.
            handed: other callers' events by id, each committed and handled by its consumer, not yet published
                (read, never changed: its owners remove their events once they have written); None for none.

        Returns:
            The ids appended (``events``' and ``handed``'s), in the order appended.

        Raises:
            ValidationError: a payload is not JSON-ready (field ``payload``); nothing was written.
            InfrastructureError: the store failed (a full disk, the write lock not obtained in time); nothing was
                appended or marked, and ``failed_ids`` in the error's context lists every id of ``events``.
        """
        ...


@runtime_checkable
class PublishingOutbox(Outbox, Protocol):
    """An :class:`Outbox` that can publish its records to a bus whose log lives in its own store, in the write that
    marks them (:class:`OutboxPublication`): one write per publication instead of two.

    The capability is declared, not assumed: :meth:`publishing_to` answers for one publisher, and the relay asks
    once, when it is built (``fooddelivery.application.relay.OutboxRelay``). With a publisher it cannot write to it
    answers None, and the relay publishes, then marks, as with any other outbox.
    """

    def publishing_to(self, publisher: EventPublisher) -> OutboxPublication | None:
        """The publication of this outbox's records to ``publisher`` in one write, or None when this outbox cannot
        append to that publisher's log in its own transaction (a publisher of another technology, or of another
        database)."""
        ...
