"""Property: whatever a client sends (any method, path, headers, body, role), the answer is never a 5xx, and
every error is a problem-details body.

Hypothesis generates requests around the real routes: random path segments (raw and percent-encoded),
content types, idempotency keys, arbitrary bytes, arbitrary JSON (NaN included), and the reference payload
with fields replaced by arbitrary JSON values.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fooddelivery.http import HttpRequest

from ._world import REFERENCE_PAYLOAD, ROLES, World, build_world

_TEMPLATES = [
    "/orders",
    "/orders/{}",
    "/orders/{}/reject",
    "/restaurants",
    "/restaurants/{}",
    "/restaurants/search",
    "/deliveries/assign",
    "/deliveries/{}/track",
    "/deliveries/{}/location",
    "/openapi.json",
    "/health",
    "/{}",
    "/{}/{}",
]
_REF: dict[str, Any] = json.loads(REFERENCE_PAYLOAD)

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
_segments = st.one_of(
    st.sampled_from(["ord-00000001", "rest-1", "search", "", "%2F", "%00", "%FF", "a" * 129]),
    st.text(max_size=30).map(lambda s: quote(s, safe="")),
    st.text(alphabet=st.characters(blacklist_characters="/?#"), max_size=30),
)


@st.composite
def _paths(draw: st.DrawFn) -> str:
    template = draw(st.sampled_from(_TEMPLATES))
    return template.format(*(draw(_segments) for _ in range(template.count("{}"))))


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "reference", "empty"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(_json_values)).encode()
    if kind == "mutated":
        doc = dict(_REF)
        for key in draw(st.lists(st.sampled_from([*_REF, "status", "lat", "lon", "orderId", "extra"]), max_size=3)):
            doc[key] = draw(_json_values)
        return json.dumps(doc).encode()
    if kind == "reference":
        return REFERENCE_PAYLOAD
    return b""


_requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
        "path": _paths(),
        "body": _bodies(),
        "content_type": st.sampled_from(
            [
                "application/json",
                "application/json; charset=utf-8",
                "text/plain",
                "application/problem+json",
                "",
                "application/json; charset=utf-16",
            ]
        ),
        "idempotency_key": st.none() | st.text(max_size=300),
        "query": st.one_of(
            st.none(), st.just(""), st.sampled_from(["limit=2", "cuisine=pizza&limit=1"]), st.text(max_size=60)
        ),
        "persona": st.sampled_from(ROLES),
    }
)

_world: World | None = None


def _shared_world() -> World:
    global _world  # noqa: PLW0603 - one world for all examples: building one per example is too slow
    if _world is None:
        _world = build_world()
        _world.place()
    return _world


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_requests)
def test_no_request_ever_gets_a_5xx(spec: dict[str, Any]) -> None:
    world = _shared_world()
    headers = {"Content-Type": spec["content_type"]}
    if spec["persona"] is not None:
        headers["Authorization"] = f"Bearer {world.token(spec['persona'])}"
    if spec["idempotency_key"] is not None:
        headers["Idempotency-Key"] = spec["idempotency_key"]

    response = world.api.handle(
        HttpRequest.build(spec["method"], spec["path"], query=spec["query"] or "", headers=headers, body=spec["body"])
    )

    assert response.status < 500, response.body
    if response.status >= 400:
        assert response.header("Content-Type") == "application/problem+json"
        assert response.json()["status"] == response.status
