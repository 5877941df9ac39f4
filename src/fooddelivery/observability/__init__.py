"""Observability: OpenTelemetry traces and metrics (the API in the core; the SDK and the OTLP exporter in the
``otel`` extra), the W3C trace context carried with every event, timer and saga, and one log format everywhere.

- :mod:`~fooddelivery.observability.tracing`: spans (a no-op until an SDK is in use) and the trace context;
- :mod:`~fooddelivery.observability.instrument`: what the composition root wraps (ports, saga steps, use cases);
- :mod:`~fooddelivery.observability.metrics`: the instruments;
- :mod:`~fooddelivery.observability.logs`: JSON or text log lines with trace id, order id and saga step;
- :mod:`~fooddelivery.observability.setup`: :func:`~fooddelivery.observability.setup.configure`, the one set-up
  every entrypoint calls (logging, and the SDK's exporters when ``OTEL_*`` variables ask for them).
"""
