"""Saga instances on DynamoDB, one item per instance, compare-and-set on ``version``.

``data`` is stored as a native map (floats refused, numbers as text); step names, attempts and timers as plain
attributes. Each write is one conditional ``PutItem``: ``attribute_not_exists(sagaId)`` to create, ``version =
<the version read>`` to save, so of two writers of one version exactly one wins. The core's saga steps write
through the order store's unit of work instead (:mod:`fooddelivery_aws.dynamodb.unit_of_work`), which puts the
same item with the same condition inside the order's ``TransactWriteItems``.
"""

from __future__ import annotations

from fooddelivery.ports.saga_store import SagaState
from fooddelivery_aws.dynamodb._support import (
    TableRepository,
    decode_item,
    get_required,
    put_new,
    put_versioned,
)
from fooddelivery_aws.dynamodb.records import saga_from_item, saga_to_item

__all__ = ["DynamoDBSagaStateStore"]


class DynamoDBSagaStateStore(TableRepository):
    """Saga instances keyed by ``sagaId`` in DynamoDB (implements ``SagaStateStore``).

    Table layout: :data:`fooddelivery_aws.dynamodb.tables.SAGAS`. Reads are strongly consistent.

    Counted operations (with ``counters``): ``saga.reads`` per ``get``, ``saga.writes`` per ``create``/``save``
    (successful or not).

    Args:
        table_name: the sagas table.
        client: a ``boto3`` DynamoDB client; built lazily on first use when None.
        counters: optional operation counters.
        region_name: region of a lazily built client.
        endpoint_url: endpoint of a lazily built client.
    """

    def create(self, state: SagaState) -> None:
        """Insert ``state`` at version 1 (sets ``state.version = 1`` on success).

        Raises:
            ConcurrencyConflict: an instance with this id exists (``state`` left unchanged).
            ValidationError: ``state.data`` holds a float or another non-JSON value.
            InfrastructureError: the store failed.
        """
        self._count("saga.writes")
        item = saga_to_item(state)
        item["version"] = {"N": "1"}
        put_new(
            self._client.get(),
            self._table,
            item,
            "sagaId",
            f"saga {state.saga_id}",
            "saga.create",
            saga_id=state.saga_id,
        )
        state.version = 1

    def get(self, saga_id: str) -> SagaState:
        """The stored instance (a new object each call).

        Raises:
            NotFound: no such instance.
            InfrastructureError: the store failed, or the item is unreadable.
        """
        self._count("saga.reads")
        item = get_required(
            self._client.get(), self._table, {"sagaId": {"S": saga_id}}, "saga.get", f"saga {saga_id}", saga_id=saga_id
        )
        return decode_item(saga_from_item, item, "saga")

    def save(self, state: SagaState) -> None:
        """Replace if the stored version equals ``state.version``, then bump ``state.version``.

        Raises:
            NotFound: never created.
            ConcurrencyConflict: the stored version differs (nothing written, ``state`` unchanged).
            ValidationError: ``state.data`` holds a float or another non-JSON value.
            InfrastructureError: the store failed.
        """
        self._count("saga.writes")
        item = saga_to_item(state)
        item["version"] = {"N": str(state.version + 1)}
        put_versioned(
            self._client.get(),
            self._table,
            item,
            "sagaId",
            state.version,
            f"saga {state.saga_id}",
            "saga.save",
            saga_id=state.saga_id,
        )
        state.version += 1
