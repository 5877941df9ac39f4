"""``serve --processes N``: more than one process serving one port and one SQLite file.

One Python process runs request handlers one at a time (the GIL), so one ``serve`` uses one core however many
it has. With ``--processes N`` the first process (the one started) binds the port, takes the database's writer
lock, checks and recovers the file and runs the background worker, as a single ``serve`` does; once it is ready it
starts ``N - 1`` more processes (:class:`Siblings`), each running ``fooddelivery.server.sibling`` (with the first
process's interpreter and import path: :func:`sibling_command`) given its ``CONFIG``, which
inherit the listening socket and accept from it too (the kernel gives each new connection to one of them), serve
requests and drive the sagas of the orders placed through them; they take no lock of their own (they hold the first
process's, inherited: see Lifetime), recover nothing, run no worker.

What makes it safe on one file:

- every process's writes also take an exclusive ``flock`` on ``<database>.writers`` around each ``BEGIN
  IMMEDIATE`` transaction (``SqliteDatabase(shared_writes=True)``), so writers of different processes hand over at
  once instead of polling SQLite's busy handler; reads are never blocked (WAL);
- each process publishes the events it committed, as one process does; the first process's sweep of the outbox
  leaves events younger than the relay's ``claim_ttl_s`` to the process that committed them
  (``OutboxRelay.foreign_claim_s``), so it publishes only what a process failed to (or died before) publishing;
- timers are delivered by the first process only (its worker leases them); a saga left RUNNING by a process that
  died is resumed by the first process's sweep of stuck sagas (``BackgroundWorker``'s ``stale_after_s``); every
  saga write is a compare-and-set on its version, so two processes never both apply one step.

Lifetime: each sibling watches a pipe from the first process and shuts down gracefully when it closes (the first
process stopping, or dying however it dies). Each inherits the first process's database lock and holds it until it
ends, so a ``serve`` started after the first process died is refused (``DatabaseInUse``) until the siblings have
finished what they were doing, instead of recovering the file under them (both would publish the same events).
SIGINT/SIGTERM to the first process stops the siblings first, then itself. A sibling that exits while the server
runs is started again after :data:`RESTART_DELAY_S` (logged), and ``/health`` of the first process says
``degraded`` until it is back; one that keeps failing within
:data:`EARLY_EXIT_S` of its start is given up after :data:`MAX_EARLY_EXITS` tries (logged, and ``/health`` stays
``degraded`` saying so: restart the server once the cause is fixed); one ended from outside
(SIGKILL from the OOM killer or an operator, SIGTERM, SIGINT) did not fail to start and is always started again.

Counters, ``/metrics`` and each sibling's ``/health`` are per process. POSIX only (``flock``, descriptor passing).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Final

from fooddelivery.server.app import ServeOptions

__all__ = ["EARLY_EXIT_S", "MAX_EARLY_EXITS", "RESTART_DELAY_S", "Siblings", "sibling_command", "sibling_config"]

log = logging.getLogger("fooddelivery.server")

#: Seconds before a sibling that exited while the server runs is started again.
RESTART_DELAY_S: Final[float] = 1.0
#: A sibling that exits within this many seconds of its start counts as failing to start.
EARLY_EXIT_S: Final[float] = 10.0
#: Consecutive failed starts after which a sibling slot is given up.
MAX_EARLY_EXITS: Final[int] = 3
#: Exit statuses (``Popen.returncode``) of a sibling ended from outside -- a graceful stop (0), SIGTERM, SIGINT, or
#: SIGKILL (an operator, the OOM killer) -- rather than failing to start: never counted as a failed start.
_ENDED_FROM_OUTSIDE: Final[frozenset[int]] = frozenset({0, -signal.SIGKILL, -signal.SIGTERM, -signal.SIGINT})


def sibling_config(options: ServeOptions, listener_fd: int, control_fd: int, index: int) -> str:
    """The JSON a sibling gets as its one argument: the serve options, the inherited descriptors, its number
    (1 .. N - 1; the first process is 0)."""
    fields = asdict(options)
    fields["db"] = str(options.db)
    return json.dumps({"options": fields, "listener_fd": listener_fd, "control_fd": control_fd, "index": index})


def sibling_command() -> list[str]:
    """How the first process starts a sibling: this interpreter running :func:`fooddelivery.server.sibling.main` with
    this process's ``sys.path``, so the sibling imports the code the first process runs. Not ``python -m``, which
    puts the working directory first on the path: a ``fooddelivery`` package there (a checkout's ``src``) would be
    what the siblings run. ``-P`` (Python 3.11+) keeps the working directory out of the path ``site`` sees too."""
    code = (
        f"import sys; sys.path[:] = {list(sys.path)!r}; from fooddelivery.server.sibling import main; sys.exit(main())"
    )
    return [sys.executable, "-P", "-c", code]


class Siblings:
    """The first process's other processes: started, watched, restarted, stopped.

    Args:
        options: what ``serve`` was asked for (``options.processes`` counts the first process too).
        listener: the first process's listening socket's descriptor; every sibling inherits it.
        command: how a sibling is started (default :func:`sibling_command`).
        hold: descriptors every sibling inherits and keeps open until it ends, unused: the first process's
            :class:`~fooddelivery.server.lock.DatabaseLock` (:meth:`~fooddelivery.server.lock.DatabaseLock.fileno`),
            so the database stays locked while any sibling runs, even after the first process died.

    Raises:
        ValueError: ``options.processes`` < 2, or not on POSIX.
    """

    def __init__(
        self, options: ServeOptions, listener: int, command: list[str] | None = None, hold: Sequence[int] = ()
    ) -> None:
        if options.processes < 2:
            raise ValueError("Siblings needs options.processes >= 2")
        if os.name != "posix":
            raise ValueError("--processes > 1 needs POSIX (flock and inherited sockets)")
        self.options = options
        self.wanted = options.processes - 1
        self._listener = listener
        self._command = command or sibling_command()
        self._hold = tuple(hold)
        self._lock = threading.Lock()
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._watchers: list[threading.Thread] = []
        self._stopping = threading.Event()
        # the read end goes to every sibling; the write end stays here: closing it (or dying) tells them to stop
        self._control_r, self._control_w = os.pipe()
        os.set_inheritable(self._control_r, False)  # passed explicitly with pass_fds
        self._given_up: set[int] = set()
        self._restarts = 0

    def start(self) -> None:
        """Start every sibling (returns at once; each is watched by a thread of its own). Starts nothing once
        :meth:`signal_stop` was called (a signal during the first process's start-up)."""
        for index in range(1, self.wanted + 1):
            if not self._spawn(index):
                return
            watcher = threading.Thread(target=self._watch, args=(index,), name=f"fooddelivery-sibling-{index}")
            watcher.daemon = True
            watcher.start()
            self._watchers.append(watcher)

    def running(self) -> tuple[int, int]:
        """``(running, wanted)``: how many siblings are alive now, of how many."""
        with self._lock:
            alive = sum(1 for proc in self._procs.values() if proc.poll() is None)
        return alive, self.wanted

    def status(self) -> tuple[int, int, int]:
        """``(running, wanted, given_up)``: :meth:`running` and :attr:`given_up` together (``/health``)."""
        running, wanted = self.running()
        return running, wanted, self.given_up

    @property
    def restarts(self) -> int:
        """How many siblings were started again after one exited."""
        with self._lock:
            return self._restarts

    @property
    def given_up(self) -> int:
        """How many sibling slots were given up (their process kept failing to start)."""
        with self._lock:
            return len(self._given_up)

    @property
    def pids(self) -> list[int]:
        """The process ids of the siblings alive now."""
        with self._lock:
            return [proc.pid for proc in self._procs.values() if proc.poll() is None]

    def _spawn(self, index: int) -> bool:
        """Start sibling ``index``; False (nothing started) once stopping."""
        with self._lock:
            if self._stopping.is_set():
                return False
            config = sibling_config(self.options, self._listener, self._control_r, index)
            proc = subprocess.Popen(
                [*self._command, config],
                pass_fds=(self._listener, self._control_r, *self._hold),
                stdin=subprocess.DEVNULL,
            )
            self._procs[index] = proc
        log.info("serve process %d of %d started: pid %d", index + 1, self.wanted + 1, proc.pid)
        return True

    def _watch(self, index: int) -> None:
        early_exits = 0
        while True:
            with self._lock:
                proc = self._procs[index]
            started = time.monotonic()
            status = proc.wait()
            if self._stopping.is_set():
                return
            early = time.monotonic() - started < EARLY_EXIT_S and status not in _ENDED_FROM_OUTSIDE
            early_exits = early_exits + 1 if early else 0
            if early_exits >= MAX_EARLY_EXITS:
                log.error(
                    "serve process %d (pid %d) exited with status %d within %.0f s of its start %d times in a row; "
                    "not starting it again (the server goes on with fewer processes)",
                    index + 1, proc.pid, status, EARLY_EXIT_S, early_exits,
                )  # fmt: skip
                with self._lock:
                    self._given_up.add(index)
                return
            log.error(
                "serve process %d (pid %d) exited with status %d; starting another in %.0f s",
                index + 1, proc.pid, status, RESTART_DELAY_S,
            )  # fmt: skip
            if self._stopping.wait(RESTART_DELAY_S):
                return
            try:
                if not self._spawn(index):
                    return
            except OSError as exc:
                log.error("serve process %d could not be started again: %s", index + 1, exc)
                with self._lock:
                    self._given_up.add(index)
                return
            with self._lock:
                self._restarts += 1

    def stop(self, timeout_s: float = 15.0) -> list[int]:
        """Tell every sibling to stop (the control pipe closes, and SIGTERM), wait up to ``timeout_s`` for them,
        then kill what is left. Idempotent; safe from a signal handler's thread and from a lifespan hook.

        Returns:
            The exit statuses of the siblings that were running (negative: ended by that signal).
        """
        self.signal_stop()
        deadline = time.monotonic() + timeout_s
        with self._lock:
            procs = list(self._procs.values())
        statuses = []
        for proc in procs:
            try:
                statuses.append(proc.wait(max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                log.warning("serve process pid %d did not stop within %.0f s; killing it", proc.pid, timeout_s)
                proc.kill()
                statuses.append(proc.wait())
        for watcher in self._watchers:
            watcher.join(1.0)
        with self._lock:
            if self._control_r >= 0:
                os.close(self._control_r)
            self._control_r = -1
        return statuses

    def signal_stop(self) -> None:
        """Start the siblings' graceful shutdown without waiting: close the control pipe and send SIGTERM."""
        with self._lock:
            first = not self._stopping.is_set()
            self._stopping.set()
            if self._control_w >= 0:
                os.close(self._control_w)
                self._control_w = -1
            procs = list(self._procs.values())
        if first:
            for proc in procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                        proc.send_signal(signal.SIGTERM)


def read_config(argv: list[str]) -> tuple[ServeOptions, int, int, int]:
    """A sibling's ``(options, listener_fd, control_fd, index)`` from its arguments (``[config JSON]``).

    Raises:
        RuntimeError: not one argument written by :func:`sibling_config` (the module was run by hand).
    """
    if len(argv) != 1:
        raise RuntimeError("this is started by `fooddelivery serve --processes N`, with its configuration")
    raw = argv[0]
    try:
        data = json.loads(raw)
        fields = dict(data["options"])
        fields["db"] = Path(fields["db"])
        return ServeOptions(**fields), int(data["listener_fd"]), int(data["control_fd"]), int(data["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"not a serve process's configuration: {exc}") from exc
