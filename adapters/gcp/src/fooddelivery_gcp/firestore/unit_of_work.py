"""The Firestore unit of work: an order's partition (order, outbox records, idempotency binding, saga instance) read
in one call and written in one atomic commit.

- ``load`` is one ``BatchGetDocuments`` call (``Client.get_all``) of ``orders/{id}`` and ``sagas/{id}``, outside
  any transaction, so nothing is locked. The two answers are one consistent view: a document answered earlier in
  the stream is guaranteed not to have changed between its read time and a later one's
  (``BatchGetDocumentsResponse.read_time``,
  https://cloud.google.com/firestore/docs/reference/rpc/google.firestore.v1#batchgetdocumentsresponse).
  (A server client library's transaction locks what it reads until it commits: see
  :mod:`fooddelivery_gcp.firestore.drivers` for what that did to twenty orders reading one driver.) Billed as two
  document reads, one per document asked for, found or not.
- ``commit`` is one batched write -- Firestore applies every write of a commit or none
  (https://firebase.google.com/docs/firestore/manage-data/transactions#batched-writes) -- holding, as the two
  stores' own writes would: the order's ``create`` (a new order: with its binding's ``create``) or its ``update``
  with a ``last_update_time`` precondition (its ``concurrency_token``), a ``create`` per outbox record, and the
  saga's ``create`` (a new instance) or its ``update`` with a ``last_update_time`` precondition (the update time
  the saga store remembers for the version being replaced: ``load`` and every commit remember it). No read on the
  way. Billed as one write per document written.

  A precondition the unit cannot state without a read -- an order copy without a token (built by hand), a saga
  version the process has not seen (another instance wrote it) -- is first read, in one ``get_all`` of the
  documents concerned, compared by ``version``, and the commit then carries that read's update time: a plain read
  and a conditional write, no transaction, no lock (as ``FirestoreDriverRepository.save`` does).

  A failed precondition (``FAILED_PRECONDITION``, ``ALREADY_EXISTS``, ``NOT_FOUND``) wrote nothing; one
  ``get_all`` of the order and the saga then tells why: a document written by someone else
  (``ConcurrencyConflict``), a missing one (``NotFound``), a bound idempotency key
  (``DuplicateRequest`` / ``IdempotencyKeyReused``) -- or **this commit itself**: the client library resends a
  commit whose answer was lost (it retries ``UNAVAILABLE`` on Commit), and the resent one fails the preconditions
  the first one moved. Every commit stamps the order and the saga it writes with a ``commitId`` of its own (a
  random 128-bit hex string): when the stored order or saga carries it, the commit was applied (the id is this
  commit's alone, and a commit applies all of its writes or none) and is reported so. A document of it written
  again since (another instance moved the saga on before the resend) gets no remembered update time: its next
  write reads and compares first. Equal content is not enough (another instance taking the same step from the
  same read writes an equal saga), nor is the first outbox record (the relay may have published and deleted it
  already).

  ``ABORTED`` (contention) wrote nothing either: the commit is sent again within the contention budget
  (:func:`~fooddelivery_gcp.firestore._support.retry_contention`); the preconditions still guard it.

One commit writes at most 500 documents (Firestore's limit): the order, its binding, its outbox records and the
saga.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    DuplicateRequest,
    IdempotencyKeyReused,
    InfrastructureError,
    NotFound,
)
from fooddelivery.domain.order import Order
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaState
from fooddelivery_gcp.firestore._support import error_name, format_token, parse_token, reraise, retry_contention
from fooddelivery_gcp.firestore.orders import _MAX_WRITES, ORDER_KEYS, ORDERS, FirestoreOrderRepository
from fooddelivery_gcp.firestore.records import order_doc, order_from_doc, saga_doc, saga_from_doc
from fooddelivery_gcp.firestore.saga_store import SAGAS, FirestoreSagaStateStore

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference

__all__ = ["FirestoreUnitOfWork"]

#: The errors of a commit whose precondition failed (nothing was written).
_REFUSED: Final[frozenset[str]] = frozenset({"FailedPrecondition", "AlreadyExists", "NotFound"})


class FirestoreUnitOfWork:
    """``OrderUnitOfWork`` over a :class:`FirestoreOrderRepository` and a :class:`FirestoreSagaStateStore` of one
    Firestore database (see the module docstring).

    Billed operations go to each store's meter, per collection, as the stores' own calls record them: a ``load``
    is one read of ``orders`` and one of ``sagas``; a commit is one write per document it writes (``orders``,
    ``order_keys``, ``outbox``, ``sagas``); a refused commit records the reads that explain it and no write.

    Args:
        orders: the order store (and outbox).
        sagas: the saga store, on the same client (or the same lazily built one).

    Raises:
        ValueError: the two stores do not share one client.
    """

    atomic = True

    def __init__(self, orders: FirestoreOrderRepository, sagas: FirestoreSagaStateStore) -> None:
        if not orders.shares_client(sagas):
            raise ValueError("the order store and the saga store must share one Firestore client")
        self.orders = orders
        self.sagas = sagas

    # -- load -----------------------------------------------------------------------------------------------
    def _get_all(self, refs: list[DocumentReference], action: str, order_id: str) -> dict[str, Any]:
        """One ``BatchGetDocuments`` of ``refs``: ``{document path: snapshot}`` (every ref answered, found or not)."""
        try:
            snaps = list(self.orders.client.get_all(refs))
        except Exception as exc:
            reraise(exc, action, order_id=order_id)
        return {snap.reference.path: snap for snap in snaps}

    def load(self, order_id: str) -> tuple[Order, SagaState | None]:
        """The order (its token = its update time) and its saga (None when none was started), in one call.

        Raises:
            NotFound: no such order.
            InfrastructureError: Firestore failed, or a document is damaged.
        """
        order_ref, saga_ref = self.orders._order_ref(order_id), self.sagas._ref(order_id)
        snaps = self._get_all([order_ref, saga_ref], "units.load", order_id)
        self.orders._record(ORDERS, reads=1)
        self.sagas._record(SAGAS, reads=1)
        order_snap, saga_snap = snaps.get(order_ref.path), snaps.get(saga_ref.path)
        if order_snap is None or not order_snap.exists:
            raise NotFound(f"order {order_id} not found", order_id=order_id)
        order = order_from_doc(order_snap.to_dict() or {}, format_token(order_snap.update_time))
        saga: SagaState | None = None
        if saga_snap is not None and saga_snap.exists:
            saga = saga_from_doc(saga_snap.to_dict() or {})
            self.sagas._remember(order_id, saga.version, saga_snap.update_time)
        return order, saga

    # -- commit ---------------------------------------------------------------------------------------------
    def commit(
        self,
        saga: SagaState | None,
        order: Order | None = None,
        *,
        create_saga: bool = False,
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        """Write the order (if new or changed) with its events and binding, and the saga, in one atomic commit (see
        the port and the module docstring). On any error ``order`` and ``saga`` are left as they were, and nothing
        was written -- except after an ``InfrastructureError`` whose answer never came (see below).

        Raises:
            ConcurrencyConflict: the order or the saga was written by someone else since it was read, or exists
                (an insert), or the commit stayed contended for the whole contention budget.
            DuplicateRequest: the placement's key is bound with the same fingerprint (``resource_id`` = that
                order).
            IdempotencyKeyReused: the key is bound with another fingerprint.
            NotFound: the order or the saga to replace was never stored.
            ValidationError: an event payload or the saga's data is not JSON-ready.
            InfrastructureError: Firestore failed, or the commit would write over 500 documents. Nothing was
                written, unless the answer was lost for good (``UNAVAILABLE`` until the client library's 60 s
                retry deadline, ``DEADLINE_EXCEEDED``): then the commit may have been applied, as any write whose
                answer never came.
        """
        from google.cloud.firestore import SERVER_TIMESTAMP

        insert = order is not None and order.persisted_version == 0 and order.concurrency_token is None
        write_order = order is not None and (insert or order.version != order.persisted_version)
        if not write_order and saga is None:
            return
        order_id = order.order_id if order is not None else saga.saga_id if saga is not None else ""
        order_ref = self.orders._order_ref(order_id)
        saga_ref = self.sagas._ref(saga.saga_id) if saga is not None else None

        # what to write, before anything is sent (a ValidationError leaves everything untouched); ``commitId``
        # names this commit in the documents it writes, so that a resent commit can recognise its own write
        commit_id = uuid.uuid4().hex
        order_data: dict[str, Any] | None = None
        outbox: list[tuple[DocumentReference, dict[str, Any]]] = []
        if write_order:
            assert order is not None
            order_data = {**order_doc(order), "writtenAt": SERVER_TIMESTAMP, "commitId": commit_id}
            outbox = self.orders._outbox_docs(order)
        saga_data: dict[str, Any] | None = None
        if saga is not None:
            saga_data = {**saga_doc(saga), "version": 1 if create_saga else saga.version + 1, "commitId": commit_id}
        writes = (1 if write_order else 0) + (1 if insert and idempotency is not None else 0) + len(outbox)
        writes += 1 if saga is not None else 0
        if writes > _MAX_WRITES:
            raise InfrastructureError(f"order {order_id}: too many events for one commit", reason="too_large")

        # the preconditions: the tokens the unit has, else one read of what it lacks
        order_time = None
        if write_order and not insert:
            assert order is not None
            if order.concurrency_token is not None:
                order_time = parse_token(order.concurrency_token)
        saga_time = None
        if saga is not None and not create_saga:
            saga_time = self.sagas._recall(saga.saga_id, saga.version)
        unknown_order = write_order and not insert and order_time is None
        unknown_saga = saga is not None and not create_saga and saga_time is None
        if unknown_order or unknown_saga:
            order_time, saga_time = self._read_preconditions(
                order if unknown_order else None, saga if unknown_saga else None, order_time, saga_time
            )

        client = self.orders.client
        batch = client.batch()
        saga_index = -1
        if write_order:
            assert order_data is not None
            if insert:
                batch.create(order_ref, order_data)
            else:
                batch.update(order_ref, order_data, option=client.write_option(last_update_time=order_time))
            if insert and idempotency is not None:
                batch.create(
                    self.orders._key_ref(idempotency.scope, idempotency.key),
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
        if saga is not None:
            assert saga_ref is not None and saga_data is not None
            saga_index = writes - 1
            if create_saga:
                batch.create(saga_ref, saga_data)
            else:
                batch.update(saga_ref, saga_data, option=client.write_option(last_update_time=saga_time))

        try:
            results: list[Any] = retry_contention(batch.commit, "units.commit", order_id=order_id)
            order_written = results[0].update_time if write_order else None
            saga_written = results[saga_index].update_time if saga is not None else None
        except ConcurrencyConflict:
            raise
        except Exception as exc:
            if error_name(exc) not in _REFUSED:
                reraise(exc, "units.commit", order_id=order_id)
            order_written, saga_written = self._explain(
                exc, order_id, commit_id, order, write_order, insert, idempotency, saga, create_saga
            )

        # written: the orders' and the saga store's own bookkeeping
        if write_order:
            assert order is not None
            if insert and idempotency is not None:
                self.orders._record(ORDER_KEYS, writes=1)
            self.orders._written(order, order_written, len(outbox))
        if saga is not None:
            saga.version = 1 if create_saga else saga.version + 1
            self.sagas._record(SAGAS, writes=1)
            self.sagas._remember(saga.saga_id, saga.version, saga_written)

    def _read_preconditions(
        self, order: Order | None, saga: SagaState | None, order_time: Any, saga_time: Any
    ) -> tuple[Any, Any]:
        """Read the order and/or the saga whose update time the unit lacks, compare their versions and return
        (order's update time, saga's update time) to write them with.

        Raises:
            NotFound: one of them is not stored.
            ConcurrencyConflict: one of them is stored at another version than the one it was read as.
        """
        refs: list[DocumentReference] = []
        if order is not None:
            refs.append(self.orders._order_ref(order.order_id))
        if saga is not None:
            refs.append(self.sagas._ref(saga.saga_id))
        order_id = order.order_id if order is not None else saga.saga_id if saga is not None else ""
        snaps = self._get_all(refs, "units.commit", order_id)
        if order is not None:
            self.orders._record(ORDERS, reads=1)
            snap = snaps.get(refs[0].path)
            if snap is None or not snap.exists:
                raise NotFound(f"order {order.order_id} not found", order_id=order.order_id)
            stored = (snap.to_dict() or {}).get("version")
            if stored != order.persisted_version:
                raise ConcurrencyConflict(
                    f"order {order.order_id} is at version {stored}, not {order.persisted_version} as read",
                    order_id=order.order_id,
                    stored_version=stored,
                    expected_version=order.persisted_version,
                )
            order_time = snap.update_time
        if saga is not None:
            self.sagas._record(SAGAS, reads=1)
            snap = snaps.get(refs[-1].path)
            if snap is None or not snap.exists:
                raise NotFound(f"saga {saga.saga_id} not found", saga_id=saga.saga_id)
            stored = (snap.to_dict() or {}).get("version")
            if stored != saga.version:
                raise ConcurrencyConflict(
                    f"saga {saga.saga_id} is at version {stored}, not {saga.version}", saga_id=saga.saga_id
                )
            saga_time = snap.update_time
        return order_time, saga_time

    def _explain(
        self,
        exc: Exception,
        order_id: str,
        commit_id: str,
        order: Order | None,
        write_order: bool,
        insert: bool,
        idempotency: IdempotencyRecord | None,
        saga: SagaState | None,
        create_saga: bool,
    ) -> tuple[Any, Any]:
        """Why a commit was refused: raise the core's error, or -- when a document it wrote carries its
        ``commit_id`` (its own commit, applied, then resent after a lost answer) -- return the stored order's and
        saga's ``update_time``, each None when that document was written again since (each its own: one may have
        been written again and not the other).

        Raises:
            ConcurrencyConflict, DuplicateRequest, IdempotencyKeyReused, NotFound: as :meth:`commit`.
        """
        order_ref, saga_ref = self.orders._order_ref(order_id), self.sagas._ref(order_id)
        snaps = self._get_all([order_ref, saga_ref], "units.commit", order_id)
        self.orders._record(ORDERS, reads=1)
        self.sagas._record(SAGAS, reads=1)
        order_snap, saga_snap = snaps.get(order_ref.path), snaps.get(saga_ref.path)
        order_stored = order_snap.to_dict() if order_snap is not None and order_snap.exists else None
        saga_stored = saga_snap.to_dict() if saga_snap is not None and saga_snap.exists else None
        written_order = write_order and order_stored is not None and order_stored.get("commitId") == commit_id
        written_saga = saga is not None and saga_stored is not None and saga_stored.get("commitId") == commit_id
        if written_order or written_saga:
            # this commit, resent by the client library after its answer was lost: it was applied (the commit id
            # is this commit's alone, and a commit writes all of its documents or none). A document still as it
            # wrote it gives its update time; one written again since gives none (its next write compares).
            assert order_snap is not None and saga_snap is not None
            order_time = saga_time = None
            if write_order and order is not None and self._as_written(commit_id, order_stored, order.version):
                order_time = order_snap.update_time
            if saga is not None and self._as_written(commit_id, saga_stored, 1 if create_saga else saga.version + 1):
                saga_time = saga_snap.update_time
            return order_time, saga_time
        if insert and idempotency is not None:
            bound = self.orders.find_idempotent(idempotency.scope, idempotency.key)
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
        if write_order:
            assert order is not None
            if insert and order_stored is not None:
                raise ConcurrencyConflict(f"order {order_id} already exists", order_id=order_id) from exc
            if not insert and order_stored is None:
                raise NotFound(f"order {order_id} not found", order_id=order_id) from exc
            if not insert and order_stored is not None and order_stored.get("version") != order.persisted_version:
                stored = order_stored.get("version")
                raise ConcurrencyConflict(
                    f"order {order_id} is at version {stored}, not {order.persisted_version} as read",
                    order_id=order_id,
                    stored_version=stored,
                    expected_version=order.persisted_version,
                ) from exc
        if saga is not None:
            if create_saga and saga_stored is not None:
                raise ConcurrencyConflict(f"saga {saga.saga_id} already exists", saga_id=saga.saga_id) from exc
            if not create_saga and saga_stored is None:
                raise NotFound(f"saga {saga.saga_id} not found", saga_id=saga.saga_id) from exc
            if not create_saga:
                raise ConcurrencyConflict(
                    f"saga {saga.saga_id} changed since version {saga.version}", saga_id=saga.saga_id
                ) from exc
        raise ConcurrencyConflict(
            f"order {order_id}: a document of the commit was written meanwhile", order_id=order_id
        ) from exc

    @staticmethod
    def _as_written(commit_id: str, stored: dict[str, Any] | None, version: int) -> bool:
        """Whether a stored document is still the one commit ``commit_id`` wrote at ``version``. (The stores' own
        ``update`` writes leave a ``commitId`` field in place: the version tells a later write.)"""
        return stored is not None and stored.get("commitId") == commit_id and stored.get("version") == version
