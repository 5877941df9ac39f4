"""Test session for the AWS package: a real moto server (DynamoDB, EventBridge, SQS, SNS, Kinesis, Secrets
Manager, Step Functions) on a free loopback port, started once per session and reset between tests that ask.

Started by the ``moto_server`` command of ``moto[server]``. Stopped by process id at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# The core's shipped test kit: assertion rewriting of its contract suites and the conformance summary line.
pytest_plugins = ["fooddelivery.testing.plugin"]

# Credentials and region for boto3 against the stand-in; never real ones.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        # boto3 >= 1.44 with moto: DynamoDB Streams answers 404 unless account-id endpoints are off
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }
)


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0) -> None:
    """Poll ``url`` until it answers (any status) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer in {timeout} s: {last}")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a moto server for this session (``http://127.0.0.1:PORT``), with Step Functions execution on.

    Started through ``moto_serial_server.py`` (moto's own app, with DynamoDB requests serialised): moto's
    threaded DynamoDB backend double-grants conditional writes under concurrency; see that module.
    """
    exe = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    if not Path(exe).exists():
        pytest.fail("moto_server is not installed: pip install 'moto[server]' (the AWS test extra installs it)")
    port = free_port()
    launcher = Path(__file__).with_name("moto_serial_server.py")
    proc = subprocess.Popen(
        [sys.executable, str(launcher), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/moto-api/")
        configure_moto(url)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def configure_moto(url: str) -> None:
    """Enable Step Functions execution (before any state machine is created); Lambda without Docker."""
    body = b'{"stepfunctions": {"execute_state_machine": true}, "lambda": {"use_docker": false}}'
    req = urllib.request.Request(url + "/moto-api/config", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).close()


@pytest.fixture
def moto_reset(moto_endpoint: str) -> str:
    """A moto server with all state reset (and the execution config re-applied) for this test."""
    req = urllib.request.Request(moto_endpoint + "/moto-api/reset", data=b"", method="POST")
    urllib.request.urlopen(req, timeout=5).close()
    configure_moto(moto_endpoint)
    return moto_endpoint
