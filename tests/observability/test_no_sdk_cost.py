"""Without an SDK, telemetry costs (close to) nothing even once log lines are configured (``serve``, the CLI and
the cloud entrypoints configure them): no wrapper is composed around the ports, the saga's actions or the stores;
the log lines still carry the order id and the saga step, bound through context variables by the use cases, the
runtime and the saga runner. (``bench/saga_throughput.py --log-format json`` prints the calls per order.)"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from fooddelivery.adapters.memory import InMemoryNotifier, SequentialIdGenerator, VirtualClock
from fooddelivery.application.services import PlaceOrder
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.domain import Actor, LineRequest
from fooddelivery.observability import instrument
from fooddelivery.observability.logs import LogSettings, configure_logging
from fooddelivery.observability.tracing import enabled
from fooddelivery.ports.notifications import Notification
from fooddelivery.testing.builders import make_address, make_driver, make_restaurant

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class _LoggingNotifier:
    """The in-memory notifier, logging each notification it sends (a line written inside a saga step)."""

    def __init__(self) -> None:
        self.inner = InMemoryNotifier()

    def send(self, notification: Notification) -> None:
        logging.getLogger("fooddelivery.test").info("sent %s", notification.template)
        self.inner.send(notification)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger("fooddelivery")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    configure_logging(LogSettings(log_format="json"), stream=stream)
    try:
        yield stream
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def _app() -> Bootstrapped:
    app = bootstrap(Settings(), clock=VirtualClock(T0), ids=SequentialIdGenerator(), notifier=_LoggingNotifier())
    app.service.restaurants.add(make_restaurant(restaurant_id="rest-1"))
    app.service.drivers.add(make_driver(driver_id="drv-1"))
    return app


def test_configured_log_lines_without_an_sdk_compose_no_wrapper(json_lines: io.StringIO) -> None:
    assert not enabled()
    app = _app()
    traced = tuple(
        getattr(instrument, name)
        for name in instrument.__all__
        if name.startswith("Traced") and isinstance(getattr(instrument, name), type)
    )
    runner = app.runner
    assert not isinstance(runner.store, traced), runner.store
    assert not isinstance(runner.scheduler, traced), runner.scheduler
    for action in runner.actions.values():
        assert getattr(action, "__wrapped__", None) is None, action
    session = app.service.orders
    assert not isinstance(session.inner, traced)
    assert not isinstance(session.unit, traced)
    assert not isinstance(session.relay.publisher, traced)
    assert not isinstance(app.service.drivers, traced)
    assert not isinstance(app.service.location, traced)


def test_log_lines_carry_the_order_and_the_saga_step_without_an_sdk(json_lines: io.StringIO) -> None:
    app = _app()
    placed = app.service.place_order(
        Actor.customer("user-1"),
        PlaceOrder("rest-1", [LineRequest(1, item_id="itm-1")], make_address(), "tok_visa"),
    )
    order_id = placed.order.order_id

    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    sent = [line for line in lines if line["logger"] == "fooddelivery.test"]
    assert sent, lines
    for line in sent:
        assert line["order_id"] == order_id
        assert line["saga_step"] in ("NotifyRestaurant", "NotifyCustomer")
        assert "trace_id" not in line
    assert {line["message"] for line in sent} >= {"sent order_received"}


def test_with_an_sdk_a_step_log_line_carries_the_step_and_the_port_calls_span(json_lines: io.StringIO) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from fooddelivery.observability.tracing import use_providers

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_providers(provider)
    try:
        app = _app()
        placed = app.service.place_order(
            Actor.customer("user-1"),
            PlaceOrder("rest-1", [LineRequest(1, item_id="itm-1")], make_address(), "tok_visa"),
        )
    finally:
        use_providers(None, None)
        provider.shutdown()

    (line,) = [
        json.loads(line) for line in json_lines.getvalue().splitlines() if '"message":"sent order_received"' in line
    ]
    (send,) = [
        s
        for s in exporter.get_finished_spans()
        if s.name == "notifier.send" and s.attributes and s.attributes["fooddelivery.notification"] == "order_received"
    ]
    assert send.context is not None
    assert line["order_id"] == placed.order.order_id
    assert line["saga_step"] == "NotifyCustomer"
    assert line["trace_id"] == format(send.context.trace_id, "032x")
    assert line["span_id"] == format(send.context.span_id, "016x")
