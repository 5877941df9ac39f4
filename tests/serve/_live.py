"""``fooddelivery serve`` as a real subprocess on loopback, and a small HTTP client for it (``http.client``).

Every wait is bounded; a server is stopped by its own pid (SIGTERM for a graceful stop, SIGKILL for a crash)
and its output is kept in a file, shown when something goes wrong.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

HOST: Final[str] = "127.0.0.1"
STARTUP_TIMEOUT_S: Final[float] = 20.0
STOP_TIMEOUT_S: Final[float] = 15.0
ROOT: Final[Path] = Path(__file__).resolve().parents[2]
BIN: Final[Path] = Path(sys.executable).parent

#: The reference design's k6 payload (scripts/load-test.js), with ``user-1`` as the user and ``rest-0``.
REFERENCE_PAYLOAD: Final[dict[str, Any]] = {
    "userId": "user-1",
    "restaurantId": "rest-0",
    "items": [{"name": "Pizza", "price": 15.99, "quantity": 1}, {"name": "Soda", "price": 2.99, "quantity": 2}],
    "deliveryAddress": "123 Main St",
    "paymentMethod": "card",
}


def fooddelivery_command() -> list[str]:
    """The ``fooddelivery`` console script of this interpreter's environment (``python -m`` without one)."""
    script = BIN / "fooddelivery"
    if script.exists():
        return [str(script)]
    found = shutil.which("fooddelivery")
    return [found] if found else [sys.executable, "-m", "fooddelivery.cli"]


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def token(role: str, sub: str, *extra: str) -> str:
    """A development token printed by ``fooddelivery token`` (the command a README reader runs)."""
    out = subprocess.run(
        [*fooddelivery_command(), "token", "--role", role, "--sub", sub, *extra],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
        env=server_env(),
    )
    return out.stdout.strip()


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a server or CLI subprocess: this one, minus a developer's own secret and settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOODDELIVERY_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@dataclass
class Response:
    """An HTTP response: status, headers (lower-case names), body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class LiveServer:
    """One ``fooddelivery serve`` subprocess.

    Attributes:
        db: the database file (its directory is the server's working directory).
        port: the loopback port.
        log: where its standard output and error go.
        args: extra command-line arguments.
        command: the whole command instead of ``fooddelivery serve --db DB --host 127.0.0.1 --port PORT`` (then
            ``args`` are appended to it and ``db`` only names the working directory).
        env: variables added to its environment (``FOODDELIVERY_LOG_FORMAT``...).
    """

    db: Path
    port: int
    log: Path
    args: tuple[str, ...] = ()
    command: tuple[str, ...] | None = None
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://{HOST}:{self.port}"

    def start(self, ready: tuple[int, ...] = (200,)) -> LiveServer:
        """Start and wait until ``GET /health`` answers one of ``ready`` (200: healthy; a test of a damaged
        database waits for 503).

        Raises:
            AssertionError: the process exited or did not answer within :data:`STARTUP_TIMEOUT_S`.
        """
        command = (
            list(self.command)
            if self.command is not None
            else [*fooddelivery_command(), "serve", "--db", str(self.db), "--host", HOST, "--port", str(self.port)]
        )
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=server_env(**self.env),
                cwd=self.db.parent,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                if self.request("GET", "/health", timeout=1.0).status in ready:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"serve did not answer within {STARTUP_TIMEOUT_S} s:\n{self.output()}")

    def stop(self) -> int:
        """SIGTERM (graceful shutdown) and wait; returns the exit status (SIGKILL after :data:`STOP_TIMEOUT_S`)."""
        return self._end(signal.SIGTERM)

    def kill(self) -> int:
        """SIGKILL: the process dies at once, mid-whatever (a crash); returns the exit status."""
        return self._end(signal.SIGKILL)

    def _end(self, sig: signal.Signals) -> int:
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            os.kill(process.pid, sig)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT_S)
        self.process = None
        return int(process.returncode)

    def output(self) -> str:
        """What the server printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def pid(self) -> int:
        """The process id (the server must be running)."""
        assert self.process is not None, "not started"
        return self.process.pid

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Response:
        """One request over a new connection."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=sent)
            raw = conn.getresponse()
            return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, raw.read())
        finally:
            conn.close()


def wait_for(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned) or ``timeout_s`` passes (None)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval_s)


def placed_and_settled(server: LiveServer, customer: str, body: Any, timeout_s: float = 10.0) -> tuple[Any, Any]:
    """``POST /orders`` with ``body``, then the order once its saga ran (paid and given a driver): the server answers
    as soon as the order is committed, and its saga follows on a thread of its own (``fooddelivery.server.
    saga_queue``). Returns (the 201 answer's body, the settled order's body)."""
    created = server.request("POST", "/orders", token=customer, json_body=body)
    assert created.status == 201, created.body
    answered = created.json()
    path = f"/orders/{answered['orderId']}"

    def settled() -> Any:
        order = server.request("GET", path, token=customer).json()
        return order if order["paymentStatus"] != "PENDING" and (
            order["driverId"] or order["status"] == "FAILED"
        ) else None

    order = wait_for(settled, timeout_s)
    assert order is not None, f"the saga of {answered['orderId']} did not run within {timeout_s} s"
    return answered, order
