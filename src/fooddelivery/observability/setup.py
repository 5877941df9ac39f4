"""The one set-up every entrypoint calls (``serve``, the CLI, the cloud entrypoints): :func:`configure`.

It configures the log lines (:func:`~fooddelivery.observability.logs.configure_logging`) and, when the standard
OpenTelemetry variables ask for export, the SDK (``pip install 'fooddelivery[otel]'``; gRPC needs
``'fooddelivery[otel-grpc]'``): a tracer provider and a meter provider with the OTLP exporters, set as
OpenTelemetry's global providers. The variables are the SDK's own
(https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/ and
https://opentelemetry.io/docs/specs/otel/protocol/exporter/):

- ``OTEL_SDK_DISABLED=true``: nothing is exported;
- ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``: ``otlp`` (the default once an endpoint is set),
  ``console`` (standard error) or ``none``;
- ``OTEL_EXPORTER_OTLP_PROTOCOL`` (and the per-signal ``..._TRACES_PROTOCOL`` / ``..._METRICS_PROTOCOL``, which
  win): ``http/protobuf`` (the default) or ``grpc``; ``http/json`` has no exporter in OpenTelemetry Python's
  stable packages and is refused, as is any other value (:class:`TelemetryConfigurationError`);
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the per-signal ``..._TRACES_ENDPOINT`` / ``..._METRICS_ENDPOINT``,
  ``OTEL_EXPORTER_OTLP_HEADERS``...): where OTLP goes; read by the exporter itself;
- ``OTEL_EXPORTER_OTLP_TIMEOUT`` (and the per-signal ``..._TRACES_TIMEOUT`` / ``..._METRICS_TIMEOUT``): the
  longest wait for one export, in **milliseconds** as the specification says (default 10,000; OpenTelemetry
  Python's exporters would read the variable as seconds, so the value is read here and given to them);
- ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``: the resource (``service.name`` defaults to the
  entrypoint's name);
- ``OTEL_METRIC_EXPORT_INTERVAL`` (ms), ``OTEL_BSP_*``: the SDK's batching.

**Bounded in time.** Exports run in the SDK's background threads; what is still buffered when the process
exits is exported by :func:`shutdown` (run at exit) within at most :data:`EXIT_TIMEOUT_S` seconds (or the export
timeout when it is shorter), and :func:`flush` (a function invocation's end) within its ``timeout_ms``: a
collector that is down or silent delays an exit by that much at most. Export failures are logged as one warning
line (then none for :data:`WARNING_INTERVAL_S` seconds), not as the exporters' retry lines and tracebacks.

With none of the variables set, nothing is imported and the API stays a no-op.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from fooddelivery.observability.logs import LogSettings, configure_logging
from fooddelivery.observability.tracing import _providers as _in_use

__all__ = [
    "EXIT_TIMEOUT_S",
    "FLUSH_TIMEOUT_ENV",
    "PROTOCOLS",
    "WARNING_INTERVAL_S",
    "Telemetry",
    "TelemetryConfigurationError",
    "configure",
    "flush",
    "flush_timeout_ms",
    "flushing",
    "shutdown",
]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_installed: list[Telemetry] = []

#: The OTLP protocols this build exports with (``OTEL_EXPORTER_OTLP_PROTOCOL``), and the package each needs.
PROTOCOLS: Final[Mapping[str, str]] = {
    "http/protobuf": "opentelemetry-exporter-otlp-proto-http (the otel extra)",
    "grpc": "opentelemetry-exporter-otlp-proto-grpc (the otel-grpc extra)",
}
#: The longest an exit waits for buffered telemetry to be exported (s).
EXIT_TIMEOUT_S: Final[float] = 3.0
#: After an export-failure warning, how long further failures are not logged (s).
WARNING_INTERVAL_S: Final[float] = 600.0
#: The specification's default export timeout (ms).
_DEFAULT_TIMEOUT_MS: Final[float] = 10_000.0
#: The loggers whose lines about failed exports are folded into one warning: the OTLP exporters, the span batch
#: processor, the periodic metric reader.
_EXPORT_LOGGERS: Final[tuple[str, ...]] = (
    "opentelemetry.exporter",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.metrics._internal.export",
)


class TelemetryConfigurationError(ValueError):
    """An ``OTEL_*`` variable has a value this build cannot honour.

    Attributes:
        variable: the variable (``"OTEL_EXPORTER_OTLP_PROTOCOL"``...).
        value: its value.
        allowed: the values it may have.
    """

    def __init__(self, variable: str, value: str, allowed: tuple[str, ...], detail: str = "") -> None:
        self.variable = variable
        self.value = value
        self.allowed = allowed
        super().__init__(f"{variable}={value!r} is not supported{detail}: use {' or '.join(allowed)}")


@dataclass(frozen=True, slots=True)
class Telemetry:
    """What :func:`configure` set up.

    Attributes:
        traces: the traces exporter in use (``"otlp"``, ``"console"``) or None.
        metrics: the metrics exporter in use or None.
        tracer_provider: the SDK tracer provider, or None.
        meter_provider: the SDK meter provider, or None.
        timeout_s: the longest export timeout of the signals (s): what :func:`shutdown` waits at most when it is
            shorter than :data:`EXIT_TIMEOUT_S`.
    """

    traces: str | None = None
    metrics: str | None = None
    tracer_provider: Any = None
    meter_provider: Any = None
    timeout_s: float = _DEFAULT_TIMEOUT_MS / 1000


def _exporter(env: Mapping[str, str], signal: str) -> str | None:
    """The exporter the variables ask for, for ``signal`` (``"TRACES"`` / ``"METRICS"``), or None."""
    chosen = env.get(f"OTEL_{signal}_EXPORTER", "").strip().lower()
    if chosen in ("none", ""):
        if chosen == "none":
            return None
        endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
        return "otlp" if endpoint else None
    return chosen.split(",")[0].strip()


def _protocol(env: Mapping[str, str], signal: str) -> str:
    """The OTLP protocol for ``signal``: ``..._<SIGNAL>_PROTOCOL``, else ``OTEL_EXPORTER_OTLP_PROTOCOL``, else
    ``http/protobuf`` (the specification's default).

    Raises:
        TelemetryConfigurationError: a value other than ``http/protobuf`` or ``grpc``.
    """
    for variable in (f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        raw = env.get(variable, "").strip()
        if not raw:
            continue
        value = raw.lower()
        if value not in PROTOCOLS:
            detail = " (OpenTelemetry Python has no stable OTLP/HTTP JSON exporter)" if value == "http/json" else ""
            raise TelemetryConfigurationError(variable, raw, tuple(PROTOCOLS), detail)
        return value
    return "http/protobuf"


def _timeout_s(env: Mapping[str, str], signal: str) -> float:
    """The export timeout for ``signal`` in seconds, from ``..._<SIGNAL>_TIMEOUT`` or ``OTEL_EXPORTER_OTLP_TIMEOUT``
    (milliseconds, the specification's unit), default 10 s.

    Raises:
        TelemetryConfigurationError: not a positive number of milliseconds.
    """
    for variable in (f"OTEL_EXPORTER_OTLP_{signal}_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        raw = env.get(variable, "").strip()
        if not raw:
            continue
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not value > 0 or value == float("inf"):
            raise TelemetryConfigurationError(variable, raw, ("a positive number of milliseconds",))
        return value / 1000
    return _DEFAULT_TIMEOUT_MS / 1000


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
        TelemetryConfigurationError: (a ``ValueError``) an OTLP protocol other than ``http/protobuf`` or ``grpc``,
            or an export timeout that is not a positive number of milliseconds.
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
    protocols = {signal: _protocol(env, signal) for signal in ("TRACES", "METRICS")}
    timeouts = {signal: _timeout_s(env, signal) for signal in ("TRACES", "METRICS")}
    if traces is None and metrics is None:
        return Telemetry()
    try:
        from opentelemetry import metrics as metrics_api
        from opentelemetry import trace as trace_api
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    except ImportError:
        log.warning("OTEL_* variables ask for export, but the SDK is not installed: pip install 'fooddelivery[otel]'")
        return Telemetry()
    span_exporter = metric_exporter = None
    if traces == "otlp":
        span_exporter = _otlp_exporter("trace", protocols["TRACES"], timeouts["TRACES"])
        traces = None if span_exporter is None else traces
    if metrics == "otlp":
        metric_exporter = _otlp_exporter("metric", protocols["METRICS"], timeouts["METRICS"])
        metrics = None if metric_exporter is None else metrics
    if traces is None and metrics is None:
        return Telemetry()
    _fold_export_failures()
    resource = Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME") or service_name})
    tracer_provider = meter_provider = None
    if traces is not None:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        # shut down by shutdown() at exit, within a bound, not by the SDK's own unbounded atexit hook
        tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        # standard error for the console: standard output carries the CLI's own output (simulate --format json)
        exporter = span_exporter if span_exporter is not None else ConsoleSpanExporter(out=sys.stderr)
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        trace_api.set_tracer_provider(tracer_provider)
    if metrics is not None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

        reader = PeriodicExportingMetricReader(
            metric_exporter if metric_exporter is not None else ConsoleMetricExporter(out=sys.stderr)
        )
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)
        metrics_api.set_meter_provider(meter_provider)
    atexit.register(shutdown)
    labels = {
        signal: "off" if chosen is None else f"otlp {protocols[signal]}" if chosen == "otlp" else chosen
        for signal, chosen in (("TRACES", traces), ("METRICS", metrics))
    }
    log.info("OpenTelemetry export: traces %s, metrics %s", labels["TRACES"], labels["METRICS"])
    return Telemetry(traces, metrics, tracer_provider, meter_provider, max(timeouts.values()))


def _otlp_exporter(signal: str, protocol: str, timeout_s: float) -> Any:
    """The OTLP exporter of ``signal`` (``"trace"`` / ``"metric"``) for ``protocol``, with ``timeout_s`` per export,
    or None (one warning line naming the extra) when its package is not installed."""
    kind = "Span" if signal == "trace" else "Metric"
    package = "grpc" if protocol == "grpc" else "http"
    try:
        module = __import__(
            f"opentelemetry.exporter.otlp.proto.{package}.{signal}_exporter", fromlist=[f"OTLP{kind}Exporter"]
        )
    except ImportError:
        extra = "otel-grpc" if protocol == "grpc" else "otel"
        log.warning(
            "OTLP %s export over %s needs %s: pip install 'fooddelivery[%s]'; %ss are not exported",
            signal,
            protocol,
            PROTOCOLS[protocol].split(" (")[0],
            extra,
            signal,
        )
        return None
    return getattr(module, f"OTLP{kind}Exporter")(timeout=timeout_s)


class _ExportTrouble:
    """One warning line for export failures, then silence for :data:`WARNING_INTERVAL_S` seconds."""

    last: float | None = None


def _warn(message: str, *args: object) -> None:
    """Log ``message`` as a warning unless one was logged less than :data:`WARNING_INTERVAL_S` seconds ago."""
    now = time.monotonic()
    with _lock_warning:
        if _ExportTrouble.last is not None and now - _ExportTrouble.last < WARNING_INTERVAL_S:
            return
        _ExportTrouble.last = now
    log.warning(message, *args)


_lock_warning = threading.Lock()


class _FoldingHandler(logging.Handler):
    """Takes the exporters' and the SDK's lines about failed exports (retries, tracebacks) and logs the first as
    one warning line of ours (:func:`_warn`)."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING:
            return
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{text} {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        text = " ".join(text.split())
        _warn(
            "OpenTelemetry export failed: %s (export failures are not logged again for %d min)",
            text if len(text) <= 300 else text[:297] + "...",
            WARNING_INTERVAL_S // 60,
        )


def _fold_export_failures() -> None:
    handler = _FoldingHandler()
    for name in _EXPORT_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False


#: Export threads a bound left behind (still blocked in an export), and the lock over that list.
_left_behind: list[threading.Thread] = []
_left_behind_lock = threading.Lock()


def _bounded(calls: list[Callable[[], object]], timeout_s: float) -> bool:
    """Run ``calls`` at once, each in a daemon thread, and wait for them at most ``timeout_s`` seconds in all;
    returns whether they all finished (an unfinished one is left behind: a daemon thread never holds up an
    exit).

    While threads an earlier call left behind are still exporting (a collector that stalls), it waits for those
    within the same bound and starts no new ones: a warm function instance invoked again and again never piles up
    one blocked thread per invocation.
    """
    deadline = time.monotonic() + timeout_s
    with _left_behind_lock:
        _left_behind[:] = [t for t in _left_behind if t.is_alive()]
        earlier = list(_left_behind)
    for thread in earlier:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in earlier):
        return False
    threads = [threading.Thread(target=call, name="fooddelivery-otel-flush", daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [thread for thread in threads if thread.is_alive()]
    if alive:
        with _left_behind_lock:
            _left_behind.extend(alive)
    return not alive


class _Stopped:
    """Whether :func:`shutdown` ran (the providers are stopped)."""

    done = False


def _providers() -> list[Any]:
    if _Stopped.done:
        return []
    return [
        provider
        for telemetry in _installed
        for provider in (telemetry.tracer_provider, telemetry.meter_provider)
        if provider is not None
    ]


def flush(timeout_ms: int = 5_000) -> None:
    """Export what is buffered now (a function invocation about to be frozen calls it before it returns), waiting
    ``timeout_ms`` milliseconds at most in all (then one warning line: what was not exported stays buffered)."""
    providers = _providers()
    if not providers:
        return
    calls: list[Callable[[], object]] = [functools.partial(p.force_flush, timeout_ms) for p in providers]
    if not _bounded(calls, timeout_ms / 1000):
        _warn("OpenTelemetry export did not finish within %d ms; what was not exported stays buffered", timeout_ms)


def shutdown(timeout_s: float | None = None) -> None:
    """Export what is buffered and stop the SDK's providers (registered to run at exit), waiting at most
    ``timeout_s`` seconds in all (default: :data:`EXIT_TIMEOUT_S`, or the export timeout when it is shorter);
    then one warning line, and what was not exported is dropped."""
    providers = _providers()
    if not providers:
        return
    if timeout_s is None:
        timeout_s = min(EXIT_TIMEOUT_S, *(t.timeout_s for t in _installed))
    _Stopped.done = True
    calls: list[Callable[[], object]] = [p.shutdown for p in providers]
    if not _bounded(calls, timeout_s):
        _warn("OpenTelemetry export did not finish within %.1f s at exit; what was not exported is dropped", timeout_s)


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
    """Flush every provider in use (:func:`flush`'s and :func:`_providers_to_flush`'s), waiting at most
    ``timeout_ms`` in all (the SDK's batch processor ignores the timeout it is given and exports in the caller: each
    export runs in a helper thread, left to finish in the background); then one warning line."""
    providers = _providers() + _providers_to_flush()
    if not providers:
        return
    calls: list[Callable[[], object]] = [functools.partial(p.force_flush, timeout_ms) for p in providers]
    if not _bounded(calls, timeout_ms / 1000):
        _warn(
            "telemetry flush still running after %d ms (%s): the rest is exported later", timeout_ms, FLUSH_TIMEOUT_ENV
        )


#: ``inspect.CO_COROUTINE``: the code flag of an ``async def`` function.
_CO_COROUTINE: Final[int] = 0x80


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
        # an ``async def`` (CO_COROUTINE, what inspect.iscoroutinefunction tests; neither inspect nor asyncio is
        # imported here: together they cost a cold start about 40 ms): flush once the coroutine is done
        if getattr(getattr(function, "__code__", None), "co_flags", 0) & _CO_COROUTINE:

            @functools.wraps(function)
            async def flushed_async(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await function(*args, **kwargs)
                finally:  # the bounded wait runs in a thread: the event loop goes on meanwhile
                    import asyncio

                    await asyncio.to_thread(_Flushing(timeout_ms).__exit__, None, None, None)

            return flushed_async  # type: ignore[return-value]

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
