"""Orders on Firestore, with the transactional outbox and the idempotency bindings, each write one atomic commit.

Layout (collection names get the repository's ``prefix``):

=========================  =====================================================================================
document                   content
=========================  =====================================================================================
``orders/{orderId}``       the order (:func:`~fooddelivery_gcp.firestore.records.order_doc`) + ``writtenAt``
                           (server timestamp of the last write) + ``commitId`` (a random id of the last
                           commit of ``add``, ``save`` or the unit of work: how a resent commit recognises its
                           own write)
``order_keys/{id}``        an idempotency binding; ``id`` = ``order_id_for_key(customer, key)``, the id a keyed
                           placement gives its order, so ``find_idempotent`` is one point read
``outbox/{eventId}``       a pending event: its JSON text, ``orderId``, ``orderVersion``, ``attempts`` and
                           ``committedAt`` (the commit's server timestamp, the sweep's "oldest first")
=========================  =====================================================================================

Writes, all as one atomic batched commit (Firestore applies every write of a commit or none,
https://firebase.google.com/docs/firestore/manage-data/transactions#batched-writes), with no read on the way:

- ``add``: ``create`` of the order, of the binding (if any) and of every outbox record. ``create`` fails the
  whole commit with ``ALREADY_EXISTS`` when a document exists; only then does the adapter read, to say which
  (the binding -> ``DuplicateRequest`` / ``IdempotencyKeyReused``; the order -> ``ConcurrencyConflict``). Two
  concurrent placements with one key: one commit wins, the other reads the winner's binding.
- ``save``: an ``update`` of the order with a ``last_update_time`` precondition -- the order's
  ``concurrency_token``, the ``update_time`` read with it -- plus the new outbox records. A failed precondition
  fails the commit; a read then tells ``NotFound`` from ``ConcurrencyConflict``. An order without a token (built
  by hand) is written in a transaction that compares the stored ``version`` instead.
- a lost answer: the client library resends a Commit whose answer was lost (it retries ``UNAVAILABLE`` for up to
  60 s), and the resend fails on the first one's write (``ALREADY_EXISTS``, a failed precondition). Each commit
  stamps the order with a ``commitId`` of its own, so the read that follows a refusal tells the caller's own
  applied commit (success) from another writer's.

With the saga (the unit of work, :meth:`FirestoreOrderRepository.unit_of_work` over a
:class:`~fooddelivery_gcp.firestore.saga_store.FirestoreSagaStateStore` on the same client): a saga step's order
write -- the ``create`` or preconditioned ``update`` above with its outbox records (and binding) -- and the saga's
``create`` or ``update`` with its own ``last_update_time`` precondition go in **one** batched commit, so the order,
its events and the saga's new state are written together or not at all; the order is read with its saga in one
``get_all`` (:mod:`fooddelivery_gcp.firestore.unit_of_work`). Other saga stores get the unit composed of the two
ports (two writes, not atomic).

The outbox is a top-level collection keyed by event id rather than a subcollection of the order: Firestore
commits span documents of any collection, so the placement stays one atomic write, and marking a record published
is a delete by id with no query. ``pending`` is one query ordered by ``(committedAt, orderId, orderVersion)``
(a composite index of ``firestore.indexes.json``). ``committedAt`` grows with time, so at sustained rates above
about 500 outbox writes per second the index's hot spot would throttle writes
(https://cloud.google.com/firestore/docs/best-practices#high_read_write_and_delete_rates); records live only until
published.

Billed operations go to the meter (``fooddelivery_gcp.metering``): one write per created or updated document, one
delete per removed outbox record, one read per document read (a point read of a missing document too) and at
least one per query.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.adapters.paging import bad_cursor, check_limit, decode_cursor, encode_cursor
from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    DuplicateRequest,
    IdempotencyKeyReused,
    InfrastructureError,
    NotFound,
)
from fooddelivery.domain.order import Order, OrderStatus, order_id_for_key
from fooddelivery.ports.messaging import OutboxRecord
from fooddelivery.ports.orders import IdempotencyRecord, Page
from fooddelivery.ports.saga_store import SagaStateStore
from fooddelivery.ports.unit_of_work import OrderUnitOfWork
from fooddelivery_gcp.firestore._support import (
    FirestoreRepository,
    doc_id,
    error_name,
    format_token,
    parse_token,
    reraise,
    run_transaction,
)
from fooddelivery_gcp.firestore.records import event_from_text, event_text, order_doc, order_from_doc, plain_utc

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference, Transaction

__all__ = ["FirestoreOrderRepository"]

ORDERS: Final[str] = "orders"
ORDER_KEYS: Final[str] = "order_keys"
OUTBOX: Final[str] = "outbox"
#: Most documents one commit may write (Firestore's limit is 500; an order write touches 1 + its events + 1).
_MAX_WRITES: Final[int] = 500
#: Transaction attempts on contention (``ABORTED``) for a version-compared save.
_TXN_ATTEMPTS: Final[int] = 5
#: :meth:`FirestoreOrderRepository._own_write`'s answer for a refused commit that was not the caller's own.
_NOT_OURS: Final[object] = object()


def _cursor(kind: str, scope: str, created_at: datetime, order_id: str) -> str:
    return encode_cursor({"k": kind, "s": scope, "t": created_at.isoformat(), "id": order_id})


def _cursor_position(cursor: str, kind: str, scope: str) -> tuple[datetime, str]:
    pos = decode_cursor(cursor, kind, ("s", "t", "id"))
    if pos["s"] != scope:
        raise bad_cursor()
    try:
        at = datetime.fromisoformat(pos["t"])
    except ValueError:
        raise bad_cursor() from None
    if at.utcoffset() is None:
        raise bad_cursor()
    return at, pos["id"]


class FirestoreOrderRepository(FirestoreRepository):
    """Orders, their idempotency bindings and their outbox in Firestore (implements ``OrderRepository`` and
    ``Outbox``; see the module docstring).

    Args:
        client: a ``google.cloud.firestore.Client`` (or ``LazyFirestore``); built lazily when None.
        prefix: prepended to the collection names.
        meter: records billed document operations.
    """

    # -- references -----------------------------------------------------------------------------------------
    def _order_ref(self, order_id: str) -> DocumentReference:
        return self.client.collection(self.collection_name(ORDERS)).document(doc_id(order_id))

    def _key_ref(self, scope: str, key: str) -> DocumentReference:
        return self.client.collection(self.collection_name(ORDER_KEYS)).document(doc_id(order_id_for_key(scope, key)))

    def _outbox_ref(self, event_id: str) -> DocumentReference:
        return self.client.collection(self.collection_name(OUTBOX)).document(doc_id(event_id))

    def _outbox_docs(self, order: Order) -> list[tuple[DocumentReference, dict[str, Any]]]:
        from google.cloud.firestore import SERVER_TIMESTAMP

        return [
            (
                self._outbox_ref(e.event_id),
                {
                    "eventId": e.event_id,
                    "orderId": e.order_id,
                    "orderVersion": e.order_version,
                    "type": e.type.value,
                    "event": event_text(e),
                    "attempts": 0,
                    "committedAt": SERVER_TIMESTAMP,
                },
            )
            for e in order.pending_events
        ]

    def _written(self, order: Order, update_time: Any, events: int) -> None:
        order.take_events()
        order.persisted_version = order.version
        order.concurrency_token = format_token(update_time) if update_time is not None else None
        self._record(ORDERS, writes=1)
        if events:
            self._record(OUTBOX, writes=events)

    # -- OrderRepository -----------------------------------------------------------------------------------
    def add(self, order: Order, idempotency: IdempotencyRecord | None = None) -> None:
        """Insert ``order`` with its pending events and bind ``idempotency`` if given, in one commit.

        On success the pending events are taken from the order, ``persisted_version`` is set and
        ``concurrency_token`` is the commit's update time; on any error nothing is written and the order is left
        untouched.

        Raises:
            DuplicateRequest: the key is bound with the same fingerprint (``resource_id`` = the first order).
            IdempotencyKeyReused: the key is bound with another fingerprint.
            ConcurrencyConflict: an order with this id exists (or one of its event ids is in the outbox).
            ValidationError: an event payload is not JSON-ready (field ``payload``).
            InfrastructureError: Firestore failed; nothing was written.
        """
        from google.cloud.firestore import SERVER_TIMESTAMP

        commit_id = uuid.uuid4().hex
        doc = {**order_doc(order), "writtenAt": SERVER_TIMESTAMP, "commitId": commit_id}
        outbox = self._outbox_docs(order)
        if 2 + len(outbox) > _MAX_WRITES:
            raise InfrastructureError(f"order {order.order_id}: too many events for one commit", reason="too_large")
        order_ref = self._order_ref(order.order_id)
        batch = self.client.batch()
        batch.create(order_ref, doc)
        key_ref = None
        if idempotency is not None:
            key_ref = self._key_ref(idempotency.scope, idempotency.key)
            batch.create(
                key_ref,
                {
                    "scope": idempotency.scope,
                    "key": idempotency.key,
                    "fingerprint": idempotency.fingerprint,
                    "orderId": idempotency.order_id,
                    "writtenAt": SERVER_TIMESTAMP,
                },
            )
        for ref, data in outbox:
            batch.create(ref, data)
        try:
            results = batch.commit()
            written = results[0].update_time if results else None
        except Exception as exc:
            if error_name(exc) != "AlreadyExists":
                reraise(exc, "orders.add", order_id=order.order_id)
            written = self._own_write(order, commit_id, self._snapshot(order.order_id))
            if written is _NOT_OURS:
                self._explain_existing(order, idempotency, exc)
        if key_ref is not None:
            self._record(ORDER_KEYS, writes=1)
        self._written(order, written, len(outbox))

    @staticmethod
    def _own_write(order: Order, commit_id: str, snap: Any) -> Any:
        """After a refused commit of ``order`` stamped ``commit_id``, from ``snap`` (the order read after it): when
        the stored order carries that id the commit was applied (the client library resent it after its answer was
        lost, and the resend failed on the first one's write): its update time, or None when the order was written
        again since. Else :data:`_NOT_OURS`."""
        data = (snap.to_dict() or {}) if snap.exists else {}
        if data.get("commitId") != commit_id:
            return _NOT_OURS
        return snap.update_time if data.get("version") == order.version else None

    def _explain_existing(self, order: Order, idempotency: IdempotencyRecord | None, exc: Exception) -> None:
        """Raise the core's error for a placement whose commit found a document already there."""
        if idempotency is not None:
            bound = self.find_idempotent(idempotency.scope, idempotency.key)
            if bound is not None:
                if bound.fingerprint == idempotency.fingerprint:
                    raise DuplicateRequest(
                        f"idempotency key {idempotency.key!r} already created order {bound.order_id}",
                        resource_id=bound.order_id,
                    ) from exc
                raise IdempotencyKeyReused(
                    f"idempotency key {idempotency.key!r} was used with a different request",
                    scope=idempotency.scope,
                    key=idempotency.key,
                ) from exc
        raise ConcurrencyConflict(f"order {order.order_id} already exists", order_id=order.order_id) from exc

    def _snapshot(self, order_id: str, transaction: Transaction | None = None) -> Any:
        ref = self._order_ref(order_id)
        try:
            snap = ref.get(transaction=transaction)
        except Exception as exc:
            reraise(exc, "orders.get", order_id=order_id)
        self._record(ORDERS, reads=1)
        return snap

    def get(self, order_id: str) -> Order:
        """The stored order (a new object): ``persisted_version`` = its stored version, ``concurrency_token`` = its
        update time.

        Raises:
            NotFound: no such order.
            InfrastructureError: Firestore failed, or the document is damaged.
        """
        snap = self._snapshot(order_id)
        if not snap.exists:
            raise NotFound(f"order {order_id} not found", order_id=order_id)
        return order_from_doc(snap.to_dict() or {}, format_token(snap.update_time))

    def save(self, order: Order) -> None:
        """Write ``order`` and its pending events if the stored order is still the one it was read as.

        Raises:
            NotFound: the order was never added.
            ConcurrencyConflict: someone else wrote first (nothing written, the order left untouched).
            ValidationError: an event payload is not JSON-ready (field ``payload``).
            InfrastructureError: Firestore failed; nothing was written.
        """
        from google.cloud.firestore import SERVER_TIMESTAMP

        doc = {**order_doc(order), "writtenAt": SERVER_TIMESTAMP}
        outbox = self._outbox_docs(order)
        if 1 + len(outbox) > _MAX_WRITES:
            raise InfrastructureError(f"order {order.order_id}: too many events for one commit", reason="too_large")
        if order.concurrency_token is None:
            self._save_compared(order, doc, outbox)
            return
        commit_id = uuid.uuid4().hex
        doc["commitId"] = commit_id
        ref = self._order_ref(order.order_id)
        batch = self.client.batch()
        batch.update(ref, doc, option=self.client.write_option(last_update_time=parse_token(order.concurrency_token)))
        for out_ref, data in outbox:
            batch.create(out_ref, data)
        try:
            results = batch.commit()
            written = results[0].update_time
        except Exception as exc:
            name = error_name(exc)
            if name not in ("FailedPrecondition", "NotFound", "AlreadyExists"):
                reraise(exc, "orders.save", order_id=order.order_id)
            snap = self._snapshot(order.order_id)
            written = self._own_write(order, commit_id, snap)
            if written is _NOT_OURS:
                self._record(ORDERS, writes=1)
                self._conflict(order, exc, snap)
        self._written(order, written, len(outbox))

    def _conflict(self, order: Order, exc: Exception, snap: Any) -> None:
        """Raise the core's error for a refused save, from ``snap`` (the order read after the refusal)."""
        if not snap.exists:
            raise NotFound(f"order {order.order_id} not found", order_id=order.order_id) from exc
        stored = (snap.to_dict() or {}).get("version")
        raise ConcurrencyConflict(
            f"order {order.order_id} is at version {stored}, not {order.persisted_version} as read",
            order_id=order.order_id,
            stored_version=stored,
            expected_version=order.persisted_version,
        ) from exc

    def _save_compared(
        self, order: Order, doc: dict[str, Any], outbox: list[tuple[DocumentReference, dict[str, Any]]]
    ) -> None:
        """A save for an order read without a token: compare the stored version inside a transaction."""
        ref = self._order_ref(order.order_id)

        def write(transaction: Transaction) -> None:
            snap = self._snapshot(order.order_id, transaction)
            if not snap.exists:
                raise NotFound(f"order {order.order_id} not found", order_id=order.order_id)
            stored = (snap.to_dict() or {}).get("version")
            if stored != order.persisted_version:
                raise ConcurrencyConflict(
                    f"order {order.order_id} is at version {stored}, not {order.persisted_version} as read",
                    order_id=order.order_id,
                    stored_version=stored,
                    expected_version=order.persisted_version,
                )
            transaction.set(ref, doc)
            for out_ref, data in outbox:
                transaction.create(out_ref, data)

        run_transaction(self.client, write, _TXN_ATTEMPTS, "orders.save", order_id=order.order_id)
        self._written(order, None, len(outbox))

    def unit_of_work(self, sagas: SagaStateStore) -> OrderUnitOfWork | None:
        """A native unit of work when ``sagas`` is a :class:`~fooddelivery_gcp.firestore.saga_store.
        FirestoreSagaStateStore` on the same client (one batched commit writes the order, its outbox records, its
        binding and the saga; one ``get_all`` reads the order with its saga:
        :mod:`fooddelivery_gcp.firestore.unit_of_work`), else None (``UnitOfWorkSource``)."""
        from fooddelivery_gcp.firestore.saga_store import FirestoreSagaStateStore
        from fooddelivery_gcp.firestore.unit_of_work import FirestoreUnitOfWork

        if isinstance(sagas, FirestoreSagaStateStore) and self.shares_client(sagas):
            return FirestoreUnitOfWork(self, sagas)
        return None

    def find_idempotent(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The binding of ``key`` in ``scope`` (one point read), or None.

        Raises:
            InfrastructureError: Firestore failed.
        """
        try:
            snap = self._key_ref(scope, key).get()
        except Exception as exc:
            reraise(exc, "orders.find_idempotent")
        self._record(ORDER_KEYS, reads=1)
        if not snap.exists:
            return None
        data = snap.to_dict() or {}
        if data.get("scope") != scope or data.get("key") != key:
            return None  # a digest collision of another (scope, key): not this binding
        return IdempotencyRecord(scope, key, str(data["fingerprint"]), str(data["orderId"]))

    # -- listings -------------------------------------------------------------------------------------------
    def _list(self, query: Any, limit: int, action: str) -> list[Order]:
        try:
            snaps = list(query.limit(limit + 1).stream())
        except Exception as exc:
            reraise(exc, action)
        self._record(ORDERS, reads=max(1, len(snaps)))
        return [order_from_doc(s.to_dict() or {}, format_token(s.update_time)) for s in snaps]

    def list_by_customer(self, customer_id: str, limit: int = 20, cursor: str | None = None) -> Page[Order]:
        """Up to ``limit`` of the customer's orders, newest first (``createdAt``, then ``orderId``, descending).

        Index: ``orders (customerId ASC, createdAt DESC, orderId DESC)``.

        Raises:
            ValidationError: ``limit`` outside 1..100 (field ``limit``) or a malformed cursor (``cursor``).
            InfrastructureError: Firestore failed.
        """
        from google.cloud.firestore import FieldFilter, Query

        check_limit(limit)
        query = (
            self.client.collection(self.collection_name(ORDERS))
            .where(filter=FieldFilter("customerId", "==", customer_id))
            .order_by("createdAt", direction=Query.DESCENDING)
            .order_by("orderId", direction=Query.DESCENDING)
        )
        if cursor is not None:
            at, order_id = _cursor_position(cursor, "oc", customer_id)
            query = query.start_after({"createdAt": at, "orderId": order_id})
        orders = self._list(query, limit, "orders.list_by_customer")
        more = len(orders) > limit
        orders = orders[:limit]
        next_cursor = _cursor("oc", customer_id, orders[-1].created_at, orders[-1].order_id) if more else None
        return Page(orders, next_cursor)

    def list_by_restaurant(
        self,
        restaurant_id: str,
        status: OrderStatus | None = None,
        limit: int = 20,
        cursor: str | None = None,
        *,
        newest_first: bool = False,
    ) -> Page[Order]:
        """Up to ``limit`` of the restaurant's orders (of ``status`` if given), oldest first (``createdAt``, then
        ``orderId``), or newest first with ``newest_first``. A cursor names its direction (kind ``or`` oldest
        first, ``ord`` newest first), restaurant and status.

        Indexes: ``orders (restaurantId ASC, createdAt ASC, orderId ASC)`` and
        ``orders (restaurantId ASC, status ASC, createdAt ASC, orderId ASC)``; newest first, the same with
        ``createdAt DESC, orderId DESC`` (declared in :mod:`fooddelivery_gcp.firestore.indexes`).

        Raises:
            ValidationError: ``limit`` outside 1..100 (field ``limit``) or a malformed cursor, or one of another
                listing or direction (``cursor``).
            InfrastructureError: Firestore failed.
        """
        from google.cloud.firestore import FieldFilter, Query

        check_limit(limit)
        kind = "ord" if newest_first else "or"
        direction = Query.DESCENDING if newest_first else Query.ASCENDING
        scope = f"{restaurant_id}|{status.value if status is not None else '*'}"
        query = self.client.collection(self.collection_name(ORDERS)).where(
            filter=FieldFilter("restaurantId", "==", restaurant_id)
        )
        if status is not None:
            query = query.where(filter=FieldFilter("status", "==", status.value))
        query = query.order_by("createdAt", direction=direction).order_by("orderId", direction=direction)
        if cursor is not None:
            at, order_id = _cursor_position(cursor, kind, scope)
            query = query.start_after({"createdAt": at, "orderId": order_id})
        orders = self._list(query, limit, "orders.list_by_restaurant")
        more = len(orders) > limit
        orders = orders[:limit]
        next_cursor = _cursor(kind, scope, orders[-1].created_at, orders[-1].order_id) if more else None
        return Page(orders, next_cursor)

    # -- Outbox ---------------------------------------------------------------------------------------------
    def pending(self, limit: int = 100, *, older_than: datetime | None = None) -> Sequence[OutboxRecord]:
        """Up to ``limit`` unpublished records, oldest commit first (one order's in version order).

        Index: ``outbox (committedAt ASC, orderId ASC, orderVersion ASC)``.

        Args:
            limit: most records returned.
            older_than: only records committed before this time (the sweep leaves the youngest to the callers
                that committed them and are publishing them right now).

        Raises:
            InfrastructureError: Firestore failed, or a record is damaged.
        """
        from google.cloud.firestore import FieldFilter

        if limit <= 0:
            return []
        query: Any = self.client.collection(self.collection_name(OUTBOX))
        if older_than is not None:
            query = query.where(filter=FieldFilter("committedAt", "<", older_than))
        query = query.order_by("committedAt").order_by("orderId").order_by("orderVersion").limit(limit)
        try:
            snaps = list(query.stream())
        except Exception as exc:
            reraise(exc, "outbox.pending")
        self._record(OUTBOX, reads=max(1, len(snaps)))
        out = []
        for snap in snaps:
            data = snap.to_dict() or {}
            out.append(OutboxRecord(event_from_text(data.get("event")), int(data.get("attempts", 0))))
        return out

    def committed_at(self, event_id: str) -> datetime | None:
        """When the outbox record of ``event_id`` was committed (server time), or None when it is not pending."""
        try:
            snap = self._outbox_ref(event_id).get()
        except Exception as exc:
            reraise(exc, "outbox.get")
        self._record(OUTBOX, reads=1)
        if not snap.exists:
            return None
        return plain_utc((snap.to_dict() or {})["committedAt"])

    def mark_published(self, event_ids: Sequence[str]) -> None:
        """Delete these records (unknown or already-deleted ids are ignored: a delete of a missing document
        succeeds).

        Raises:
            InfrastructureError: Firestore failed; the records of the failed commit stay pending.
        """
        ids = list(dict.fromkeys(event_ids))
        for start in range(0, len(ids), _MAX_WRITES):
            chunk = ids[start : start + _MAX_WRITES]
            batch = self.client.batch()
            for event_id in chunk:
                batch.delete(self._outbox_ref(event_id))
            try:
                batch.commit()
            except Exception as exc:
                reraise(exc, "outbox.mark_published")
            self._record(OUTBOX, deletes=len(chunk))

    def mark_failed(self, event_ids: Sequence[str]) -> None:
        """Add one failed attempt to each of these pending records (unknown ids are ignored).

        Each is an ``update`` with ``Increment(1)``, which fails on a missing document: those are skipped.

        Raises:
            InfrastructureError: Firestore failed.
        """
        from google.cloud.firestore import Increment

        for event_id in dict.fromkeys(event_ids):
            try:
                self._outbox_ref(event_id).update({"attempts": Increment(1)})
            except Exception as exc:
                if error_name(exc) == "NotFound":
                    continue
                reraise(exc, "outbox.mark_failed")
            self._record(OUTBOX, writes=1)
