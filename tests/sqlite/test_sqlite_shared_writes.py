"""``SqliteDatabase(shared_writes=True)``: the processes of one server hand writes over through a ``flock`` on
``<database>.writers`` (``serve --processes N``)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from fooddelivery.adapters.sqlite import SqliteDatabase
from fooddelivery.adapters.sqlite.database import MEMORY, writers_lock_path
from fooddelivery.domain import InfrastructureError

SRC = Path(__file__).resolve().parents[2] / "src"


def _locked_by_someone(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # (closing drops a lock taken here)
    return False


def test_a_write_holds_the_writers_lock_from_begin_to_commit_and_not_after(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "shared.db", shared_writes=True)
    lock = writers_lock_path(tmp_path / "shared.db")
    assert lock == (tmp_path / "shared.db.writers").resolve() and lock.exists()
    assert not _locked_by_someone(lock)
    with db.write() as conn:
        conn.execute("CREATE TABLE t (n INTEGER)")
        assert _locked_by_someone(lock)
    assert not _locked_by_someone(lock)
    with pytest.raises(RuntimeError), db.write() as conn:  # a block that raises rolls back and unlocks
        conn.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("boom")
    assert not _locked_by_someone(lock)
    with db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    db.checkpoint()
    assert not _locked_by_someone(lock)
    db.close()
    assert db._writers is None


def test_without_shared_writes_there_is_no_lock_file_and_memory_cannot_share(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "alone.db")
    with db.write() as conn:
        conn.execute("CREATE TABLE t (n INTEGER)")
    db.close()
    assert not writers_lock_path(tmp_path / "alone.db").exists()
    with pytest.raises(ValueError, match="database file"):
        SqliteDatabase(MEMORY, shared_writes=True)


_WRITER = textwrap.dedent(
    """
    import sys
    import time
    from fooddelivery.adapters.sqlite import SqliteDatabase
    db = SqliteDatabase(sys.argv[1], busy_timeout_s=float(sys.argv[4]), shared_writes=True)
    for n in range(int(sys.argv[3])):
        with db.write() as conn:
            conn.execute("INSERT INTO t (who, n) VALUES (?, ?)", (sys.argv[2], n))
            conn.execute("UPDATE total SET n = n + 1")
            time.sleep(0.002)  # a transaction that takes a while: the other process must wait for it
    db.close()
    """
)


def test_two_processes_writing_at_once_lose_nothing_and_never_meet_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "two.db"
    db = SqliteDatabase(path, shared_writes=True)
    with db.write() as conn:
        conn.execute("CREATE TABLE t (who TEXT, n INTEGER, PRIMARY KEY (who, n))")
        conn.execute("CREATE TABLE total (n INTEGER)")
        conn.execute("INSERT INTO total VALUES (0)")
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    # a busy timeout of 20 ms: with SQLite's own lock alone a writer polls it (sleeping 1, 2, 5, 10 ms...) while the
    # other process takes it again and again, and runs out ("database is locked"); the flock queues each writer
    # until the other's COMMIT, so BEGIN IMMEDIATE never waits
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), who, "200", "0.02"], env=env, stderr=subprocess.PIPE
        )
        for who in ("a", "b")
    ]
    with db.write() as conn:  # this process writes meanwhile too
        conn.execute("UPDATE total SET n = n + 1")
    results = [(w.wait(120), w.stderr.read().decode() if w.stderr else "") for w in writers]
    assert results == [(0, ""), (0, "")]
    with db.read() as conn:
        rows = conn.execute("SELECT who, COUNT(*), MIN(n), MAX(n) FROM t GROUP BY who ORDER BY who").fetchall()
        total = conn.execute("SELECT n FROM total").fetchone()[0]
    db.close()
    assert rows == [("a", 200, 0, 199), ("b", 200, 0, 199)]
    assert total == 401


class _Holder:
    """Another holder of the writers' lock: its own open file (a lock is per open file, so this conflicts with the
    database's as another process's would), taken and released by the test."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(writers_lock_path(path), os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _count(db: SqliteDatabase) -> int:
    with db.read() as conn:
        return int(conn.execute("SELECT COUNT(*) FROM t").fetchone()[0])


def test_a_write_gives_up_on_a_writers_lock_held_past_its_timeout_and_leaves_no_hold_behind(tmp_path: Path) -> None:
    path = tmp_path / "hung.db"
    db = SqliteDatabase(path, shared_writes=True, writers_timeout_s=0.3)
    with db.write() as conn:
        conn.execute("CREATE TABLE t (n INTEGER)")
    hung = _Holder(path)  # a process of the server stopped (SIGSTOP, a debugger) in the middle of its write
    for attempt in range(2):  # the second waits for the flock the first left pending
        started = time.monotonic()
        with pytest.raises(InfrastructureError) as raised, db.write() as conn:
            conn.execute("INSERT INTO t VALUES (?)", (attempt,))
        waited = time.monotonic() - started
        assert raised.value.context["reason"] == "locked"
        assert "held" in raised.value.detail and str(writers_lock_path(path)) in raised.value.detail
        assert 0.3 <= waited < 3.0
    assert _count(db) == 0  # nothing half-written
    hung.release()
    # the wait that outlived its caller is granted the lock now, and gives it back at once: nobody waits for it
    deadline = time.monotonic() + 5.0
    while _locked_by_someone(writers_lock_path(path)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _locked_by_someone(writers_lock_path(path))
    with db.write() as conn:
        conn.execute("INSERT INTO t VALUES (2)")
    assert _count(db) == 1 and not _locked_by_someone(writers_lock_path(path))
    db.close()


def test_a_write_waits_for_a_writers_lock_released_within_its_timeout(tmp_path: Path) -> None:
    path = tmp_path / "slow.db"
    db = SqliteDatabase(path, shared_writes=True, writers_timeout_s=5.0)
    with db.write() as conn:
        conn.execute("CREATE TABLE t (n INTEGER)")
    slow = _Holder(path)
    threading.Timer(0.2, slow.release).start()  # a long transaction of another process ends
    started = time.monotonic()
    with db.write() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
    assert time.monotonic() - started >= 0.15
    assert _count(db) == 1 and not _locked_by_someone(writers_lock_path(path))
    db.checkpoint()  # the same bounded take
    db.close()
    assert db._writers is None


def test_the_writers_timeout_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="writers_timeout_s"):
        SqliteDatabase(tmp_path / "x.db", shared_writes=True, writers_timeout_s=0)


@pytest.mark.parametrize("timeout_s", [float("inf"), 1e10], ids=["inf", "1e10"])
def test_a_writers_timeout_past_what_a_wait_can_take_waits_without_a_bound(tmp_path: Path, timeout_s: float) -> None:
    # threading's waits take at most threading.TIMEOUT_MAX (about 292 years): a longer timeout (or inf, "no
    # bound", the wait before the bound existed) raised OverflowError at once on a contended write
    path = tmp_path / "forever.db"
    db = SqliteDatabase(path, shared_writes=True, writers_timeout_s=timeout_s)
    with db.write() as conn:
        conn.execute("CREATE TABLE t (n INTEGER)")
    holder = _Holder(path)
    outcome: list[object] = []

    def write() -> None:
        try:
            with db.write() as conn:
                conn.execute("INSERT INTO t VALUES (1)")
            outcome.append("written")
        except Exception as exc:
            outcome.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(0.5)
    assert writer.is_alive() and outcome == []  # still waiting for the holder
    holder.release()
    writer.join(5)
    assert outcome == ["written"] and _count(db) == 1
    db.close()
