"""Authentication: who is calling, as an :class:`~fooddelivery.domain.actors.Actor`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from fooddelivery.domain.actors import Actor

__all__ = ["Authenticator", "CredentialSource"]


@runtime_checkable
class CredentialSource(Protocol):
    """What an authenticator may read from a request (``fooddelivery.http.HttpRequest`` is one).

    Kept to two members so the port never depends on the HTTP layer.
    """

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None when absent."""
        ...

    @property
    def claims(self) -> Mapping[str, Any] | None:
        """Claims a trusted gateway already verified (API Gateway authorizer context and its
        equivalents), or None. Never filled from anything the client sent.
        """
        ...


@runtime_checkable
class Authenticator(Protocol):
    """Turns a request's credentials into the acting :class:`Actor`.

    Adapters (``fooddelivery.http.auth``): ``JwksAuthenticator`` (bearer JWTs from Cognito, Entra
    ID, Firebase Auth), ``GatewayClaimsAuthenticator`` (claims verified by the gateway) and
    ``DevAuthenticator`` (HS256 tokens with a local secret, for development).
    """

    def authenticate(self, request: CredentialSource) -> Actor:
        """The actor the request's credentials prove.

        Raises:
            NotAuthenticated: missing, malformed, expired or wrongly signed credentials (HTTP 401).
            NotAllowed: valid credentials that grant no role this API serves (HTTP 403).
            InfrastructureError: the key set could not be fetched (HTTP 503).
        """
        ...
