"""Test helpers of the GCP package: functions-framework servers of the package's functions, Pub/Sub topics and
subscriptions on the emulator, a recording Cloud Tasks stand-in (the REST API's CreateTask / DeleteTask, no
delivery), and Google-style OIDC tokens signed with a local key."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import LOGS, PROJECT, free_port, wait_http

SOURCE = Path(__file__).with_name("gcp_functions_source.py")
FF = Path(sys.executable).with_name("functions-framework")

TASKS_SA = "tasks@fooddelivery-test.iam.gserviceaccount.com"
WORKFLOWS_SA = "workflows@fooddelivery-test.iam.gserviceaccount.com"
SCHEDULER_SA = "scheduler@fooddelivery-test.iam.gserviceaccount.com"


class OidcKeys:
    """An RSA key pair standing for Google's token signer, its JWKS written to a file for the servers."""

    def __init__(self, directory: Path) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        jwk.update(kid=self.kid, alg="RS256", use="sig")
        self.jwks = {"keys": [jwk]}
        self.path = directory / "jwks.json"
        self.path.write_text(json.dumps(self.jwks))

    def token(self, audience: str, email: str, *, issuer: str = "https://accounts.google.com", ttl: int = 600) -> str:
        """A Google-style ID token for ``email`` and ``audience``."""
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": "1234567890",
            "email": email,
            "email_verified": True,
            "iat": now,
            "exp": now + ttl,
        }
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid})


class FunctionServer:
    """``functions-framework --target <target>`` on a free port, in its own process group."""

    def __init__(self, target: str, env: Mapping[str, str]) -> None:
        self.target = target
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = LOGS / f"fooddelivery-gcp-ff-{target}-{self.port}.log"
        self._out = self.log.open("wb")
        merged = {**os.environ, **env}
        inherited = os.environ.get("PYTHONPATH")
        if inherited and "PYTHONPATH" in env:
            # the test's own path first, then the session's (a worktree run puts its sources there: the functions
            # must import the same code as the tests, not the virtual environment's installed copy)
            merged["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], inherited])
        self.proc = subprocess.Popen(
            [str(FF), "--target", target, "--source", str(SOURCE), "--host", "127.0.0.1", "--port", str(self.port)],
            env=merged,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_http(self.url + "/", timeout=60)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"functions-framework {target} did not start: {self.log.read_text()[-3000:]}") from None

    def stop(self) -> None:
        """Stop the whole process group (gunicorn's master and workers)."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._out.close()

    def logs(self) -> str:
        """What the server printed so far."""
        return self.log.read_text(errors="replace")


def call(
    method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None, timeout: float = 30
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request; ``(status, headers, body)`` whatever the status."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


class TasksStandIn:
    """Records the Cloud Tasks REST calls of ``CloudTasksClient(transport="rest")``: CreateTask (409 for a known
    name) and DeleteTask (404 for an unknown one). It never delivers: tests deliver recorded tasks themselves."""

    _create = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/queues/[^/]+)/tasks$")
    _delete = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/queues/[^/]+/tasks/[^/?]+)")

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Mapping[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                match = stand_in._create.match(self.path.split("?")[0])
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if match is None:
                    self._reply(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": self.path}})
                    return
                task = body.get("task", body)
                with stand_in.lock:
                    if task["name"] in stand_in.tasks:
                        self._reply(409, {"error": {"code": 409, "status": "ALREADY_EXISTS", "message": "exists"}})
                        return
                    stand_in.tasks[task["name"]] = task
                    stand_in.created.append(task)
                self._reply(200, task)

            def do_DELETE(self) -> None:
                match = stand_in._delete.match(self.path)
                name = match.group(1) if match else ""
                with stand_in.lock:
                    found = stand_in.tasks.pop(name, None)
                if found is None:
                    self._reply(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": name}})
                else:
                    self._reply(200, {})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def take(self, name: str) -> dict[str, Any]:
        """Remove and return a pending task (as Cloud Tasks does when it delivers it)."""
        with self.lock:
            return self.tasks.pop(name)

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def task_body(task: Mapping[str, Any]) -> bytes:
    """The HTTP body of a recorded task (the REST API carries it base64-encoded)."""
    return base64.b64decode(task["httpRequest"]["body"])


class PubSubAdmin:
    """Topics and subscriptions on the emulator, with names unique to one test."""

    def __init__(self) -> None:
        from google.cloud import pubsub_v1

        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        self.suffix = uuid.uuid4().hex[:8]

    def topic(self, name: str) -> str:
        """Create the topic ``<name>-<suffix>``; returns its id."""
        topic_id = f"{name}-{self.suffix}"
        self.publisher.create_topic(name=f"projects/{PROJECT}/topics/{topic_id}")
        return topic_id

    def subscribe(self, topic_id: str, *, push: str | None = None, ordered: bool = True) -> str:
        """A subscription to ``topic_id`` (pull, or push to ``push``); returns its full name."""
        name = f"projects/{PROJECT}/subscriptions/{topic_id}-sub-{uuid.uuid4().hex[:6]}"
        request: dict[str, Any] = {
            "name": name,
            "topic": f"projects/{PROJECT}/topics/{topic_id}",
            "enable_message_ordering": ordered,
            "ack_deadline_seconds": 30,
        }
        if push is not None:
            request["push_config"] = {"push_endpoint": push}
        self.subscriber.create_subscription(request=request)
        return name

    def pull(self, subscription: str, at_least: int = 0, timeout: float = 20.0) -> list[Any]:
        """Pull (and ack) messages until at least ``at_least`` arrived and the subscription runs dry."""
        got: list[Any] = []
        deadline = time.monotonic() + timeout
        from google.api_core.exceptions import DeadlineExceeded

        while time.monotonic() < deadline:
            try:
                response = self.subscriber.pull(
                    request={"subscription": subscription, "max_messages": 100, "return_immediately": True},
                    timeout=5,
                )
                received = list(response.received_messages)
            except DeadlineExceeded:
                received = []
            if received:
                got.extend(m.message for m in received)
                self.subscriber.acknowledge(
                    request={"subscription": subscription, "ack_ids": [m.ack_id for m in received]}
                )
                continue
            if got and len(got) >= at_least:
                return got
            if not at_least and time.monotonic() > deadline - timeout + min(timeout, 1.5):
                return got  # nothing expected in particular: 1.5 s of silence ends it
            time.sleep(0.1)
        return got

    def close(self) -> None:
        """Close the clients' channels."""
        self.subscriber.close()
        self.publisher.transport.close()


def function_env(
    admin: PubSubAdmin, prefix: str, keys: OidcKeys, tasks: TasksStandIn | None, **extra: str
) -> dict[str, str]:
    """The environment of the functions of one test deployment (its own topics and collections)."""
    env = {
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "FOODDELIVERY_COLLECTION_PREFIX": prefix,
        "ORDER_EVENTS_TOPIC": admin.topic("order-events"),
        "RUNTIME_TOPIC": admin.topic("runtime"),
        "DEAD_LETTER_TOPIC": admin.topic("dead-letters"),
        "NOTIFICATIONS_TOPIC": admin.topic("notifications"),
        "LOCATIONS_TOPIC": admin.topic("locations"),
        "TASKS_QUEUE": f"projects/{PROJECT}/locations/us-central1/queues/saga-timers",
        "TIMER_URL": "https://saga-timer.example.test/",
        "TASKS_SERVICE_ACCOUNT": TASKS_SA,
        "SWEEP_URL": "https://outbox-sweep.example.test/",
        "SCHEDULER_SERVICE_ACCOUNT": SCHEDULER_SA,
        "FOODDELIVERY_AUTH": "dev",
        "FOODDELIVERY_PAYMENT_GATEWAY": "fake",
        "TEST_OIDC_JWKS": str(keys.path),
        "GOOGLE_AUTH_SUPPRESS_CREDENTIALS_WARNINGS": "true",
    }
    if tasks is not None:
        env["TEST_TASKS_ENDPOINT"] = tasks.url
    env.update(extra)
    return env
