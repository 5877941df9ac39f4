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
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

from fooddelivery.domain.errors import InfrastructureError
from fooddelivery_gcp.metering import FirestoreMeter

if TYPE_CHECKING:
    from google.cloud.firestore import Client

__all__ = [
    "CONTENTION_BUDGET_S",
    "CONTENTION_MAX_PAUSE_S",
    "CONTENTION_PAUSE_S",
    "NOT_OURS",
    "RETRYABLE_ERRORS",
    "FirestoreRepository",
    "LazyFirestore",
    "doc_id",
    "error_name",
    "format_token",
    "own_write",
    "parse_token",
    "reraise",
    "retry_contention",
    "run_transaction",
]

T = TypeVar("T")

#: How long :func:`retry_contention` keeps running an operation that stays contended (``ABORTED``), in seconds
#: from its first start, before it gives up with a ``ConcurrencyConflict``.
CONTENTION_BUDGET_S: Final[float] = 5.0
#: The first pause between rounds in seconds, doubled each round up to :data:`CONTENTION_MAX_PAUSE_S`; every pause
#: is jittered by x0.5-1.5 so that contenders released together do not meet again at the same instant.
CONTENTION_PAUSE_S: Final[float] = 0.05
CONTENTION_MAX_PAUSE_S: Final[float] = 0.4

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


#: :func:`own_write`'s answer for a refused commit that was not the caller's own.
NOT_OURS: Final[object] = object()


def own_write(snap: Any, commit_id: str, version: int) -> Any:
    """After a refused commit stamped ``commit_id``, from ``snap`` (a document it wrote, read after the refusal;
    None or not ``exists``: not stored), whether that commit was the caller's own.

    When the stored document carries ``commit_id`` the commit was applied (the client library resent it after its
    answer was lost, and the resend failed on the first one's write; the id is that commit's alone, and a commit
    applies all of its writes or none): the answer is its update time when it is still at ``version`` (as the
    commit wrote it), else None (written again since: the stores' own ``update`` writes leave a ``commitId`` field
    in place, the version tells a later write). Else :data:`NOT_OURS`.
    """
    data = (snap.to_dict() or {}) if snap is not None and snap.exists else {}
    if data.get("commitId") != commit_id:
        return NOT_OURS
    return snap.update_time if data.get("version") == version else None


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

    def shares_client(self, other: FirestoreRepository) -> bool:
        """Whether ``other`` talks to Firestore through the same client as this repository (one lazily built client,
        or one injected client), so that one commit can write documents of both. Builds no client."""
        mine, theirs = self._lazy, other._lazy
        return mine is theirs or (mine._client is not None and mine._client is theirs._client)

    def _record(self, name: str, *, reads: int = 0, writes: int = 0, deletes: int = 0) -> None:
        self.meter.record(name, reads=reads, writes=writes, deletes=deletes)

    @staticmethod
    def _call(action: str, fn: Callable[[], Any], **context: Any) -> Any:
        try:
            return fn()
        except Exception as exc:
            reraise(exc, action, **context)


def retry_contention(
    call: Callable[[], T],
    action: str,
    *,
    budget_s: float = CONTENTION_BUDGET_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    **context: Any,
) -> T:
    """Run ``call()`` again, after a jittered pause, for as long as Firestore only reports contention.

    Contention is not a lost race: a call that Firestore aborted (``ABORTED``, or the client library's "Failed to
    commit transaction in N attempts") wrote nothing, and the document may be unchanged. So it runs again after a
    pause of :data:`CONTENTION_PAUSE_S`, doubling per round up to :data:`CONTENTION_MAX_PAUSE_S`, each jittered by
    x0.5-1.5 so that contenders released together do not meet again at the same instant, until ``budget_s``
    seconds have passed since the first round. ``call`` must compare again each time it runs (a transaction that
    reads, or a write with a precondition), so that a competing write that did commit ends in ``call``'s own error
    at once. Under heavy contention every contender can be aborted several rounds in a row: a fixed count of
    rounds gave up while the document was still unchanged, a time budget does not.

    Args:
        call: the operation; its errors other than contention propagate unchanged.
        action: the operation's name for error messages (``"drivers.save"``).
        budget_s: seconds, from the first round's start, after which an operation still contended gives up.
        sleep: how to pause between rounds (seconds; a test passes a recorder).
        clock: monotonic seconds (a test passes a fake clock).
        **context: the error's context (``driver_id=...``).

    Returns:
        What ``call`` returned.

    Raises:
        ConcurrencyConflict: still contended when the budget ran out (nothing written).
    """
    from fooddelivery.domain.errors import ConcurrencyConflict

    deadline = clock() + budget_s
    rounds = 0
    while True:
        rounds += 1
        try:
            return call()
        except ValueError as exc:  # the client library gives up a transaction after ``max_attempts`` so
            if "attempts" not in str(exc):
                raise
            contended: BaseException = exc
        except Exception as exc:
            if error_name(exc) != "Aborted":
                raise
            contended = exc
        pause = min(CONTENTION_PAUSE_S * (2 ** (rounds - 1)), CONTENTION_MAX_PAUSE_S)
        pause *= 0.5 + random.random()  # jitter, not security
        if clock() + pause > deadline:
            raise ConcurrencyConflict(
                f"{action}: still contended after {rounds} rounds in {budget_s:g} s", **context
            ) from contended
        sleep(pause)


def run_transaction(
    client: Client,
    fn: Callable[[Any], Any],
    attempts: int,
    action: str,
    *,
    budget_s: float = CONTENTION_BUDGET_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    **context: Any,
) -> Any:
    """Run ``fn(transaction)`` in a Firestore read-write transaction, run again while it is only contended.

    The client library retries an aborted commit up to ``attempts`` times at once (keeping the transaction's place
    in line), but not a read that was aborted, and gives up after ``attempts``; :func:`retry_contention` then runs
    the whole transaction again within ``budget_s``. ``fn`` reads and compares each time, so a document that did
    change meanwhile ends in ``fn``'s own ``ConcurrencyConflict``.

    Args:
        client: the Firestore client.
        fn: the transaction's body (reads, compares, writes with the transaction it is given).
        attempts: the client library's attempts per round.
        action: the operation's name for error messages (``"sagas.save"``).
        budget_s, sleep, clock: as for :func:`retry_contention`.
        **context: the error's context (``saga_id=...``).

    Returns:
        What ``fn`` returned.

    Raises:
        ConcurrencyConflict: still contended when the budget ran out (nothing written), a document created
            meanwhile, or ``fn``'s own conflict.
        InfrastructureError: Firestore failed otherwise.
    """
    from google.cloud import firestore

    from fooddelivery.domain.errors import ConcurrencyConflict, FoodDeliveryError

    wrapped = firestore.transactional(fn)
    try:
        return retry_contention(
            lambda: wrapped(client.transaction(max_attempts=attempts)),
            action,
            budget_s=budget_s,
            sleep=sleep,
            clock=clock,
            **context,
        )
    except FoodDeliveryError:
        raise
    except Exception as exc:
        name = error_name(exc)
        if name == "AlreadyExists":
            raise ConcurrencyConflict(f"{action}: lost a concurrent write ({name})", **context) from exc
        reraise(exc, action, **context)
