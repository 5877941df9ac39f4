"""Spans through the OpenTelemetry API, and the W3C trace context that travels with events, timers and sagas.

**A no-op until an SDK is configured.** The API (``opentelemetry-api``) is imported *lazily*: as long as no one
imported ``opentelemetry.trace`` (an SDK's set-up does, :func:`fooddelivery.observability.setup.configure` does,
``opentelemetry-instrument`` does) and no provider was given to :func:`use_providers`, every helper here returns
at once (a ``sys.modules`` look-up), so a process without an SDK pays neither the API's import (~50 ms, a cold
start's worth) nor span objects on its hot path.

**Where the trace context travels** (the W3C ``traceparent`` / ``tracestate`` of the span that was current):

- in a domain event, under the payload key :data:`TRACE_KEY`, stamped when the event is written to the outbox
  (:func:`stamp_events`), so every store keeps it without a schema change and the relay -- in process, or a
  change-stream relay in another invocation -- publishes under the originating trace; the CloudEvents envelope
  moves it into the event's ``traceparent`` / ``tracestate`` attributes (the CloudEvents distributed-tracing
  extension, https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/extensions/distributed-tracing.md) and
  back into the payload when the event is read;
- in a saga timer's body (same key), so a timer delivery continues the trace that set it;
- in a saga instance's data (same key), set by its first step: every later step -- run by a timer, by a
  restaurant's confirmation in another request, after a crash -- belongs to the trace of the order's placement,
  and links to the span that drove it when that one belongs to another trace.

Span names and attributes follow the OpenTelemetry semantic conventions where they exist
(https://opentelemetry.io/docs/specs/semconv/: ``http.request.method``, ``http.route``,
``http.response.status_code``, ``messaging.*``, ``error.type``), plus ``fooddelivery.order_id`` and
``fooddelivery.saga.step``.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, SpanContext, Tracer, TracerProvider

__all__ = [
    "INSTRUMENTATION_NAME",
    "TRACE_KEY",
    "Carrier",
    "consumer_span",
    "context_from",
    "current_carrier",
    "current_ids",
    "enabled",
    "off",
    "span",
    "trace_data",
    "use_providers",
    "workflow_span",
]

#: The instrumentation scope's name (``InstrumentationScope.name`` of every span and metric).
INSTRUMENTATION_NAME: Final[str] = "fooddelivery"
#: Where the W3C trace context is kept in an event payload, a timer body and saga data:
#: ``{"traceparent": "00-<trace id>-<span id>-<flags>", "tracestate": "..."}`` (tracestate only when set).
TRACE_KEY: Final[str] = "_trace"

#: A W3C trace context as text headers (``traceparent``, optionally ``tracestate``).
Carrier = dict[str, str]


class _Providers:
    """The providers in use: those given to :func:`use_providers`, else OpenTelemetry's global ones."""

    tracer_provider: Any = None
    meter_provider: Any = None
    tracer: Any = None
    tracer_of: Any = None


_providers = _Providers()


def use_providers(tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None) -> None:
    """Use these providers instead of OpenTelemetry's global ones (None: back to the global ones).

    The global providers can be set once per process; tests (and an embedding application that keeps its own)
    give theirs here instead.
    """
    _providers.tracer_provider = tracer_provider
    _providers.meter_provider = meter_provider
    _providers.tracer = _providers.tracer_of = None


def off() -> bool:
    """True when nothing can be traced: no provider given and the API never imported (the hot path's check)."""
    return _providers.tracer_provider is None and "opentelemetry.trace" not in sys.modules


def _tracer() -> Tracer | None:
    """The tracer, or None when no SDK provider is in use (then nothing is traced)."""
    provider = _providers.tracer_provider
    if provider is None:
        api = sys.modules.get("opentelemetry.trace")
        if api is None:
            return None  # nobody imported the API: no provider can have been set
        provider = api.get_tracer_provider()
        if isinstance(provider, (api.ProxyTracerProvider, api.NoOpTracerProvider)):
            return None
    if _providers.tracer_of is not provider:
        _providers.tracer = provider.get_tracer(INSTRUMENTATION_NAME)
        _providers.tracer_of = provider
    tracer: Tracer = _providers.tracer
    return tracer


def enabled() -> bool:
    """Whether spans are recorded (an SDK tracer provider is in use)."""
    return _tracer() is not None


def meter_provider() -> Any:
    """The meter provider in use, or None when there is no SDK one (then nothing is measured)."""
    provider = _providers.meter_provider
    if provider is not None:
        return provider
    api = sys.modules.get("opentelemetry.metrics")
    if api is None:
        return None
    provider = api.get_meter_provider()
    return None if type(provider).__name__ in ("_ProxyMeterProvider", "NoOpMeterProvider") else provider


class _NoSpan:
    """What :func:`span` returns when nothing is traced: a context manager yielding None."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        return None


_NO_SPAN: Final[_NoSpan] = _NoSpan()


class _Span:
    """A started span made current, ended on exit; an exception sets ``error.type`` and the ERROR status."""

    __slots__ = ("_manager", "_span")

    def __init__(self, manager: Any) -> None:
        self._manager = manager
        self._span: Span | None = None

    def __enter__(self) -> Span:
        span: Span = self._manager.__enter__()
        self._span = span
        return span

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        if exc is not None and self._span is not None:
            self._span.set_attribute("error.type", getattr(exc, "code", None) or type(exc).__qualname__)
        return bool(self._manager.__exit__(kind, exc, tb))


def span(
    name: str,
    *,
    kind: str = "INTERNAL",
    attributes: Mapping[str, Any] | None = None,
    parent: Context | None = None,
    links: Iterable[SpanContext] = (),
) -> _Span | _NoSpan:
    """A span around a block (``with span(...) as s:``; ``s`` is None when nothing is traced).

    Args:
        name: the span name (low cardinality: ``"POST /orders"``, ``"saga ProcessPayment"``).
        kind: ``"INTERNAL"``, ``"SERVER"``, ``"CLIENT"``, ``"PRODUCER"`` or ``"CONSUMER"``.
        attributes: attributes set at the start (None values are left out).
        parent: the parent context (default: the current span).
        links: span contexts to link to.
    """
    tracer = _tracer()
    if tracer is None:
        return _NO_SPAN
    from opentelemetry.trace import Link, SpanKind

    attrs = {k: v for k, v in attributes.items() if v is not None} if attributes else None
    return _Span(
        tracer.start_as_current_span(
            name,
            context=parent,
            kind=SpanKind[kind],
            attributes=attrs,
            links=[Link(c) for c in links] or None,
        )
    )


def current_span_context() -> SpanContext | None:
    """The current span's context when it is valid (something is traced), else None."""
    if _tracer() is None:
        return None
    from opentelemetry.trace import get_current_span

    context = get_current_span().get_span_context()
    return context if context.is_valid else None


def current_ids() -> tuple[str, str] | None:
    """``(trace id, span id)`` of the current span as lower-case hex (32 and 16 digits), or None."""
    api = sys.modules.get("opentelemetry.trace")
    if api is None:
        return None
    context = api.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def current_carrier() -> Carrier | None:
    """The W3C trace context of the current span (``traceparent``, and ``tracestate`` when set), or None when
    nothing is traced."""
    if current_span_context() is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: Carrier = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier or None


def trace_data() -> dict[str, Carrier]:
    """``{TRACE_KEY: <the current span's W3C context>}`` to merge into a workflow's data (a saga created now), or
    ``{}`` when nothing is traced."""
    carrier = current_carrier()
    return {} if carrier is None else {TRACE_KEY: carrier}


def context_from(carrier: Any) -> Context | None:
    """The context of a W3C carrier (a mapping with ``traceparent``), or None when it carries none or an invalid
    one (malformed text is ignored: a trace is never a reason to refuse a message)."""
    if not isinstance(carrier, Mapping) or not isinstance(carrier.get("traceparent"), str):
        return None
    if _tracer() is None:
        return None
    from opentelemetry.trace import get_current_span
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    headers = {k: v for k, v in carrier.items() if k in ("traceparent", "tracestate") and isinstance(v, str)}
    context = TraceContextTextMapPropagator().extract(headers)
    return context if get_current_span(context).get_span_context().is_valid else None


def _span_context_of(context: Context) -> SpanContext:
    from opentelemetry.trace import get_current_span

    return get_current_span(context).get_span_context()


_origin: contextvars.ContextVar[Carrier | None] = contextvars.ContextVar("fooddelivery_trace_origin", default=None)


class _WithOrigin:
    """A span whose message's trace context is what a workflow started inside it takes as its origin."""

    __slots__ = ("_carrier", "_span", "_token")

    def __init__(self, inner: _Span, carrier: Carrier) -> None:
        self._span = inner
        self._carrier = carrier
        self._token: contextvars.Token[Carrier | None] | None = None

    def __enter__(self) -> Span:
        self._token = _origin.set(self._carrier)
        return self._span.__enter__()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        try:
            return self._span.__exit__(kind, exc, tb)
        finally:
            if self._token is not None:
                _origin.reset(self._token)


def origin_carrier() -> Carrier | None:
    """The trace context a workflow (a saga) started now belongs to: the message being handled (when it carries
    one), else the current span's."""
    return _origin.get() or current_carrier()


def consumer_span(
    name: str, carrier: Any, *, kind: str = "CONSUMER", attributes: Mapping[str, Any] | None = None
) -> _Span | _NoSpan | _WithOrigin:
    """A span for handling a message that carries a trace context (an event, a timer).

    Inside a traced block (an in-process delivery, during the request that published it) the span is that
    block's child and links to the message's context when it belongs to another trace (a saga started inside
    still takes the message's trace as its origin); with nothing current (a queue consumer in another process
    or invocation) it continues the message's trace.
    """
    if _tracer() is None:
        return _NO_SPAN
    origin = context_from(carrier)
    current = current_span_context()
    if current is not None:
        other = _span_context_of(origin) if origin is not None else None
        if other is not None and other.trace_id != current.trace_id:
            inner = span(name, kind=kind, attributes=attributes, links=[other])
            assert isinstance(inner, _Span)
            return _WithOrigin(inner, dict(carrier))
        return span(name, kind=kind, attributes=attributes)
    return span(name, kind=kind, attributes=attributes, parent=origin)


def workflow_span(name: str, carrier: Any, *, attributes: Mapping[str, Any] | None = None) -> _Span | _NoSpan:
    """A span for a step of a long-running workflow (a saga) whose instance keeps its origin's trace context.

    The span belongs to the origin's trace (the order's placement), whatever drove the step (a timer, a
    restaurant's request, a resume after a crash); when the current span belongs to another trace, the step
    links to it. Without an origin, the current span is the parent.
    """
    if _tracer() is None:
        return _NO_SPAN
    origin = context_from(carrier)
    if origin is None:
        return span(name, attributes=attributes)
    current = current_span_context()
    origin_span = _span_context_of(origin)
    if current is not None and current.trace_id == origin_span.trace_id:
        return span(name, attributes=attributes)
    return span(name, attributes=attributes, parent=origin, links=[current] if current is not None else [])


def http_server_span(method: str, path: str, headers: Mapping[str, str]) -> _Span | _NoSpan:
    """A ``SERVER`` span for one HTTP request (named by its method until :func:`set_http_route` names the
    route).

    The API is a public edge, so a client's W3C ``traceparent`` header is not continued: the request starts a new
    trace whose root span *links* to the client's span (trace and span id only). What a client sends must not
    decide the order's durable trace, which every later saga step, timer and event of the order keeps: its sampled
    flag would switch the operator's sampling on or off for the whole order, and its ``tracestate`` (up to 8 KB)
    would be copied into every stored event and CloudEvent (the W3C Trace Context spec on public endpoints and
    untrusted headers: https://www.w3.org/TR/trace-context/#privacy-considerations, and the OpenTelemetry HTTP
    server conventions on public endpoints, https://opentelemetry.io/docs/specs/semconv/http/http-spans/).
    """
    if _tracer() is None:
        return _NO_SPAN
    from opentelemetry.context import Context
    from opentelemetry.trace import SpanContext

    client = context_from({"traceparent": headers["traceparent"]} if "traceparent" in headers else {})
    links: list[SpanContext] = []
    if client is not None:
        theirs = _span_context_of(client)
        links.append(SpanContext(theirs.trace_id, theirs.span_id, is_remote=True, trace_flags=theirs.trace_flags))
    return span(
        method,
        kind="SERVER",
        attributes={"http.request.method": method, "url.path": path if len(path) <= 2048 else path[:2048]},
        parent=Context(),
        links=links,
    )


def set_http_route(method: str, route: str) -> None:
    """Name the current ``SERVER`` span ``"<method> <route>"`` and set ``http.route`` (the matched template)."""
    if _tracer() is None:
        return
    from opentelemetry.trace import get_current_span

    current = get_current_span()
    current.update_name(f"{method} {route}")
    current.set_attribute("http.route", route)


def set_http_status(request_span: Span | None, status: int) -> None:
    """Record the response status (``http.response.status_code``); a 5xx marks the span as an error."""
    if request_span is None:
        return
    request_span.set_attribute("http.response.status_code", status)
    if status >= 500:
        from opentelemetry.trace import Status, StatusCode

        request_span.set_attribute("error.type", str(status))
        request_span.set_status(Status(StatusCode.ERROR))
