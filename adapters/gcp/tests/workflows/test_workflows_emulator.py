"""The generated Cloud Workflows definition (polling mode) run by ``workflows-emulator`` (its own virtual
environment: it pins an old FastAPI) against the ``saga_step`` function served by functions-framework, over the
Firestore and Pub/Sub emulators:

- happy path: paid, driver assigned, both notified, waits; the restaurant confirms -> CONFIRMED, SUCCEEDED;
- a declined card -> FAILED ``payment_declined``, nothing charged;
- transient payment errors retried by the workflow's ``retry`` policy, then paid once;
- a restaurant that never answers -> the poll reports the deadline -> AlertOperations, refund once, FAILED.

The emulator cannot mint OIDC tokens (``auth: {type: OIDC}`` is not implemented there), so the workflow is compiled
without ``auth`` and a small proxy plays Google's part: it adds the workflow service account's token (signed by
the test's key) to every call, and the function checks it exactly as deployed.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.adapters.memory import FakePaymentGateway
from fooddelivery.application.commands import PlaceOrder
from fooddelivery.application.order_saga import build_order_saga
from fooddelivery.domain.actors import Actor
from fooddelivery.domain.catalog import DeliveryAddress, Driver, DriverStatus, MenuItem, Restaurant
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import Money
from fooddelivery.domain.order import LineRequest, OrderStatus, PaymentStatus
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery_gcp.bootstrap import GcpApp, build_gcp_app
from fooddelivery_gcp.settings import GcpSettings
from fooddelivery_gcp.workflows.compile import compile_workflow, workflow_yaml
from fooddelivery_gcp.workflows.engine import record_key
from gcp_stack import WORKFLOWS_SA, FunctionServer, OidcKeys, PubSubAdmin, function_env

REPO = Path(__file__).resolve().parents[4]
EMULATOR = REPO / ".venv-workflows" / "bin" / "workflows-emulator"
STEP_URL = "https://saga-step.example.test/"
LYON = GeoPoint(45.7640, 4.8357)


class TokenProxy:
    """Forwards every POST to ``target`` with the workflow service account's OIDC token, as Workflows would."""

    def __init__(self, target: str, keys: OidcKeys) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                token = keys.token(STEP_URL, WORKFLOWS_SA)
                request = urllib.request.Request(
                    target + "/",
                    data=body,
                    method="POST",
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        status, data = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, data = exc.code, exc.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class WorkflowWorld:
    """The step function, the proxy, the in-process app placing orders, and the compiled workflows."""

    def __init__(self, firestore_client: Any, tmp: Path) -> None:
        if not EMULATOR.exists():
            pytest.fail(f"workflows-emulator is not installed in {EMULATOR.parent} (adapters/gcp/test.sh installs it)")
        self.tmp = tmp
        self.keys = OidcKeys(tmp)
        self.admin = PubSubAdmin()
        self.prefix = f"w{uuid.uuid4().hex[:10]}_"
        env = function_env(
            self.admin,
            self.prefix,
            self.keys,
            None,
            FOODDELIVERY_SAGA_MODE="workflows",
            WORKFLOW="projects/fooddelivery-test/locations/us-central1/workflows/order-saga",
            FOODDELIVERY_WORKFLOW_WAIT="polling",
            STEP_URL=STEP_URL,
            WORKFLOWS_SERVICE_ACCOUNT=WORKFLOWS_SA,
            FOODDELIVERY_PAYMENT_GATEWAY="gcp_payments:shared_gateway",
            TEST_PAYMENTS_DB=str(tmp / "payments.db"),
            PYTHONPATH=str(Path(__file__).resolve().parents[1]),
        )
        self.env = env
        self.runs: list[subprocess.Popen[bytes]] = []
        self.step = FunctionServer("saga_step", env)
        try:
            self._seed(firestore_client)
        except BaseException:
            self.step.stop()
            self.admin.close()
            raise

    def _seed(self, firestore_client: Any) -> None:
        env = self.env
        self.proxy = TokenProxy(self.step.url, self.keys)
        settings = GcpSettings.from_env({**env})
        # the test's own side (placing orders, the restaurant's answer) never charges: the steps do, in the function
        self.app: GcpApp = build_gcp_app(
            settings, firestore=firestore_client, environ=env, executions_client=object(), payments=FakePaymentGateway()
        )
        self.restaurant_id = "rest-lyon"
        self.app.boot.restaurants.add(
            Restaurant(
                self.restaurant_id,
                "Bouchon",
                "lyonnaise",
                Decimal("4.7"),
                LYON,
                "EUR",
                Decimal("0.10"),
                20,
                (MenuItem("quenelle", "Quenelle", Money.of("18.50", "EUR")),),
            )
        )
        for i in range(3):
            self.app.boot.drivers.add(
                Driver(
                    f"drv-{i}",
                    f"Coursier {i}",
                    DriverStatus.AVAILABLE,
                    GeoPoint(LYON.lat + 0.005 * (i + 1), LYON.lon),
                    "vélo",
                    datetime.now(UTC),
                )
            )
        self.workflows: dict[float, Path] = {}

    def workflow(self, timeout_s: float) -> Path:
        path = self.workflows.get(timeout_s)
        if path is None:
            text = workflow_yaml(
                compile_workflow(build_order_saga(timeout_s), mode="polling", poll_interval_s=1, auth=False)
            )
            path = self.tmp / f"order-saga-{int(timeout_s)}.yaml"
            path.write_text(text)
            self.workflows[timeout_s] = path
        return path

    def place(self, token: str) -> str:
        customer = f"cus-{uuid.uuid4().hex[:6]}"
        command = PlaceOrder(
            restaurant_id=self.restaurant_id,
            lines=[LineRequest(2, item_id="quenelle")],
            delivery_address=DeliveryAddress("3 quai Saint-Antoine, Lyon", GeoPoint(45.76, 4.83)),
            payment_method=token,
        )
        return str(self.app.boot.service.place_order(Actor.customer(customer), command).order.order_id)

    def run(self, order_id: str, timeout_s: float = 60.0) -> subprocess.Popen[bytes]:
        """Start the workflow for ``order_id`` in the emulator (in its own process group)."""
        log = (self.tmp / f"run-{order_id}.log").open("wb")
        proc = subprocess.Popen(
            [
                str(EMULATOR),
                "--source",
                str(self.workflow(timeout_s)),
                "--env-file",
                "/dev/null",
                "--loglevel",
                "INFO",
                "run",
                "--data",
                json.dumps({"sagaId": order_id}),
            ],
            env={**os.environ, "STEP_URL": self.proxy.url},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.runs.append(proc)
        return proc

    def record(self, order_id: str) -> Any:
        return self.app.boot.sagas.get(record_key(order_id))

    def wait_status(self, order_id: str, status: SagaStatus, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.record(order_id).status is status:
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise AssertionError(f"saga {order_id} never reached {status}; step log:\n{self.step.logs()[-3000:]}")

    def finish(self, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
        """Wait for the emulator run to end (killed, as a group, if it overstays)."""
        try:
            proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()

    def close(self) -> None:
        for proc in self.runs:  # a run a failed test left behind
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
        self.proxy.stop()
        self.step.stop()
        self.admin.close()


@pytest.fixture(scope="module")
def wf(firestore_client: Any, pubsub_host: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkflowWorld]:
    world = WorkflowWorld(firestore_client, tmp_path_factory.mktemp("workflows"))
    try:
        yield world
    finally:
        world.close()


def test_the_happy_path_waits_for_the_restaurant_then_confirms(wf: WorkflowWorld) -> None:
    order_id = wf.place("tok_visa")
    proc = wf.run(order_id)
    wf.wait_status(order_id, SagaStatus.WAITING)
    order = wf.app.boot.orders.get(order_id)
    assert order.payment_status is PaymentStatus.CAPTURED and order.driver_id == "drv-0"
    assert sorted(order.notified) == [f"{order_id}:customer:order_received", f"{order_id}:restaurant:new_order"]
    assert wf.app.boot.service.confirm_order(Actor.restaurant(wf.restaurant_id), order_id) == "ACCEPTED"
    wf.finish(proc)
    assert proc.returncode == 0
    assert wf.app.boot.orders.get(order_id).status is OrderStatus.CONFIRMED
    assert wf.record(order_id).status is SagaStatus.SUCCEEDED


def test_a_declined_card_fails_the_order_with_nothing_charged(wf: WorkflowWorld) -> None:
    order_id = wf.place("tok_chargeDeclined")
    proc = wf.run(order_id)
    wf.finish(proc)
    assert proc.returncode != 0  # the Fail state raises: the execution ends FAILED
    order = wf.app.boot.orders.get(order_id)
    assert (order.status, order.payment_status, order.failure_reason) == (
        OrderStatus.FAILED,
        PaymentStatus.DECLINED,
        "payment_declined",
    )
    assert order.driver_id is None
    record = wf.record(order_id)
    assert (record.status, record.outcome) == (SagaStatus.FAILED, "payment_declined")


def test_transient_payment_errors_are_retried_by_the_workflow_then_paid_once(wf: WorkflowWorld) -> None:
    order_id = wf.place("tok_processingError_2")
    proc = wf.run(order_id)
    wf.wait_status(order_id, SagaStatus.WAITING, timeout=90)
    order = wf.app.boot.orders.get(order_id)
    assert order.payment_status is PaymentStatus.CAPTURED and order.charge_id is not None
    assert wf.app.boot.service.confirm_order(Actor.restaurant(wf.restaurant_id), order_id) == "ACCEPTED"
    wf.finish(proc)
    assert proc.returncode == 0
    assert wf.app.boot.orders.get(order_id).status is OrderStatus.CONFIRMED


def test_a_restaurant_that_never_answers_times_out_and_is_refunded_once(wf: WorkflowWorld) -> None:
    order_id = wf.place("tok_visa")
    proc = wf.run(order_id, timeout_s=3)
    wf.wait_status(order_id, SagaStatus.WAITING)
    driver_id = wf.app.boot.orders.get(order_id).driver_id
    assert driver_id is not None
    wf.finish(proc)
    assert proc.returncode != 0
    order = wf.app.boot.orders.get(order_id)
    assert (order.status, order.payment_status, order.failure_reason) == (
        OrderStatus.FAILED,
        PaymentStatus.REFUNDED,
        "restaurant_timeout",
    )
    assert wf.app.boot.drivers.get(driver_id).status is DriverStatus.AVAILABLE
    record = wf.record(order_id)
    assert (record.status, record.outcome) == (SagaStatus.FAILED, "restaurant_timeout")
    with pytest.raises(Exception, match="no longer waits"):
        wf.app.boot.service.confirm_order(Actor.restaurant(wf.restaurant_id), order_id)
