"""What the ``serve`` benchmarks share: a free loopback port, the ``fooddelivery`` command, start-and-wait, stop.

Not a benchmark (``run_all.py`` skips files whose name starts with ``_``). The benchmarks are run as scripts
(``python bench/serve_k6.py``), so this directory is on ``sys.path`` and they import it as ``_serve``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

#: The loopback address every server benchmark binds to and calls.
HOST = "127.0.0.1"
_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on :data:`HOST` that was free a moment ago (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def fooddelivery(*args: str) -> list[str]:
    """The argv that runs the ``fooddelivery`` CLI of this interpreter's environment with ``args``.

    The console script next to ``sys.executable`` when it is installed, else ``python -m fooddelivery.cli``.
    """
    script = _BIN / "fooddelivery"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "fooddelivery.cli", *args]


def clean_env() -> dict[str, str]:
    """This process's environment without any ``FOODDELIVERY_*`` setting, so the benchmark sets what it measures."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FOODDELIVERY_")}


def listening(port: int) -> Callable[[], bool]:
    """A readiness check: True once something accepts TCP connections on ``HOST:port``."""

    def check() -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            return False

    return check


def wait_until(ready: Callable[[], bool], server: subprocess.Popen[bytes], timeout_s: float, log: Path | None) -> None:
    """Poll ``ready`` every 50 ms until it is true.

    Raises:
        SystemExit: the server exited first, or ``timeout_s`` seconds passed; the message ends with the server's
            log (its last 3,000 characters) when ``log`` is given.
    """
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline or server.poll() is not None:
            tail = "" if log is None or not log.exists() else ":\n" + log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the server did not start{tail}")
        time.sleep(0.05)


def stop(server: subprocess.Popen[bytes], timeout_s: float = 15.0) -> int:
    """SIGTERM the server, wait ``timeout_s`` seconds for a graceful exit, then SIGKILL; returns its exit status."""
    if server.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout_s)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return int(server.returncode)
