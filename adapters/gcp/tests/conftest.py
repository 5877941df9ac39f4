"""Test session of the GCP package: the official Firestore and Pub/Sub emulators (they ship with the
google-cloud-cli; Java 17), each started once per session with ``setsid`` on a free loopback port and stopped by
process group at the end.

Isolation: every test gets its own collection prefix (a fresh, empty set of collections) and its own topic and
subscription names, so the emulators are never reset between tests.

A machine without the google-cloud-cli or Java fails the tests that need an emulator, naming what is missing
(never a silent skip).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# The core's shipped test kit: assertion rewriting of its contract suites and the conformance summary line.
pytest_plugins = ["fooddelivery.testing.plugin"]

PROJECT = "fooddelivery-test"
LOGS = Path(os.environ.get("FOODDELIVERY_GCP_EMULATOR_LOGS", "/tmp"))


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers (any HTTP status) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError as exc:
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s: {last}")


class Emulator:
    """One emulator process group, started with ``setsid`` and stopped as a group."""

    def __init__(self, name: str, argv: list[str], port: int) -> None:
        self.name = name
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.log = LOGS / f"fooddelivery-gcp-{name}-{port}.log"
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        """SIGTERM to the whole group (gcloud's wrapper and the Java process), SIGKILL after 10 s."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # the Java child may outlive the wrapper: make sure the group is gone
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._out.close()


def _gcloud() -> str:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.fail("gcloud (google-cloud-cli) is not installed: the Firestore and Pub/Sub emulators ship with it")
    if shutil.which("java") is None:
        pytest.fail("java is not installed: the Firestore and Pub/Sub emulators need Java 17+")
    return gcloud


@pytest.fixture(scope="session")
def firestore_host() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a Firestore emulator for the session (``FIRESTORE_EMULATOR_HOST`` is set to it)."""
    gcloud = _gcloud()
    port = free_port()
    emulator = Emulator(
        "firestore", [gcloud, "emulators", "firestore", "start", f"--host-port=127.0.0.1:{port}", "--quiet"], port
    )
    try:
        wait_http(f"http://{emulator.host}/")
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
        yield emulator.host
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def pubsub_host() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a Pub/Sub emulator for the session (``PUBSUB_EMULATOR_HOST`` is set to it)."""
    gcloud = _gcloud()
    port = free_port()
    emulator = Emulator(
        "pubsub",
        [gcloud, "beta", "emulators", "pubsub", "start", f"--host-port=127.0.0.1:{port}", f"--project={PROJECT}"],
        port,
    )
    try:
        wait_http(f"http://{emulator.host}/")
        os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
        yield emulator.host
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def firestore_client(firestore_host: str) -> object:
    """One Firestore client on the emulator, shared by the session (thread-safe)."""
    from google.cloud import firestore

    return firestore.Client(project=PROJECT)


@pytest.fixture
def prefix() -> str:
    """A collection prefix of this test's own (empty collections)."""
    return f"t{uuid.uuid4().hex[:12]}_"


def pytest_configure(config: pytest.Config) -> None:
    """The tests' pull helper asks the emulator to answer at once (``return_immediately``), which the client library
    marks deprecated for production use; that warning is noise here."""
    config.addinivalue_line("filterwarnings", "ignore:The return_immediately flag is deprecated:DeprecationWarning")
