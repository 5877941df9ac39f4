"""Plumbing shared by the DynamoDB repositories: their common base (table, lazily built client, operation
counting), vendor-error translation, opaque cursors, page limits and item reads.

Nothing here imports boto3 or botocore at module level: the client is built on first use, and botocore's
exception classes are looked at only while handling an exception (when botocore is loaded anyway).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, NoReturn, Protocol, TypeVar

from fooddelivery.adapters.paging import bad_cursor, check_limit, decode_cursor, encode_cursor
from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    FoodDeliveryError,
    InfrastructureError,
    NotFound,
)
from fooddelivery_aws.dynamodb.attributes import RecordError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "RETRYABLE_CODES",
    "Counters",
    "LazyClient",
    "TableRepository",
    "bad_cursor",
    "check_limit",
    "decode_cursor",
    "decode_item",
    "encode_cursor",
    "error_code",
    "get_item",
    "get_required",
    "put_new",
    "put_versioned",
    "reraise",
    "translate_error",
]

#: Error codes that mean "try again later" (throttling, capacity, transient service faults). Source: DynamoDB
#: developer guide, "Error handling with DynamoDB" (error codes with HTTP 400 "retry: yes" and the 5xx codes).
RETRYABLE_CODES: Final[frozenset[str]] = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)

_T = TypeVar("_T")

_CONFLICT_CODES: Final[frozenset[str]] = frozenset({"ConditionalCheckFailedException", "TransactionConflictException"})


class Counters(Protocol):
    """What the repositories need of ``fooddelivery.adapters.memory.OperationCounters`` (duck-typed, so the
    core's in-memory package is not imported at run time).
    """

    def add(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the count of ``name``."""
        ...


class LazyClient:
    """A DynamoDB client given by the caller, or built on first use (thread-safe, once) from the process's botocore
    session (:func:`fooddelivery_aws._clients.new_client`).

    Args:
        client: a ready ``boto3`` DynamoDB client, or None to build one lazily.
        region_name: region of a lazily built client (None: boto3's own resolution, e.g. ``AWS_REGION``).
        endpoint_url: endpoint of a lazily built client (None: the real service).
    """

    __slots__ = ("_client", "_endpoint_url", "_given", "_lock", "_region_name")

    def __init__(self, client: Any = None, *, region_name: str | None = None, endpoint_url: str | None = None) -> None:
        self._client = client
        self._given = client
        self._region_name = region_name
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()

    def get(self) -> DynamoDBClient:
        """The client (built now if it was not given).

        Raises:
            InfrastructureError: botocore could not build a client (no region configured, for one).
        """
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = _build_client(self._region_name, self._endpoint_url)
                client = self._client
        return client  # type: ignore[no-any-return]

    def same_as(self, other: LazyClient) -> bool:
        """Whether ``other`` reaches the same DynamoDB as this one: the same given client, or both built lazily with
        the same region and endpoint (from the process's one credentials chain)."""
        if self._given is not None or other._given is not None:
            return self._given is other._given
        return (self._region_name, self._endpoint_url) == (other._region_name, other._endpoint_url)


class TableRepository:
    """Base of the DynamoDB repositories: the table name, the client (:class:`LazyClient`) and counting.

    Args:
        table_name: the repository's table.
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
        """The repository's table."""
        return self._table

    def _count(self, name: str, n: int = 1) -> None:
        if self._counters is not None and n:
            self._counters.add(name, n)


def _build_client(region_name: str | None, endpoint_url: str | None) -> Any:
    from fooddelivery_aws._clients import new_client

    try:
        # Standard retry mode: exponential backoff with jitter on throttling and 5xx, 3 attempts in all
        # (source: botocore "Retries" guide, standard mode).
        client = new_client("dynamodb", region_name, endpoint_url)
    except Exception as exc:
        raise InfrastructureError(f"cannot build a DynamoDB client: {exc}", reason="client_init") from exc
    from fooddelivery_aws.metering import instrument, process_meter

    meter = process_meter()
    return client if meter is None else instrument(client, meter)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``"ConditionalCheckFailedException"``...), else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    error = response.get("Error")
    if not isinstance(error, dict):
        return None
    code = error.get("Code")
    return code if isinstance(code, str) else None


def translate_error(exc: BaseException, action: str) -> FoodDeliveryError | None:
    """The core's error for a vendor exception raised while doing ``action``, or None if ``exc`` is not one.

    - ``ConditionalCheckFailedException`` / ``TransactionConflictException`` -> ``ConcurrencyConflict``
      (repositories that can tell NotFound from a version conflict handle those codes themselves first);
    - throttling, capacity and 5xx codes (:data:`RETRYABLE_CODES`) -> ``InfrastructureError`` with
      ``retryable=True``;
    - any other service error (a missing table, access denied, a request the service rejected) ->
      ``InfrastructureError`` with ``retryable=False``;
    - botocore's own errors (no connection, timeouts, no credentials) -> ``InfrastructureError``,
      ``retryable=True``.
    """
    code = error_code(exc)
    if code is not None:
        message = str(exc)
        if code in _CONFLICT_CODES:
            return ConcurrencyConflict(f"{action}: {message}", action=action, code=code)
        retryable = code in RETRYABLE_CODES
        return InfrastructureError(f"{action}: DynamoDB error {code}", action=action, code=code, retryable=retryable)
    if type(exc).__module__.startswith(("botocore", "urllib3")):
        return InfrastructureError(
            f"{action}: cannot reach DynamoDB ({type(exc).__name__})",
            action=action,
            code=type(exc).__name__,
            retryable=True,
        )
    return None


def reraise(exc: BaseException, action: str) -> NoReturn:
    """Raise the core's error for ``exc`` (``raise ... from exc``), or ``exc`` itself if it is not a vendor error."""
    translated = translate_error(exc, action)
    if translated is None:
        raise exc
    raise translated from exc


# -- cursors and limits: the core's (fooddelivery.adapters.paging), re-exported -------------------------------


# -- single-item reads and conditional writes ---------------------------------------------------------------
def get_item(client: Any, table: str, key: dict[str, Any], action: str) -> dict[str, Any] | None:
    """A strongly consistent ``GetItem``: the item, or None when absent.

    Raises:
        InfrastructureError: the store failed.
    """
    try:
        response = client.get_item(TableName=table, Key=key, ConsistentRead=True)
    except Exception as exc:
        reraise(exc, action)
    item = response.get("Item")
    return dict(item) if item else None


def get_required(
    client: Any, table: str, key: dict[str, Any], action: str, what: str, **context: Any
) -> dict[str, Any]:
    """:func:`get_item`, with a missing item an error: ``NotFound("<what> not found", **context)``.

    Raises:
        NotFound: no item with this key.
        InfrastructureError: the store failed.
    """
    item = get_item(client, table, key, action)
    if item is None:
        raise NotFound(f"{what} not found", **context)
    return item


def decode_item(decode: Callable[[Mapping[str, Any]], _T], item: Mapping[str, Any], kind: str) -> _T:
    """``decode(item)``, with an unreadable item an ``InfrastructureError`` (``"unreadable <kind> item: ..."``).

    Raises:
        InfrastructureError: ``decode`` raised ``RecordError`` (reason ``corrupt_item``).
    """
    try:
        return decode(item)
    except RecordError as exc:
        raise InfrastructureError(f"unreadable {kind} item: {exc}", reason="corrupt_item") from exc


def put_new(
    client: Any, table: str, item: dict[str, Any], key_attr: str, what: str, action: str, **context: Any
) -> None:
    """``PutItem`` only if no item has this key.

    Args:
        client: the DynamoDB client.
        table: the table.
        item: the item (with its key).
        key_attr: the table's hash key attribute.
        what: a label for messages (``"driver drv-1"``).
        action: the operation name for error context.
        context: extra context of the raised errors (``driver_id="drv-1"``).

    Raises:
        ConcurrencyConflict: an item with this key exists.
        InfrastructureError: the store failed.
    """
    try:
        client.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": key_attr},
        )
    except Exception as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise ConcurrencyConflict(f"{what} already exists", action=action, **context) from exc
        reraise(exc, action)


def put_versioned(
    client: Any,
    table: str,
    item: dict[str, Any],
    key_attr: str,
    expected_version: int,
    what: str,
    action: str,
    **context: Any,
) -> None:
    """``PutItem`` only if the stored item's ``version`` equals ``expected_version`` (compare-and-set).

    On a failed condition, the old item returned with ``ReturnValuesOnConditionCheckFailure=ALL_OLD`` tells a
    version conflict from a missing item; a stand-in that does not return it (dynalite) costs one strongly
    consistent read. ``context`` is added to the raised errors' context.

    Raises:
        NotFound: no item with this key.
        ConcurrencyConflict: the stored version differs (nothing written).
        InfrastructureError: the store failed.
    """
    key = {key_attr: item[key_attr]}
    try:
        client.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="#v = :expected",
            ExpressionAttributeNames={"#v": "version"},
            ExpressionAttributeValues={":expected": {"N": str(expected_version)}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except Exception as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            reraise(exc, action)
        stored = getattr(exc, "response", {}).get("Item") or get_item(client, table, key, action)
        if not stored:
            raise NotFound(f"{what} not found", action=action, **context) from exc
        stored_version = stored.get("version", {}).get("N")
        raise ConcurrencyConflict(
            f"{what} is at version {stored_version}, not {expected_version}",
            action=action,
            stored_version=stored_version,
            expected_version=expected_version,
            **context,
        ) from exc
