"""The one set-up every entrypoint calls (``serve``, the CLI, the cloud entrypoints): :func:`configure`.

It configures the log lines (:func:`~fooddelivery.observability.logs.configure_logging`) and, when the standard
OpenTelemetry variables ask for export, the SDK (``pip install 'fooddelivery[otel]'``): a tracer provider and a
meter provider with the OTLP/HTTP exporters, set as OpenTelemetry's global providers. The variables are the SDK's
own (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/):

- ``OTEL_SDK_DISABLED=true``: nothing is exported;
- ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``: ``otlp`` (the default once an endpoint is set),
  ``console`` (standard output) or ``none``;
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the per-signal ``..._TRACES_ENDPOINT`` / ``..._METRICS_ENDPOINT``,
  ``OTEL_EXPORTER_OTLP_HEADERS``...): where OTLP/HTTP goes; read by the exporter itself;
- ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``: the resource (``service.name`` defaults to the
  entrypoint's name);
- ``OTEL_METRIC_EXPORT_INTERVAL`` (ms), ``OTEL_BSP_*``: the SDK's batching.

With none of them set, nothing is imported and the API stays a no-op.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from fooddelivery.observability.logs import LogSettings, configure_logging
from fooddelivery.observability.tracing import _providers as _in_use

__all__ = ["FLUSH_TIMEOUT_ENV", "Telemetry", "configure", "flush", "flush_timeout_ms", "flushing"]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_installed: list[Telemetry] = []


@dataclass(frozen=True, slots=True)
class Telemetry:
    """What :func:`configure` set up.

    Attributes:
        traces: the traces exporter in use (``"otlp"``, ``"console"``) or None.
        metrics: the metrics exporter in use or None.
        tracer_provider: the SDK tracer provider, or None.
        meter_provider: the SDK meter provider, or None.
    """

    traces: str | None = None
    metrics: str | None = None
    tracer_provider: Any = None
    meter_provider: Any = None


def _exporter(env: Mapping[str, str], signal: str) -> str | None:
    """The exporter the variables ask for, for ``signal`` (``"TRACES"`` / ``"METRICS"``), or None."""
    chosen = env.get(f"OTEL_{signal}_EXPORTER", "").strip().lower()
    if chosen in ("none", ""):
        if chosen == "none":
            return None
        endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
        return "otlp" if endpoint else None
    return chosen.split(",")[0].strip()


def configure(
    service_name: str = "fooddelivery",
    *,
    log_level: str | None = None,
    environ: Mapping[str, str] | None = None,
    platform: bool = False,
) -> Telemetry:
    """Configure logging and, when asked for by ``OTEL_*`` variables, the OpenTelemetry SDK (once per process;
    a later call reconfigures logging and returns what the first one set up).

    Args:
        service_name: ``service.name`` unless ``OTEL_SERVICE_NAME`` says otherwise (``"fooddelivery-serve"``...).
        log_level: overrides ``FOODDELIVERY_LOG_LEVEL`` (``serve --log-level``).
        environ: the variables (default ``os.environ``).
        platform: a cloud entrypoint: format the function host's own log handlers instead of adding one
            (:func:`~fooddelivery.observability.logs.configure_logging`).

    Raises:
        ValidationError: an unknown ``FOODDELIVERY_LOG_FORMAT`` or ``FOODDELIVERY_LOG_LEVEL``.
        ValueError: an exporter other than ``otlp``, ``console`` or ``none``.
    """
    env = os.environ if environ is None else environ
    configure_logging(LogSettings.from_env(env), level=log_level, platform=platform)
    with _lock:
        if _installed:
            return _installed[0]
        telemetry = _configure_sdk(service_name, env)
        _installed.append(telemetry)
        return telemetry


def _configure_sdk(service_name: str, env: Mapping[str, str]) -> Telemetry:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return Telemetry()
    traces, metrics = _exporter(env, "TRACES"), _exporter(env, "METRICS")
    for chosen in (traces, metrics):
        if chosen not in (None, "otlp", "console"):
            raise ValueError(f"unsupported OpenTelemetry exporter {chosen!r}: use otlp, console or none")
    if traces is None and metrics is None:
        return Telemetry()
    try:
        from opentelemetry import metrics as metrics_api
        from opentelemetry import trace as trace_api
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    except ImportError:
        log.warning("OTEL_* variables ask for export, but the SDK is not installed: pip install 'fooddelivery[otel]'")
        return Telemetry()
    resource = Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME") or service_name})
    tracer_provider = meter_provider = None
    if traces is not None:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        tracer_provider = TracerProvider(resource=resource)
        if traces == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            # standard error: standard output carries the CLI's own output (simulate --format json)
            tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        trace_api.set_tracer_provider(tracer_provider)
    if metrics is not None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

        if metrics == "otlp":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        else:
            reader = PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stderr))
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        metrics_api.set_meter_provider(meter_provider)
    log.info("OpenTelemetry export: traces %s, metrics %s", traces or "off", metrics or "off")
    return Telemetry(traces, metrics, tracer_provider, meter_provider)


def flush(timeout_ms: int = 5_000) -> None:
    """Export what is buffered now (a function invocation about to be frozen calls it before it returns)."""
    for telemetry in _installed:
        for provider in (telemetry.tracer_provider, telemetry.meter_provider):
            if provider is not None:
                provider.force_flush(timeout_ms)


#: The variable bounding the flush at the end of a cloud function's invocation (:func:`flushing`), milliseconds.
FLUSH_TIMEOUT_ENV: Final[str] = "FOODDELIVERY_OTEL_FLUSH_TIMEOUT_MS"
#: Its default: an OTLP export to a collector nearby takes milliseconds; a slow one must not hold the invocation.
DEFAULT_FLUSH_TIMEOUT_MS: Final[int] = 1_000
#: What :data:`FLUSH_TIMEOUT_ENV` sets, for the README's settings table.
FLUSH_TIMEOUT_DOC: Final[str] = (
    "Longest wait, in milliseconds, for the export of buffered spans and metrics at the end of each cloud "
    "function invocation (a frozen or throttled instance would lose or delay them); a positive integer. Only "
    "used when an OpenTelemetry SDK is configured; what is not exported in time goes with a later invocation."
)
_flush_timeout: list[int] = []
_modules = sys.modules
_TRACE_API: Final = "opentelemetry.trace"
_METRICS_API: Final = "opentelemetry.metrics"
_F = TypeVar("_F", bound=Callable[..., Any])
_GLOBAL_PROVIDERS: Final = (
    ("opentelemetry.trace", "get_tracer_provider"),
    ("opentelemetry.metrics", "get_meter_provider"),
)


def flush_timeout_ms(environ: Mapping[str, str] | None = None) -> int:
    """The bound of :func:`flushing`: ``FOODDELIVERY_OTEL_FLUSH_TIMEOUT_MS``, read once (default 1,000 ms).

    A value that is not a positive integer is logged as an error naming the variable and the default is used:
    a telemetry setting never fails an invocation.
    """
    if _flush_timeout and environ is None:
        return _flush_timeout[0]
    text = (os.environ if environ is None else environ).get(FLUSH_TIMEOUT_ENV, "").strip()
    value = DEFAULT_FLUSH_TIMEOUT_MS
    if text:
        value = int(text) if text.isdigit() else 0
        if value <= 0:
            value = DEFAULT_FLUSH_TIMEOUT_MS
            log.error("%s must be a positive integer (ms), got %r: using %d", FLUSH_TIMEOUT_ENV, text, value)
    if environ is None:
        _flush_timeout[:] = [value]
    return value


def _providers_to_flush() -> list[Any]:
    """The SDK providers in use that :func:`flush` does not flush itself: those given to
    :func:`~fooddelivery.observability.tracing.use_providers`, and global ones another set-up installed
    (``opentelemetry-instrument``, a Lambda layer). Empty, at the cost of a few look-ups, when none is."""
    found: list[Any] = [p for p in (_in_use.tracer_provider, _in_use.meter_provider) if p is not None]
    for module, getter in _GLOBAL_PROVIDERS:
        api = sys.modules.get(module)
        if api is not None:
            found.append(getattr(api, getter)())
    mine = {id(p) for t in _installed for p in (t.tracer_provider, t.meter_provider)}
    unique: dict[int, Any] = {}
    for provider in found:
        # the API's proxy and no-op providers have no force_flush: nothing is buffered there
        if callable(getattr(provider, "force_flush", None)) and id(provider) not in mine:
            unique.setdefault(id(provider), provider)
    return list(unique.values())


def _flush_within(timeout_ms: int) -> None:
    """Flush every provider in use, waiting at most ``timeout_ms`` (the SDK's batch processor ignores the timeout
    it is given and exports in the caller: the export runs in a helper thread, left to finish in the background)."""
    others = _providers_to_flush()
    if not others and not any(t.tracer_provider is not None or t.meter_provider is not None for t in _installed):
        return

    def run() -> None:
        try:
            flush(timeout_ms)
            for provider in others:
                provider.force_flush(timeout_ms)
        except Exception:  # an exporter's failure is the telemetry's problem, never the invocation's
            log.warning("telemetry flush failed", exc_info=True)

    worker = threading.Thread(target=run, name="fooddelivery-telemetry-flush", daemon=True)
    worker.start()
    worker.join(timeout_ms / 1000)
    if worker.is_alive():
        log.warning(
            "telemetry flush still running after %d ms (%s): the rest is exported later", timeout_ms, FLUSH_TIMEOUT_ENV
        )


class _Flushing:
    """What :func:`flushing` returns: a context manager, and a decorator of functions."""

    __slots__ = ("timeout_ms",)

    def __init__(self, timeout_ms: int | None) -> None:
        self.timeout_ms = timeout_ms

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        if (
            _in_use.tracer_provider is None
            and _in_use.meter_provider is None
            and _TRACE_API not in _modules
            and _METRICS_API not in _modules
        ):
            return  # nothing can have buffered anything
        _flush_within(self.timeout_ms if self.timeout_ms is not None else flush_timeout_ms())

    def __call__(self, function: _F) -> _F:
        timeout_ms = self.timeout_ms

        @functools.wraps(function)
        def flushed(*args: Any, **kwargs: Any) -> Any:
            with _Flushing(timeout_ms):
                return function(*args, **kwargs)

        return flushed  # type: ignore[return-value]


def flushing(timeout_ms: int | None = None) -> _Flushing:
    """Export the buffered spans and metrics when the block ends, normally or by an exception, waiting at most
    ``timeout_ms`` (default :func:`flush_timeout_ms`): ``with flushing(): ...``, or ``@flushing()`` on a function.

    Every cloud entrypoint runs each invocation in it: Lambda freezes an execution environment between
    invocations, and Azure Functions and Cloud Functions instances are throttled or stopped, so spans left in a
    batch processor would wait for the next invocation or be lost
    (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html). With no SDK provider in use
    (the OpenTelemetry API not even imported) it costs a few look-ups.
    """
    return _Flushing(timeout_ms)
