"""Saga instances on DynamoDB, one item per instance, compare-and-set on ``version``.

``data`` is stored as a native map (floats refused, numbers as text); step names, attempts and timers as plain
attributes. Each write is one conditional ``PutItem``: ``attribute_not_exists(sagaId)`` to create, ``version =
<the version read>`` to save, so of two writers of one version exactly one wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fooddelivery.domain.errors import InfrastructureError, NotFound
from fooddelivery.ports.saga_store import SagaState
from fooddelivery_aws.dynamodb._support import Counters, LazyClient, get_item, put_new, put_versioned
from fooddelivery_aws.dynamodb.attributes import RecordError
from fooddelivery_aws.dynamodb.records import saga_from_item, saga_to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoDBSagaStateStore"]


class DynamoDBSagaStateStore:
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

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        counters: Counters | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self._table = table_name
        self._client = LazyClient(client, region_name=region_name, endpoint_url=endpoint_url)
        self._counters = counters

    @property
    def table_name(self) -> str:
        """The sagas table."""
        return self._table

    def _count(self, name: str) -> None:
        if self._counters is not None:
            self._counters.add(name)

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
        item = get_item(self._client.get(), self._table, {"sagaId": {"S": saga_id}}, "saga.get")
        if item is None:
            raise NotFound(f"saga {saga_id} not found", saga_id=saga_id)
        try:
            return saga_from_item(item)
        except RecordError as exc:
            raise InfrastructureError(f"unreadable saga item: {exc}", reason="corrupt_item") from exc

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
