"""The authenticators: JWKS-verified bearer JWTs (Cognito, Entra ID and Firebase Auth shapes), claims verified by
a gateway, and development tokens. Keys and key sets are generated locally; nothing touches the network.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.domain import Actor, Role
from fooddelivery.domain.errors import InfrastructureError, NotAllowed, NotAuthenticated, ValidationError
from fooddelivery.http import (
    ClaimMapping,
    DevAuthenticator,
    GatewayClaimsAuthenticator,
    HttpApi,
    HttpRequest,
    JwksAuthenticator,
    issue_dev_token,
)
from fooddelivery.http.auth import DEFAULT_DEV_SECRET, dev_secret

from ._world import REFERENCE_PAYLOAD, T0, World, assert_problem, build_world

REGION, POOL, CLIENT = "eu-west-1", "eu-west-1_AbCdEf123", "5app-client-id"
COGNITO_ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
TENANT = "7f3c0c35-1b8a-4c55-9a4e-3c1e7c7d2a10"
ENTRA_ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
ENTRA_AUDIENCE = "api://fooddelivery"
PROJECT = "fooddelivery-dev"
FIREBASE_ISSUER = f"https://securetoken.google.com/{PROJECT}"
NOW = int(T0.timestamp())


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys() -> dict[str, rsa.RSAPrivateKey]:
    """Two signing keys of the identity provider and one of an attacker."""
    return {"k1": _key(), "k2": _key(), "attacker": _key()}


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def _jwks(keys: Mapping[str, rsa.RSAPrivateKey], *kids: str) -> dict[str, Any]:
    return {"keys": [_jwk(keys[k], k) for k in kids]}


def _sign(key: rsa.RSAPrivateKey, claims: dict[str, Any], kid: str | None = "k1", alg: str = "RS256") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def _bearer(token: str) -> HttpRequest:
    return HttpRequest.build("GET", "/health", headers={"Authorization": f"Bearer {token}"})


def _cognito_claims(**overrides: Any) -> dict[str, Any]:
    claims = {
        "sub": "0f1e2d3c-aaaa-bbbb-cccc-123456789abc",
        "iss": COGNITO_ISSUER,
        "client_id": CLIENT,
        "token_use": "access",
        "cognito:groups": ["restaurant"],
        "custom:restaurant_id": "rest-1",
        "iat": NOW - 10,
        "exp": NOW + 3600,
    }
    claims.update(overrides)
    return claims


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
def cognito(keys: dict[str, rsa.RSAPrivateKey], clock: VirtualClock) -> JwksAuthenticator:
    return JwksAuthenticator.for_cognito(
        region=REGION, user_pool_id=POOL, client_id=CLIENT, jwks=_jwks(keys, "k1", "k2"), clock=clock
    )


# -- JWKS: valid tokens of each provider -----------------------------------------------------------------------
def test_a_cognito_access_token_becomes_the_restaurant_actor_of_its_group_and_attribute(
    cognito: JwksAuthenticator, keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    actor = cognito.authenticate(_bearer(_sign(keys["k1"], _cognito_claims())))

    assert actor == Actor(Role.RESTAURANT, "0f1e2d3c-aaaa-bbbb-cccc-123456789abc", restaurant_id="rest-1")


def test_a_token_signed_by_the_second_key_of_the_set_is_accepted(
    cognito: JwksAuthenticator, keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    actor = cognito.authenticate(_bearer(_sign(keys["k2"], _cognito_claims(), kid="k2")))

    assert actor.role is Role.RESTAURANT


def test_an_entra_id_token_maps_app_roles_and_the_object_id(
    keys: dict[str, rsa.RSAPrivateKey], clock: VirtualClock
) -> None:
    auth = JwksAuthenticator.for_entra(tenant_id=TENANT, audience=ENTRA_AUDIENCE, jwks=_jwks(keys, "k1"), clock=clock)
    claims = {
        "iss": ENTRA_ISSUER,
        "aud": ENTRA_AUDIENCE,
        "sub": "pairwise-sub",
        "oid": "9a8b7c6d",
        "roles": ["Admin"],
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 3600,
    }

    actor = auth.authenticate(_bearer(_sign(keys["k1"], claims)))

    assert actor == Actor(Role.ADMIN, "9a8b7c6d")


def test_a_firebase_id_token_without_a_role_claim_is_a_customer(
    keys: dict[str, rsa.RSAPrivateKey], clock: VirtualClock
) -> None:
    auth = JwksAuthenticator.for_firebase(project_id=PROJECT, jwks=_jwks(keys, "k1"), clock=clock)
    claims = {
        "iss": FIREBASE_ISSUER,
        "aud": PROJECT,
        "sub": "firebase-uid-1",
        "auth_time": NOW,
        "iat": NOW,
        "exp": NOW + 3600,
    }

    actor = auth.authenticate(_bearer(_sign(keys["k1"], claims)))

    assert actor == Actor(Role.CUSTOMER, "firebase-uid-1")


def test_several_groups_choose_the_most_powerful_role(
    cognito: JwksAuthenticator, keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    token = _sign(keys["k1"], _cognito_claims(**{"cognito:groups": ["customer", "admin"]}))

    assert cognito.authenticate(_bearer(token)).role is Role.ADMIN


def test_a_token_expired_within_the_leeway_is_still_accepted(
    cognito: JwksAuthenticator, keys: dict[str, rsa.RSAPrivateKey], clock: VirtualClock
) -> None:
    token = _sign(keys["k1"], _cognito_claims(exp=NOW + 10))
    clock.advance(30)  # 20 s past exp, leeway 60 s

    assert cognito.authenticate(_bearer(token)).role is Role.RESTAURANT


# -- JWKS: refused tokens ---------------------------------------------------------------------------------------
def _refused(auth: Any, request: HttpRequest) -> str:
    with pytest.raises(NotAuthenticated) as caught:
        auth.authenticate(request)
    return caught.value.detail


def test_an_expired_token_is_refused(
    cognito: JwksAuthenticator, keys: dict[str, rsa.RSAPrivateKey], clock: VirtualClock
) -> None:
    token = _sign(keys["k1"], _cognito_claims(exp=NOW + 10))
    clock.advance(71)  # 61 s past exp

    assert _refused(cognito, _bearer(token)) == "the token has expired"


def test_a_token_not_valid_yet_is_refused(cognito: JwksAuthenticator, keys: dict[str, rsa.RSAPrivateKey]) -> None:
    token = _sign(keys["k1"], _cognito_claims(nbf=NOW + 600))

    assert _refused(cognito, _bearer(token)) == "the token is not valid yet ('nbf')"


def test_a_token_without_expiry_is_refused(cognito: JwksAuthenticator, keys: dict[str, rsa.RSAPrivateKey]) -> None:
    claims = _cognito_claims()
    del claims["exp"]

    assert _refused(cognito, _bearer(_sign(keys["k1"], claims))) == "the token lacks a required claim"


def test_a_token_from_another_issuer_is_refused(cognito: JwksAuthenticator, keys: dict[str, rsa.RSAPrivateKey]) -> None:
    token = _sign(keys["k1"], _cognito_claims(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"))

    assert _refused(cognito, _bearer(token)) == "the token is from another issuer"


def test_a_token_for_another_app_client_is_refused(
    cognito: JwksAuthenticator, keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    token = _sign(keys["k1"], _cognito_claims(client_id="another-client"))

    assert _refused(cognito, _bearer(token)) == "the token is for another audience"


def test_an_id_token_where_an_access_token_is_expected_is_refused(
    cognito: JwksAuthenticator, keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    token = _sign(keys["k1"], _cognito_claims(token_use="id"))

    assert "token_use" in _refused(cognito, _bearer(token))


def test_a_token_for_another_audience_is_refused(keys: dict[str, rsa.RSAPrivateKey], clock: VirtualClock) -> None:
    auth = JwksAuthenticator.for_firebase(project_id=PROJECT, jwks=_jwks(keys, "k1"), clock=clock)
    claims = {"iss": FIREBASE_ISSUER, "aud": "another-project", "sub": "u1", "iat": NOW, "exp": NOW + 60}

    assert _refused(auth, _bearer(_sign(keys["k1"], claims))) == "the token is for another audience"


def test_a_token_signed_with_another_key_under_a_known_kid_is_refused(
    cognito: JwksAuthenticator, keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    forged = _sign(keys["attacker"], _cognito_claims(**{"cognito:groups": ["admin"]}), kid="k1")

    assert _refused(cognito, _bearer(forged)) == "the token's signature is invalid"


def test_a_tampered_payload_is_refused(cognito: JwksAuthenticator, keys: dict[str, rsa.RSAPrivateKey]) -> None:
    header, _, signature = _sign(keys["k1"], _cognito_claims()).split(".")
    payload = base64.urlsafe_b64encode(json.dumps(_cognito_claims(**{"cognito:groups": ["admin"]})).encode())

    tampered = f"{header}.{payload.decode().rstrip('=')}.{signature}"

    assert _refused(cognito, _bearer(tampered)) == "the token's signature is invalid"


def test_an_hs256_token_signed_with_the_public_key_is_refused(
    cognito: JwksAuthenticator, keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    public_pem = (
        keys["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","kid":"k1","typ":"JWT"}').rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(_cognito_claims()).encode()).rstrip(b"=")
    mac = hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest()
    token = b".".join([header, payload, base64.urlsafe_b64encode(mac).rstrip(b"=")]).decode()

    assert _refused(cognito, _bearer(token)) == "the token's algorithm is not accepted"


def test_an_unsigned_alg_none_token_is_refused(cognito: JwksAuthenticator) -> None:
    token = jwt.encode(_cognito_claims(), key=None, algorithm="none", headers={"kid": "k1"})

    assert _refused(cognito, _bearer(token)) == "the token's algorithm is not accepted"


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "an 'Authorization: Bearer <token>' header is required"),
        ("", "an 'Authorization: Bearer <token>' header is required"),
        ("Bearer", "the Authorization header must use the Bearer scheme"),
        ("Basic dXNlcjpwYXNz", "the Authorization header must use the Bearer scheme"),
        ("Bearer not-a-jwt", "the bearer token is malformed"),
        ("Bearer a.b.c", "the bearer token is malformed"),
        ("Bearer a.b", "the bearer token is malformed"),
        ("Bearer tok en", "the bearer token is malformed"),
        ("Bearer " + "a" * 20_000, "the bearer token is malformed"),
        ("Bearer é.é.é", "the bearer token is malformed"),
    ],
)
def test_a_missing_or_malformed_authorization_header_is_refused(
    cognito: JwksAuthenticator, authorization: str | None, detail: str
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}

    assert _refused(cognito, HttpRequest.build("GET", "/health", headers=headers)) == detail


def test_an_unknown_kid_refreshes_the_key_set_once_then_waits(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    fetched: list[float] = []
    served = [_jwks(keys, "k1")]

    def fetch() -> dict[str, Any]:
        fetched.append(time.monotonic())
        return served[-1]

    auth = JwksAuthenticator(
        jwks=fetch,
        issuer=COGNITO_ISSUER,
        audience=CLIENT,
        audience_claim="client_id",
        mapping=ClaimMapping.cognito(),
        min_refresh_s=0,
    )
    rotated = _sign(keys["k2"], _cognito_claims(exp=int(time.time()) + 60, iat=int(time.time())), kid="k2")
    assert auth.authenticate(
        _bearer(_sign(keys["k1"], _cognito_claims(exp=int(time.time()) + 60, iat=int(time.time()))))
    ).role
    served.append(_jwks(keys, "k1", "k2"))  # the provider rotates in k2

    assert auth.authenticate(_bearer(rotated)).role is Role.RESTAURANT
    assert len(fetched) == 2
    auth.min_refresh_s = 3600
    stranger = _sign(keys["attacker"], _cognito_claims(exp=int(time.time()) + 60), kid="k9")
    assert _refused(auth, _bearer(stranger)) == "the token was signed with an unknown key"
    assert len(fetched) == 2  # no fetch storm from unknown kids


def test_an_unreachable_key_set_is_503_through_the_api(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    world = build_world()

    def down() -> dict[str, Any]:
        raise InfrastructureError("connection refused")

    api = HttpApi(world.boot.service, JwksAuthenticator(jwks=down, issuer=COGNITO_ISSUER, audience=CLIENT))
    token = _sign(keys["k1"], _cognito_claims())

    response = api.handle(HttpRequest.build("GET", "/restaurants", headers={"Authorization": f"Bearer {token}"}))

    assert_problem(response, 503, "infrastructure_error")


def test_a_symmetric_algorithm_cannot_be_configured_for_a_key_set() -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        JwksAuthenticator(jwks={"keys": []}, issuer="x", audience="y", algorithms=("HS256",))


# -- JWKS through the HTTP API ----------------------------------------------------------------------------------
def test_a_verified_customer_token_places_the_reference_order_and_an_expired_one_gets_401(
    keys: dict[str, rsa.RSAPrivateKey],
) -> None:
    world = build_world()
    auth = JwksAuthenticator.for_firebase(project_id=PROJECT, jwks=_jwks(keys, "k1"), clock=world.clock)
    api = HttpApi(world.boot.service, auth)
    claims = {"iss": FIREBASE_ISSUER, "aud": PROJECT, "sub": "user-1", "iat": NOW, "exp": NOW + 300}
    headers = {"Authorization": f"Bearer {_sign(keys['k1'], claims)}", "Content-Type": "application/json"}

    placed = api.handle(HttpRequest.build("POST", "/orders", headers=headers, body=REFERENCE_PAYLOAD))
    world.clock.advance(timedelta(minutes=10))
    late = api.handle(HttpRequest.build("GET", f"/orders/{placed.json()['orderId']}", headers=headers))

    assert placed.status == 201
    assert placed.json()["pricing"]["subtotal"] == "21.97"
    body = assert_problem(late, 401, "not_authenticated")
    assert body["detail"] == "the token has expired"
    assert late.header("WWW-Authenticate") == 'Bearer realm="fooddelivery", error="invalid_token"'


# -- gateway claims -----------------------------------------------------------------------------------------------
def _with_claims(claims: Mapping[str, Any] | None, **headers: str) -> HttpRequest:
    return HttpRequest.build("GET", "/restaurants", headers=headers, claims=claims)


def test_gateway_claims_become_the_actor() -> None:
    auth = GatewayClaimsAuthenticator(ClaimMapping.cognito())

    actor = auth.authenticate(_with_claims({"sub": "d-1", "cognito:groups": "driver", "custom:driver_id": "drv-7"}))

    assert actor == Actor(Role.DRIVER, "d-1", driver_id="drv-7")


@pytest.mark.parametrize("groups", ["[customer admin]", "customer,admin", ["customer", "admin"], "admin"])
def test_gateway_role_lists_in_every_rendering_are_understood(groups: Any) -> None:
    auth = GatewayClaimsAuthenticator(ClaimMapping.cognito())

    assert auth.authenticate(_with_claims({"sub": "u", "cognito:groups": groups})).role is Role.ADMIN


def test_a_request_without_gateway_claims_is_401_whatever_headers_it_carries() -> None:
    auth = GatewayClaimsAuthenticator()
    request = _with_claims(None, **{"X-Claims": '{"sub": "u", "role": "admin"}', "Authorization": "Bearer x"})

    with pytest.raises(NotAuthenticated) as caught:
        auth.authenticate(request)

    assert caught.value.context["reason"] == "missing"


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"role": "admin"}, NotAuthenticated),  # no subject
        ({"sub": "", "role": "admin"}, NotAuthenticated),
        ({"sub": "a/b", "role": "admin"}, NotAuthenticated),
        ({"sub": "u"}, NotAllowed),  # no role
        ({"sub": "u", "role": "system"}, NotAllowed),  # never a client role
        ({"sub": "u", "role": "superuser"}, NotAllowed),
        ({"sub": "u", "role": "restaurant"}, NotAllowed),  # no restaurant id
        ({"sub": "u", "role": "driver", "driver_id": "drv/1"}, NotAllowed),
    ],
)
def test_claims_without_a_usable_subject_role_or_binding_are_refused(
    claims: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        GatewayClaimsAuthenticator().authenticate(_with_claims(claims))


def test_gateway_claims_authenticate_requests_through_the_api() -> None:
    world = build_world()
    api = HttpApi(world.boot.service, GatewayClaimsAuthenticator())

    allowed = api.handle(HttpRequest.build("GET", "/restaurants", claims={"sub": "user-1", "role": "customer"}))
    refused = api.handle(HttpRequest.build("GET", "/restaurants", claims={"sub": "user-1"}))

    assert allowed.status == 200
    assert_problem(refused, 403, "not_allowed")


# -- development tokens -----------------------------------------------------------------------------------------
SECRET = "a-development-secret-of-at-least-32-bytes"


@pytest.mark.parametrize(
    ("role", "sub", "bindings", "expected"),
    [
        ("customer", "user-1", {}, Actor(Role.CUSTOMER, "user-1")),
        (
            "restaurant",
            "owner-1",
            {"restaurant_id": "rest-1"},
            Actor(Role.RESTAURANT, "owner-1", restaurant_id="rest-1"),
        ),
        ("driver", "dana", {"driver_id": "drv-1"}, Actor(Role.DRIVER, "dana", driver_id="drv-1")),
        ("admin", "ops", {}, Actor(Role.ADMIN, "ops")),
    ],
)
def test_a_dev_token_of_each_role_authenticates_as_that_actor(
    role: str, sub: str, bindings: dict[str, str], expected: Actor
) -> None:
    token = issue_dev_token(role, sub, secret=SECRET, **bindings)

    assert DevAuthenticator(SECRET).authenticate(_bearer(token)) == expected


def test_a_dev_token_carries_issuer_audience_and_a_one_hour_lifetime() -> None:
    token = issue_dev_token("customer", "user-1", secret=SECRET, now=T0)

    claims = jwt.decode(token, options={"verify_signature": False})

    assert claims == {
        "role": "customer",
        "sub": "user-1",
        "iss": "fooddelivery-dev",
        "aud": "fooddelivery",
        "iat": NOW,
        "exp": NOW + 3600,
    }


def test_an_expired_dev_token_is_refused(clock: VirtualClock) -> None:
    token = issue_dev_token("customer", "user-1", secret=SECRET, ttl_s=60, now=clock.now())
    auth = DevAuthenticator(SECRET, clock=clock)
    assert auth.authenticate(_bearer(token)).subject == "user-1"

    clock.advance(60)

    assert _refused(auth, _bearer(token)) == "the token has expired"


def test_a_dev_token_signed_with_another_secret_is_refused() -> None:
    token = issue_dev_token("admin", "ops", secret="another-secret-that-is-32-bytes-long!")

    assert _refused(DevAuthenticator(SECRET), _bearer(token)) == "the token's signature is invalid"


def test_a_dev_token_for_another_audience_or_issuer_is_refused() -> None:
    other_aud = issue_dev_token("admin", "ops", secret=SECRET, audience="another-api")
    other_iss = issue_dev_token("admin", "ops", secret=SECRET, issuer="someone-else")

    assert _refused(DevAuthenticator(SECRET), _bearer(other_aud)) == "the token is for another audience"
    assert _refused(DevAuthenticator(SECRET), _bearer(other_iss)) == "the token is from another issuer"


def test_an_rs256_token_is_refused_by_the_dev_authenticator(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    token = _sign(
        keys["k1"],
        {"sub": "u", "role": "admin", "iss": "fooddelivery-dev", "aud": "fooddelivery", "exp": int(time.time()) + 60},
    )

    assert _refused(DevAuthenticator(SECRET), _bearer(token)) == "the token's algorithm is not accepted"


@pytest.mark.parametrize(
    ("role", "sub", "bindings", "field"),
    [
        ("system", "saga", {}, "role"),
        ("owner", "u", {}, "role"),
        ("restaurant", "owner-1", {}, "restaurant_id"),
        ("driver", "dana", {}, "driver_id"),
        ("customer", "", {}, "sub"),
        ("customer", "a/b", {}, "sub"),
        ("driver", "dana", {"driver_id": "drv\n1"}, "driver_id"),
    ],
)
def test_issuing_a_dev_token_refuses_unknown_roles_and_missing_bindings(
    role: str, sub: str, bindings: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        issue_dev_token(role, sub, secret=SECRET, **bindings)

    assert caught.value.fields[0].field == field


@pytest.mark.parametrize("ttl_s", [0, -5, 2_592_001])
def test_a_dev_token_lifetime_must_be_between_a_second_and_thirty_days(ttl_s: int) -> None:
    with pytest.raises(ValidationError):
        issue_dev_token("customer", "user-1", secret=SECRET, ttl_s=ttl_s)


def test_a_dev_secret_shorter_than_32_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        DevAuthenticator("short")
    with pytest.raises(ValueError, match="32 bytes"):
        issue_dev_token("customer", "user-1", secret="short")


def test_the_dev_secret_comes_from_the_environment_or_the_public_default() -> None:
    assert dev_secret({"FOODDELIVERY_DEV_SECRET": SECRET}) == SECRET
    assert dev_secret({}) == DEFAULT_DEV_SECRET
    token = issue_dev_token("customer", "user-1", secret=dev_secret({}))
    assert DevAuthenticator(DEFAULT_DEV_SECRET).authenticate(_bearer(token)).subject == "user-1"


def test_a_dev_token_works_end_to_end_for_the_default_world(world: World) -> None:
    response = world.call("GET", "/restaurants/rest-1", as_="admin")

    assert response.status == 200
