"""Authenticators (adapters of :class:`fooddelivery.ports.auth.Authenticator`) and the development
token issuer.

- :class:`JwksAuthenticator`: bearer JWTs signed by an identity provider (Amazon Cognito, Microsoft
  Entra ID, Firebase Auth), verified with PyJWT against the provider's JWKS: signature, algorithm,
  issuer, audience, expiry, not-before and issued-at.
- :class:`GatewayClaimsAuthenticator`: claims a gateway already verified (API Gateway authorizers,
  Azure API Management / Easy Auth, Google API Gateway / ESPv2), handed over in
  ``HttpRequest.claims``.
- :class:`DevAuthenticator` and :func:`issue_dev_token`: HS256 tokens with a local secret, for a
  laptop.

Claims become an :class:`~fooddelivery.domain.actors.Actor` through a :class:`ClaimMapping` (which
claim holds the role, the subject, the restaurant id and the driver id). PyJWT (the ``jwt`` extra:
``pip install 'fooddelivery[jwt]'``) is imported on first use only, so importing this module stays
cheap.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.domain.actors import Actor, Role
from fooddelivery.domain.errors import (
    InfrastructureError,
    NotAllowed,
    NotAuthenticated,
    ValidationError,
)
from fooddelivery.domain.ids import check_id
from fooddelivery.ports.auth import CredentialSource
from fooddelivery.ports.clock import Clock

if TYPE_CHECKING:
    from jwt import PyJWK

__all__ = [
    "DEFAULT_DEV_SECRET",
    "DEV_AUDIENCE",
    "DEV_ISSUER",
    "DEV_SECRET_ENV",
    "ClaimMapping",
    "DevAuthenticator",
    "GatewayClaimsAuthenticator",
    "JwksAuthenticator",
    "UrlJwksFetcher",
    "actor_from_claims",
    "bearer_token",
    "dev_secret",
    "issue_dev_token",
]

#: Issuer (``iss``) of development tokens.
DEV_ISSUER: Final[str] = "fooddelivery-dev"
#: Audience (``aud``) of development tokens.
DEV_AUDIENCE: Final[str] = "fooddelivery"
#: Environment variable holding the development signing secret.
DEV_SECRET_ENV: Final[str] = "FOODDELIVERY_DEV_SECRET"
#: The secret used when ``FOODDELIVERY_DEV_SECRET`` is unset: public, so development tokens prove
#: nothing. Never deploy :class:`DevAuthenticator`.
DEFAULT_DEV_SECRET: Final[str] = "fooddelivery-local-development-secret-not-for-production"
#: Shortest HMAC secret accepted: RFC 7518 section 3.2 requires a key of at least the hash size (256
#: bits).
_MIN_SECRET_BYTES: Final[int] = 32
#: Longest bearer token read (identity-provider tokens are 1-4 KB).
_MAX_TOKEN_CHARS: Final[int] = 16_384

_CLIENT_ROLES: Final[Mapping[str, Role]] = MappingProxyType(
    {r.value: r for r in (Role.CUSTOMER, Role.RESTAURANT, Role.DRIVER, Role.ADMIN)}
)


def _not_authenticated(detail: str, reason: str = "invalid") -> NotAuthenticated:
    return NotAuthenticated(detail, reason=reason)


# -- claims -> actor -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClaimMapping:
    """Where an identity provider's token keeps what the core needs.

    Attributes:
        role_claim: the claim holding the role(s): a string, a list of strings, or a string listing
            several (``"a,b"`` or API Gateway's ``"[a b]"`` rendering of a list). ``"role"`` (a
            custom claim, e.g. a Firebase custom claim), ``"cognito:groups"`` (Cognito user-pool
            groups), ``"roles"`` (Entra ID app roles).
        subject_claim: the stable user id (``"sub"``; Entra ID's ``"oid"`` is stable across
            applications).
        restaurant_id_claim: the restaurant a restaurant user operates (required for that role).
        driver_id_claim: the driver id of a driver user (required for that role).
        role_values: claim value (compared case-insensitively) -> role. Defaults to the role names
            (``customer``, ``restaurant``, ``driver``, ``admin``); ``system`` is never a client
            role.
        precedence: the role chosen when a token grants several (first wins).
        default_role: the role of a valid token that grants none (e.g. every Firebase user is a
            customer), or None to refuse such tokens with 403.
    """

    role_claim: str = "role"
    subject_claim: str = "sub"
    restaurant_id_claim: str = "restaurant_id"
    driver_id_claim: str = "driver_id"
    role_values: Mapping[str, Role] = field(default_factory=lambda: _CLIENT_ROLES)
    precedence: tuple[Role, ...] = (Role.ADMIN, Role.RESTAURANT, Role.DRIVER, Role.CUSTOMER)
    default_role: Role | None = None

    def __post_init__(self) -> None:
        roles = set(self.role_values.values()) | set(self.precedence)
        if self.default_role is not None:
            roles.add(self.default_role)
        if Role.SYSTEM in roles:
            raise ValueError("the system role is never granted by a token")

    @classmethod
    def cognito(cls) -> ClaimMapping:
        """Amazon Cognito user pools: groups in ``cognito:groups``; bindings in custom attributes
        ``custom:restaurant_id`` / ``custom:driver_id`` (present in ID tokens; add them to access
        tokens with a pre-token-generation trigger).
        """
        return cls(
            role_claim="cognito:groups",
            restaurant_id_claim="custom:restaurant_id",
            driver_id_claim="custom:driver_id",
        )

    @classmethod
    def entra(cls) -> ClaimMapping:
        """Microsoft Entra ID: app roles in ``roles``, the user's object id ``oid`` as subject."""
        return cls(role_claim="roles", subject_claim="oid")

    @classmethod
    def firebase(cls) -> ClaimMapping:
        """Firebase Auth: a ``role`` custom claim (set with the Admin SDK); users without one are
        customers."""
        return cls(role_claim="role", default_role=Role.CUSTOMER)


def _role_names(value: object) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        return [part for part in text.replace(",", " ").split() if part]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def _identifier(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    try:
        return check_id(value, name)
    except ValidationError:
        return None


def actor_from_claims(claims: Mapping[str, Any], mapping: ClaimMapping) -> Actor:
    """The actor verified ``claims`` describe, under ``mapping``.

    Raises:
        NotAuthenticated: no usable subject (missing, empty, over 128 characters, or with '/' or
            control characters).
        NotAllowed: no role this API serves (and no default), or a restaurant/driver role without
            its id claim.
    """
    subject = _identifier(claims, mapping.subject_claim)
    if subject is None:
        raise _not_authenticated(f"the token has no usable {mapping.subject_claim!r} claim")
    values = {k.casefold(): v for k, v in mapping.role_values.items()}
    granted = {values[n.casefold()] for n in _role_names(claims.get(mapping.role_claim)) if n.casefold() in values}
    role = next((r for r in mapping.precedence if r in granted), None)
    if role is None:
        role = mapping.default_role
    if role is None:
        raise NotAllowed("the token grants no role of this API", subject=subject)
    if role is Role.RESTAURANT:
        restaurant_id = _identifier(claims, mapping.restaurant_id_claim)
        if restaurant_id is None:
            raise NotAllowed(f"a restaurant token needs a {mapping.restaurant_id_claim!r} claim")
        return Actor(Role.RESTAURANT, subject, restaurant_id=restaurant_id)
    if role is Role.DRIVER:
        driver_id = _identifier(claims, mapping.driver_id_claim)
        if driver_id is None:
            raise NotAllowed(f"a driver token needs a {mapping.driver_id_claim!r} claim")
        return Actor(Role.DRIVER, subject, driver_id=driver_id)
    return Actor(role, subject)


def bearer_token(request: CredentialSource) -> str:
    """The token of the request's ``Authorization: Bearer <token>`` header (RFC 6750 section 2.1).

    Raises:
        NotAuthenticated: no ``Authorization`` header (``reason="missing"``), another scheme
            (``reason="other_scheme"``), or a token that is empty, too long or not in the b64token alphabet.
    """
    header = request.header("authorization")
    if header is None or not header.strip():
        raise _not_authenticated("an 'Authorization: Bearer <token>' header is required", "missing")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":  # another scheme (Basic...): no bearer credentials at all (RFC 6750 section 3.1)
        raise _not_authenticated("the Authorization header must use the Bearer scheme", "other_scheme")
    if not token:
        raise _not_authenticated("the Authorization header must use the Bearer scheme")
    if len(token) > _MAX_TOKEN_CHARS or not _is_b64token(token):
        raise _not_authenticated("the bearer token is malformed")
    return token


_B64TOKEN_CHARS: Final[frozenset[str]] = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="
)


def _is_b64token(token: str) -> bool:
    return all(c in _B64TOKEN_CHARS for c in token)


# -- time checks with an injected clock ------------------------------------------------------------
def _numeric(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _not_authenticated(f"the token's {name!r} claim is not a number")
    return float(value)


def _check_times(claims: Mapping[str, Any], now: float, leeway_s: float) -> None:
    """RFC 7519 sections 4.1.4-4.1.6 against ``now`` (POSIX seconds): exp required and in the
    future; nbf and iat, when present, not in the future; each with ``leeway_s`` of clock skew.
    """
    exp = _numeric(claims, "exp")
    if exp is None:
        raise _not_authenticated("the token has no expiry ('exp')")
    if now >= exp + leeway_s:
        raise _not_authenticated("the token has expired")
    nbf = _numeric(claims, "nbf")
    if nbf is not None and now + leeway_s < nbf:
        raise _not_authenticated("the token is not valid yet ('nbf')")
    iat = _numeric(claims, "iat")
    if iat is not None and now + leeway_s < iat:
        raise _not_authenticated("the token was issued in the future ('iat')")


def _now_seconds(clock: Clock | None) -> float:
    return (clock.now() if clock is not None else datetime.now(UTC)).timestamp()


def _jwt_error(exc: Exception) -> NotAuthenticated:
    """A PyJWT error as a 401 with a short, non-revealing reason."""
    import jwt

    reasons: tuple[tuple[type[Exception], str], ...] = (
        (jwt.InvalidSignatureError, "the token's signature is invalid"),
        (jwt.ExpiredSignatureError, "the token has expired"),
        (jwt.InvalidAudienceError, "the token is for another audience"),
        (jwt.InvalidIssuerError, "the token is from another issuer"),
        (jwt.InvalidAlgorithmError, "the token's algorithm is not accepted"),
        (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
        (jwt.ImmatureSignatureError, "the token is not valid yet"),
    )
    for klass, reason in reasons:
        if isinstance(exc, klass):
            return _not_authenticated(reason)
    return _not_authenticated("the bearer token is malformed")


# -- JWKS ------------------------------------------------------------------------------------------
class UrlJwksFetcher:
    """Fetches a JWKS document over HTTPS with the standard library (a callable for
    :class:`JwksAuthenticator`).

    Args:
        url: the JWKS URL (``https://`` only).
        timeout_s: connect + read timeout.

    Raises:
        ValueError: a non-HTTPS URL.
    """

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        if not url.startswith("https://"):
            raise ValueError("a JWKS URL must use https")
        self.url = url
        self.timeout_s = timeout_s

    def __call__(self) -> Mapping[str, Any]:
        """The JWKS document.

        Raises:
            InfrastructureError: the fetch failed or the document is not a JSON object.
        """
        import urllib.request

        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_s) as response:
                document = json.loads(response.read(1_000_000))
        except (OSError, ValueError) as exc:
            raise InfrastructureError(f"could not fetch the JWKS at {self.url}") from exc
        if not isinstance(document, dict):
            raise InfrastructureError(f"the JWKS at {self.url} is not a JSON object")
        return document


class JwksAuthenticator:
    """Verifies bearer JWTs against an identity provider's JWKS (implements ``Authenticator``).
    Thread-safe.

    Checks, with PyJWT: the signature with the key named by the token's ``kid`` (or the only key),
    an algorithm from ``algorithms`` that matches the key, ``iss`` equal to ``issuer``, the audience
    claim containing one of ``audience``, every claim of ``expected_claims``; then
    ``exp``/``nbf``/``iat`` against ``clock`` with ``leeway_s``. An unknown ``kid`` refreshes the
    key set at most once per ``min_refresh_s`` (key rotation).

    Args:
        jwks: the JWKS document (``{"keys": [...]}``) or a callable fetching it (e.g.
            :class:`UrlJwksFetcher`), called on first use and on refresh.
        issuer: the exact expected ``iss``.
        audience: accepted audience value(s).
        mapping: claims -> actor.
        algorithms: accepted signature algorithms (asymmetric only).
        audience_claim: the claim holding the audience: ``"aud"``, or ``"client_id"`` for Cognito
            access tokens, which carry no ``aud``.
        expected_claims: claims that must have exactly these values (``{"token_use": "access"}`` for
            Cognito).
        leeway_s: allowed clock skew, seconds.
        clock: time source for the expiry checks; the system clock when None.
        min_refresh_s: least time between two key-set fetches.

    Raises:
        ValueError: an empty issuer or audience, or a symmetric (``HS*``) or ``none`` algorithm.
    """

    def __init__(
        self,
        *,
        jwks: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
        issuer: str,
        audience: str | Sequence[str],
        mapping: ClaimMapping | None = None,
        algorithms: Sequence[str] = ("RS256",),
        audience_claim: str = "aud",
        expected_claims: Mapping[str, str] | None = None,
        leeway_s: float = 60.0,
        clock: Clock | None = None,
        min_refresh_s: float = 60.0,
    ) -> None:
        if not issuer:
            raise ValueError("issuer is required")
        audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        if not audiences or not all(audiences):
            raise ValueError("audience is required")
        if not algorithms or any(a.upper().startswith("HS") or a.lower() == "none" for a in algorithms):
            raise ValueError("JWKS verification accepts asymmetric algorithms only")
        self.issuer = issuer
        self.audiences = audiences
        self.mapping = mapping or ClaimMapping()
        self.algorithms = tuple(algorithms)
        self.audience_claim = audience_claim
        self.expected_claims = dict(expected_claims or {})
        self.leeway_s = leeway_s
        self.clock = clock
        self.min_refresh_s = min_refresh_s
        self._source = jwks
        self._keys: dict[str | None, PyJWK] | None = None
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    # -- presets (issuer and JWKS locations as each provider documents them) -----------------------
    @classmethod
    def for_cognito(
        cls,
        *,
        region: str,
        user_pool_id: str,
        client_id: str,
        token_use: str = "access",
        jwks: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
        mapping: ClaimMapping | None = None,
        clock: Clock | None = None,
    ) -> JwksAuthenticator:
        """Amazon Cognito user-pool tokens.

        Source: AWS, "Verifying a JSON Web Token" (Cognito developer guide): issuer
        ``https://cognito-idp.<region>.amazonaws.com/<userPoolId>``, keys at
        ``<issuer>/.well-known/jwks.json``, RS256; access tokens carry the app client id in
        ``client_id`` (no ``aud``) and ``token_use=access``; ID tokens carry it in ``aud`` and
        ``token_use=id``.
        """
        issuer = f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
        return cls(
            jwks=jwks if jwks is not None else UrlJwksFetcher(f"{issuer}/.well-known/jwks.json"),
            issuer=issuer,
            audience=client_id,
            mapping=mapping or ClaimMapping.cognito(),
            audience_claim="client_id" if token_use == "access" else "aud",
            expected_claims={"token_use": token_use},
            clock=clock,
        )

    @classmethod
    def for_entra(
        cls,
        *,
        tenant_id: str,
        audience: str | Sequence[str],
        jwks: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
        mapping: ClaimMapping | None = None,
        clock: Clock | None = None,
    ) -> JwksAuthenticator:
        """Microsoft Entra ID v2.0 access tokens for this API (``audience``: its application id URI
        or client id).

        Source: Microsoft identity platform, "Access tokens" and the OpenID configuration of
        ``https://login.microsoftonline.com/<tenant>/v2.0``: issuer
        ``https://login.microsoftonline.com/<tenant>/v2.0``, keys at
        ``https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys``, RS256.
        """
        base = f"https://login.microsoftonline.com/{tenant_id}"
        return cls(
            jwks=jwks if jwks is not None else UrlJwksFetcher(f"{base}/discovery/v2.0/keys"),
            issuer=f"{base}/v2.0",
            audience=audience,
            mapping=mapping or ClaimMapping.entra(),
            clock=clock,
        )

    @classmethod
    def for_firebase(
        cls,
        *,
        project_id: str,
        jwks: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
        mapping: ClaimMapping | None = None,
        clock: Clock | None = None,
    ) -> JwksAuthenticator:
        """Firebase Auth ID tokens.

        Source: Firebase, "Verify ID tokens using a third-party JWT library": RS256, ``aud`` = the
        project id, ``iss`` = ``https://securetoken.google.com/<projectId>``, keys of
        ``securetoken@system.gserviceaccount.com`` (JWK form at
        ``https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com``).
        """
        return cls(
            jwks=jwks
            if jwks is not None
            else UrlJwksFetcher(
                "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
            ),
            issuer=f"https://securetoken.google.com/{project_id}",
            audience=project_id,
            mapping=mapping or ClaimMapping.firebase(),
            clock=clock,
        )

    # -- keys --------------------------------------------------------------------------------------
    def _load(self) -> dict[str | None, PyJWK]:
        import jwt

        source = self._source
        document = source() if callable(source) else source
        try:
            keyset = jwt.PyJWKSet.from_dict(dict(document))
        except jwt.PyJWTError as exc:
            raise InfrastructureError("the JWKS holds no usable key") from exc
        return {key.key_id: key for key in keyset.keys if key.public_key_use in (None, "sig")}

    def _key(self, kid: object) -> PyJWK:
        with self._lock:
            if self._keys is None:
                self._keys = self._load()
                self._fetched_at = time.monotonic()
            keys = self._keys
            if kid is None and len(keys) == 1:
                return next(iter(keys.values()))
            if isinstance(kid, str) and kid in keys:
                return keys[kid]
            if callable(self._source) and time.monotonic() - self._fetched_at >= self.min_refresh_s:
                self._keys = keys = self._load()
                self._fetched_at = time.monotonic()
                if isinstance(kid, str) and kid in keys:
                    return keys[kid]
        raise _not_authenticated("the token was signed with an unknown key")

    # -- Authenticator -----------------------------------------------------------------------------
    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``.

        Raises:
            NotAuthenticated: any failed check (malformed, unknown key, bad signature, wrong issuer
                or audience, expired, not yet valid).
            InfrastructureError: the key set could not be fetched.
        """
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _jwt_error(exc) from None
        key = self._key(header.get("kid"))
        check_aud = self.audience_claim == "aud"
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=list(self.algorithms),
                audience=list(self.audiences) if check_aud else None,
                issuer=self.issuer,
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": check_aud,
                    "require": ["exp", "iss"],
                },
            )
        except jwt.PyJWTError as exc:
            raise _jwt_error(exc) from None
        if not check_aud:
            value = claims.get(self.audience_claim)
            got = value if isinstance(value, list) else [value]
            if not any(isinstance(v, str) and v in self.audiences for v in got):
                raise _not_authenticated("the token is for another audience")
        for name, expected in self.expected_claims.items():
            if claims.get(name) != expected:
                raise _not_authenticated(f"the token's {name!r} claim is not {expected!r}")
        _check_times(claims, _now_seconds(self.clock), self.leeway_s)
        return claims

    def authenticate(self, request: CredentialSource) -> Actor:
        """The actor of the request's bearer token.

        Raises:
            NotAuthenticated: see :meth:`verify` and :func:`bearer_token`.
            NotAllowed: the token grants no role of this API (see :func:`actor_from_claims`).
            InfrastructureError: the key set could not be fetched.
        """
        return actor_from_claims(self.verify(bearer_token(request)), self.mapping)


# -- gateway-verified claims -----------------------------------------------------------------------
class GatewayClaimsAuthenticator:
    """Trusts claims a gateway already verified (implements ``Authenticator``).

    The cloud entrypoint copies the platform's verified identity into ``HttpRequest.claims``: on AWS
    ``requestContext.authorizer.claims`` (REST API Cognito authorizer) or
    ``requestContext.authorizer.jwt.claims`` (HTTP API JWT authorizer), and the equivalents of Azure
    and Google Cloud. Nothing a client sends is ever read. Use only behind a gateway that rejects
    unauthenticated calls.

    Args:
        mapping: claims -> actor.
    """

    def __init__(self, mapping: ClaimMapping | None = None) -> None:
        self.mapping = mapping or ClaimMapping()

    def authenticate(self, request: CredentialSource) -> Actor:
        """The actor of the request's verified claims.

        Raises:
            NotAuthenticated: the request carries no verified claims, or no usable subject.
            NotAllowed: the claims grant no role of this API.
        """
        claims = request.claims
        if not claims:
            raise _not_authenticated("no verified identity came with the request", "missing")
        return actor_from_claims(claims, self.mapping)


# -- development tokens ----------------------------------------------------------------------------
def dev_secret(environ: Mapping[str, str] | None = None) -> str:
    """The development signing secret: ``FOODDELIVERY_DEV_SECRET`` or :data:`DEFAULT_DEV_SECRET`."""
    import os

    env = os.environ if environ is None else environ
    return env.get(DEV_SECRET_ENV) or DEFAULT_DEV_SECRET


def _check_secret(secret: str) -> bytes:
    raw = secret.encode()
    if len(raw) < _MIN_SECRET_BYTES:
        raise ValueError(f"a development secret needs at least {_MIN_SECRET_BYTES} bytes (RFC 7518 section 3.2)")
    return raw


def issue_dev_token(
    role: str,
    sub: str,
    restaurant_id: str | None = None,
    driver_id: str | None = None,
    *,
    secret: str | None = None,
    ttl_s: int = 3600,
    now: datetime | None = None,
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
) -> str:
    """A development bearer token (HS256) that :class:`DevAuthenticator` accepts.

    ``fooddelivery token --role customer --sub user-1`` prints one (see the CLI).

    Args:
        role: ``customer``, ``restaurant``, ``driver`` or ``admin``.
        sub: the user id (for a customer, the customer id), 1..128 characters without control characters or '/'.
        restaurant_id: required for ``restaurant``: the restaurant the user operates.
        driver_id: required for ``driver``: the user's driver id.
        secret: the signing secret (>= 32 bytes); :func:`dev_secret` when None.
        ttl_s: lifetime in seconds, 1..2,592,000 (30 days).
        now: issue time (timezone-aware); the system clock when None.
        issuer: ``iss``.
        audience: ``aud``.

    Returns:
        The compact JWT, with claims ``iss``, ``aud``, ``sub``, ``role``, ``iat``, ``exp`` and the
        binding.

    Raises:
        ValidationError: an unknown role, a bad id, a missing binding, or a ttl out of range.
        ValueError: a secret shorter than 32 bytes.
    """
    import jwt

    wanted = _CLIENT_ROLES.get(role)
    if wanted is None:
        raise ValidationError.single("role", f"must be one of {', '.join(_CLIENT_ROLES)}", "invalid_choice")
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or not 1 <= ttl_s <= 2_592_000:
        raise ValidationError.single("ttl_s", "must be an integer 1..2592000", "out_of_range")
    claims: dict[str, Any] = {"role": wanted.value, "sub": sub}
    if _identifier(claims, "sub") is None:
        raise ValidationError.single("sub", "must be 1..128 characters without control characters or '/'", "invalid")
    for name, value in (("restaurant_id", restaurant_id), ("driver_id", driver_id)):
        if value is not None:
            claims[name] = check_id(value, name)
    Actor(  # raises ValidationError when the role's binding is missing
        wanted,
        sub,
        restaurant_id=restaurant_id if wanted is Role.RESTAURANT else None,
        driver_id=driver_id if wanted is Role.DRIVER else None,
    )
    issued = int((now if now is not None else datetime.now(UTC)).timestamp())
    claims.update({"iss": issuer, "aud": audience, "iat": issued, "exp": issued + ttl_s})
    key = _check_secret(secret if secret is not None else dev_secret())
    return jwt.encode(claims, key, algorithm="HS256")


#: Development tokens whose signature a :class:`DevAuthenticator` remembers having verified.
VERIFIED_TOKENS: Final[int] = 4096


class DevAuthenticator:
    """Accepts :func:`issue_dev_token` tokens (implements ``Authenticator``): HS256 with a local
    secret.

    For a laptop and tests only: anyone who knows the secret can mint any identity.

    Args:
        secret: the signing secret (>= 32 bytes); :func:`dev_secret` when None.
        issuer: expected ``iss``.
        audience: expected ``aud``.
        mapping: claims -> actor (the defaults match :func:`issue_dev_token`).
        clock: time source for expiry; the system clock when None.
        leeway_s: allowed clock skew, seconds.

    Raises:
        ValueError: a secret shorter than 32 bytes.
    """

    def __init__(
        self,
        secret: str | None = None,
        *,
        issuer: str = DEV_ISSUER,
        audience: str = DEV_AUDIENCE,
        mapping: ClaimMapping | None = None,
        clock: Clock | None = None,
        leeway_s: float = 0.0,
    ) -> None:
        self._key = _check_secret(secret if secret is not None else dev_secret())
        self.issuer = issuer
        self.audience = audience
        self.mapping = mapping or ClaimMapping()
        self.clock = clock
        self.leeway_s = leeway_s
        self._verified: dict[str, dict[str, Any]] = {}

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``.

        A token whose signature, issuer and audience were verified before is not decoded again (the last
        :data:`VERIFIED_TOKENS` are kept: a client sends its token with every request); its times are checked on
        every use.

        Raises:
            NotAuthenticated: malformed, wrongly signed, another algorithm than HS256, wrong issuer
                or audience, expired or not yet valid.
        """
        known = self._verified.get(token)
        if known is not None:
            _check_times(known, _now_seconds(self.clock), self.leeway_s)
            return dict(known)
        import jwt

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=self._key,
                algorithms=["HS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["exp"],
                },
            )
        except jwt.PyJWTError as exc:
            raise _jwt_error(exc) from None
        _check_times(claims, _now_seconds(self.clock), self.leeway_s)
        if len(self._verified) >= VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = dict(claims)
        return claims

    def authenticate(self, request: CredentialSource) -> Actor:
        """The actor of the request's development bearer token.

        Raises:
            NotAuthenticated: see :meth:`verify` and :func:`bearer_token`.
            NotAllowed: the token grants no role of this API.
        """
        return actor_from_claims(self.verify(bearer_token(request)), self.mapping)
