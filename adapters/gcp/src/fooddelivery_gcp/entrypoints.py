"""What each Cloud Function does, as plain functions of a Flask request or a CloudEvent (``main.py`` registers them
with functions-framework).

- :func:`handle_http`: the HTTP API. A Flask request becomes the core's ``HttpRequest`` (method, the raw
  percent-encoded path, the raw query string, headers, the body bytes untouched) and the ``HttpResponse`` becomes a
  Flask response. With ``FOODDELIVERY_AUTH=gateway`` the claims API Gateway verified and forwarded in
  ``X-Apigateway-Api-Userinfo`` (base64url JSON, https://cloud.google.com/api-gateway/docs/authenticating-users-jwt)
  become the request's claims; in every other mode that header is ignored.
- :func:`handle_runtime_event`: a Pub/Sub message of the runtime topic, as Eventarc delivers it (CloudEvent type
  ``google.cloud.pubsub.topic.v1.messagePublished``; data ``{"message": {"data": <base64>, "attributes": {...},
  "messageId": ...}, "subscription": ...}``, https://cloud.google.com/eventarc/docs/cloudevents). The envelope is
  decoded once (base64 -> the body of ``fooddelivery.application.messages``), handed to ``OrderRuntime.handle``,
  and what the reaction committed is published. Returning acks; raising nacks (Pub/Sub redelivers, then
  dead-letters after the subscription's maximum delivery attempts). A malformed message (data not base64 JSON,
  an unknown shape) is published to the dead-letter topic with the reason as an attribute and acked: it can never
  succeed, so it must not be retried.
- :func:`handle_timer`: a Cloud Tasks delivery of a saga timer (OIDC token checked first); 2xx acks, 5xx retries.
- :func:`handle_sweep`: Cloud Scheduler's call to publish what callers could not (OIDC token checked).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fooddelivery.domain.errors import FoodDeliveryError, InfrastructureError, NotAuthenticated, ValidationError
from fooddelivery.http.messages import HttpRequest, HttpResponse
from fooddelivery_gcp.metering import record_pubsub_delivery, record_task_dispatch

# pydantic looks for plugins through every installed distribution's entry points (importlib.metadata) the first
# time a model is built: 3 to 5 ms of CPU (more wall: a directory listing and a file read per distribution) of the
# first request that validates a body, for plugins a function does not have. Set the variable to "" in the
# function's settings to let pydantic load plugins again; as the AWS HTTP entrypoint does.
# (https://docs.pydantic.dev/latest/concepts/plugins/#how-to-use-plugins)
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

if TYPE_CHECKING:
    from flask import Request, Response

    from fooddelivery_gcp.bootstrap import GcpApp

__all__ = [
    "USERINFO_HEADER",
    "decode_pubsub_data",
    "gateway_claims",
    "handle_http",
    "handle_runtime_event",
    "handle_sweep",
    "handle_timer",
    "request_from_flask",
]

log = logging.getLogger(__name__)

#: The header API Gateway forwards the verified JWT's claims in.
USERINFO_HEADER = "X-Apigateway-Api-Userinfo"
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def gateway_claims(value: str | None) -> dict[str, Any] | None:
    """The claims of an ``X-Apigateway-Api-Userinfo`` header (base64url JSON, padding optional), or None when it is
    absent or unreadable (the request is then unauthenticated)."""
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        claims = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) and claims else None


def request_from_flask(request: Request, *, trust_gateway: bool = False) -> HttpRequest:
    """The core's request of a Flask request (see the module docstring)."""
    environ = request.environ
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    path = str(raw_uri).split("?", 1)[0] if raw_uri else quote(request.path, safe=_PATH_SAFE)
    if not path.startswith("/"):
        path = "/" + path.split("://", 1)[-1].split("/", 1)[-1] if "://" in path else "/" + path
    headers = [(k, v) for k, v in request.headers.items()]
    claims = gateway_claims(request.headers.get(USERINFO_HEADER)) if trust_gateway else None
    return HttpRequest.build(
        request.method,
        path,
        query=request.query_string.decode("latin-1"),
        headers=headers,
        body=request.get_data(cache=False),
        claims=claims,
    )


def response_to_flask(response: HttpResponse) -> Response:
    """The Flask response of the core's response."""
    from flask import Response

    return Response(response=response.body, status=response.status, headers=list(response.headers.items()))


def handle_http(request: Request, app: GcpApp) -> Response:
    """The HTTP API function: every route of the core's ``HttpApi``. Never raises (errors are problem responses)."""
    from fooddelivery_gcp.settings import AuthMode

    core_request = request_from_flask(request, trust_gateway=app.settings.auth is AuthMode.GATEWAY)
    return response_to_flask(app.http_api().handle(core_request))


# -- the runtime topic ------------------------------------------------------------------------------------------
def decode_pubsub_data(data: Any) -> tuple[bytes, dict[str, str], str]:
    """``(body, attributes, message id)`` of the data of a ``messagePublished`` CloudEvent.

    Raises:
        MalformedMessage: not a Pub/Sub message.
        PoisonMessage: ``message.data`` is not base64 (carries the message's attributes).
    """
    from fooddelivery.application.messages import MalformedMessage

    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except ValueError:
            raise MalformedMessage.single("data", "not a Pub/Sub push envelope (not JSON)", "invalid") from None
    message = data.get("message") if isinstance(data, Mapping) else None
    if not isinstance(message, Mapping):
        raise MalformedMessage.single("message", "not a Pub/Sub push envelope", "invalid")
    attributes = message.get("attributes") or {}
    attrs = {str(k): str(v) for k, v in attributes.items()} if isinstance(attributes, Mapping) else {}
    message_id = str(message.get("messageId") or message.get("message_id") or "")
    raw = message.get("data", "")
    if not isinstance(raw, str):
        raise PoisonMessage(MalformedMessage.single("message.data", "must be a base64 string", "invalid"), attrs)
    try:
        body = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise PoisonMessage(MalformedMessage.single("message.data", "is not base64", "invalid"), attrs) from None
    return body, attrs, message_id


class PoisonMessage(Exception):
    """A malformed Pub/Sub message, with the attributes it came with (kept on its dead letter)."""

    def __init__(self, error: ValidationError, attributes: dict[str, str]) -> None:
        super().__init__(error.detail)
        self.error = error
        self.attributes = attributes


def handle_runtime_event(data: Any, app: GcpApp, *, source: str = "runtime") -> str:
    """The runtime function: one Pub/Sub message in, its reactions out (see the module docstring).

    Returns:
        What happened, for the log: the outcomes, or ``"dead-lettered: <reason>"``.

    Raises:
        FoodDeliveryError: handling failed for now (nack: Pub/Sub delivers it again).
    """
    from fooddelivery.application.messages import MalformedMessage, decode_body

    raw = b""
    attributes: dict[str, str] = {}
    try:
        try:
            raw, attributes, message_id = decode_pubsub_data(data)
        except PoisonMessage as poison:
            attributes = poison.attributes
            raise poison.error from None
        if app.meter is not None:
            record_pubsub_delivery(app.meter, raw, attributes, message_id)
        item = decode_body(raw)
        outcomes = app.boot.service.runtime.handle(item)
    except MalformedMessage as exc:
        reason = (
            exc.detail
            if not exc.fields
            else f"{exc.detail}: " + "; ".join(f"{f.field} {f.message}" for f in exc.fields)
        )
        log.warning("dead-lettering a runtime message: %s", reason)
        payload = raw or json.dumps(data, default=str).encode()
        app.dead_letters.send(payload, reason, source, attributes)
        return f"dead-lettered: {reason}"
    _publish_committed(app)
    log.info("runtime message %s handled: %s", message_id, [o.value for o in outcomes])
    return ",".join(o.value for o in outcomes)


def _publish_committed(app: GcpApp) -> None:
    """Publish what this invocation committed; a bus failure leaves it in the outbox for the sweep."""
    try:
        app.boot.service.relay.publish_own()
    except InfrastructureError:
        log.warning("event bus unavailable; committed events stay in the outbox", exc_info=True)


# -- Cloud Tasks timers -----------------------------------------------------------------------------------------
def _problem(status: int, title: str, detail: str) -> Response:
    from flask import Response

    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    return Response(response=body, status=status, content_type="application/problem+json")


def _unbuilt(app: GcpApp) -> Response | None:
    """None once the application's core is built (built now if need be); a 503 problem when building it raised --
    the deployment's fault, not the caller's (logged; nothing is kept and the next call builds again), as the HTTP
    API answers it, not Flask's HTML 500."""
    try:
        app.core()
    except Exception:
        log.exception("the core could not be built (the next call tries again)")
        return _problem(503, "Service Unavailable", "the application could not be built; retry later")
    return None


def handle_timer(request: Request, app: GcpApp) -> Response:
    """The timer function (Cloud Tasks' HTTP target): the OIDC token, then the timer to the runtime.

    Answers 204 when handled (or when the body can never be handled: it is dead-lettered, a retry would not
    help), 401 for a missing or wrong token, 503 when the runtime must see it again (Cloud Tasks retries).
    """
    from flask import Response

    from fooddelivery.application.messages import MalformedMessage, TimerInput, decode_body

    settings = app.settings
    assert settings.timer_url is not None
    try:
        app.verifier(settings.timer_url, settings.tasks_service_account).verify(request.headers.get("Authorization"))
    except NotAuthenticated as exc:
        return _problem(401, "Unauthorized", exc.detail)
    if (unbuilt := _unbuilt(app)) is not None:
        return unbuilt
    body = request.get_data(cache=False)
    if app.meter is not None:
        record_task_dispatch(app.meter, body)
    try:
        item = decode_body(body)
        if not isinstance(item, TimerInput):
            raise MalformedMessage.single("messageType", "the timer function takes saga timers only", "invalid")
        app.boot.service.deliver_timer(item.message)
    except MalformedMessage as exc:
        attrs = {"taskName": request.headers.get("X-CloudTasks-TaskName", "")}
        app.dead_letters.send(body, exc.detail, "saga_timer", attrs)
        return Response(status=204)
    except FoodDeliveryError as exc:
        log.warning("timer not handled now (%s); Cloud Tasks will retry", exc.detail)
        return _problem(503, "Service Unavailable", exc.detail)
    return Response(status=204)


def handle_sweep(request: Request, app: GcpApp) -> Response:
    """The outbox sweep (Cloud Scheduler's target): 200 with ``{"published": n}``, 401 for a bad token, 503 when
    the bus refused (the records stay; the next run tries again)."""
    from flask import Response

    settings = app.settings
    if not settings.sweep_url or not settings.scheduler_service_account:
        return _problem(503, "Service Unavailable", "SWEEP_URL and SCHEDULER_SERVICE_ACCOUNT are not set")
    try:
        app.verifier(settings.sweep_url, settings.scheduler_service_account).verify(
            request.headers.get("Authorization")
        )
    except NotAuthenticated as exc:
        return _problem(401, "Unauthorized", exc.detail)
    if (unbuilt := _unbuilt(app)) is not None:
        return unbuilt
    try:
        published = app.sweep()
    except InfrastructureError as exc:
        return _problem(503, "Service Unavailable", exc.detail)
    return Response(response=json.dumps({"published": published}), status=200, content_type="application/json")
