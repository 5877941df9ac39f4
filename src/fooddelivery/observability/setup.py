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

import logging
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fooddelivery.observability.logs import LogSettings, configure_logging

__all__ = ["Telemetry", "configure", "flush"]

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
