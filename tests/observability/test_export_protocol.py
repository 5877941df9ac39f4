"""``OTEL_EXPORTER_OTLP_PROTOCOL`` (and the per-signal ``..._TRACES_PROTOCOL`` / ``..._METRICS_PROTOCOL``), as the
OpenTelemetry specification defines it (https://opentelemetry.io/docs/specs/otel/protocol/exporter/): gRPC to a
collector stand-in on a free loopback port (a gRPC server implementing the OTLP collector services with the OTLP
protobuf definitions), a clear error for a value this build cannot honour, one warning line naming the extra when
the gRPC exporter is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from fooddelivery.observability.setup import PROTOCOLS, TelemetryConfigurationError, _configure_sdk, _protocol


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.received: list[Any] = []

    def Export(self, request: Any, context: Any) -> Any:
        self.received.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.received: list[Any] = []

    def Export(self, request: Any, context: Any) -> Any:
        self.received.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class _GrpcCollector:
    def __init__(self) -> None:
        self.traces, self.metrics = _Traces(), _Metrics()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self.traces, self.server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(self.metrics, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")


@pytest.fixture
def grpc_collector() -> Iterator[_GrpcCollector]:
    collector = _GrpcCollector()
    collector.server.start()
    try:
        yield collector
    finally:
        collector.server.stop(grace=None).wait(5)


def _simulate(env_extra: dict[str, str], tmp_path: Path, code: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "OTEL_SERVICE_NAME": "fooddelivery-test",
        "FOODDELIVERY_LOG_FORMAT": "json",
        **env_extra,
    }
    argv = [sys.executable, "-m", "fooddelivery.cli"] if code is None else [sys.executable, "-c", code]
    return subprocess.run(
        [*argv, "simulate", "--orders", "3", "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )


def test_the_cli_exports_traces_and_metrics_over_otlp_grpc_when_the_protocol_says_grpc(
    grpc_collector: _GrpcCollector, tmp_path: Path
) -> None:
    run = _simulate(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc_collector.port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        },
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert '"message":"OpenTelemetry export: traces otlp grpc, metrics otlp grpc"' in run.stderr
    assert '"level":"WARNING"' not in run.stderr

    names = [
        span.name
        for request in grpc_collector.traces.received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert names.count("use_case place_order") == 3
    assert names.count("saga ConfirmOrder") == 3
    services = {
        a.value.string_value
        for request in grpc_collector.traces.received
        for resource in request.resource_spans
        for a in resource.resource.attributes
        if a.key == "service.name"
    }
    assert services == {"fooddelivery-test"}
    placed = [
        point.as_int
        for request in grpc_collector.metrics.received
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "fooddelivery.orders.placed"
        for point in metric.sum.data_points
    ]
    assert placed and placed[-1] == 3


def test_the_per_signal_protocol_wins_over_the_general_one() -> None:
    assert _protocol({}, "TRACES") == "http/protobuf"
    env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf"}
    assert (_protocol(env, "TRACES"), _protocol(env, "METRICS")) == ("grpc", "http/protobuf")
    assert _protocol({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": " GRPC "}, "TRACES") == "grpc"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/json",
            "OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported (OpenTelemetry Python has no stable OTLP/HTTP "
            "JSON exporter): use http/protobuf or grpc",
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "thrift",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL='thrift' is not supported: use http/protobuf or grpc",
        ),
    ],
)
def test_a_protocol_this_build_cannot_honour_is_a_clear_typed_error(variable: str, value: str, message: str) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", variable: value}
    with pytest.raises(TelemetryConfigurationError) as refused:
        _configure_sdk("fooddelivery", env)
    assert str(refused.value) == message
    assert (refused.value.variable, refused.value.value, refused.value.allowed) == (variable, value, tuple(PROTOCOLS))


def test_the_cli_refuses_an_unsupported_protocol_as_a_usage_error(tmp_path: Path) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_EXPORTER_OTLP_PROTOCOL": "udp"}
    run = _simulate(env, tmp_path)
    assert run.returncode == 2
    assert "Error: OTEL_EXPORTER_OTLP_PROTOCOL='udp' is not supported: use http/protobuf or grpc" in run.stderr
    assert "Traceback" not in run.stderr


def test_grpc_without_the_grpc_exporter_installed_is_one_warning_naming_the_extra(tmp_path: Path) -> None:
    # the gRPC exporter made unimportable, as in an environment with the otel extra only
    code = (
        "import sys\n"
        "sys.modules['opentelemetry.exporter.otlp.proto.grpc'] = None\n"
        "from fooddelivery.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    run = _simulate(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            "OTEL_METRICS_EXPORTER": "none",
        },
        tmp_path,
        code,
    )
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if '"level":"WARNING"' in line]
    assert len(warnings) == 1, run.stderr
    assert (
        "OTLP trace export over grpc needs opentelemetry-exporter-otlp-proto-grpc: "
        "pip install 'fooddelivery[otel-grpc]'; traces are not exported"
    ) in warnings[0]
