"""The provider-neutral HTTP API: request/response, routes, the error table, authenticators,
OpenAPI.

Every cloud entrypoint builds an :class:`HttpRequest`, calls :meth:`HttpApi.handle` and translates
the
:class:`HttpResponse` back::

    from fooddelivery.http import HttpApi, HttpRequest, DevAuthenticator

    api = HttpApi(bootstrap().service, DevAuthenticator())
    response = api.handle(HttpRequest.build("GET", "/health"))

Names are imported on first access (PEP 562), so ``import fooddelivery.http`` stays cheap: pydantic
loads with :class:`HttpApi`, PyJWT on the first token verified.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fooddelivery.domain._lazy import lazy_names

if TYPE_CHECKING:
    from fooddelivery.http.api import MAX_BODY_BYTES, ROUTES, HttpApi, RouteSpec
    from fooddelivery.http.asgi import AsgiApp
    from fooddelivery.http.auth import (
        ClaimMapping,
        DevAuthenticator,
        GatewayClaimsAuthenticator,
        JwksAuthenticator,
        UrlJwksFetcher,
        actor_from_claims,
        issue_dev_token,
    )
    from fooddelivery.http.messages import Headers, HttpRequest, HttpResponse
    from fooddelivery.http.problems import (
        ERROR_TABLE,
        RequestRejected,
        problem_response,
        status_for,
    )

__all__ = [
    "ERROR_TABLE",
    "MAX_BODY_BYTES",
    "ROUTES",
    "AsgiApp",
    "ClaimMapping",
    "DevAuthenticator",
    "GatewayClaimsAuthenticator",
    "Headers",
    "HttpApi",
    "HttpRequest",
    "HttpResponse",
    "JwksAuthenticator",
    "RequestRejected",
    "RouteSpec",
    "UrlJwksFetcher",
    "actor_from_claims",
    "issue_dev_token",
    "problem_response",
    "status_for",
]

_WHERE = {
    "MAX_BODY_BYTES": ".api",
    "ROUTES": ".api",
    "HttpApi": ".api",
    "RouteSpec": ".api",
    "AsgiApp": ".asgi",
    "ClaimMapping": ".auth",
    "DevAuthenticator": ".auth",
    "GatewayClaimsAuthenticator": ".auth",
    "JwksAuthenticator": ".auth",
    "UrlJwksFetcher": ".auth",
    "actor_from_claims": ".auth",
    "issue_dev_token": ".auth",
    "Headers": ".messages",
    "HttpRequest": ".messages",
    "HttpResponse": ".messages",
    "ERROR_TABLE": ".problems",
    "RequestRejected": ".problems",
    "problem_response": ".problems",
    "status_for": ".problems",
}


__getattr__, __dir__ = lazy_names(globals(), _WHERE)
