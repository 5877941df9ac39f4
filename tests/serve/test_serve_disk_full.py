"""``fooddelivery serve`` on a disk that fills up, then has room again.

The database lives on a small tmpfs (mounted in a private mount namespace: ``unshare -rm``, which needs no real
root where unprivileged user namespaces are allowed) when the test can mount one; otherwise on an ordinary disk
with the server's file-size limit (``RLIMIT_FSIZE``, set from outside with ``prlimit``) lowered below the size of
the database, so its writes fail (``DISK_FULL_METHOD=fsize`` forces that way).

While the disk is full: new orders are refused with a retryable 503 (never a 500), reads are served, ``/health``
says ``degraded`` with the storage state, the confirmation timeouts that fall due are not lost, and the server
writes a bounded number of log lines (one per change of state, not one per attempt: a full disk used to produce
~65 MB of tracebacks a minute). Once there is room again: the timeouts fire, each order is refunded exactly once,
``/health`` is ``ok`` and new orders are accepted.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ._live import HOST, REFERENCE_PAYLOAD, LiveServer, fooddelivery_command, free_port, token, wait_for
from .conftest import StartServer

TIMEOUT_S = 2.0
ORDERS = 4
#: How long the disk stays full while nothing but the server itself runs (seconds).
FULL_WINDOW_S = 4.0
#: The most log bytes those seconds may produce (one line per change of state, plus a little).
LOG_BUDGET_BYTES = 4096
TMPFS_SIZE = "8m"


def _can_mount_tmpfs(where: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=1m tmpfs "$0"', str(where)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0


class _Disk:
    """Where the database lives, and how to fill that place up and free it again."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "disk"
        self.dir.mkdir()
        forced = os.environ.get("DISK_FULL_METHOD")
        self.method = forced or ("tmpfs" if _can_mount_tmpfs(self.dir) else "fsize")
        self.server: LiveServer | None = None

    def command(self, port: int) -> tuple[str, ...]:
        serve = (*fooddelivery_command(), "serve", "--db", str(self.dir / "serve.db"), "--host", HOST)
        serve += ("--port", str(port))
        if self.method == "tmpfs":
            script = f'mount -t tmpfs -o size={TMPFS_SIZE} tmpfs "$0" && exec "$@"'
            return ("unshare", "-rm", "sh", "-c", script, str(self.dir), *serve)
        return serve

    def path(self, name: str) -> Path:
        """A file of the database's directory, as this process sees it (through the server's mount namespace)."""
        assert self.server is not None
        if self.method == "tmpfs":
            return Path(f"/proc/{self.server.pid}/root") / str(self.dir).lstrip("/") / name
        return self.dir / name

    def fill(self) -> None:
        """Leave no room: the tmpfs filled by a file; or the file-size limit lowered to what the files hold."""
        assert self.server is not None
        if self.method == "tmpfs":
            chunk = b"\0" * 65536
            with self.path("filler").open("wb") as filler, contextlib.suppress(OSError):
                while True:
                    filler.write(chunk)
                    filler.flush()
            return
        # No write may reach past this offset of any file (Linux: EFBIG, even inside a file already longer): the
        # database and its WAL are larger, so their writes fail; the server's log stays well under it.
        limit = max(64 * 1024, self.server.log.stat().st_size + 32 * 1024)
        resource.prlimit(self.server.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    def free(self) -> None:
        """Make room again."""
        assert self.server is not None
        if self.method == "tmpfs":
            self.path("filler").unlink()
        else:
            resource.prlimit(self.server.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)


def _refunds(disk: _Disk, into: Path) -> dict[str, int]:
    """Refunds per order, read from a copy of the live database (SQLite resolves ``/proc/PID/root`` to a path of
    this mount namespace, so it cannot open the server's file in place; the server is idle by now)."""
    into.mkdir()
    for name in ("serve.db", "serve.db-wal"):
        if disk.path(name).exists():
            shutil.copyfile(disk.path(name), into / name)
    with contextlib.closing(sqlite3.connect(into / "serve.db", timeout=10)) as conn:
        rows = conn.execute(
            "SELECT o.order_id, COUNT(r.refund_id) FROM orders o"
            " LEFT JOIN payment_refunds r ON r.charge_id = json_extract(o.record, '$.chargeId') GROUP BY o.order_id"
        ).fetchall()
    return {str(order_id): int(count) for order_id, count in rows}


def _order(server: LiveServer, order_id: str, customer: str) -> dict[str, Any]:
    response = server.request("GET", f"/orders/{order_id}", token=customer)
    assert response.status == 200, response.body
    return dict(response.json())


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux (prlimit, /proc)")
def test_a_full_disk_is_survived_with_bounded_logs_and_every_timeout_refunded_once(
    start_server: StartServer, tmp_path: Path
) -> None:
    disk = _Disk(tmp_path)
    port = free_port()
    server = start_server("--demo", "--confirmation-timeout", str(TIMEOUT_S), port=port, command=disk.command(port))
    server.db = disk.dir / "serve.db"
    disk.server = server
    customer = token("customer", "user-1")
    placed = []
    for _ in range(ORDERS):
        created = server.request("POST", "/orders", token=customer, json_body=REFERENCE_PAYLOAD)
        assert created.status == 201, created.body
        placed.append(created.json()["orderId"])

    disk.fill()
    refused = None
    for _ in range(100):  # the first writes may still fit in pages the files already have
        attempt = server.request("POST", "/orders", token=customer, json_body=REFERENCE_PAYLOAD)
        assert attempt.status in (201, 503), attempt.body
        if attempt.status == 503:
            refused = attempt
            break
        placed.append(attempt.json()["orderId"])
    assert refused is not None, f"the disk never filled ({disk.method})"
    assert refused.json()["code"] == "infrastructure_error" and refused.headers["retry-after"] == "1"

    # the disk stays full while the confirmation timeouts fall due: the worker meets it and backs off, quietly
    log_before = server.log.stat().st_size
    time.sleep(FULL_WINDOW_S)
    log_written = server.log.stat().st_size - log_before
    health = server.request("GET", "/health")
    still_pending = _order(server, placed[0], customer)

    disk.free()

    assert log_written <= LOG_BUDGET_BYTES, server.output()[-3000:]
    assert health.status == 503, health.body
    assert health.json()["status"] == "degraded"
    assert health.json()["checks"]["storage"] in ("disk_full", "io_error"), health.json()
    assert still_pending["status"] == "PENDING"  # reads are served; its timeout is not lost, only late

    def all_failed() -> bool:
        return all(_order(server, o, customer)["status"] == "FAILED" for o in placed)

    assert wait_for(all_failed, timeout_s=20, interval_s=0.2), server.output()[-3000:]
    for order_id in placed:
        order = _order(server, order_id, customer)
        assert (order["failureReason"], order["paymentStatus"]) == ("restaurant_timeout", "REFUNDED")
    refunds = _refunds(disk, tmp_path / "copy")
    assert {o: refunds.get(o) for o in placed} == dict.fromkeys(placed, 1)
    assert wait_for(lambda: server.request("GET", "/health").status == 200, timeout_s=10)
    again = server.request("POST", "/orders", token=customer, json_body=REFERENCE_PAYLOAD)
    assert again.status == 201, again.body
    output = server.output()
    # One line per change of state, not per attempt. A full disk usually gives one episode; but a write that fits in
    # pages the files already have succeeds, and one success 2 s after the last failure (RECOVERY_QUIET_S) is "ok
    # again" -- a loaded machine, whose worker retries further apart, once saw two episodes. Each is logged at both
    # ends, once.
    episodes = output.count("writes fail (")
    assert 1 <= episodes <= 3 and output.count("writes succeed again") == episodes, output[-3000:]
    assert output.count("background work fails (") == 1, output[-3000:]
    assert "background work succeeds again" in output
    assert server.stop() == 0
