"""AWS SDK clients built on first use (never at import), and vendor errors translated into the core's.

Every messaging adapter takes an injected client (``client=``) or builds one here, lazily and once, with
botocore's *standard* retry mode: exponential backoff with jitter on throttling and 5xx answers, 3 attempts in all
(https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html). Nothing imports boto3 or botocore
at module level.

Clients come from one botocore session per process (:func:`shared_session`), as ``boto3.client`` does with its
default session, without importing boto3 itself: boto3 adds its resource layer and s3transfer (about 60 modules,
~20 ms of a cold start) to what a low-level client needs, and none of it is used here. The clients are the same
objects (``botocore.client.BaseClient``); the session resolves credentials as boto3's default session does (the
environment first, then the rest of the provider chain; refreshable credentials refresh themselves).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final, Generic, NoReturn, TypeVar, cast

from fooddelivery.domain.errors import InfrastructureError

if TYPE_CHECKING:
    from botocore.session import Session

__all__ = [
    "RETRYABLE_CODES",
    "LazyClient",
    "build_client",
    "error_code",
    "infrastructure_error",
    "new_client",
    "reraise",
    "shared_session",
]

C = TypeVar("C")

#: Error codes meaning "try again later", across the services used here (throttling, capacity, transient
#: faults). Sources: "Common Errors" of the AWS API references (ThrottlingException, ServiceUnavailable,
#: InternalFailure), SNS Publish (Throttled, KMSThrottling), Kinesis PutRecord
#: (ProvisionedThroughputExceededException, KMSThrottlingException), SQS (RequestThrottled).
RETRYABLE_CODES: Final[frozenset[str]] = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "Throttled",
        "ThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "KMSThrottlingException",
        "KMSThrottling",
        "InternalFailure",
        "InternalError",
        "InternalErrorException",
        "InternalServiceError",
        "InternalServiceErrorException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)


class LazyClient(Generic[C]):
    """One boto3 client of ``service``: the injected one, or built on the first :meth:`get` (thread-safe, once).

    Args:
        service: the boto3 service name (``"events"``, ``"sqs"``...).
        client: a ready client, or None to build one lazily.
        region_name: region of a lazily built client (None: boto3's resolution, e.g. ``AWS_REGION``).
        endpoint_url: endpoint of a lazily built client (None: the real service).
    """

    __slots__ = ("_client", "_endpoint_url", "_lock", "_region_name", "_service")

    def __init__(
        self, service: str, client: C | None = None, *, region_name: str | None = None, endpoint_url: str | None = None
    ) -> None:
        self._service = service
        self._client = client
        self._region_name = region_name
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()

    def get(self) -> C:
        """The client.

        Raises:
            InfrastructureError: boto3 could not build one (no region configured, for one).
        """
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = cast(C, build_client(self._service, self._region_name, self._endpoint_url))
                client = self._client
        return client


class _Session:
    """The process's botocore session (built on first use) and the lock client creation takes."""

    session: Session | None = None
    lock = threading.Lock()


def shared_session() -> Session:
    """The process's botocore session, built on the first call (what ``boto3.client`` would use as its default
    session): every client built here comes from it, so the service data botocore loads (endpoints, retry rules,
    models) is loaded once per process."""
    with _Session.lock:
        if _Session.session is None:
            from botocore.session import get_session

            _Session.session = get_session()
        return _Session.session


def new_client(service: str, region_name: str | None = None, endpoint_url: str | None = None) -> Any:
    """A new, uninstrumented botocore client of ``service`` from :func:`shared_session`, with standard retries.

    Client creation is serialized: a botocore session is not safe to create clients from in several threads at once
    (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/clients.html#multithreading-or-multiprocessing-with-clients).

    Raises:
        Exception: whatever botocore raises (unknown service or region, missing configuration).
    """
    from botocore.config import Config

    session = shared_session()
    with _Session.lock:
        return session.create_client(
            service,
            region_name=region_name,
            endpoint_url=endpoint_url,
            config=Config(retries={"mode": "standard"}),
        )


def build_client(service: str, region_name: str | None = None, endpoint_url: str | None = None) -> Any:
    """A client of ``service`` (:func:`new_client`), instrumented when a process meter is set.

    Raises:
        InfrastructureError: botocore refused (unknown region, missing configuration).
    """
    try:
        client = new_client(service, region_name, endpoint_url)
    except Exception as exc:
        raise InfrastructureError(
            f"cannot build a {service} client: {exc}", service=service, reason="client_init"
        ) from exc
    from fooddelivery_aws.metering import instrument, process_meter

    meter = process_meter()
    return client if meter is None else instrument(client, meter)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``"ThrottlingException"``...), else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    error = response.get("Error")
    if not isinstance(error, dict):
        return None
    code = error.get("Code")
    return code if isinstance(code, str) else None


def infrastructure_error(exc: BaseException, service: str, action: str, **context: Any) -> InfrastructureError | None:
    """The core's error for a vendor exception raised by ``service`` during ``action``, or None if ``exc`` is not a
    vendor exception (a bug, which must propagate unchanged).

    Service errors carry their ``code`` and ``retryable`` (:data:`RETRYABLE_CODES`); botocore's own errors (no
    connection, timeouts, missing credentials) are retryable.
    """
    code = error_code(exc)
    if code is not None:
        return InfrastructureError(
            f"{action}: {service} error {code}",
            service=service,
            action=action,
            code=code,
            retryable=code in RETRYABLE_CODES,
            **context,
        )
    if type(exc).__module__.startswith(("botocore", "urllib3")):
        return InfrastructureError(
            f"{action}: cannot reach {service} ({type(exc).__name__})",
            service=service,
            action=action,
            code=type(exc).__name__,
            retryable=True,
            **context,
        )
    return None


def reraise(exc: BaseException, service: str, action: str, **context: Any) -> NoReturn:
    """Raise the core's error for ``exc`` (``raise ... from exc``), or ``exc`` itself when it is no vendor error."""
    translated = infrastructure_error(exc, service, action, **context)
    if translated is None:
        raise exc
    raise translated from exc
