"""Azure Functions HTTP trigger -> the core's HTTP API -> ``func.HttpResponse``.

The function is registered on every path (``route="{*path}"``, ``host.json`` sets an empty route prefix so the
paths are the API's own: ``/orders``, not ``/api/orders``) and every method, with anonymous access: the core
authenticates. The translation:

=============  ==================================================================================================
part           from ``azure.functions.HttpRequest``
=============  ==================================================================================================
method         ``req.method``
path           the path of ``req.url``, as sent (percent-encoded; the core's router decodes each segment once)
query          the raw query string of ``req.url`` (repeated names kept), minus ``code`` -- the function key
               the platform reads, never an API parameter
headers        ``req.headers``
body           ``req.get_body()`` (bytes)
claims         with ``FOODDELIVERY_AUTH=easyauth`` only: the identity App Service authentication verified and put
               in ``X-MS-CLIENT-PRINCIPAL`` (base64 JSON ``{auth_typ, claims: [{typ, val}], name_typ, role_typ}``;
               "Work with user identities in Azure App Service authentication",
               https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities). The
               platform strips that header from incoming requests when authentication is on, so it cannot be
               forged; it is never read in the other modes.
=============  ==================================================================================================

The response is the core's status, headers and body, unchanged. Client mistakes of any kind (an empty body, a JSON
string instead of an object, truncated JSON) are the core's 4xx answers; nothing in this translation raises.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlsplit

from fooddelivery.http.messages import HttpRequest, HttpResponse

# pydantic looks for plugins through every installed distribution's entry points (importlib.metadata) the first
# time a model is built: 3 to 5 ms of CPU (more wall: a directory listing and a file read per distribution) of the
# first request that validates a body, for plugins a function does not have. Set the variable to "" in the
# function's settings to let pydantic load plugins again; as the AWS HTTP entrypoint does.
# (https://docs.pydantic.dev/latest/concepts/plugins/#how-to-use-plugins)
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

if TYPE_CHECKING:
    import azure.functions as func

    from fooddelivery.http import HttpApi

__all__ = ["PRINCIPAL_HEADER", "claims_from_principal", "request_from_function", "response_to_function"]

log = logging.getLogger(__name__)

#: The header App Service authentication fills with the verified caller.
PRINCIPAL_HEADER: Final[str] = "x-ms-client-principal"
#: Long claim types of Entra ID tokens as App Service reports them, and the short names the core's Entra mapping
#: reads (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
_CLAIM_ALIASES: Final[Mapping[str, str]] = {
    "http://schemas.microsoft.com/identity/claims/objectidentifier": "oid",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/role": "roles",
    "http://schemas.microsoft.com/identity/claims/tenantid": "tid",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier": "sub",
}
_LIST_CLAIMS: Final[frozenset[str]] = frozenset({"roles", "groups"})


def claims_from_principal(header: str | None) -> dict[str, Any] | None:
    """The claims of an ``X-MS-CLIENT-PRINCIPAL`` value, long claim types shortened, repeated ones (roles) as lists;
    None for a missing or malformed header (the core then answers 401)."""
    if not header:
        return None
    try:
        principal = json.loads(base64.b64decode(header, validate=False))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        log.warning("malformed %s header ignored", PRINCIPAL_HEADER)
        return None
    if not isinstance(principal, dict) or not isinstance(principal.get("claims"), list):
        return None
    role_type = principal.get("role_typ")
    claims: dict[str, Any] = {}
    for claim in principal["claims"]:
        if not isinstance(claim, dict):
            continue
        if not isinstance(claim.get("typ"), str) or not isinstance(claim.get("val"), str):
            continue
        name = claim["typ"]
        name = "roles" if name == role_type else _CLAIM_ALIASES.get(name, name)
        if name in _LIST_CLAIMS:
            claims.setdefault(name, []).append(claim["val"])
        elif name not in claims:
            claims[name] = claim["val"]
    return claims or None


def request_from_function(req: func.HttpRequest, *, trust_principal: bool) -> HttpRequest:
    """The core's request of a Functions HTTP request (see the module docstring)."""
    parts = urlsplit(req.url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "code"]
    multi: dict[str, list[str]] = {}
    for name, value in query:
        multi.setdefault(name, []).append(value)
    headers = [(str(k), str(v)) for k, v in req.headers.items()]
    claims = claims_from_principal(req.headers.get(PRINCIPAL_HEADER)) if trust_principal else None
    return HttpRequest.build(
        req.method or "GET",
        parts.path or "/",
        query=multi,
        headers=headers,
        body=req.get_body() or b"",
        claims=claims,
    )


def response_to_function(response: HttpResponse) -> func.HttpResponse:
    """The Functions response of the core's response (status, headers and body unchanged)."""
    import azure.functions as func

    return func.HttpResponse(body=response.body, status_code=response.status, headers=dict(response.headers))


def handle(req: func.HttpRequest, api: HttpApi, *, trust_principal: bool) -> func.HttpResponse:
    """Translate, call the core's HTTP API, translate back."""
    return response_to_function(api.handle(request_from_function(req, trust_principal=trust_principal)))
