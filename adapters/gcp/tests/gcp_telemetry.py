"""What the GCP package's observability tests need beyond :mod:`fooddelivery.testing.telemetry` (telemetry recorded
in memory, re-exported here): an OTLP/HTTP receiver for telemetry exported by another process (a functions-framework
server), and the GCP app in Cloud Workflows mode built in process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fooddelivery.testing.telemetry import Recorded, record

__all__ = [
    "REFERENCE_PAYLOAD",
    "Executions",
    "InProcessFunctions",
    "OtlpReceiver",
    "ReceivedSpan",
    "Recorded",
    "record",
]


@dataclass
class ReceivedSpan:
    """A span an OTLP/HTTP exporter sent (ids as lower-case hex)."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    service: str


class OtlpReceiver:
    """An OTLP/HTTP receiver on a free loopback port (``/v1/traces``, ``/v1/metrics``, protobuf bodies, as the SDK's
    ``opentelemetry-exporter-otlp-proto-http`` sends them: https://opentelemetry.io/docs/specs/otlp/#otlphttp),
    keeping what it decoded, for telemetry exported by another process (a functions-framework server)."""

    def __init__(self) -> None:
        import gzip
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        receiver = self
        self.spans: list[ReceivedSpan] = []
        self.metric_points: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    receiver._traces(ExportTraceServiceRequest.FromString(body))
                elif self.path == "/v1/metrics":
                    receiver._metrics(ExportMetricsServiceRequest.FromString(body))
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def _attributes(pairs: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kv in pairs:
            kind = kv.value.WhichOneof("value")
            out[kv.key] = getattr(kv.value, kind) if kind else None
        return out

    def _traces(self, request: Any) -> None:
        with self.lock:
            for resource in request.resource_spans:
                service = str(self._attributes(resource.resource.attributes).get("service.name"))
                for scope in resource.scope_spans:
                    for s in scope.spans:
                        self.spans.append(
                            ReceivedSpan(
                                s.name,
                                s.trace_id.hex(),
                                s.span_id.hex(),
                                s.parent_span_id.hex(),
                                self._attributes(s.attributes),
                                service,
                            )
                        )

    def _metrics(self, request: Any) -> None:
        with self.lock:
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        kind = metric.WhichOneof("data")
                        for point in getattr(metric, kind).data_points:
                            self.metric_points.append((metric.name, self._attributes(point.attributes)))

    def named(self, prefix: str) -> list[ReceivedSpan]:
        """The received spans whose name starts with ``prefix``."""
        with self.lock:
            return [s for s in self.spans if s.name.startswith(prefix)]

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


REFERENCE_PAYLOAD = (
    b'{"userId": "user-1", "restaurantId": "rest-0", "items": [{"name": "Pizza", "price": 15.99, "quantity": 1},'
    b' {"name": "Soda", "price": 2.99, "quantity": 2}], "deliveryAddress": "123 Main St", "paymentMethod": "card"}'
)
WORKFLOW = "projects/fooddelivery-test/locations/us-central1/workflows/order-saga"
STEP_URL = "https://saga-step.example.test/"


class Executions:
    """The Workflows executions client's ``create_execution``, recorded (the execution is then run by the test:
    ``workflows-emulator`` has no Executions API); ``fail`` makes it refuse as an unavailable service does."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.created: list[dict[str, Any]] = []

    def create_execution(self, parent: str, execution: dict[str, Any]) -> Any:
        if self.fail:
            from google.api_core.exceptions import ServiceUnavailable

            raise ServiceUnavailable("workflows is unavailable")
        self.created.append({"parent": parent, **execution})
        from types import SimpleNamespace

        return SimpleNamespace(name=f"{parent}/executions/{len(self.created)}")


class InProcessFunctions:
    """The GCP app in workflows mode built in this process (with telemetry on when built inside a telemetry
    fixture) and installed as the functions' cached application, over the Firestore and Pub/Sub emulators; its
    registered functions (``fooddelivery_gcp.main``) are called as functions-framework calls them."""

    def __init__(self, firestore_client: Any, tmp: Any, executions: Executions) -> None:
        import uuid
        from datetime import UTC, datetime
        from decimal import Decimal
        from pathlib import Path

        from fooddelivery.adapters.memory import FakePaymentGateway
        from fooddelivery.domain.catalog import Driver, DriverStatus, MenuItem, Restaurant
        from fooddelivery.domain.geo import GeoPoint
        from fooddelivery.domain.money import Money
        from fooddelivery_gcp.bootstrap import build_gcp_app, reset_gcp_app
        from fooddelivery_gcp.settings import GcpSettings
        from gcp_stack import WORKFLOWS_SA, OidcKeys, PubSubAdmin, function_env

        self.keys = OidcKeys(tmp)
        self.admin = PubSubAdmin()
        self.executions = executions
        self.env = function_env(
            self.admin,
            f"o{uuid.uuid4().hex[:10]}_",
            self.keys,
            None,
            FOODDELIVERY_SAGA_MODE="workflows",
            WORKFLOW=WORKFLOW,
            FOODDELIVERY_WORKFLOW_WAIT="polling",
            STEP_URL=STEP_URL,
            WORKFLOWS_SERVICE_ACCOUNT=WORKFLOWS_SA,
            FOODDELIVERY_PAYMENT_GATEWAY="gcp_payments:shared_gateway",
            TEST_PAYMENTS_DB=str(tmp / "payments.db"),
            PYTHONPATH=str(Path(__file__).resolve().parent),
        )
        self.runtime_subscription = self.admin.subscribe(self.env["RUNTIME_TOPIC"])
        self.app = build_gcp_app(
            GcpSettings.from_env(self.env),
            firestore=firestore_client,
            environ=self.env,
            executions_client=executions,
            payments=FakePaymentGateway(),  # placing never charges: the steps do, in the step function
        )
        reset_gcp_app(self.app)
        nyc = GeoPoint(40.7128, -74.0060)
        self.app.boot.restaurants.add(
            Restaurant(
                "rest-0",
                "Luigi's",
                "pizza",
                Decimal("4.6"),
                nyc,
                "USD",
                Decimal("0.08875"),
                15,
                (
                    MenuItem("pizza", "Pizza", Money.of("15.99", "USD")),
                    MenuItem("soda", "Soda", Money.of("2.99", "USD")),
                ),
            )
        )
        for i in range(3):
            location = GeoPoint(40.715 + 0.001 * i, -74.002)
            self.app.boot.drivers.add(
                Driver(f"drv-{i}", f"Dana {i}", DriverStatus.AVAILABLE, location, "scooter", datetime.now(UTC))
            )

    def http(self, method: str, path: str, body: bytes | None, token: str) -> Any:
        """One request to the ``http_api`` function; the Flask response."""
        from flask import Flask, request

        from fooddelivery_gcp import main

        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with Flask(__name__).test_request_context(path, method=method, data=body or b"", headers=headers):
            return main.http_api(request)

    def deliver_runtime_messages(self) -> int:
        """Pull what the runtime topic got and hand each message to the ``runtime_event`` function, as
        functions-framework hands a Pub/Sub push (a CloudEvent whose data is the push body); returns how many."""
        import base64

        from cloudevents.http import CloudEvent

        from fooddelivery_gcp import main

        messages = self.admin.pull(self.runtime_subscription, at_least=1)
        for m in messages:
            data = {
                "message": {
                    "data": base64.b64encode(m.data).decode(),
                    "attributes": dict(m.attributes),
                    "messageId": m.message_id,
                },
                "subscription": self.runtime_subscription,
            }
            event = CloudEvent(
                {
                    "type": "google.cloud.pubsub.topic.v1.messagePublished",
                    "source": f"//pubsub.googleapis.com/{self.runtime_subscription}",
                },
                data,
            )
            main.runtime_event(event)
        return len(messages)

    def close(self) -> None:
        """Forget the cached application; close the Pub/Sub clients."""
        from fooddelivery_gcp.bootstrap import reset_gcp_app

        reset_gcp_app()
        self.admin.close()
