"""What every Cosmos DB adapter shares: document ids, cursors, error translation and request-charge recording.

Error translation (status codes: "HTTP Status Codes for Azure Cosmos DB",
https://learn.microsoft.com/rest/api/cosmos-db/http-status-codes-for-cosmosdb): a 404, 409 or 412 means something
to the calling adapter (NotFound, an existing id, a lost optimistic-concurrency race) and is decided there; every
other refusal becomes the core's :class:`~fooddelivery.domain.errors.InfrastructureError`, retryable for 408
(timeout), 410 (gone), 429 (throttled: the SDK already retried it), 449 (retry with), 500 and 503 and for a
connection failure, not retryable for the rest (a 400 is a bug). Nothing here imports the SDK at module level.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

from fooddelivery.adapters.paging import bad_cursor, check_limit, decode_cursor, encode_cursor
from fooddelivery.domain.errors import InfrastructureError, ValidationError
from fooddelivery_azure.metering import ChargeSink, charge_of

if TYPE_CHECKING:
    from azure.cosmos import ContainerProxy

__all__ = [
    "RETRYABLE_STATUSES",
    "CosmosCalls",
    "RecordError",
    "bad_cursor",
    "check_limit",
    "decode_cursor",
    "decode_document",
    "doc_id",
    "encode_cursor",
    "ran_nothing",
    "status_of",
]

T = TypeVar("T")

#: Statuses worth retrying later (timeouts, throttling, transient service faults).
RETRYABLE_STATUSES: Final[frozenset[int]] = frozenset({408, 410, 429, 449, 500, 502, 503})
#: Characters a Cosmos DB ``id`` may not contain ("Azure Cosmos DB service quotas", per-item limits: an id may not
#: contain '/', '\\', '?' or '#'), plus '%' so the mapping stays unambiguous.
_FORBIDDEN_ID_CHARS: Final[frozenset[str]] = frozenset("/\\?#%")
_MAX_ID_BYTES: Final[int] = 255


class RecordError(ValueError):
    """A stored document is not in the shape this package writes (a damaged or foreign document)."""


def doc_id(value: str, prefix: str = "") -> str:
    """The Cosmos DB ``id`` of a domain id (plus ``prefix``): the id itself when Cosmos accepts it, else ``"h-"`` and
    the SHA-256 of it (ids may hold any printable character; a Cosmos id may not hold ``/ \\ ? #`` and is at most
    255 bytes). The domain id itself is always stored in its own field and read from there.
    """
    text = prefix + value
    encodable = len(text.encode("utf-8", errors="surrogatepass")) <= _MAX_ID_BYTES and text.isprintable()
    if encodable and not (_FORBIDDEN_ID_CHARS & set(text)) and not text.startswith("h-"):
        return text
    return "h-" + hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a Cosmos SDK error (``CosmosHttpResponseError.status_code``), else None."""
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def ran_nothing(exc: BaseException | None) -> bool:
    """Whether a write that failed with the vendor error ``exc`` **certainly** ran none of its operations.

    True for exactly two answers:

    * a 429 (throttled, after the SDK's own retries): the service refuses the request before running it ("429 Too
      many requests: the collection has exceeded the provisioned throughput limit", "HTTP Status Codes for Azure
      Cosmos DB", https://learn.microsoft.com/rest/api/cosmos-db/http-status-codes-for-cosmosdb);
    * azure-core's ``ServiceRequestError`` (and its subclass ``ServiceRequestTimeoutError``): "An error occurred
      while attempt to make a request to the service. No request was sent."
      (https://learn.microsoft.com/python/api/azure-core/azure.core.exceptions.servicerequesterror).

    The SDK resends a write on its own only after an answer that means the same or a refusal (429, 503, 410 gone,
    403 write-forbidden), never after a lost answer unless told to (``retry_write`` / ``RetryNonIdempotentWrites``,
    never set in this package, or per-partition automatic failover, which needs an account of several regions; the
    deployed account has one) -- so a final 429 or unsent request also means no earlier attempt ran.

    False for everything else, above all a lost answer (``ServiceResponseError``: "The request was sent, but the
    client failed to understand the response"), a timeout (408, ``CosmosClientTimeoutError``) or a 5xx: the service
    may have run the write. A caller must then not undo anything on the strength of the failure.
    """
    if exc is None:
        return False
    if status_of(exc) == 429:
        return True
    from azure.core.exceptions import ServiceRequestError

    return isinstance(exc, ServiceRequestError)


def _is_vendor(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("azure.", "requests", "urllib3", "aiohttp")) or isinstance(exc, ConnectionError)


def infrastructure_error(exc: BaseException, action: str, **context: Any) -> InfrastructureError | None:
    """The core's error for a vendor exception raised during ``action``, or None when ``exc`` is not one (a bug,
    which must propagate unchanged)."""
    if not _is_vendor(exc):
        return None
    status = status_of(exc)
    if status is None:
        return InfrastructureError(
            f"{action}: cannot reach Cosmos DB ({type(exc).__name__})",
            service="cosmosdb",
            action=action,
            code=type(exc).__name__,
            retryable=True,
            **context,
        )
    return InfrastructureError(
        f"{action}: Cosmos DB answered {status}",
        service="cosmosdb",
        action=action,
        code=str(status),
        retryable=status in RETRYABLE_STATUSES,
        **context,
    )


def reraise(exc: BaseException, action: str, **context: Any) -> NoReturn:
    """Raise the core's error for ``exc`` (``raise ... from exc``), or ``exc`` itself when it is no vendor error."""
    translated = infrastructure_error(exc, action, **context)
    if translated is None:
        raise exc
    raise translated from exc


def decode_document(decode: Callable[[Mapping[str, Any]], T], document: Mapping[str, Any], what: str) -> T:
    """``decode(document)``, a damaged document becoming an InfrastructureError naming ``what``.

    Raises:
        InfrastructureError: the document is not in the shape this package writes.
    """
    try:
        return decode(document)
    except (RecordError, KeyError, TypeError, ValueError, ValidationError) as exc:
        raise InfrastructureError(
            f"unreadable {what} document {document.get('id')!r}: {exc}", reason="corrupt_document"
        ) from exc


class CosmosCalls:
    """One container's calls, each recording its request charge and translating errors.

    Methods return ``None`` (reads) or raise the SDK's ``CosmosHttpResponseError`` for the statuses the caller
    decides (listed per method); every other failure is an :class:`InfrastructureError`.

    Args:
        container: the SDK's ``ContainerProxy`` (or a stand-in with the same methods).
        charges: where request charges go.
    """

    def __init__(self, container: ContainerProxy, charges: ChargeSink) -> None:
        self.container = container
        self.charges = charges

    def _run(
        self,
        action: str,
        passthrough: frozenset[int] | Callable[[BaseException], bool],
        call: Callable[..., T],
        *args: Any,
        **kwargs: Any,
    ) -> T:
        charged: list[float] = []

        def hook(headers: Mapping[str, Any], _body: Any) -> None:
            charged.append(charge_of(headers))

        try:
            result = call(*args, response_hook=hook, **kwargs)
        except Exception as exc:
            self.charges.record(action, charge_of(getattr(exc, "headers", None)))
            keep = passthrough(exc) if callable(passthrough) else status_of(exc) in passthrough
            if keep:
                raise
            reraise(exc, action)
        self.charges.record(action, sum(charged))
        return result

    def read(self, action: str, item_id: str, partition_key: str) -> dict[str, Any] | None:
        """The document, or None when it does not exist (404)."""
        try:
            return dict(self._run(action, frozenset({404}), self.container.read_item, item_id, partition_key))
        except Exception as exc:
            if status_of(exc) == 404:
                return None
            raise

    def create(self, action: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Insert ``body``. Raises the SDK error for 409 (the id exists in the partition)."""
        return dict(self._run(action, frozenset({409}), self.container.create_item, dict(body)))

    def replace(self, action: str, item_id: str, body: Mapping[str, Any], etag: str | None) -> dict[str, Any]:
        """Replace the document, only if its etag is still ``etag`` (when given). Raises the SDK error for 404 and
        412 (the etag changed)."""
        kwargs: dict[str, Any] = {}
        if etag is not None:
            from azure.core import MatchConditions

            kwargs = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        replace = self.container.replace_item
        return dict(self._run(action, frozenset({404, 412}), replace, item_id, dict(body), **kwargs))

    def delete(self, action: str, item_id: str, partition_key: str) -> bool:
        """Delete the document; False when it did not exist."""
        try:
            self._run(action, frozenset({404}), self.container.delete_item, item_id, partition_key)
        except Exception as exc:
            if status_of(exc) == 404:
                return False
            raise
        return True

    def patch(self, action: str, item_id: str, partition_key: str, operations: Sequence[Mapping[str, Any]]) -> bool:
        """Apply patch ``operations``; False when the document did not exist."""
        try:
            ops = [dict(o) for o in operations]
            self._run(action, frozenset({404}), self.container.patch_item, item_id, partition_key, ops)
        except Exception as exc:
            if status_of(exc) == 404:
                return False
            raise
        return True

    def batch(self, action: str, operations: Sequence[tuple[Any, ...]], partition_key: str) -> list[dict[str, Any]]:
        """One transactional batch on ``partition_key``: every operation or none. Raises the SDK's
        ``CosmosBatchOperationError`` when an operation failed (its ``error_index`` and ``operation_responses``
        tell which and why)."""
        from azure.cosmos.exceptions import CosmosBatchOperationError

        results = self._run(
            action,
            lambda exc: isinstance(exc, CosmosBatchOperationError),
            self.container.execute_item_batch,
            list(operations),
            partition_key=partition_key,
        )
        return [dict(r) for r in results]

    def query(
        self,
        action: str,
        sql: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        partition_key: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The documents of a parameterised query (cross-partition unless ``partition_key``), lazily, page by page;
        each page's charge is recorded as one call of ``action``."""
        params = [{"name": k, "value": v} for k, v in (parameters or {}).items()]
        kwargs: dict[str, Any] = {"parameters": params, "response_hook": self.charges_hook(action)}
        if partition_key is not None:
            kwargs["partition_key"] = partition_key
        else:
            kwargs["enable_cross_partition_query"] = True
        if page_size is not None:
            kwargs["max_item_count"] = page_size
        try:
            pages = self.container.query_items(sql, **kwargs)
            for item in pages:
                yield dict(item)
        except Exception as exc:
            self.charges.record(action, charge_of(getattr(exc, "headers", None)))
            reraise(exc, action)

    def charges_hook(self, action: str) -> Callable[[Mapping[str, Any], Any], None]:
        """A response hook recording each response's charge as one call of ``action``."""

        def hook(headers: Mapping[str, Any], _body: Any) -> None:
            self.charges.record(action, charge_of(headers))

        return hook


# -- cursors and limits ------------------------------------------------------------------------------------------
