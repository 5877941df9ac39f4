"""Print one order's trace as a tree, from real spans.

``fooddelivery serve``'s application runs in this process (SQLite in a temporary directory, the demo catalog, the
real clock, no background thread): a customer places an order (``POST /orders``), the saga runs, and the
restaurant confirms it (``PUT /orders/{id}``). The spans come from the OpenTelemetry SDK's in-memory exporter
(:mod:`fooddelivery.testing.telemetry`); the tree is the order's trace (the one ``POST /orders`` started), each span
with its kind, its duration and, for a span started by another trace's request, that link. Needs the SDK::

    .venv/bin/pip install -e '.[otel,testing]' && .venv/bin/python scripts/trace_tree.py
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from fooddelivery.bootstrap import Settings
from fooddelivery.http import HttpRequest, issue_dev_token
from fooddelivery.http.descriptions import REQUEST_EXAMPLES
from fooddelivery.server.app import LocalServer
from fooddelivery.server.demo import load_demo_catalog
from fooddelivery.testing.telemetry import record


def _call(server: LocalServer, method: str, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = server.api.handle(HttpRequest.build(method, path, headers=headers, body=json.dumps(body).encode()))
    if response.status >= 300:
        raise SystemExit(f"{method} {path} answered {response.status}: {response.body!r}")
    return dict(response.json())


def _one_order(tmp: Path) -> str:
    server = LocalServer(tmp / "serve.db", settings=Settings(), lock=False, demo=True)  # the demo's promo codes
    try:
        load_demo_catalog(server.adapters.restaurants, server.adapters.drivers, server.clock)
        now = server.clock.now()
        customer = issue_dev_token("customer", "user-1", now=now)
        staff = issue_dev_token("restaurant", "owner-0", restaurant_id="rest-0", now=now)
        order_id = str(_call(server, "POST", "/orders", customer, dict(REQUEST_EXAMPLES["create_order"]))["orderId"])
        _call(server, "PUT", f"/orders/{order_id}", staff, {"status": "CONFIRMED"})
        return order_id
    finally:
        server.close()


def main() -> None:
    """Run one order and print its trace."""
    recording = record(batched=False)
    recorded = next(recording)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            order_id = _one_order(Path(tmp))
        spans = recorded.spans()
    finally:
        recording.close()
    (post,) = [s for s in spans if s.name == "POST /orders"]
    assert post.context is not None
    trace_id = post.context.trace_id
    in_trace = sorted((s for s in spans if s.context is not None and s.context.trace_id == trace_id),
                      key=lambda s: s.start_time or 0)  # fmt: skip
    children: dict[int | None, list[Any]] = defaultdict(list)
    for span in in_trace:
        children[span.parent.span_id if span.parent is not None else None].append(span)
    names = {s.context.span_id: s.name for s in spans if s.context is not None}
    print(f"order {order_id}: trace {trace_id:032x}, {len(in_trace)} spans")

    def show(span: Any, depth: int) -> None:
        kind = span.kind.name.lower()
        ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
        links = [names.get(link.context.span_id, "?") for link in span.links or ()]
        extra = f"  (links: {', '.join(links)})" if links else ""
        print(f"{'  ' * depth}{span.name} [{kind}] {ms:.2f} ms{extra}")
        for child in children[span.context.span_id]:
            show(child, depth + 1)

    for root in children[None]:
        show(root, 0)


if __name__ == "__main__":
    main()
