"""Saga instances on Cosmos DB, written after every step with an etag-conditional replace.

Container ``sagas``, partition key ``/sagaId`` (see :mod:`fooddelivery_azure.cosmos.containers`).

The port compares ``SagaState.version`` (a ``SagaState`` has no slot for an etag), so the store remembers, per
instance, the etag of the version it last read or wrote: a ``save`` of that version is then one conditional
replace (``IfNotModified``), and a ``save`` of any other version reads the document first and compares versions.
Either way a lost race is a 412, i.e. ``ConcurrencyConflict``, and nothing is written.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Final

from fooddelivery.domain.errors import ConcurrencyConflict, NotFound
from fooddelivery.ports.saga_store import SagaState
from fooddelivery_azure.cosmos._support import CosmosCalls, decode_document, doc_id, status_of
from fooddelivery_azure.cosmos.records import TYPE_SAGA, saga_from_doc, saga_to_doc
from fooddelivery_azure.metering import ChargeSink, RequestChargeRecorder

if TYPE_CHECKING:
    from azure.cosmos import ContainerProxy

__all__ = ["CosmosSagaStateStore"]

_REMEMBERED: Final[int] = 10_000


class CosmosSagaStateStore:
    """Saga instances in Cosmos DB (``SagaStateStore``; see the module docstring).

    Args:
        container: the ``sagas`` container.
        charges: where each call's request charge goes.
    """

    def __init__(self, container: ContainerProxy, *, charges: ChargeSink | None = None) -> None:
        self.charges: ChargeSink = charges if charges is not None else RequestChargeRecorder()
        self._calls = CosmosCalls(container, self.charges)
        self._etags: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._lock = threading.Lock()

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
        doc = saga_to_doc(state)
        doc["version"] = 1
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
        doc = self._calls.read("sagas.get", doc_id(saga_id), saga_id)
        if doc is None or doc.get("type") != TYPE_SAGA:
            raise NotFound(f"saga {saga_id} not found", saga_id=saga_id)
        state = decode_document(saga_from_doc, doc, "saga")
        self._remember(saga_id, state.version, doc.get("_etag"))
        return state

    def save(self, state: SagaState) -> None:
        """Replace if the stored version equals ``state.version``; bumps ``state.version``.

        Raises:
            ConcurrencyConflict: someone else wrote first (nothing written).
            NotFound: never created.
            ValidationError: ``data`` is not JSON-ready.
            InfrastructureError: the store failed.
        """
        with self._lock:
            known = self._etags.get(state.saga_id)
        etag = known[1] if known is not None and known[0] == state.version else None
        if etag is None:
            doc = self._calls.read("sagas.save.read", doc_id(state.saga_id), state.saga_id)
            if doc is None or doc.get("type") != TYPE_SAGA:
                raise NotFound(f"saga {state.saga_id} not found", saga_id=state.saga_id)
            if doc.get("version") != state.version:
                raise ConcurrencyConflict(
                    f"saga {state.saga_id} is at version {doc.get('version')}, not {state.version}",
                    saga_id=state.saga_id,
                )
            etag = str(doc["_etag"])
        new = saga_to_doc(state)
        new["version"] = state.version + 1
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
