"""Fixtures starting ``fooddelivery serve`` subprocesses; every server a test starts is stopped when it ends.

The whole directory needs uvicorn (the ``serve`` extra, part of ``dev``); without it it is skipped, saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ._live import LiveServer, free_port

pytest.importorskip("uvicorn", reason="fooddelivery serve needs uvicorn: pip install -e '.[serve]'")

StartServer = Callable[..., LiveServer]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """``start_server(*args, db=None, port=None, command=None, ready=(200,))``: a started server on the test's
    database (``serve.db`` in ``tmp_path`` unless given) and a free loopback port, ready once ``/health`` answers
    a status in ``ready``; each is SIGKILLed at the end if still running."""
    started: list[LiveServer] = []

    def start(
        *args: str,
        db: Path | None = None,
        port: int | None = None,
        command: tuple[str, ...] | None = None,
        ready: tuple[int, ...] = (200,),
    ) -> LiveServer:
        server = LiveServer(
            db=db or tmp_path / "serve.db",
            port=port or free_port(),
            log=tmp_path / f"serve-{len(started)}.log",
            args=args,
            command=command,
        )
        started.append(server)
        return server.start(ready)

    yield start
    for server in started:
        server.kill()
