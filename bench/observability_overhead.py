"""What observability costs the hot path: the full saga of ``saga_throughput.py`` without an OpenTelemetry SDK (the
API is never imported and ``bootstrap()`` composes no wrapper: what is left is a few inline checks) and with one (an
SDK tracer provider whose spans are ended and dropped, and an SDK meter provider with a reader), plus the Python
calls per order without an SDK (cProfile's count: deterministic, unlike a timing on a shared machine).

A benchmark, not a test: it prints figures.

    .venv/bin/python bench/observability_overhead.py --orders 3000 --repeat 3
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path
from typing import Any

#: How ``bench/run_all.py`` runs this benchmark.
RUN_ALL = {"python": "core", "args": ["--orders", "2000", "--repeat", "3"], "timeout": 600}

_SAGA = runpy.run_path(str(Path(__file__).with_name("saga_throughput.py")), run_name="saga_throughput")


def _with_sdk() -> tuple[Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(Discard()))
    return tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])


def main() -> None:
    """Parse options, run, print figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from fooddelivery.observability.tracing import use_providers

    run = _SAGA["run"]
    with_sdk: list[float] = []
    # without first: once the SDK ran, the API is imported and "no SDK" is no longer the cold case
    without = [run(args.orders) for _ in range(args.repeat)]
    calls = _SAGA["calls_per_order"](run, args.orders)
    api = "imported" if "opentelemetry.trace" in sys.modules else "not imported"
    for _ in range(args.repeat):
        use_providers(*_with_sdk())
        with_sdk.append(run(args.orders))
    use_providers(None, None)
    print(f"full saga, {args.orders:,} orders per run, best of {args.repeat}:")
    print(f"  no SDK (the OpenTelemetry API {api}): {max(without):,.0f} orders/s "
          f"(runs: {', '.join(f'{r:,.0f}' for r in without)}); {calls:,.0f} Python calls per order")
    print(f"  SDK (every span made, ended, dropped): {max(with_sdk):,.0f} orders/s "
          f"(runs: {', '.join(f'{r:,.0f}' for r in with_sdk)})")


if __name__ == "__main__":
    main()
