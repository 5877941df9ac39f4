"""The log lines' order_id / saga_step bound through the context variable must not outlive a
request (success, refusal, crash), with no SDK (the lean binding path)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.observability.logs import LogSettings, _bound, configure_logging

from ._serve import T0, call, confirm, open_server, place
from .conftest import Telemetry


def _run(tmp_path: Path) -> None:
    stream = io.StringIO()
    logger = logging.getLogger("fooddelivery")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    configure_logging(LogSettings(log_format="json"), stream=stream)
    server = open_server(tmp_path / "serve.db", VirtualClock(T0))
    seen = []
    try:
        order_id = place(server)
        seen.append(dict(_bound.get()))
        confirm(server, order_id)
        seen.append(dict(_bound.get()))
        call(server, "PUT", f"/orders/{order_id}", "restaurant", {"status": "NOPE"})  # refused
        seen.append(dict(_bound.get()))
        call(server, "GET", f"/orders/{order_id}", "customer")
        seen.append(dict(_bound.get()))
        call(server, "POST", "/orders", "customer", {"restaurantId": "rest-0", "items": "x"})
        seen.append(dict(_bound.get()))
        server.boot.run_due() if hasattr(server.boot, "run_due") else None
        seen.append(dict(_bound.get()))
    finally:
        server.close()
        logger.handlers[:], logger.level, logger.propagate = saved
    assert seen == [{}] * len(seen)


def test_no_field_outlives_a_request(tmp_path: Path) -> None:
    _run(tmp_path)


def test_no_field_outlives_a_request_with_an_sdk(tmp_path: Path, telemetry: Telemetry) -> None:
    _run(tmp_path)
