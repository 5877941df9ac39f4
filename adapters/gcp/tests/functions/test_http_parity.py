"""HTTP parity: the core's scripted requests (``fooddelivery.testing.http_parity``) answered by the Cloud Functions
HTTP function -- served by functions-framework, behind API Gateway's forwarded claims (``X-Apigateway-Api-Userinfo``),
over Firestore and Pub/Sub (the emulators) with the runtime function fed by a push subscription -- exactly as
``fooddelivery serve``'s ASGI app answers them on SQLite: same statuses, same headers that matter, same bodies (ids
and times aside)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.testing.http_parity import (
    SCRIPT,
    Answer,
    Exchange,
    Persona,
    Send,
    assert_same,
    run_script,
    seed,
    serve_baseline,
)
from fooddelivery_gcp.entrypoints import USERINFO_HEADER
from fooddelivery_gcp.firestore import FirestoreDriverRepository, FirestoreRestaurantRepository
from gcp_stack import FunctionServer, OidcKeys, PubSubAdmin, TasksStandIn, call, function_env


def firebase_claims(persona: Persona) -> dict[str, str]:
    """What a Firebase / Identity Platform ID token carries for a persona (custom claims ``role``,
    ``restaurant_id``, ``driver_id``), as API Gateway forwards it after verifying it."""
    claims = {"sub": persona.subject, "role": persona.role, "iss": "https://securetoken.google.com/p", "aud": "p"}
    if persona.restaurant_id:
        claims["restaurant_id"] = persona.restaurant_id
    if persona.driver_id:
        claims["driver_id"] = persona.driver_id
    return claims


class ParityDeployment:
    """``http_api`` (gateway mode) and ``runtime_event`` on their own collections and topics, with the parity
    catalog only."""

    def __init__(self, firestore_client: Any, tmp: Path) -> None:
        self.firestore = firestore_client
        self.prefix = f"p{uuid.uuid4().hex[:10]}_"
        self.admin = PubSubAdmin()
        self.tasks = TasksStandIn()
        self.servers: list[FunctionServer] = []
        env = function_env(
            self.admin,
            self.prefix,
            OidcKeys(tmp),
            self.tasks,
            FOODDELIVERY_AUTH="gateway",
            FOODDELIVERY_PAYMENT_GATEWAY="gcp_payments:shared_gateway",
            TEST_PAYMENTS_DB=str(tmp / "payments.db"),
            PYTHONPATH=str(Path(__file__).resolve().parents[1]),
        )
        try:
            self.http = self._serve("http_api", env)
            self.runtime = self._serve("runtime_event", env)
            self.admin.subscribe(env["RUNTIME_TOPIC"], push=self.runtime.url + "/")
        except BaseException:
            self.close()
            raise
        seed(
            FirestoreRestaurantRepository(firestore_client, prefix=self.prefix),
            FirestoreDriverRepository(firestore_client, prefix=self.prefix),
            datetime.now(UTC),
        )

    def _serve(self, target: str, env: Mapping[str, str]) -> FunctionServer:
        server = FunctionServer(target, env)
        self.servers.append(server)
        return server

    def send(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes | None,
        persona: Persona | None,
    ) -> Answer:
        sent = dict(headers)
        if persona is not None:
            raw = json.dumps(firebase_claims(persona)).encode()
            sent[USERINFO_HEADER] = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        url = self.http.url + path + (f"?{query}" if query else "")
        status, answer_headers, payload = call(method, url, body, sent)
        return Answer(status, answer_headers, payload)

    def _state(self) -> tuple[Any, ...]:
        def docs(name: str) -> list[tuple[str, Any]]:
            return sorted((d.id, d.update_time) for d in self.firestore.collection(f"{self.prefix}{name}").stream())

        sagas = [d.to_dict() for d in self.firestore.collection(f"{self.prefix}sagas").stream()]
        running = any(s["status"] == "RUNNING" for s in sagas)
        pending = [
            d.id
            for d in self.firestore.collection(f"{self.prefix}orders").stream()
            if d.to_dict()["status"] == "PENDING"
        ]
        unstarted = set(pending) - {s["sagaId"] for s in sagas}
        return (running or bool(unstarted), docs("orders"), docs("sagas"), docs("outbox"))

    def settle(self, quiet_s: float = 0.6, timeout_s: float = 30.0) -> None:
        """Wait until the runtime has done its work: no saga running, every pending order's saga started, and
        nothing changed in the stores for ``quiet_s``."""
        deadline = time.monotonic() + timeout_s
        last = self._state()
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.15)
            state = self._state()
            if state != last or state[0]:
                last, stable_since = state, time.monotonic()
            elif time.monotonic() - stable_since >= quiet_s:
                return
        raise AssertionError(f"the deployment did not settle in {timeout_s} s: {self.runtime.logs()[-2000:]}")

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        self.tasks.stop()
        self.admin.close()


@pytest.fixture(scope="module")
def on_serve(tmp_path_factory: pytest.TempPathFactory) -> list[Exchange]:
    return serve_baseline(Path(tmp_path_factory.mktemp("serve")) / "parity.db")


@pytest.fixture(scope="module")
def parity(firestore_client: Any, pubsub_host: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    deployment = ParityDeployment(firestore_client, tmp_path_factory.mktemp("parity"))
    try:
        yield deployment
    finally:
        deployment.close()


def test_the_cloud_function_answers_the_script_as_serve_does(parity: Any, on_serve: list[Exchange]) -> None:
    send: Send = parity.send
    settle: Callable[[], None] = parity.settle
    answers = run_script(send, settle=settle)

    assert [e.answer.status for e in answers] == [r.status for r in SCRIPT]
    assert_same(on_serve, answers, label="Cloud Functions (functions-framework)")
    read = next(e for e in answers if e.request.name == "read the order")
    assert json.loads(read.answer.body)["paymentStatus"] == "CAPTURED"  # the Pub/Sub-driven saga ran in between
