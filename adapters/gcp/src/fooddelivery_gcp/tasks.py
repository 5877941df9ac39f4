"""Cloud Tasks as the saga's ``Scheduler``: one named HTTP task per timer, delivered to the timer function with an
OIDC token; and the verification of that token on arrival.

A timer becomes ``CreateTask`` on the queue with

- ``name`` = ``<queue>/tasks/t<first 32 hex digits of SHA-256(message id)>``: a named task, so scheduling the same
  timer again (a retried step, a redelivered message) is refused with ``ALREADY_EXISTS`` -- a no-op here -- for
  about an hour after the first was delivered or deleted; the hash spreads names evenly, as Cloud Tasks advises
  for named tasks (https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues.tasks/create);
- ``schedule_time`` = the due time as a protobuf ``Timestamp`` (UTC, microseconds); Cloud Tasks accepts at most
  30 days ahead, so a later timer is scheduled 30 days out minus a minute and arrives early: the runtime sees
  its ``dueAt`` in the body (the message format of ``fooddelivery.application.messages``) and the saga ignores an
  early timeout, as it ignores any stale one;
- ``http_request`` = ``POST <target url>`` with body :func:`fooddelivery.application.messages.timer_body`,
  ``Content-Type: application/json`` and ``oidc_token`` = the scheduler's service account and the target's URL
  as audience, so only Cloud Tasks acting as that account can call the timer function.

``cancel`` deletes the task (``NOT_FOUND``: already delivered or never scheduled -> False).

There is no usable Cloud Tasks emulator: the tests check the requests this adapter builds (through the client
library's own request types, against a recording transport) and the timer function's handling of a delivered
task, not the delivery itself.

Sources: Task fields https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues.tasks,
the 30-day limit https://cloud.google.com/tasks/docs/quotas, OIDC tokens of HTTP targets
https://cloud.google.com/tasks/docs/creating-http-target-tasks#token.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from fooddelivery.application.messages import timer_body
from fooddelivery.domain.errors import InfrastructureError, NotAuthenticated
from fooddelivery.metering import GCP, Meter
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery_gcp.firestore._support import RETRYABLE_ERRORS, error_name
from fooddelivery_gcp.metering import task_operations

__all__ = [
    "GOOGLE_ISSUERS",
    "MAX_SCHEDULE_AHEAD",
    "CloudTasksScheduler",
    "OidcVerifier",
    "build_task",
    "task_id",
]

#: How far ahead Cloud Tasks accepts a schedule time (30 days), less a minute of margin.
MAX_SCHEDULE_AHEAD: Final[timedelta] = timedelta(days=30) - timedelta(minutes=1)
#: Issuers of Google-signed ID tokens (https://developers.google.com/identity/openid-connect/openid-connect).
GOOGLE_ISSUERS: Final[tuple[str, ...]] = ("https://accounts.google.com", "accounts.google.com")
#: Google's ID-token signing keys, as a JWKS.
GOOGLE_JWKS_URL: Final[str] = "https://www.googleapis.com/oauth2/v3/certs"


def task_id(message_id: str) -> str:
    """The task id of a timer: ``t`` + the first 32 hex digits of SHA-256 of its message id."""
    return "t" + hashlib.sha256(message_id.encode("utf-8", errors="surrogatepass")).hexdigest()[:32]


def build_task(
    queue: str,
    message: ScheduledMessage,
    *,
    url: str,
    service_account: str,
    audience: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    """The ``CreateTask`` task of ``message`` (see the module docstring) as the client library's mapping.

    Args:
        queue: ``projects/<p>/locations/<l>/queues/<q>``.
        message: the timer.
        url: the timer function's URL.
        service_account: the e-mail of the account Cloud Tasks signs the OIDC token as.
        audience: the token's audience (default: ``url``).
        now: the current time (for the 30-day cap).
    """
    from google.protobuf import timestamp_pb2

    due = message.due_at.astimezone(UTC)
    latest = now.astimezone(UTC) + MAX_SCHEDULE_AHEAD
    schedule = timestamp_pb2.Timestamp()
    schedule.FromDatetime(min(due, latest))
    return {
        "name": f"{queue}/tasks/{task_id(message.message_id)}",
        "schedule_time": schedule,
        "http_request": {
            "http_method": "POST",
            "url": url,
            "headers": {"Content-Type": "application/json"},
            "body": timer_body(message).encode(),
            "oidc_token": {"service_account_email": service_account, "audience": audience or url},
        },
    }


class CloudTasksScheduler:
    """The ``Scheduler`` port on a Cloud Tasks queue (see the module docstring).

    Args:
        queue: ``projects/<p>/locations/<l>/queues/<q>``.
        url: the timer function's URL.
        service_account: the account whose OIDC token the tasks carry.
        clock: the current time (for the 30-day cap).
        client: a ``tasks_v2.CloudTasksClient``; built on first use when None.
        audience: the OIDC audience (default: ``url``).
        meter: the core's meter each call that reached the service records ``GCP.TASKS_OPERATIONS`` on
            (:func:`~fooddelivery_gcp.metering.task_operations` for a ``CreateTask``, one for a ``DeleteTask``), or
            None.
    """

    def __init__(
        self,
        queue: str,
        url: str,
        service_account: str,
        clock: Clock,
        *,
        client: Any = None,
        audience: str | None = None,
        meter: Meter | None = None,
    ) -> None:
        self.meter = meter
        self.queue = queue
        self.url = url
        self.service_account = service_account
        self.audience = audience or url
        self.clock = clock
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The Cloud Tasks client (built on first use)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from google.cloud import tasks_v2

                    self._client = tasks_v2.CloudTasksClient()
        return self._client

    def schedule(self, message: ScheduledMessage) -> None:
        """Create the named task of ``message`` (a no-op when it exists).

        Raises:
            InfrastructureError: Cloud Tasks refused it.
        """
        task = build_task(
            self.queue,
            message,
            url=self.url,
            service_account=self.service_account,
            audience=self.audience,
            now=self.clock.now(),
        )
        try:
            self.client.create_task(parent=self.queue, task=task)
        except Exception as exc:
            name = error_name(exc)
            if name is not None:
                self._record(task_operations(task))  # the call reached the service: billed
            if name in ("AlreadyExists", "Conflict"):  # gRPC answers ALREADY_EXISTS, the REST transport 409
                return
            if name is None:
                raise
            raise InfrastructureError(
                f"Cloud Tasks refused timer {message.message_id}: {name}",
                service="cloudtasks",
                code=name,
                retryable=name in RETRYABLE_ERRORS,
            ) from exc
        self._record(task_operations(task))

    def _record(self, operations: int) -> None:
        if self.meter is not None:
            self.meter.record(GCP.TASKS_OPERATIONS, operations)

    def cancel(self, message_id: str) -> bool:
        """Delete the task of ``message_id``; False when there is none (delivered, cancelled or never scheduled).

        Raises:
            InfrastructureError: Cloud Tasks failed otherwise.
        """
        try:
            self.client.delete_task(name=f"{self.queue}/tasks/{task_id(message_id)}")
        except Exception as exc:
            name = error_name(exc)
            if name is not None:
                self._record(1)
            if name in ("NotFound", "FailedPrecondition"):
                return False
            if name is None:
                raise
            raise InfrastructureError(
                f"Cloud Tasks could not delete timer {message_id}: {name}", service="cloudtasks", code=name
            ) from exc
        self._record(1)
        return True


class OidcVerifier:
    """Checks the ``Authorization: Bearer`` ID token Google attaches to a Cloud Tasks (or Pub/Sub push, or Cloud
    Workflows) request: an RS256 signature by one of Google's keys, ``iss`` = Google, ``aud`` = ``audience``,
    ``email`` = one of ``service_accounts`` with ``email_verified``, and ``exp``/``iat`` within ``leeway_s``.

    Args:
        audience: the expected audience (the function's URL).
        service_accounts: e-mails allowed to call.
        jwks: Google's JWKS document, or a callable fetching it (default: :data:`GOOGLE_JWKS_URL`, fetched on
            first use and on an unknown key id).
        leeway_s: allowed clock skew.
        now: the current time in seconds (tests).
    """

    def __init__(
        self,
        audience: str,
        service_accounts: tuple[str, ...] | list[str],
        *,
        jwks: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
        leeway_s: float = 60.0,
        now: Callable[[], float] | None = None,
    ) -> None:
        if not audience or not service_accounts:
            raise ValueError("an audience and at least one service account are required")
        self.audience = audience
        self.service_accounts = tuple(service_accounts)
        self.leeway_s = leeway_s
        self._jwks = jwks
        self._now = now
        self._keys: dict[str | None, Any] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str | None, Any]:
        import jwt

        source = self._jwks
        if source is None:
            from fooddelivery.http.auth import UrlJwksFetcher

            source = UrlJwksFetcher(GOOGLE_JWKS_URL)
        document = source() if callable(source) else source
        keyset = jwt.PyJWKSet.from_dict(dict(document))
        return {key.key_id: key for key in keyset.keys}

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The verified claims of the request's bearer token.

        Raises:
            NotAuthenticated: no bearer token, or one that fails any check above.
        """
        import time

        import jwt

        if not authorization or not authorization.startswith("Bearer "):
            raise NotAuthenticated("a Google-signed OIDC bearer token is required", reason="missing")
        token = authorization[len("Bearer ") :].strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"malformed token: {exc}", reason="invalid") from None
        with self._lock:
            if self._keys is None or header.get("kid") not in self._keys:
                self._keys = self._load()
            key = self._keys.get(header.get("kid"))
        if key is None:
            raise NotAuthenticated("the token is signed with an unknown key", reason="invalid")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=["RS256"],
                audience=self.audience,
                options={"verify_iss": False, "verify_exp": False, "verify_iat": False, "require": ["exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"token refused: {exc}", reason="invalid") from None
        now = self._now() if self._now is not None else time.time()
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise NotAuthenticated("the token is not issued by Google", reason="invalid")
        if float(claims["exp"]) + self.leeway_s < now or float(claims["iat"]) - self.leeway_s > now:
            raise NotAuthenticated("the token is expired or not yet valid", reason="expired")
        if claims.get("email") not in self.service_accounts or claims.get("email_verified") is not True:
            raise NotAuthenticated("the token's account may not call this function", reason="forbidden")
        return claims
