"""API Gateway -> the core's HTTP API -> API Gateway: REST APIs (payload 1.0) and HTTP APIs (payload 2.0).

The translation, per payload format (Amazon API Gateway developer guide: REST proxy integration input/output,
https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format;
HTTP API payload versions, https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html):

=================  ===========================================  ==============================================
part               REST (``httpMethod``, payload 1.0)           HTTP API (``version: "2.0"``)
=================  ===========================================  ==============================================
method             ``httpMethod``                               ``requestContext.http.method``
path               ``path`` (the stage is not in it)            ``rawPath`` minus a leading ``/<stage>``
query              ``multiValueQueryStringParameters``, else    ``rawQueryString`` (repeated names kept)
                   ``queryStringParameters`` (either may be
                   null)
headers            ``multiValueHeaders``, else ``headers``      ``headers`` (repeats already comma-joined) and
                   (either may be null)                         ``cookies`` -> one ``Cookie`` header
body               ``body`` (null or missing = empty), base64-decoded when ``isBase64Encoded``
verified claims    ``requestContext.authorizer.claims``         ``requestContext.authorizer.jwt.claims``
                   (Cognito user pool authorizer)               (JWT authorizer)
=================  ===========================================  ==============================================

Claims become the request's ``claims`` (never anything the client sent), which
:class:`~fooddelivery.http.GatewayClaimsAuthenticator` with the Cognito mapping (``cognito:groups``,
``custom:restaurant_id``, ``custom:driver_id``) turns into the actor; no claims -> 401. The API Gateway request id
becomes ``X-Request-Id`` when the client sent none, so logs and problem responses correlate with API Gateway's.
``Location`` headers carry the stage prefix when the API is called on its ``execute-api`` domain.

Response: ``statusCode``, ``headers``, ``body`` (UTF-8 text, or base64 with ``isBase64Encoded: true`` if it is not
UTF-8). An event that is neither format, or a body flagged base64 that is not, gets a 400 problem response; the
core's HTTP layer answers everything else (4xx for client mistakes, with nothing stored).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fooddelivery.http.messages import HttpRequest, HttpResponse
from fooddelivery_aws.metering import metered

# pydantic looks for plugins through every installed distribution's entry points (importlib.metadata) the first
# time a model is built: ~15 ms of a cold start for plugins a function does not have. Set the variable to "" in
# the function's environment to let pydantic load plugins again.
# (https://docs.pydantic.dev/latest/concepts/plugins/#how-to-use-plugins)
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

if TYPE_CHECKING:
    from fooddelivery.http import HttpApi

__all__ = ["ApiGatewayAdapter", "handler", "request_from_event", "response_to_event"]

log = logging.getLogger(__name__)

#: Characters left as they are when a REST ``path`` is re-encoded ("%" included: an already-encoded path stays so).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


class BadEvent(ValueError):
    """An event that is not an API Gateway proxy event, or a body that cannot be decoded."""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(values: Iterable[Any]) -> list[str]:
    return [str(v) for v in values if isinstance(v, str | int | float) and not isinstance(v, bool)]


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadEvent("body must be a string or null")
    if event.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadEvent(f"isBase64Encoded is true but the body is not base64: {exc}") from exc
    return body.encode("utf-8", errors="surrogatepass")


def _claims(context: Mapping[str, Any]) -> Mapping[str, Any] | None:
    authorizer = _mapping(context.get("authorizer"))
    claims = authorizer.get("claims")
    if not isinstance(claims, Mapping):
        claims = _mapping(authorizer.get("jwt")).get("claims")
    return dict(claims) if isinstance(claims, Mapping) and claims else None


def _base_path(context: Mapping[str, Any]) -> str:
    stage = context.get("stage")
    domain = context.get("domainName")
    on_execute_api = not isinstance(domain, str) or ".execute-api." in domain
    if isinstance(stage, str) and stage and stage != "$default" and on_execute_api:
        return f"/{stage}"
    return ""


def _v1(event: Mapping[str, Any]) -> tuple[HttpRequest, str]:
    context = _mapping(event.get("requestContext"))
    method = event.get("httpMethod")
    path = event.get("path")
    if not isinstance(path, str) or not path:
        path = context.get("path")
        stage = context.get("stage")
        if isinstance(path, str) and isinstance(stage, str) and path.startswith(f"/{stage}/"):
            path = path[len(stage) + 1 :]
    if not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/"):
        raise BadEvent("a payload 1.0 event needs httpMethod and path")
    multi_query = event.get("multiValueQueryStringParameters")
    query: dict[str, list[str]] = {}
    if isinstance(multi_query, Mapping):
        query = {str(k): _strings(v) for k, v in multi_query.items() if isinstance(v, list)}
    elif isinstance(event.get("queryStringParameters"), Mapping):
        query = {str(k): _strings([v]) for k, v in event["queryStringParameters"].items()}
    multi_headers = event.get("multiValueHeaders")
    pairs: list[tuple[str, str]] = []
    if isinstance(multi_headers, Mapping):
        pairs = [
            (str(k), v) for k, values in multi_headers.items() if isinstance(values, list) for v in _strings(values)
        ]
    elif isinstance(event.get("headers"), Mapping):
        pairs = [(str(k), v) for k, value in event["headers"].items() for v in _strings([value])]
    request = HttpRequest.build(
        method,
        quote(path, safe=_PATH_SAFE),
        query={k: v for k, v in query.items() if v},
        headers=_with_request_id(pairs, context),
        body=_body(event),
        claims=_claims(context),
    )
    return request, _base_path(context)


def _v2(event: Mapping[str, Any]) -> tuple[HttpRequest, str]:
    context = _mapping(event.get("requestContext"))
    method = _mapping(context.get("http")).get("method")
    path = event.get("rawPath")
    if not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/"):
        raise BadEvent("a payload 2.0 event needs requestContext.http.method and rawPath")
    base = ""
    stage = context.get("stage")
    prefixed = isinstance(stage, str) and stage != "$default" and (path == f"/{stage}" or path.startswith(f"/{stage}/"))
    if prefixed and isinstance(stage, str) and stage:
        path = path[len(stage) + 1 :] or "/"
        base = _base_path(context)
    pairs = [(str(k), v) for k, value in _mapping(event.get("headers")).items() for v in _strings([value])]
    cookies = event.get("cookies")
    if isinstance(cookies, list) and cookies:
        pairs.append(("cookie", "; ".join(_strings(cookies))))
    raw_query = event.get("rawQueryString")
    request = HttpRequest.build(
        method,
        path,
        query=raw_query if isinstance(raw_query, str) else "",
        headers=_with_request_id(pairs, context),
        body=_body(event),
        claims=_claims(context),
    )
    return request, base


def _with_request_id(pairs: list[tuple[str, str]], context: Mapping[str, Any]) -> list[tuple[str, str]]:
    request_id = context.get("requestId")
    if isinstance(request_id, str) and request_id and not any(k.lower() == "x-request-id" for k, _ in pairs):
        return [*pairs, ("X-Request-Id", request_id)]
    return pairs


def request_from_event(event: Mapping[str, Any]) -> tuple[HttpRequest, str, str]:
    """``(request, payload version "1.0" | "2.0", base path)`` of an API Gateway proxy event.

    Raises:
        BadEvent: neither payload format, or a body that is not what ``isBase64Encoded`` says.
    """
    if not isinstance(event, Mapping):
        raise BadEvent("an API Gateway event is a JSON object")
    if event.get("version") == "2.0":
        request, base = _v2(event)
        return request, "2.0", base
    if "httpMethod" in event:
        request, base = _v1(event)
        return request, "1.0", base
    raise BadEvent("not an API Gateway proxy event (no httpMethod, not version 2.0)")


def response_to_event(response: HttpResponse, version: str) -> dict[str, Any]:
    """The proxy integration result of ``response`` for payload ``version``."""
    try:
        body, encoded = response.body.decode("utf-8"), False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(response.body).decode("ascii"), True
    result: dict[str, Any] = {
        "statusCode": response.status,
        "headers": dict(response.headers),
        "body": body,
        "isBase64Encoded": encoded,
    }
    if version == "1.0":
        result["multiValueHeaders"] = {}
    return result


def _bad_event(exc: BadEvent, version: str) -> dict[str, Any]:
    from fooddelivery.http.problems import RequestRejected, problem_response

    rejected = RequestRejected(400, "bad_event", "Bad request", str(exc))
    return response_to_event(problem_response(rejected, "-"), version)


class ApiGatewayAdapter:
    """Translates API Gateway proxy events for an :class:`~fooddelivery.http.HttpApi` (see the module docstring).

    Args:
        api_for: the HTTP API for a base path (``AwsApp.http_api``).
    """

    def __init__(self, api_for: Callable[[str], HttpApi]) -> None:
        self.api_for = api_for

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The proxy integration result for ``event``. Never raises for a bad event (400)."""
        version = "2.0" if isinstance(event, Mapping) and event.get("version") == "2.0" else "1.0"
        try:
            request, version, base = request_from_event(event)
        except BadEvent as exc:
            log.info("bad API Gateway event: %s", exc)
            return _bad_event(exc, version)
        return response_to_event(self.api_for(base).handle(request), version)


@metered()
def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point (``fooddelivery_aws.entrypoints.http.handler``): see the module docstring.

    The application and its HTTP API are built on the first invocation and reused by warm ones.

    Raises:
        ValidationError: a setting is missing or invalid (named): the function is misconfigured, and says so in its
            log on every invocation until it is fixed (API Gateway answers 502 meanwhile). What only building the
            core finds (the payment gateway factory failing or returning no gateway, Secrets Manager down) is met
            by the first request that needs the core: logged, answered 503 (``HttpApi.service``), retried by the
            next request.
    """
    # (imported here, not with the module: the set-up's imports belong to the first invocation, as aws_app's do)
    from fooddelivery.observability.setup import flushing
    from fooddelivery_aws.bootstrap import aws_app

    with flushing():  # the invocation's telemetry is exported before API Gateway gets the answer
        return ApiGatewayAdapter(aws_app().http_api).handle(event)
