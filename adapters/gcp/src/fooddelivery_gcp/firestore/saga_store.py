"""Saga instances on Firestore: ``sagas/{sagaId}`` (:func:`~fooddelivery_gcp.firestore.records.saga_doc`).

``create`` is a ``create`` (``ALREADY_EXISTS`` -> ``ConcurrencyConflict``: a duplicate start). ``save`` must succeed
only if the stored version is still ``state.version``. The runner saves after every step, so the store avoids a
read per save: it remembers the update time of each (saga, version) it read or wrote last (a bounded cache), and
a save of that version is a ``set`` with that ``last_update_time`` precondition -- one write, no read. A save of a
version it has not seen (another process wrote it) runs a transaction comparing the stored ``version`` instead.
The order store's unit of work (:mod:`fooddelivery_gcp.firestore.unit_of_work`), which writes the saga in the order's
commit, reads and writes that memory too: a save after a unit's load or commit is still one write. The unit also
stamps the document with the ``commitId`` of its commit (ignored when read).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.domain.errors import ConcurrencyConflict, NotFound
from fooddelivery.ports.saga_store import SagaState
from fooddelivery_gcp.firestore._support import (
    FirestoreRepository,
    LazyFirestore,
    doc_id,
    error_name,
    reraise,
    run_transaction,
)
from fooddelivery_gcp.firestore.records import saga_doc, saga_from_doc
from fooddelivery_gcp.metering import FirestoreMeter

if TYPE_CHECKING:
    from google.cloud.firestore import Client, DocumentReference, Transaction

__all__ = ["FirestoreSagaStateStore"]

SAGAS: Final[str] = "sagas"
_TXN_ATTEMPTS: Final[int] = 5


class FirestoreSagaStateStore(FirestoreRepository):
    """Saga instances in Firestore (implements ``SagaStateStore``; see the module docstring).

    Args:
        client: a ``google.cloud.firestore.Client`` (or ``LazyFirestore``); built lazily when None.
        prefix: prepended to the collection name.
        meter: records billed document operations.
        remembered: how many (saga, version) update times to keep for read-free saves.
    """

    def __init__(
        self,
        client: Client | LazyFirestore | None = None,
        *,
        prefix: str = "",
        meter: FirestoreMeter | None = None,
        remembered: int = 10_000,
    ) -> None:
        super().__init__(client, prefix=prefix, meter=meter)
        self._seen: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._remembered = remembered

    def _ref(self, saga_id: str) -> DocumentReference:
        return self.client.collection(self.collection_name(SAGAS)).document(doc_id(saga_id))

    def _remember(self, saga_id: str, version: int, update_time: Any) -> None:
        with self._seen_lock:
            self._seen[saga_id] = (version, update_time)
            self._seen.move_to_end(saga_id)
            while len(self._seen) > self._remembered:
                self._seen.popitem(last=False)

    def _recall(self, saga_id: str, version: int) -> Any:
        with self._seen_lock:
            seen = self._seen.get(saga_id)
        return seen[1] if seen is not None and seen[0] == version else None

    def create(self, state: SagaState) -> None:
        """Insert at version 1 (sets ``state.version``).

        Raises:
            ConcurrencyConflict: an instance with this id exists.
            ValidationError: ``data`` is not JSON-ready.
            InfrastructureError: Firestore failed.
        """
        previous = state.version
        state.version = 1
        try:
            doc = saga_doc(state)
            result = self._ref(state.saga_id).create(doc)
        except Exception as exc:
            state.version = previous
            if error_name(exc) == "AlreadyExists":
                self._record(SAGAS, writes=1)
                raise ConcurrencyConflict(f"saga {state.saga_id} already exists", saga_id=state.saga_id) from exc
            if error_name(exc) is None:
                raise
            self._record(SAGAS, writes=1)
            reraise(exc, "sagas.create", saga_id=state.saga_id)
        self._record(SAGAS, writes=1)
        self._remember(state.saga_id, 1, result.update_time)

    def get(self, saga_id: str) -> SagaState:
        """The stored instance (new, independent containers).

        Raises:
            NotFound: no such instance.
            InfrastructureError: Firestore failed, or the document is damaged.
        """
        try:
            snap = self._ref(saga_id).get()
        except Exception as exc:
            reraise(exc, "sagas.get", saga_id=saga_id)
        self._record(SAGAS, reads=1)
        if not snap.exists:
            raise NotFound(f"saga {saga_id} not found", saga_id=saga_id)
        state = saga_from_doc(snap.to_dict() or {})
        self._remember(saga_id, state.version, snap.update_time)
        return state

    def save(self, state: SagaState) -> None:
        """Replace if the stored version equals ``state.version``; bumps ``state.version``.

        Raises:
            ConcurrencyConflict: someone else wrote first (nothing written).
            NotFound: never created.
            ValidationError: ``data`` is not JSON-ready.
            InfrastructureError: Firestore failed.
        """
        expected = state.version
        doc = {**saga_doc(state), "version": expected + 1}
        ref = self._ref(state.saga_id)
        known = self._recall(state.saga_id, expected)
        if known is not None:
            try:
                result = ref.update(doc, option=self.client.write_option(last_update_time=known))
            except Exception as exc:
                self._record(SAGAS, writes=1)
                if error_name(exc) not in ("FailedPrecondition", "NotFound"):
                    reraise(exc, "sagas.save", saga_id=state.saga_id)
                self.get(state.saga_id)  # NotFound when it is gone
                raise ConcurrencyConflict(
                    f"saga {state.saga_id} changed since version {expected}", saga_id=state.saga_id
                ) from exc
            self._record(SAGAS, writes=1)
            state.version = expected + 1
            self._remember(state.saga_id, state.version, result.update_time)
            return

        def write(transaction: Transaction) -> None:
            snap = ref.get(transaction=transaction)
            self._record(SAGAS, reads=1)
            if not snap.exists:
                raise NotFound(f"saga {state.saga_id} not found", saga_id=state.saga_id)
            stored = (snap.to_dict() or {}).get("version")
            if stored != expected:
                raise ConcurrencyConflict(
                    f"saga {state.saga_id} is at version {stored}, not {expected}", saga_id=state.saga_id
                )
            transaction.set(ref, doc)

        run_transaction(self.client, write, _TXN_ATTEMPTS, "sagas.save", saga_id=state.saga_id)
        self._record(SAGAS, writes=1)
        state.version = expected + 1
