"""Export as an operator turns it on: the standard ``OTEL_*`` variables, the CLI's set-up, OTLP over HTTP to a
collector stand-in on a free loopback port (it decodes what it receives with the OTLP protobuf definitions)."""

from __future__ import annotations

import gzip
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from fooddelivery.observability.setup import _exporter


class _Collector(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: dict[str, list[bytes]] = {"/v1/traces": [], "/v1/metrics": []}

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.received.setdefault(self.path, []).append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[_Collector]:
    server = _Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_cli_exports_traces_and_metrics_over_otlp_http_when_the_endpoint_is_set(
    collector: _Collector, tmp_path: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_SERVICE_NAME": "fooddelivery-test",
        "FOODDELIVERY_LOG_FORMAT": "json",
    }
    run = subprocess.run(
        [sys.executable, "-m", "fooddelivery.cli", "simulate", "--orders", "3", "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert '"message":"OpenTelemetry export: traces otlp http/protobuf, metrics otlp http/protobuf"' in run.stderr

    spans = []
    for body in collector.received["/v1/traces"]:
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
            assert service == "fooddelivery-test"
            for scope in resource.scope_spans:
                assert scope.scope.name == "fooddelivery"
                spans.extend(scope.spans)
    names = [s.name for s in spans]
    assert names.count("use_case place_order") == 3
    assert names.count("saga ProcessPayment") == 3
    assert names.count("saga ConfirmOrder") == 3
    placed = {}
    for body in collector.received["/v1/metrics"]:
        for resource in ExportMetricsServiceRequest.FromString(body).resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name.startswith("fooddelivery.orders."):
                        placed[metric.name] = sum(p.as_int for p in metric.sum.data_points)
    assert placed["fooddelivery.orders.placed"] == 3
    assert placed["fooddelivery.orders.confirmed"] == 3


def test_the_console_exporters_write_on_standard_error_so_a_json_report_on_standard_output_still_parses(
    tmp_path: Path,
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "console",
    }
    run = subprocess.run(
        [sys.executable, "-m", "fooddelivery.cli", "simulate", "--orders", "3", "--no-progress", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["ordersPlaced"] == 3
    assert run.stderr.count('"name": "use_case place_order"') == 3  # the console exporter's JSON, one per span
    assert "fooddelivery.orders.placed" in run.stderr


def test_the_exporter_is_chosen_by_the_standard_variables() -> None:
    assert _exporter({}, "TRACES") is None
    assert _exporter({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "TRACES") == "otlp"
    assert _exporter({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, "TRACES") == "otlp"
    assert _exporter({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, "METRICS") is None
    no_metrics = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": "none"}
    assert _exporter(no_metrics, "METRICS") is None
    assert _exporter(no_metrics, "TRACES") == "otlp"
    assert _exporter({"OTEL_TRACES_EXPORTER": "console"}, "TRACES") == "console"


def test_export_is_off_when_the_sdk_is_disabled_and_an_unknown_exporter_is_refused() -> None:
    from fooddelivery.observability.setup import Telemetry, _configure_sdk

    disabled = {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    assert _configure_sdk("fooddelivery", disabled) == Telemetry()
    assert _configure_sdk("fooddelivery", {}) == Telemetry()
    with pytest.raises(ValueError, match="unsupported OpenTelemetry exporter 'zipkin'"):
        _configure_sdk("fooddelivery", {"OTEL_TRACES_EXPORTER": "zipkin"})


@pytest.mark.parametrize(("command", "service"), [("serve", "fooddelivery-serve"), ("simulate", "fooddelivery-cli")])
def test_the_cli_names_the_service_after_the_command_it_runs(command: str, service: str, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from opentelemetry import trace\n"
        "from fooddelivery.cli import main\n"
        f"main([{command!r}, '--help'], standalone_mode=False)\n"
        "print(trace.get_tracer_provider().resource.attributes['service.name'], file=sys.stderr)\n"
    )
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, "OTEL_TRACES_EXPORTER": "console"}
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip().splitlines()[-1] == service
