"""``Siblings`` (``serve --processes N``) with real child processes standing in for the serve processes: what the
first process does when a sibling exits, and when it is told to stop before it started them."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fooddelivery.server.app import LocalServer, ServeOptions
from fooddelivery.server.processes import MAX_EARLY_EXITS, Siblings

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="--processes is POSIX only")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def _siblings(listener: socket.socket, code: str) -> Siblings:
    options = ServeOptions(Path("unused.db"), processes=2)
    return Siblings(options, listener.fileno(), command=[sys.executable, "-c", code])


def test_told_to_stop_before_starting_them_starts_none_and_no_thread_fails(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SIGTERM while the first process still recovers: uvicorn's handler stops the siblings, then the lifespan's
    # start-up hook starts them
    failures: list[type[BaseException]] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_type))
    siblings = _siblings(listener, "import time; time.sleep(30)")
    siblings.signal_stop()
    siblings.start()
    time.sleep(0.5)
    assert siblings.pids == []
    assert siblings.stop() == []
    assert failures == []


def test_a_sibling_killed_from_outside_soon_after_its_start_is_still_restarted(listener: socket.socket) -> None:
    # the OOM killer or an operator's SIGKILL: the process had started; it did not fail to start
    siblings = _siblings(listener, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    siblings.start()
    try:
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline and siblings.restarts < 4:
            time.sleep(0.05)
        assert siblings.restarts >= 4
        assert siblings.given_up == 0
    finally:
        siblings.stop()


def test_a_sibling_that_cannot_start_is_given_up_and_health_says_so(listener: socket.socket, tmp_path: Path) -> None:
    siblings = _siblings(listener, "import sys; sys.exit(3)")  # sibling.py's status when the server cannot be built
    with LocalServer(tmp_path / "serve.db") as server:
        server.processes = siblings.status  # as run() wires it
        siblings.start()
        try:
            deadline = time.monotonic() + 15.0
            while time.monotonic() < deadline and siblings.given_up == 0:
                time.sleep(0.05)
            assert (siblings.given_up, siblings.restarts) == (1, MAX_EARLY_EXITS - 1)
            assert siblings.running() == (0, 1)
            report = server.health()
            assert (report.ok, report.checks["processes"]) == (False, "1 of 2 running")
            assert report.detail == (
                "1 of the server's other processes given up after failing to start 3 times in a row (see the log)"
            )
        finally:
            assert siblings.stop() == [3]
