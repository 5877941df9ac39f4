"""The ``SERVER`` span of a request and its status, per the OpenTelemetry HTTP semantic conventions
(https://opentelemetry.io/docs/specs/semconv/http/http-spans/#status): a 4xx is the client's error, so the server
span's status stays unset; a 5xx is an ERROR with ``error.type`` (the status code as text)."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.trace import StatusCode

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.domain.errors import InfrastructureError

from ._serve import T0, call, open_server
from .conftest import Telemetry


def test_a_4xx_answer_leaves_the_server_span_status_unset(tmp_path: Path, telemetry: Telemetry) -> None:
    server = open_server(tmp_path / "serve.db", VirtualClock(T0))
    try:
        missing = call(server, "GET", "/orders/no-such-order", "customer")
        refused = call(server, "POST", "/orders", "customer", {"restaurantId": "rest-0"})
    finally:
        server.close()

    assert (missing.status, refused.status) == (404, 422)
    for name, status in (("GET /orders/{orderId}", 404), ("POST /orders", 422)):
        span = telemetry.one(name)
        assert span.attributes is not None
        assert span.attributes["http.response.status_code"] == status
        assert "error.type" not in span.attributes
        assert span.status.status_code is StatusCode.UNSET, (name, span.status)


def test_a_5xx_answer_marks_the_server_span_as_an_error_with_its_type(
    tmp_path: Path, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = open_server(tmp_path / "serve.db", VirtualClock(T0))

    def store_down(*args: object) -> object:
        raise InfrastructureError("the store is down", service="orders", reason="unavailable")

    def bug(*args: object) -> object:
        raise RuntimeError("a bug")

    try:
        monkeypatch.setattr(server.boot.service, "get_order", store_down)
        unavailable = call(server, "GET", "/orders/ord-1", "customer")
        monkeypatch.setattr(server.boot.service, "get_order", bug)
        failed = call(server, "GET", "/orders/ord-2", "customer")
    finally:
        server.close()

    assert (unavailable.status, failed.status) == (503, 500)
    spans = telemetry.named("GET /orders/{orderId}")
    assert [s.attributes["http.response.status_code"] for s in spans if s.attributes] == [503, 500]
    assert [s.attributes["error.type"] for s in spans if s.attributes] == ["503", "500"]
    assert [s.status.status_code for s in spans] == [StatusCode.ERROR, StatusCode.ERROR]
