"""``fooddelivery serve`` refusing to start says why, in one line, with a non-zero status."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from fooddelivery.adapters.sqlite import open_sqlite_adapters
from fooddelivery.ports.scheduler import ScheduledMessage

from ._live import HOST, fooddelivery_command, free_port, server_env


def _serve(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*fooddelivery_command(), "serve", *args],
        cwd=cwd,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_uvicorn_serve_names_the_extra_to_install(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['uvicorn'] = None\n"  # makes `import uvicorn` raise ImportError
        "from fooddelivery.cli import main\n"
        f"main(['serve', '--db', {str(tmp_path / 'x.db')!r}])"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], env=server_env(), capture_output=True, text=True, timeout=60, check=False
    )

    assert run.returncode == 1
    assert "pip install 'fooddelivery[serve]'" in run.stderr
    assert not (tmp_path / "x.db").exists()  # nothing was created


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("my notes")

    run = _serve("--db", "notes.db", "--port", str(free_port()), cwd=tmp_path)

    assert run.returncode == 1
    assert "cannot serve notes.db" in run.stderr
    assert "not a database" in run.stderr
    assert (tmp_path / "notes.db").read_text() == "my notes"


def test_a_port_already_taken_ends_serve_before_it_touches_the_database(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    with open_sqlite_adapters(db) as stored:  # a database a previous process left with an overdue timer
        stored.scheduler.schedule(ScheduledMessage("t-1", datetime(2020, 1, 1, tzinfo=UTC), "timeout", {}))
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]

        run = _serve("--db", "x.db", "--port", str(port), cwd=tmp_path)

    assert run.returncode == 1
    assert f"cannot listen on {HOST}:{port}" in run.stderr
    assert "address already in use" in run.stderr.lower()
    assert "recovered" not in run.stderr and "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.db"]  # no lock file, no WAL: never opened
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    with open_sqlite_adapters(db) as stored:
        assert [m.message_id for m in stored.scheduler.pending()] == ["t-1"]  # recovery did not run


def test_a_setting_that_is_not_valid_is_named(tmp_path: Path) -> None:
    run = subprocess.run(
        [*fooddelivery_command(), "serve", "--db", "x.db", "--port", str(free_port())],
        cwd=tmp_path,
        env=server_env(FOODDELIVERY_DRIVER_RADIUS_KM="far"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert run.returncode == 2
    assert "FOODDELIVERY_DRIVER_RADIUS_KM: must be a number, got 'far'" in run.stderr


def test_the_listening_socket_says_it_is_tcp_so_connections_get_tcp_nodelay() -> None:
    # asyncio sets TCP_NODELAY on accepted connections only when the socket's protocol is IPPROTO_TCP; without it
    # a keep-alive response written in two parts waits for the client's delayed ACK (~40 ms, measured).
    from fooddelivery.server import bind_socket

    sock = bind_socket(HOST, 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
    finally:
        sock.close()
