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

from fooddelivery.server.app import ServeOptions
from fooddelivery.server.processes import Siblings

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
