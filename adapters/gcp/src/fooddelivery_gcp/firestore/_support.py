"""What every Firestore repository shares: the lazily built client, document ids, vendor errors translated into
the core's, update-time tokens, and the meter.

Nothing imports ``google.cloud.firestore`` at module level: the client library (about 250 ms to import) loads on
the first call that needs it.

Sources:
    - document id rules (no ``/``, not ``.`` or ``..``, not ``__.*__``, at most 1,500 bytes):
      https://firebase.google.com/docs/firestore/quotas#collections_documents_and_fields
    - error codes (``ALREADY_EXISTS`` for a create of an existing document, ``FAILED_PRECONDITION`` for a failed
      ``update_time`` precondition, ``NOT_FOUND`` for an update of a missing document, ``ABORTED`` for
      contention): https://cloud.google.com/firestore/docs/understand-error-codes
"""

from __future__ import annotations

import base64
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING, Any, Final, NoReturn

from fooddelivery.domain.errors import InfrastructureError
from fooddelivery_gcp.metering import FirestoreMeter

if TYPE_CHECKING:
    from google.cloud.firestore import Client

__all__ = [
    "CONTENTION_PAUSE_S",
    "CONTENTION_ROUNDS",
    "RETRYABLE_ERRORS",
    "FirestoreRepository",
    "LazyFirestore",
    "doc_id",
    "error_name",
    "format_token",
    "parse_token",
    "reraise",
    "run_transaction",
]

#: How many more times :func:`run_transaction` runs a transaction that stayed contended (``ABORTED``), and the
#: first pause between rounds in seconds (doubled each round, jittered by x0.5-1.5): at most about 0.35 s of pauses.
CONTENTION_ROUNDS: Final[int] = 3
CONTENTION_PAUSE_S: Final[float] = 0.05

#: Error class names of ``google.api_core.exceptions`` worth retrying later (the service is busy or briefly away).
RETRYABLE_ERRORS: Final[frozenset[str]] = frozenset(
    {
        "Aborted",
        "DeadlineExceeded",
        "InternalServerError",
        "ResourceExhausted",
        "ServiceUnavailable",
        "TooManyRequests",
        "Unknown",
        "RetryError",
    }
)
_ESCAPE: Final[str] = "~"
_MAX_ID_BYTES: Final[int] = 1500


def doc_id(value: str) -> str:
    """A Firestore document id for an opaque core id: the id itself when Firestore allows it, else ``~`` + its
    unpadded base64url (ids starting with ``~`` are escaped too, so the mapping stays one-to-one).

    Raises:
        InfrastructureError: the id is too long to name a document even escaped (over ~1,100 bytes).
    """
    raw = value.encode("utf-8", errors="surrogatepass")
    plain = (
        value
        and "/" not in value
        and value not in (".", "..")
        and not (value.startswith("__") and value.endswith("__"))
        and not value.startswith(_ESCAPE)
        and len(raw) <= _MAX_ID_BYTES
        and value.isprintable()
    )
    if plain:
        return value
    escaped = _ESCAPE + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    if len(escaped) > _MAX_ID_BYTES:
        raise InfrastructureError("an id is too long to name a Firestore document", reason="id_too_long")
    return escaped


def format_token(when: Any) -> str:
    """A concurrency token from a document's ``update_time`` (RFC 3339 with nanoseconds when the client gives them).

    ``DatetimeWithNanoseconds.rfc3339()`` keeps Firestore's nanosecond precision, which a precondition needs to
    match exactly; a plain ``datetime`` is written with microseconds.
    """
    rfc3339 = getattr(when, "rfc3339", None)
    if callable(rfc3339):
        return str(rfc3339())
    return str(when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def parse_token(token: str) -> Any:
    """The ``update_time`` a token names, as the client's ``DatetimeWithNanoseconds`` (for a precondition).

    Raises:
        InfrastructureError: not a token this package made (the caller's object was tampered with).
    """
    from google.api_core.datetime_helpers import DatetimeWithNanoseconds

    parse: Any = DatetimeWithNanoseconds.from_rfc3339
    try:
        return parse(token)
    except ValueError as exc:
        raise InfrastructureError(f"not a Firestore update-time token: {token!r}", reason="bad_token") from exc


def error_name(exc: BaseException) -> str | None:
    """The class name of a ``google.api_core`` / gRPC error (``"AlreadyExists"``), else None."""
    module = type(exc).__module__
    if module.startswith(("google.api_core", "google.auth", "grpc")):
        return type(exc).__name__
    return None


def reraise(exc: BaseException, action: str, **context: Any) -> NoReturn:
    """Raise the core's ``InfrastructureError`` for a vendor error (``raise ... from exc``), or ``exc`` itself when
    it is not one (a bug must propagate unchanged)."""
    name = error_name(exc)
    if name is None:
        raise exc
    raise InfrastructureError(
        f"{action}: Firestore error {name}: {exc}",
        service="firestore",
        action=action,
        code=name,
        retryable=name in RETRYABLE_ERRORS,
        **context,
    ) from exc


class LazyFirestore:
    """One ``google.cloud.firestore.Client``: the injected one, or built on the first :meth:`get` (thread-safe).

    With ``FIRESTORE_EMULATOR_HOST`` set, the client library talks to the emulator with no credentials.

    Args:
        client: a ready client, or None.
        project: the project of a lazily built client (None: the environment's).
        database: the database id (``"(default)"`` unless named).
    """

    __slots__ = ("_client", "_database", "_lock", "_project")

    def __init__(
        self, client: Client | None = None, *, project: str | None = None, database: str | None = None
    ) -> None:
        self._client = client
        self._project = project
        self._database = database
        self._lock = threading.Lock()

    def get(self) -> Client:
        """The client.

        Raises:
            InfrastructureError: the client library could not build one (no project, no credentials).
        """
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    from google.cloud import firestore

                    try:
                        self._client = firestore.Client(project=self._project, database=self._database)
                    except Exception as exc:
                        raise InfrastructureError(
                            f"cannot build a Firestore client: {exc}", service="firestore", reason="client_init"
                        ) from exc
                client = self._client
        return client


class FirestoreRepository:
    """Base of the repositories: the client, collection names and the meter.

    Args:
        client: a ``google.cloud.firestore.Client`` (or a :class:`LazyFirestore`); built lazily when None.
        prefix: prepended to every collection name (one database shared by several deployments or test runs).
        meter: records billed document operations (a new one when None).
    """

    def __init__(
        self,
        client: Client | LazyFirestore | None = None,
        *,
        prefix: str = "",
        meter: FirestoreMeter | None = None,
    ) -> None:
        self._lazy = client if isinstance(client, LazyFirestore) else LazyFirestore(client)
        self.prefix = prefix
        self.meter = meter if meter is not None else FirestoreMeter()

    @property
    def client(self) -> Client:
        """The Firestore client (built on first use)."""
        return self._lazy.get()

    def collection_name(self, name: str) -> str:
        """The stored name of the logical collection ``name``."""
        return f"{self.prefix}{name}"

    def _record(self, name: str, *, reads: int = 0, writes: int = 0, deletes: int = 0) -> None:
        self.meter.record(name, reads=reads, writes=writes, deletes=deletes)

    @staticmethod
    def _call(action: str, fn: Callable[[], Any], **context: Any) -> Any:
        try:
            return fn()
        except Exception as exc:
            reraise(exc, action, **context)


def run_transaction(
    client: Client,
    fn: Callable[[Any], Any],
    attempts: int,
    action: str,
    *,
    rounds: int = CONTENTION_ROUNDS,
    sleep: Callable[[float], None] = time.sleep,
    **context: Any,
) -> Any:
    """Run ``fn(transaction)`` in a Firestore read-write transaction, retried on contention (``ABORTED``).

    The client library retries an aborted commit up to ``attempts`` times at once (keeping the transaction's place
    in line), but not a read that was aborted, and gives up after ``attempts``. Contention is not a lost race:
    nothing was written and the document may be unchanged, so a contended transaction is run again, whole, up to
    ``rounds`` more times after a jittered exponential pause (:data:`CONTENTION_PAUSE_S` doubling per round);
    ``fn`` reads and compares again each time, so a document that did change meanwhile still ends in ``fn``'s own
    ``ConcurrencyConflict``.

    Args:
        client: the Firestore client.
        fn: the transaction's body (reads, compares, writes with the transaction it is given).
        attempts: the client library's attempts per round.
        action: the operation's name for error messages (``"drivers.save"``).
        rounds: how many more rounds a contended transaction gets.
        sleep: how to pause between rounds (seconds; a test passes a recorder).
        **context: the error's context (``driver_id=...``).

    Returns:
        What ``fn`` returned.

    Raises:
        ConcurrencyConflict: still contended after ``rounds + 1`` rounds, or a document created meanwhile.
        InfrastructureError: Firestore failed otherwise.
    """
    from google.cloud import firestore

    from fooddelivery.domain.errors import ConcurrencyConflict, FoodDeliveryError

    wrapped = firestore.transactional(fn)
    for round_ in range(rounds + 1):
        try:
            return wrapped(client.transaction(max_attempts=attempts))
        except FoodDeliveryError:
            raise
        except ValueError as exc:  # the client library gives up after ``max_attempts`` with a ValueError
            if "attempts" not in str(exc):
                raise
            contended: BaseException = exc
            message = f"{action}: still contended after {rounds + 1} rounds of {attempts} attempts"
        except Exception as exc:
            name = error_name(exc)
            if name == "AlreadyExists":
                raise ConcurrencyConflict(f"{action}: lost a concurrent write ({name})", **context) from exc
            if name != "Aborted":
                reraise(exc, action, **context)
            contended = exc
            message = f"{action}: still aborted by contention after {rounds + 1} rounds"
        if round_ == rounds:
            raise ConcurrencyConflict(message, **context) from contended
        sleep(CONTENTION_PAUSE_S * (2**round_) * (0.5 + random.random()))  # jitter, not security
    raise AssertionError("unreachable")  # pragma: no cover
