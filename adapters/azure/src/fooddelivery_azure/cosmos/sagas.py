"""Saga instances on Cosmos DB, written after every step with an etag-conditional replace.

Two layouts (see :mod:`fooddelivery_azure.cosmos.containers`):

- **in the orders container** (``in_order_partition=True``, what ``deploy/azure`` deploys): each instance is a
  document ``saga-<sagaId>`` (``type: saga``) in its order's partition (``/orderId``: the saga id is the order id),
  next to the order, its outbox documents and its idempotency binding. The order store can then read the order
  with its saga in one query and write both in one transactional batch
  (:class:`fooddelivery_azure.cosmos.unit_of_work.CosmosUnitOfWork`, via ``CosmosOrderRepository.unit_of_work``);
- **a container of its own** (``sagas``, partition key ``/sagaId``, document id = the saga id): the layout of
  earlier deployments, still supported; an order's step is then two writes (the core's composed unit of work).

The port compares ``SagaState.version`` (a ``SagaState`` has no slot for an etag), so the store remembers, per
instance, the etag of the version it last read or wrote: a ``save`` of that version is then one conditional
replace (``IfNotModified``), and a ``save`` of any other version reads the document first and compares versions.
Either way a lost race is a 412, i.e. ``ConcurrencyConflict``, and nothing is written.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.domain.errors import ConcurrencyConflict, NotFound
from fooddelivery.ports.saga_store import SagaState
from fooddelivery_azure.cosmos._support import CosmosCalls, decode_document, status_of
from fooddelivery_azure.cosmos.records import TYPE_SAGA, saga_doc_id, saga_from_doc, saga_to_doc
from fooddelivery_azure.metering import ChargeSink, RequestChargeRecorder

if TYPE_CHECKING:
    from azure.cosmos import ContainerProxy

__all__ = ["CosmosSagaStateStore"]

_REMEMBERED: Final[int] = 10_000


class CosmosSagaStateStore:
    """Saga instances in Cosmos DB (``SagaStateStore``; see the module docstring).

    Args:
        container: the ``sagas`` container, or the ``orders`` container with ``in_order_partition``.
        charges: where each call's request charge goes.
        in_order_partition: the instances live in their orders' partitions of the orders container (``container``
            is the orders container: partition key ``/orderId``).

    Attributes:
        container: the container the instances live in.
        in_order_partition: as given.
    """

    def __init__(
        self, container: ContainerProxy, *, charges: ChargeSink | None = None, in_order_partition: bool = False
    ) -> None:
        self.charges: ChargeSink = charges if charges is not None else RequestChargeRecorder()
        self.container = container
        self.in_order_partition = in_order_partition
        self._calls = CosmosCalls(container, self.charges)
        self._etags: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._lock = threading.Lock()

    def document(self, state: SagaState, version: int) -> dict[str, Any]:
        """The document of ``state`` at ``version``, in this store's layout.

        Raises:
            ValidationError: ``data`` is not JSON-ready.
        """
        doc = saga_to_doc(state, in_order_partition=self.in_order_partition)
        doc["version"] = version
        return doc

    def known_etag(self, state: SagaState) -> str | None:
        """The etag remembered for ``state``'s saga at ``state.version`` (read or written by this store), or None."""
        with self._lock:
            known = self._etags.get(state.saga_id)
        return known[1] if known is not None and known[0] == state.version else None

    def remember(self, saga_id: str, version: int, etag: object) -> None:
        """Remember the etag of ``saga_id`` at ``version`` (ignored unless a string)."""
        self._remember(saga_id, version, etag)

    def read_document(self, saga_id: str, action: str) -> dict[str, Any] | None:
        """The instance's document (a point read recorded as ``action``), None when it has none."""
        doc = self._calls.read(action, saga_doc_id(saga_id, in_order_partition=self.in_order_partition), saga_id)
        return None if doc is None or doc.get("type") != TYPE_SAGA else doc

    def etag_to_replace(self, state: SagaState, action: str) -> str:
        """The etag a replace of ``state`` must match: the remembered one, else the stored document's after checking
        that it is at ``state.version`` (one point read recorded as ``action``).

        Raises:
            NotFound: never created.
            ConcurrencyConflict: the stored instance is at another version.
            InfrastructureError: the store failed.
        """
        etag = self.known_etag(state)
        if etag is not None:
            return etag
        doc = self.read_document(state.saga_id, action)
        if doc is None:
            raise NotFound(f"saga {state.saga_id} not found", saga_id=state.saga_id)
        if doc.get("version") != state.version:
            raise ConcurrencyConflict(
                f"saga {state.saga_id} is at version {doc.get('version')}, not {state.version}",
                saga_id=state.saga_id,
            )
        return str(doc["_etag"])

    def _remember(self, saga_id: str, version: int, etag: object) -> None:
        if not isinstance(etag, str):
            return
        with self._lock:
            self._etags[saga_id] = (version, etag)
            self._etags.move_to_end(saga_id)
            while len(self._etags) > _REMEMBERED:
                self._etags.popitem(last=False)

    def create(self, state: SagaState) -> None:
        """Insert at version 1 (sets ``state.version``).

        Raises:
            ConcurrencyConflict: an instance with this id exists.
            ValidationError: ``data`` is not JSON-ready.
            InfrastructureError: the store failed.
        """
        self.insert(state)

    def insert(self, state: SagaState) -> None:
        """What :meth:`create` does (the unit of work calls it for a write of the saga alone).

        Raises:
            As :meth:`create`.
        """
        doc = self.document(state, 1)
        try:
            created = self._calls.create("sagas.create", doc)
        except Exception as exc:
            if status_of(exc) == 409:
                raise ConcurrencyConflict(f"saga {state.saga_id} already exists", saga_id=state.saga_id) from exc
            raise
        state.version = 1
        self._remember(state.saga_id, 1, created.get("_etag"))

    def get(self, saga_id: str) -> SagaState:
        """The stored instance (a point read; a new, independent object).

        Raises:
            NotFound: no such instance.
            InfrastructureError: the store failed.
        """
        doc = self.read_document(saga_id, "sagas.get")
        if doc is None:
            raise NotFound(f"saga {saga_id} not found", saga_id=saga_id)
        return self.decode(doc)

    def decode(self, doc: dict[str, Any]) -> SagaState:
        """The instance of a saga document read from the store (its etag remembered).

        Raises:
            InfrastructureError: the document is unreadable.
        """
        state = decode_document(saga_from_doc, doc, "saga")
        self._remember(state.saga_id, state.version, doc.get("_etag"))
        return state

    def save(self, state: SagaState) -> None:
        """Replace if the stored version equals ``state.version``; bumps ``state.version``.

        Raises:
            ConcurrencyConflict: someone else wrote first (nothing written).
            NotFound: never created.
            ValidationError: ``data`` is not JSON-ready.
            InfrastructureError: the store failed.
        """
        self.replace(state)

    def replace(self, state: SagaState) -> None:
        """What :meth:`save` does (the unit of work calls it for a write of the saga alone).

        Raises:
            As :meth:`save`.
        """
        etag = self.etag_to_replace(state, "sagas.save.read")
        new = self.document(state, state.version + 1)
        try:
            written = self._calls.replace("sagas.save", new["id"], new, etag)
        except Exception as exc:
            if status_of(exc) == 404:
                raise NotFound(f"saga {state.saga_id} not found", saga_id=state.saga_id) from exc
            if status_of(exc) == 412:
                raise ConcurrencyConflict(
                    f"saga {state.saga_id} changed since version {state.version}", saga_id=state.saga_id
                ) from exc
            raise
        state.version += 1
        self._remember(state.saga_id, state.version, written.get("_etag"))
