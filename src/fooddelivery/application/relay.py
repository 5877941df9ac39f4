"""The outbox relays: committed events leave the outbox for the event bus, at least once, in one of two ways.

**Publish after commit, per caller** (:class:`OutboxRelay`; ``serve``, the simulation, tests, a library user): a
use case or saga step commits an order with its events (the outbox write is in the same transaction) and then
publishes *exactly the events it committed* (:meth:`OutboxRelay.publish_own`), then hands them to the in-process
consumer (the runtime), whose own commits are published by the same caller in turn; all of them are marked in one
call at the end. A request therefore carries its own work only, never a burst's: the events of other callers are
theirs to publish. What a caller could not publish (the bus refused, the process died) stays pending in the outbox,
and :meth:`OutboxRelay.flush` -- the sweep, run by ``serve``'s worker and at start-up -- publishes it. The events
a caller is about to commit are *claimed* (:class:`~fooddelivery.application.unit_of_work.OrderSession` claims them
just before the write), and the sweep leaves claimed events alone for at least ``claim_ttl_s``, so it seldom races
the caller that owns them: a caller that publishes, marks and releases its events between the sweep's read of the
outbox and its look at the claims has them published a second time by the sweep (at-least-once, see below). A claim
reads no clock: it is stamped with the number of the sweeps started so far, and the sweep ages it by the start of
the sweep that followed it (a lower bound of its age), so a claim is left alone from ``claim_ttl_s`` to
``claim_ttl_s`` plus one sweep interval. Claims live in the process that made them: where other processes commit
to the same outbox and publish their own (``serve --processes N``: the sweep runs in one of them), the sweep also
leaves alone every event younger than ``foreign_claim_s`` by its ``occurred_at`` (those processes' callers are
presumed to be publishing it), and the order's later events with it.

**Change streams** (:class:`ChangeStreamRelay`; DynamoDB Streams, the Cosmos DB change feed, a Firestore
trigger): the store itself delivers every committed outbox record to a function, which publishes the events and
marks them sent; the same sweep (:meth:`ChangeStreamRelay.sweep`) publishes what the stream could not deliver.
The request path then makes no publish call at all (``OutboxRelay(publish_after_commit=False)``).

Delivery is at-least-once either way: a crash between publishing and marking publishes again, so every consumer
deduplicates on the event id (the runtime is idempotent on business keys).

**One write per publication** (:class:`~fooddelivery.ports.messaging.PublishingOutbox`: the SQLite outbox with the
SQLite bus log of the same database, ``serve``'s adapters). Where the outbox can append to the bus's log in its own
write (:func:`publication_for`, asked once when the relay is built), :meth:`OutboxRelay.publish_own` hands each
batch to the consumer first, as it is committed, and then appends everything the call carried to the bus *and*
marks it in one write at the end (:meth:`~fooddelivery.ports.messaging.OutboxPublication.publish_and_mark`),
instead of one append per batch plus one mark. The guarantees, and why they hold:

- at-least-once: until that write commits, every event of the call is pending in the outbox; a crash, or a failure
  of the write (a full disk: nothing is appended and nothing marked, the attempt is counted when the disk takes it),
  leaves all of them to the sweep, which hands them to the consumer again (it is idempotent) and publishes them;
- nothing marked that was not appended, and nothing appended twice by one successful call: the write appends and
  removes the same records, and only those still pending (an event the sweep took meanwhile is not appended
  again);
- one order's events reach the bus in commit order, across callers too: the write appends in the outbox's order,
  with the pending events of the same orders that other callers of this process have handed to their consumer and
  not written yet (``serve``'s saga thread commits an order's next events while the placement's caller, which
  handed it ``OrderPlaced``, may not have written yet: whichever writes first appends both, in order), and never
  an event of an order whose older record is pending and not handled yet, or another process's (its caller's
  write, or the sweep, appends it first; the later ones wait for it). The consumer, unlike the bus, may see a
  batch before an older one of the same order that another caller has not handed over yet, as it could before.

Every other outbox and publisher (in memory, the cloud stores, a SQLite outbox with another bus) keeps the order
above: publish each batch, hand it to the consumer, mark all at the end.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter

from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent
from fooddelivery.observability.instrument import now_utc, publish_span
from fooddelivery.observability.metrics import record_outbox_lag
from fooddelivery.ports.messaging import EventPublisher, Outbox, OutboxPublication, PublishingOutbox

__all__ = ["ChangeRecord", "ChangeStreamRelay", "Consumer", "OutboxRelay", "RelayResult", "publication_for"]

log = logging.getLogger(__name__)

#: The in-process consumer: handles a published batch; returns the ids of the events it could not handle (they stay
#: in the outbox, so the sweep delivers them again: the outbox is the durable dead-letter store), or None.
Consumer = Callable[[Sequence[DomainEvent]], Collection[str] | None]

#: An event's id (``list(map(_EVENT_ID, events))``: the ids of a batch without a Python-level call per batch).
_EVENT_ID = attrgetter("event_id")


def publication_for(outbox: Outbox, publisher: EventPublisher) -> OutboxPublication | None:
    """The publication of ``outbox`` to ``publisher`` in one write when the outbox offers one for that publisher
    (:class:`~fooddelivery.ports.messaging.PublishingOutbox`), else None: publish, then mark."""
    return outbox.publishing_to(publisher) if isinstance(outbox, PublishingOutbox) else None


class _Own(threading.local):
    """The events this thread committed and has not published yet."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self.publishing = False


class OutboxRelay:
    """Publishes committed events: each caller its own (:meth:`publish_own`), the sweep the rest (:meth:`flush`).

    Args:
        outbox: where committed events wait.
        publisher: the bus.
        consumer: called with each published batch, in order (the in-process runtime), or None; the events it
            reports unhandled stay pending in the outbox for the sweep.
        batch_size: records per publish call of the sweep.
        publish_after_commit: False where a change stream publishes (the cloud stores): :meth:`publish_own` then
            forgets what was committed instead of publishing it.
        claim_ttl_s: how long the sweep leaves a claimed event to the caller that committed it, at least (seconds;
            at most one sweep interval more: see the module docstring).
        monotonic: the sweep's clock (seconds; ``time.monotonic``): what ages claims.
        foreign_claim_s: how long the sweep leaves an event to the other processes that may have committed it,
            by the event's ``occurred_at`` (seconds; 0, the default, when this process is the outbox's only
            writer). Settable later: ``serve`` sets it once its other processes start.
        wall_clock: what ages events for ``foreign_claim_s`` (timezone-aware UTC; the system clock by default).
        publication: the outbox's publication to ``publisher`` in one write (see the module docstring); by default
            :func:`publication_for` ``(outbox, publisher)``, asked here, once. ``bootstrap`` passes the raw
            adapters' one (traced when telemetry is on), as ``publisher`` may be a wrapper the outbox does not know.

    Attributes:
        publication: what :meth:`publish_own` and :meth:`flush` publish and mark with, or None (publish, then mark).
            It writes to its own bus's log (``publication.publisher``), not to :attr:`publisher`: whoever swaps the
            bus sets it too (``publication_for(outbox, new_bus)``, or None).
    """

    def __init__(
        self,
        outbox: Outbox,
        publisher: EventPublisher,
        consumer: Consumer | None = None,
        batch_size: int = 100,
        *,
        publish_after_commit: bool = True,
        claim_ttl_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
        foreign_claim_s: float = 0.0,
        wall_clock: Callable[[], datetime] = now_utc,
        publication: OutboxPublication | None = None,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher
        self.consumer = consumer
        self.batch_size = batch_size
        self.publish_after_commit = publish_after_commit
        self.claim_ttl_s = claim_ttl_s
        self._monotonic = monotonic
        self.foreign_claim_s = foreign_claim_s
        self._wall_clock = wall_clock
        self._own = _Own()
        #: event id -> the number of sweeps started when it was claimed (its generation)
        self._claims: dict[str, int] = {}
        #: how many sweeps have started
        self._generation = 0
        #: (generation, when its sweep started, by ``monotonic``) of the sweeps still needed to age claims, oldest
        #: first: a claim of generation g is at least as old as the start of generation g + 1
        self._sweeps: list[tuple[int, float]] = []
        self._sweep_lock = threading.Lock()
        self.publication = publication if publication is not None else publication_for(outbox, publisher)
        #: with a publication: the events some caller of this process handed to the consumer (handled) and has not
        #: written yet, by id; another caller's write of the same order appends them in their place (one store per
        #: key under the GIL, no lock, as the claims)
        self._handed: dict[str, DomainEvent] = {}

    # -- claims: what a caller is committing ----------------------------------------------------------------
    def claim(self, events: Sequence[DomainEvent]) -> None:
        """Record that this thread is about to commit ``events`` (called before the write; ``OrderSession.commit``
        and ``.save`` write it out: keep them in step)."""
        if not events or not self.publish_after_commit:
            return  # a change stream publishes them: nothing to remember
        # No lock: each claim is one dict store under the GIL, only the claiming thread stores its events' ids, and
        # the events are not in the outbox before the write that follows, so the sweep cannot see a half-claimed
        # batch. No clock either: the claim's generation dates it (see _start_sweep).
        generation = self._generation
        claims = self._claims
        for event in events:
            claims[event.event_id] = generation
        self._own.events += events  # (in place, as extend() does, without the call)

    def unclaim(self, events: Sequence[DomainEvent]) -> None:
        """Forget ``events``: their write failed, so nothing was committed."""
        if not events:
            return
        ids = {e.event_id for e in events}
        self._own.events = [e for e in self._own.events if e.event_id not in ids]
        self._release(ids)

    def _release(self, ids: set[str] | Sequence[str]) -> None:
        # No lock (see claim): each delete is one step under the GIL; the sweep may release an expired claim at the
        # same time as its owner, so one of the two finds it gone.
        claims = self._claims
        for event_id in ids:
            if event_id in claims:
                try:  # noqa: SIM105 -- contextlib.suppress is two calls per id on the hot path
                    del claims[event_id]
                except KeyError:
                    pass

    def _start_sweep(self) -> int:
        """Start a new generation of claims (call with the sweep lock held); returns the generation below which
        claims are expired: those of a generation ``g`` whose next generation started ``claim_ttl_s`` or longer
        ago (the claim was made before that, so it is at least that old)."""
        now = self._monotonic()
        self._generation += 1
        sweeps = self._sweeps
        sweeps.append((self._generation, now))
        horizon = now - self.claim_ttl_s
        expired_below = 0
        keep = 0
        for i, (generation, started) in enumerate(sweeps):
            if started > horizon:
                break
            expired_below, keep = generation, i
        if keep:
            del sweeps[:keep]  # the newest expired start still ages every older claim
        return expired_below

    def _claimed(self, event_id: str, expired_below: int) -> bool:
        generation = self._claims.get(event_id)
        return generation is not None and generation >= expired_below

    # -- per caller -----------------------------------------------------------------------------------------
    def publish_own(self) -> int:
        """Publish the events this thread committed and hand them to the consumer, a batch at a time; repeat for
        what the consumer committed in turn; then mark them all in one call (and the events the consumer could not
        handle as failed: they stay pending). A nested call (from inside the consumer) returns 0: the outer call
        goes on. With ``publish_after_commit`` False nothing was claimed, so there is nothing to publish.

        With a :attr:`publication` each batch goes to the consumer first, and all of them are appended to the bus
        and marked at the end, in one write (see the module docstring).

        Returns:
            How many events were published (with a :attr:`publication`: appended to the bus by this call, other
            callers' included).

        Raises:
            InfrastructureError: the bus refused a batch; those events and the rest of this thread's stay pending
                (attempts counted) for the sweep; what was published before is marked. With a
                :attr:`publication`: its write failed, and every event of the call stays pending.
            Exception: what the consumer raised; the batch it raised on (never handled) and what it committed stay
                pending for the sweep, and the batches before it are marked.
        """
        own = self._own
        if own.publishing or not own.events:
            return 0
        publication = self.publication
        if publication is not None:
            return self._publish_and_mark_own(publication)
        consumer = self.consumer
        publish = self.publisher.publish
        own.publishing = True  # (after the lookups: nothing between here and the try can raise)
        published: list[DomainEvent] = []  # grown with += (no call per batch); their ids are taken once, at the end
        unhandled: set[str] | None = None
        batch: list[DomainEvent] = []
        try:
            while True:
                if own.events:
                    batch = batch + own.events if batch else own.events
                    own.events = []
                if not batch:
                    break
                try:
                    publish(batch)
                except InfrastructureError:
                    self.outbox.mark_failed(list(map(_EVENT_ID, batch)))
                    raise
                # Consumers first, then the mark: a crash in between republishes (at-least-once, consumers are
                # idempotent); marking first would lose the in-process delivery for good. A batch the consumer raised
                # on is not marked either (it stays in ``batch``, released to the sweep below).
                if consumer is not None:
                    failed = consumer(batch)
                    if failed:
                        if unhandled is None:
                            unhandled = set()
                        unhandled.update(failed)
                published += batch
                batch = []
            return len(published)
        finally:
            own.publishing = False
            rest, own.events = own.events, []
            ids = list(map(_EVENT_ID, published))
            try:
                if ids:
                    if unhandled:
                        self._mark(ids, unhandled)
                    else:
                        self.outbox.mark_published(ids)
            finally:
                # done or failed, this caller no longer publishes them: the sweep may (self._release, written out)
                if batch or rest:
                    ids += map(_EVENT_ID, batch)
                    ids += map(_EVENT_ID, rest)
                claims = self._claims
                for event_id in ids:
                    if event_id in claims:
                        try:  # noqa: SIM105 -- as in _release
                            del claims[event_id]
                        except KeyError:
                            pass

    def _publish_and_mark_own(self, publication: OutboxPublication) -> int:
        """:meth:`publish_own` with a publication: every batch to the consumer as it comes, then one write that
        appends them all to the bus and marks them (the consumer's failures kept pending, attempt counted), with
        the handled events of the same orders that other callers have not written yet."""
        own = self._own
        consumer = self.consumer
        handed = self._handed
        own.publishing = True
        taken: list[DomainEvent] = []  # what the consumer was handed, in commit order
        unhandled: set[str] | None = None
        appended: Sequence[str] = ()
        batch: list[DomainEvent] = []  # with the consumer: if it raises, never handled, so neither appended nor marked
        try:
            while own.events:
                batch, own.events = own.events, []
                failed = consumer(batch) if consumer is not None else None
                taken += batch
                if failed:
                    if unhandled is None:
                        unhandled = set()
                    unhandled.update(failed)
                    for event in batch:
                        if event.event_id not in unhandled:
                            handed[event.event_id] = event
                else:
                    for event in batch:
                        handed[event.event_id] = event
                batch = []
        finally:
            # Consumers first, then the append and the mark, in one write: a crash before it, or its failure, leaves
            # every event pending, so the sweep hands them to the consumer again and publishes them (at-least-once).
            own.publishing = False
            rest, own.events = own.events, []
            ids = list(map(_EVENT_ID, taken))
            try:
                if taken:
                    try:
                        appended = publication.publish_and_mark(taken, unhandled or (), handed)
                    except InfrastructureError:
                        # nothing appended, nothing marked; count the attempt if the store takes it now
                        with contextlib.suppress(InfrastructureError):
                            self.outbox.mark_failed(ids)
                        raise
            finally:
                for event_id in ids:  # written (by this call or another), or left to the sweep
                    handed.pop(event_id, None)
                if batch or rest:  # the batch the consumer raised on, and what it committed: pending, the sweep's
                    ids += map(_EVENT_ID, batch)
                    ids += map(_EVENT_ID, rest)
                self._release(ids)
        return len(appended)

    def _deliver_own(self, events: list[DomainEvent]) -> int:
        """Publish ``events`` (the sweep's, taken from the outbox) and then what this thread committed, as
        :meth:`publish_own` does, whether or not this thread is publishing already (the sweep's own flag is kept)."""
        own = self._own
        own.events = events + own.events
        publishing, own.publishing = own.publishing, False
        try:
            return self.publish_own()
        finally:
            own.publishing = publishing

    def _mark(self, published: list[str], unhandled: set[str]) -> None:
        if unhandled:
            # kept pending (attempt counted): the sweep hands them to the consumer again, after a crash too
            self.outbox.mark_failed([i for i in published if i in unhandled])
            self.outbox.mark_published([i for i in published if i not in unhandled])
        else:
            self.outbox.mark_published(published)

    # -- the sweep ------------------------------------------------------------------------------------------
    def flush(self) -> int:
        """Publish what this thread committed and has not published yet, then every pending record that no caller
        is publishing (oldest first), then what their consumers committed. One sweep runs at a time: a concurrent
        call returns 0 at once.

        One order's records keep their order: once a record is claimed by a caller, the sweep leaves the order's
        later records alone too (they follow it when it is published, by that caller or a later sweep).

        Returns:
            How many events were published.

        Raises:
            InfrastructureError: the bus refused a batch; those records stay pending (attempts counted).
        """
        if not self._sweep_lock.acquire(blocking=False):
            return 0
        own = self._own
        nested = own.publishing
        own.publishing = True
        try:
            published = 0
            if own.events and not nested:
                published += self._deliver_own([])
            seen: set[str] = set()
            expired_below = self._start_sweep()
            # events after this instant may be another process's to publish (younger than foreign_claim_s)
            settling = (
                self._wall_clock() - timedelta(seconds=self.foreign_claim_s) if self.foreign_claim_s > 0 else None
            )
            while True:
                records = self.outbox.pending(self.batch_size)
                blocked: set[str] = set()
                events = []
                for record in records:
                    event = record.event
                    if event.event_id in seen:
                        continue
                    if (
                        event.order_id in blocked
                        or self._claimed(event.event_id, expired_below)
                        or (settling is not None and event.occurred_at > settling)
                    ):
                        blocked.add(event.order_id)
                        continue
                    events.append(event)
                if not events:
                    break
                seen.update(e.event_id for e in events)
                published += self._deliver_own(events)
                if len(records) < self.batch_size:
                    break
            return published
        finally:
            own.publishing = nested
            self._sweep_lock.release()


# -- change streams ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One record of a store's change stream, as the cloud package decoded it.

    Attributes:
        position: where it is in the stream (a DynamoDB sequence number, a change-feed continuation, an index):
            what the cloud package reports back for a retry from there.
        event: the outbox event it carries, or None for a change that is not an outbox insert (skipped).
    """

    position: str
    event: DomainEvent | None


@dataclass(frozen=True, slots=True)
class RelayResult:
    """What :meth:`ChangeStreamRelay.relay` did.

    Attributes:
        published: events published and marked sent, in order.
        retry_from: the position of the first record that was not published (the stream must deliver it and
            everything after it again), or None when the whole batch went out.
        error: why, when ``retry_from`` is set.
    """

    published: tuple[str, ...] = ()
    retry_from: str | None = None
    error: InfrastructureError | None = field(default=None, compare=False)


class ChangeStreamRelay:
    """The outbox relay of a change stream: records in, events published, records marked sent; plus the sweep.

    Args:
        publisher: where events go (often a :class:`~fooddelivery.application.fanout.FanOutPublisher`: the runtime's
            events to its queue, every event to the bus).
        outbox: the outbox the records belong to (to mark them, and for the sweep).
    """

    def __init__(self, publisher: EventPublisher, outbox: Outbox) -> None:
        self.publisher = publisher
        self.outbox = outbox

    def relay(self, records: Sequence[ChangeRecord]) -> RelayResult:
        """Publish the events of one batch in stream order and mark them sent; stop at the first that fails.

        Nothing after a failed event is published (it would overtake an earlier event of the same order); the
        result names the failed record's position so the stream delivers it, and everything after it, again.
        A failure to *mark* is only logged: the events went out, and the sweep marks them (publishing again,
        harmlessly) later.
        """
        events = [r.event for r in records if r.event is not None]
        if not events:
            return RelayResult()
        published = events
        retry_from: str | None = None
        error: InfrastructureError | None = None
        try:
            # in the trace of the batch's first event (the call that committed it, in another invocation)
            with publish_span("relay", events):
                self.publisher.publish(events)
        except InfrastructureError as exc:
            failed = set(exc.context.get("failed_ids") or [e.event_id for e in events])
            first = next(i for i, r in enumerate(records) if r.event is not None and r.event.event_id in failed)
            retry_from, error = records[first].position, exc
            published = [r.event for r in records[:first] if r.event is not None]
            log.warning(
                "relay: %d of %d events not published (%s); retrying from %s",
                len(failed),
                len(events),
                exc.detail,
                retry_from,
            )
        ids = [e.event_id for e in published]
        record_outbox_lag(published, now_utc(), "relay")
        if ids:
            try:
                self.outbox.mark_published(ids)
            except InfrastructureError:
                log.warning("relay: %d published outbox records not marked; the sweep will", len(ids), exc_info=True)
        return RelayResult(tuple(ids), retry_from, error)

    def sweep(self, batch_size: int = 100) -> int:
        """Publish every record still pending (oldest first) and mark it: what the stream could not deliver.

        Returns:
            How many were published.

        Raises:
            InfrastructureError: the bus refused a batch (those records stay pending, attempts counted).
        """
        return OutboxRelay(self.outbox, self.publisher, consumer=None, batch_size=batch_size, claim_ttl_s=0).flush()

