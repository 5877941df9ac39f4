"""``fooddelivery serve``'s application in process (SQLite, the demo catalog, a virtual clock, no worker thread),
called through its HTTP API as a customer of ``rest-0`` or as ``rest-0``'s staff."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.bootstrap import Settings
from fooddelivery.http import HttpRequest, HttpResponse, issue_dev_token
from fooddelivery.http.descriptions import REQUEST_EXAMPLES
from fooddelivery.server.app import LocalServer
from fooddelivery.server.demo import load_demo_catalog

T0: Final[datetime] = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
PERSONAS: Final[dict[str, dict[str, str]]] = {
    "customer": {"role": "customer", "sub": "user-1"},
    "restaurant": {"role": "restaurant", "sub": "owner-0", "restaurant_id": "rest-0"},
}


def open_server(db: Path, clock: VirtualClock) -> LocalServer:
    """A serve application on ``db`` with the demo catalog loaded (and its promo codes, which the documented
    example uses); nothing runs in the background."""
    server = LocalServer(db, settings=Settings(), clock=clock, lock=False, demo=True)
    load_demo_catalog(server.adapters.restaurants, server.adapters.drivers, clock)
    return server


def call(
    server: LocalServer,
    method: str,
    path: str,
    persona: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """One request through the server's :class:`HttpApi`, with a development token of ``persona``."""
    claims = PERSONAS[persona]
    token = issue_dev_token(
        claims["role"], claims["sub"], restaurant_id=claims.get("restaurant_id"), now=server.clock.now()
    )
    all_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
    raw = None
    if body is not None:
        raw = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    return server.api.handle(HttpRequest.build(method, path, headers=all_headers, body=raw))


def place(server: LocalServer, **overrides: Any) -> str:
    """``POST /orders`` with the documented example body (``rest-0``); returns the order id."""
    response = call(server, "POST", "/orders", "customer", {**REQUEST_EXAMPLES["create_order"], **overrides})
    assert response.status == 201, response.body
    return str(response.json()["orderId"])


def confirm(server: LocalServer, order_id: str) -> None:
    """``PUT /orders/{id}`` ``{"status": "CONFIRMED"}`` as ``rest-0``."""
    response = call(server, "PUT", f"/orders/{order_id}", "restaurant", {"status": "CONFIRMED"})
    assert response.status == 200, response.body
