"""boto3 clients built on first use (never at import), and vendor errors translated into the core's.

Every messaging adapter takes an injected client (``client=``) or builds one here, lazily and once, with
botocore's *standard* retry mode: exponential backoff with jitter on throttling and 5xx answers, 3 attempts in all
(https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html). Nothing imports boto3 or botocore
at module level.
"""

from __future__ import annotations

import threading
from typing import Any, Final, Generic, NoReturn, TypeVar, cast

from fooddelivery.domain.errors import InfrastructureError

__all__ = ["RETRYABLE_CODES", "LazyClient", "error_code", "infrastructure_error", "reraise"]

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


def build_client(service: str, region_name: str | None = None, endpoint_url: str | None = None) -> Any:
    """A boto3 client of ``service`` with standard retries.

    Raises:
        InfrastructureError: boto3 refused (unknown region, missing configuration).
    """
    import boto3
    from botocore.config import Config

    try:
        client = boto3.client(
            service,  # type: ignore[call-overload]
            region_name=region_name,
            endpoint_url=endpoint_url,
            config=Config(retries={"mode": "standard"}),
        )
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
