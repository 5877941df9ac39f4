"""``fooddelivery serve``: the HTTP API, the order saga and an in-process event bus on one SQLite file.

:class:`LocalServer` is the composition of one server process:

- every port on SQLite (``fooddelivery.adapters.sqlite.open_sqlite_adapters``: orders + outbox, restaurants,
  drivers, saga state, timers, notifications, locations, the published-event log and the fake card processor's
  ledger), a real-time :class:`~fooddelivery.adapters.system.SystemClock` and uuid ids, through
  :func:`~fooddelivery.bootstrap.bootstrap`;
- :class:`~fooddelivery.http.HttpApi` with a :class:`~fooddelivery.http.DevAuthenticator` (HS256 tokens signed
  with ``FOODDELIVERY_DEV_SECRET``, or the public development default; ``fooddelivery token`` prints them);
- :class:`~fooddelivery.http.asgi.AsgiApp` in front of it, whose lifespan start-up runs :meth:`LocalServer.start`
  (integrity check, demo catalog, recovery, the background worker) before the first request is accepted, and
  whose shutdown stops the worker;
- a :class:`~fooddelivery.server.worker.BackgroundWorker` thread for saga timers, the outbox and WAL checkpoints;
- a :class:`~fooddelivery.server.saga_queue.SagaQueue` thread that drives new orders' sagas: once the server runs,
  ``POST /orders`` answers as soon as the order (and its saga instance) is committed, and the saga's first steps
  (payment, the restaurant and customer notices, the driver) follow on that thread within milliseconds.

One process per database file: building a :class:`LocalServer` first takes the file's writer lock
(:class:`~fooddelivery.server.lock.DatabaseLock`), so a second ``serve`` on the same file is refused at once,
naming the holder, before it reads or writes anything. :func:`run` binds the port even earlier, so a second
``serve`` on a busy port fails before it touches the database.

At start the file gets ``PRAGMA quick_check``. A damaged file is served **read-only** (no recovery, no worker, every
write refused with a non-retryable ``data_corrupted`` problem): what can still be read can be read, nothing new
goes into it, and ``/health`` says ``degraded`` with ``integrity: corrupt``. A full disk (or another I/O failure)
is reported by ``/health`` as ``storage: disk_full`` while it lasts; requests that must write answer 503, and
the worker backs off (see :mod:`fooddelivery.server.worker`).

Recovery after a restart (:meth:`LocalServer.recover`), before the first request is accepted:

0. the timers the previous process had leased and not acknowledged (it died delivering them) are released: with
   the writer lock no other process can hold a lease, so they are due again now rather than when the lease ends;
1. the outbox is flushed: events committed by the previous process but not yet published go out now, and their
   in-process consumers run (an ``OrderPlaced`` whose saga never started starts it; the runner's ``start`` is
   idempotent);
2. every saga still RUNNING (interrupted between two steps) is driven on from its last saved step
   (``SqliteSagaStateStore.ids(status=RUNNING)`` + ``SagaRunner.resume``; each step is idempotent);
3. timers that fell due while the server was down are delivered; the others stay in the ``timers`` table with
   their absolute due time, so a saga waiting for its restaurant still times out when it would have (after the
   *remaining* time), with exactly one refund.

:func:`run` serves a :class:`LocalServer` with uvicorn and shuts it down gracefully on SIGINT/SIGTERM.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.adapters.memory import OperationCounters
from fooddelivery.adapters.sqlite import SqliteAdapters, open_sqlite_adapters
from fooddelivery.adapters.system import SystemClock
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.pricing import PromoCode
from fooddelivery.ports.auth import Authenticator
from fooddelivery.ports.clock import Clock
from fooddelivery.server.lock import DatabaseInUse, DatabaseLock
from fooddelivery.server.saga_queue import SagaQueue
from fooddelivery.server.worker import BackgroundWorker, Pass

if TYPE_CHECKING:
    from fooddelivery.http.api import HealthReport, HttpApi
    from fooddelivery.http.asgi import AsgiApp
    from fooddelivery.server.demo import DemoCatalog
    from fooddelivery.server.processes import Siblings

__all__ = [
    "LOG_LEVELS",
    "DatabaseInUse",
    "LocalServer",
    "PortUnavailable",
    "Recovery",
    "ServeOptions",
    "ServerUnavailable",
    "bind_socket",
    "run",
]

log = logging.getLogger("fooddelivery.server")

#: The ``--log-level`` choices (uvicorn's names).
LOG_LEVELS: Final[tuple[str, ...]] = ("critical", "error", "warning", "info", "debug")
#: Seconds uvicorn waits for in-flight requests on shutdown.
GRACEFUL_SHUTDOWN_S: Final[int] = 10
#: Default seconds a connection may stay without a complete request head (new, or kept alive).
IDLE_TIMEOUT_S: Final[float] = 10.0
#: Default longest wait for the next chunk of a request body, seconds.
BODY_TIMEOUT_S: Final[float] = 10.0
#: Largest request head (request line and headers), bytes; larger gets 431 (414 when the request line alone is).
MAX_HEAD_BYTES: Final[int] = 16 * 1024


class ServerUnavailable(RuntimeError):
    """The ASGI server (uvicorn, the ``serve`` extra) is not installed."""


class PortUnavailable(OSError):
    """The address cannot be bound (in use, not an interface of this host, no permission)."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (IPv4 or IPv6, ``SO_REUSEADDR`` as servers do).

    Connections arriving before the server accepts them wait in the backlog.

    Raises:
        PortUnavailable: it cannot be bound, with the address and the operating system's reason.
    """
    sock: socket.socket | None = None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        # proto IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY only on sockets that say they are TCP, and without
        # it a keep-alive response written in two parts waits ~40 ms for the client's delayed ACK (Nagle).
        sock = socket.socket(family, kind, proto)
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        if sock is not None:
            sock.close()
        raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What ``fooddelivery serve`` was asked for.

    Attributes:
        db: the SQLite database file (created if missing).
        host: the interface to bind (loopback by default: development tokens are not for a network).
        port: the TCP port.
        demo: load the demo catalog (idempotent).
        confirmation_timeout_s: how long a restaurant has to confirm an order, seconds.
        log_level: one of :data:`LOG_LEVELS`.
        idle_timeout_s: how long a connection may stay without a complete request head, seconds.
        body_timeout_s: longest wait for the next chunk of a request body, seconds.
        http: the HTTP/1.1 implementation, one of ``fooddelivery.server.protocol.HTTP_IMPLEMENTATIONS``
            (``"auto"``: httptools when installed, else h11). The event loop is uvicorn's choice (uvloop when
            installed).
        processes: how many processes serve the port and the file (>= 1; see
            :mod:`fooddelivery.server.processes`; more than 1 on POSIX only).
    """

    db: Path
    host: str = "127.0.0.1"
    port: int = 8000
    demo: bool = False
    confirmation_timeout_s: float = 300.0
    log_level: str = "info"
    idle_timeout_s: float = IDLE_TIMEOUT_S
    body_timeout_s: float = BODY_TIMEOUT_S
    http: str = "auto"
    processes: int = 1


@dataclass(frozen=True, slots=True)
class Recovery:
    """What start-up found and did.

    Attributes:
        timers_released: timers the previous process had leased and not acknowledged (it died delivering them):
            due again at once rather than when their leases end (only with the writer lock: no other process can
            hold a lease then).
        events_published: outbox events left by the previous process, published now.
        sagas_resumed: sagas left RUNNING, driven on.
        sagas_failed: sagas that could not be resumed (the worker retries them).
        timers_delivered: timers that fell due while the server was down, delivered now.
        timers_pending: timers still waiting (their due times are kept across the restart).
    """

    timers_released: int
    events_published: int
    sagas_resumed: int
    sagas_failed: int
    timers_delivered: int
    timers_pending: int


class LocalServer:
    """One ``serve`` process: SQLite adapters, the bootstrapped core, the HTTP API, the ASGI app, the worker.

    Building it opens the database (creating and migrating it if needed) and wires everything; nothing runs
    until :meth:`start` (which the ASGI lifespan calls).

    Args:
        db: the database file.
        settings: typed settings (defaults: :meth:`Settings.from_env`).
        demo: load the demo catalog on :meth:`start`, and offer its promo codes (``DEMO_PROMOTIONS``).
        clock: the clock (real time by default).
        authenticator: the request authenticator (``DevAuthenticator()`` by default: ``FOODDELIVERY_DEV_SECRET``
            or the public development secret).
        poll_s: the worker's longest sleep (seconds).
        lock: take the database's writer lock first (``serve`` always does; a test that plays two processes in
            one may not).
        holder: what the lock tells a process it refuses (``{"url": ...}``).
        body_timeout_s: the ASGI app's body deadline (see :class:`~fooddelivery.http.asgi.AsgiApp`), or None.
        sibling: this is one of the extra processes of ``serve --processes N``
            (:mod:`fooddelivery.server.processes`): the first process holds the writer lock, checked and recovered
            the file and runs the background worker; this one serves requests and drives the sagas of the orders
            placed through it, nothing else (no lock taken, no check, catalog, recovery or worker on
            :meth:`start`).
        shared_writes: other processes of this server write the file too (``--processes`` > 1): writes take the
            writers' ``flock`` (see :class:`~fooddelivery.adapters.sqlite.database.SqliteDatabase`).
        writers_timeout_s: how long a write waits for another process's hold of that ``flock`` before it fails
            with ``InfrastructureError`` (``reason="locked"``: HTTP 503 with ``Retry-After``; seconds).

    Raises:
        DatabaseInUse: another process holds the database's writer lock (nothing was opened).
        InfrastructureError: the database cannot be opened (not a SQLite file, newer schema, no permission).
    """

    def __init__(
        self,
        db: str | os.PathLike[str],
        *,
        settings: Settings | None = None,
        demo: bool = False,
        clock: Clock | None = None,
        authenticator: Authenticator | None = None,
        poll_s: float = 0.5,
        lock: bool = True,
        holder: Mapping[str, Any] | None = None,
        body_timeout_s: float | None = None,
        sibling: bool = False,
        shared_writes: bool = False,
        writers_timeout_s: float = 5.0,
    ) -> None:
        from fooddelivery.http.api import HttpApi
        from fooddelivery.http.asgi import AsgiApp

        self.demo = demo
        self.sibling = sibling
        self.clock = clock or SystemClock()
        self.counters = OperationCounters()
        self.lock: DatabaseLock | None = DatabaseLock(db, holder) if lock and not sibling else None
        if self.lock is not None:
            self.lock.acquire()  # before the database is opened (opening migrates: a write)
        try:
            self.adapters: SqliteAdapters = open_sqlite_adapters(
                db,
                counters=self.counters,
                clock=self.clock,
                shared_writes=shared_writes,
                writers_timeout_s=writers_timeout_s,
            )
        except BaseException:
            self._release_lock()
            raise
        try:
            promotions: Mapping[str, PromoCode] | None = None
            if demo:
                from fooddelivery.server.demo import DEMO_PROMOTIONS

                promotions = DEMO_PROMOTIONS
            self.boot: Bootstrapped = bootstrap(
                settings or Settings.from_env(),
                clock=self.clock,
                counters=self.counters,
                promotions=promotions,
                **self.adapters.ports(),
            )
            if authenticator is None:
                from fooddelivery.http.auth import DevAuthenticator

                authenticator = DevAuthenticator(clock=self.clock)
            # saga starts leave the request once the worker runs (start): see fooddelivery.server.saga_queue
            self.sagas = SagaQueue(self.boot.service)
            self.boot.service.relay.consumer = self.sagas
            self.boot.service.orders.runtime_consumers.append(self.sagas)  # it drives the sagas placements create
            self.api: HttpApi = HttpApi(self.boot.service, authenticator, health=self.health)
            self.worker = BackgroundWorker(
                self.boot.service,
                self.adapters.scheduler,
                self.adapters.sagas,
                poll_s=poll_s,
                checkpoint=self.adapters.database.checkpoint,
            )
            self.app: AsgiApp = AsgiApp(
                self.api, startup=[self.start], shutdown=[self.stop], body_timeout_s=body_timeout_s
            )
        except BaseException:
            self.adapters.close()
            self._release_lock()
            raise
        self.catalog: DemoCatalog | None = None
        self.recovery: Recovery | None = None
        #: ``serve --processes N`` in the first process: (running, wanted, given up) of the other processes, for
        #: ``/health``
        self.processes: Callable[[], tuple[int, int, int]] | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> Recovery | None:
        """Check the file (``PRAGMA quick_check``), load the demo catalog (if asked), recover what the previous
        process left, start the worker.

        A damaged file is served read-only: no catalog, no recovery, no worker (logged once, reported by
        ``/health``). A store failing during recovery (a full disk) postpones it: the worker's passes retry.

        A sibling process (``sibling=True``) only starts its saga queue: the first process did the rest.

        Returns:
            What recovery did, or None when it did not run (a damaged file, or postponed, or a sibling).

        Raises:
            InfrastructureError: the demo catalog could not be loaded (the server does not start).
        """
        if self.sibling:
            self.sagas.start()
            return None
        problems = self.adapters.database.check_integrity()
        if problems:
            log.error(
                "the database %s is damaged (%s); serving it read-only: no recovery, no background work, every "
                "write refused. Restore it from a backup.",
                self.adapters.database.path,
                "; ".join(problems[:3]),
            )
            return None
        if self.demo:
            from fooddelivery.server.demo import load_demo_catalog

            self.catalog = load_demo_catalog(self.adapters.restaurants, self.adapters.drivers, self.clock)
            log.info(
                "demo catalog: %d restaurants (rest-0..rest-%d, %d new), %d drivers (%d new)",
                self.catalog.restaurants,
                self.catalog.restaurants - 1,
                self.catalog.restaurants_added,
                self.catalog.drivers,
                self.catalog.drivers_added,
            )
        try:
            self.recovery = self.recover()
        except InfrastructureError as exc:
            self.worker.note(Pass(failure=f"{exc.context.get('reason', exc.code)}: {exc.detail}"))  # logged once
            log.info("recovery postponed; the background worker's passes retry it")
        self.worker.start()
        self.sagas.start()  # from now on POST /orders answers once the order is committed
        return self.recovery

    def recover(self) -> Recovery:
        """Resume the work a previous process left in the database (see the module docstring).

        Call before any request is served and before the worker starts.

        Returns:
            What was found and done.

        Raises:
            InfrastructureError: the outbox or the saga store cannot be read.
        """
        released = self.adapters.scheduler.release_all() if self.lock is not None else 0
        published = self.boot.service.pump()
        resumed, failed = self.worker.resume_stuck(timedelta(0))
        first: Pass = self.worker.run_once(sweep=False)
        self.worker.note(first)  # a failing store: logged once, and the worker starts backed off
        recovery = Recovery(
            timers_released=released,
            events_published=published + first.events_published,
            sagas_resumed=resumed,
            sagas_failed=failed,
            timers_delivered=first.timers_delivered,
            timers_pending=self.adapters.scheduler.pending_count,
        )
        log.info(
            "recovered: %d leased timers released, %d outbox events published, %d running sagas resumed (%d failed), "
            "%d overdue timers delivered, %d timers pending",
            recovery.timers_released,
            recovery.events_published,
            recovery.sagas_resumed,
            recovery.sagas_failed,
            recovery.timers_delivered,
            recovery.timers_pending,
        )
        return recovery

    def health(self) -> HealthReport:
        """What ``GET /health`` says: the database's writes and integrity, and the worker.

        Degraded (503) while writes fail (``storage``: ``disk_full``, ``io_error``, ``read_only``), when the
        file is damaged (``integrity: corrupt``), or while the worker's passes fail (``worker: backing_off``).
        """
        from fooddelivery.http.api import HealthReport

        db = self.adapters.database.health
        outage = self.worker.outage
        checks = {
            "storage": db.writes,
            "integrity": db.integrity,
            "worker": "backing_off" if outage is not None else ("running" if self.worker.running else "stopped"),
        }
        if self.sibling:
            checks["worker"] = "other_process"  # the first process runs it
        processes = self.processes() if self.processes is not None else None
        if processes is not None:
            checks["processes"] = f"{processes[0] + 1} of {processes[1] + 1} running"
        if db.integrity == "corrupt":
            detail = f"the database file is damaged ({db.integrity_detail}); it is served read-only"
        elif db.writes != "ok":
            detail = f"writes fail ({db.writes}) since {db.writes_since:%Y-%m-%dT%H:%M:%SZ}; free the disk"
        elif outage is not None:
            detail = f"background work fails: {outage.reason}"
        elif processes is not None and processes[2]:
            from fooddelivery.server.processes import MAX_EARLY_EXITS

            detail = (
                f"{processes[2]} of the server's other processes given up after failing to start "
                f"{MAX_EARLY_EXITS} times in a row (see the log)"
            )
        elif processes is not None and processes[0] < processes[1]:
            detail = f"{processes[1] - processes[0]} of the server's other processes not running (being restarted)"
        else:
            return HealthReport(ok=True, checks=checks)
        return HealthReport(ok=False, checks=checks, detail=detail)

    def stop(self) -> None:
        """Stop the saga queue (after the starts it holds) and the worker (after its current pass). Idempotent."""
        self.sagas.stop()
        self.worker.stop()

    def close(self) -> None:
        """Stop the worker, close the database, drop the writer lock. Idempotent."""
        self.stop()
        self.adapters.close()
        self._release_lock()

    def _release_lock(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError as exc:
        raise ServerUnavailable(
            "fooddelivery serve needs an ASGI server: pip install 'fooddelivery[serve]' (installs uvicorn)"
        ) from exc
    return uvicorn


def configure_logging(level: str) -> bool:
    """The one set-up (:func:`fooddelivery.observability.setup.configure`: ``FOODDELIVERY_LOG_FORMAT``, OpenTelemetry
    export by ``OTEL_*`` variables) with ``serve``'s level; in the JSON format uvicorn's own loggers write through
    the same handler.

    Args:
        level: one of :data:`LOG_LEVELS`.

    Returns:
        Whether the lines are JSON (then uvicorn must not install its own logging configuration).

    Raises:
        ValidationError: an unknown ``FOODDELIVERY_LOG_FORMAT`` or ``FOODDELIVERY_LOG_LEVEL``.
    """
    from fooddelivery.observability.logs import LogSettings
    from fooddelivery.observability.setup import configure

    configure("fooddelivery-serve", log_level=level)
    if LogSettings.from_env().log_format != "json":
        return False
    ours = logging.getLogger("fooddelivery")
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv_log = logging.getLogger(name)
        uv_log.handlers[:] = [] if name != "uvicorn" else list(ours.handlers)
        uv_log.propagate = name != "uvicorn"
        uv_log.setLevel(level.upper())
    return True


def run(options: ServeOptions) -> int:
    """Serve the API with uvicorn until SIGINT/SIGTERM; returns the exit status.

    On a signal uvicorn stops accepting connections, waits up to :data:`GRACEFUL_SHUTDOWN_S` for requests in
    flight, runs the lifespan shutdown (the worker stops after its current pass), and the database is closed.

    Order of start-up: the port is bound (a busy port fails here, before the database is touched), the
    database's writer lock is taken (a second ``serve`` on the file fails here, naming the holder), the database
    is opened, then the lifespan start-up checks and recovers it while connections wait in the backlog.

    Connections are guarded (:mod:`fooddelivery.server.protocol`): a request head must arrive within
    ``idle_timeout_s`` (and a kept-alive connection is closed after it), a head over :data:`MAX_HEAD_BYTES` gets
    431 (414 when its request line alone is over it), and a request body that stalls for ``body_timeout_s`` gets
    408. ``options.http`` chooses the HTTP parser (httptools by default when installed).

    With ``options.processes`` > 1 this process starts the others once it has checked and recovered the file
    (:mod:`fooddelivery.server.processes`) and, on a signal, stops them with itself.

    Returns:
        0 after a graceful shutdown; uvicorn's non-zero status when it could not start (3 when the start-up
        failed, uvicorn having logged why).

    Raises:
        ServerUnavailable: uvicorn is not installed.
        PortUnavailable: the port cannot be bound (nothing else was done).
        DatabaseInUse: another process serves this database file (the database was not opened).
        InfrastructureError: the database cannot be opened.
        ValueError: ``options.http`` is unknown, or ``"httptools"`` without the package, or ``options.processes``
            is below 1, or above 1 on Windows (nothing was done).
    """
    if options.processes < 1:
        raise ValueError(f"processes must be >= 1, not {options.processes}")
    if options.processes > 1 and os.name != "posix":
        raise ValueError("--processes > 1 needs POSIX (flock and inherited sockets); use 1 here")
    uvicorn = _uvicorn()
    from fooddelivery.server.http_choice import resolve_implementation

    resolve_implementation(options.http)  # an unknown --http (or httptools missing) fails here, before anything starts
    json_logs = configure_logging(options.log_level)
    settings = replace(Settings.from_env(), confirmation_timeout_s=options.confirmation_timeout_s)
    _warn_about_development_tokens(options.host)
    listener = bind_socket(options.host, options.port)
    try:
        bound_port = listener.getsockname()[1]
        url = f"http://{options.host}:{bound_port}"
        server = LocalServer(
            options.db,
            settings=settings,
            demo=options.demo,
            holder={"url": url},
            body_timeout_s=options.body_timeout_s,
            shared_writes=options.processes > 1,
        )
    except BaseException:
        listener.close()
        raise
    siblings = None
    if options.processes > 1:
        from fooddelivery.server.processes import Siblings

        held = server.lock.fileno() if server.lock is not None else None
        siblings = Siblings(options, listener.fileno(), hold=() if held is None else (held,))
        server.processes = siblings.status
        server.app.startup.append(lambda: _start_siblings(server, siblings))
        server.app.shutdown.insert(0, siblings.stop)  # they finish their requests while this process still runs
    log.info("listening on %s (serving once the database is checked and recovered)", url)
    try:
        status = serve_with_uvicorn(uvicorn, server, listener, options, json_logs, on_exit=siblings)
    finally:
        if siblings is not None:
            siblings.stop()
    if status == 0:
        log.info("stopped; database %s closed", options.db)
    return status


def _start_siblings(server: LocalServer, siblings: Siblings) -> None:
    if server.adapters.database.health.integrity == "corrupt":
        log.error("not starting the other %d serve processes: the database is served read-only", siblings.wanted)
        return
    relay = server.boot.service.relay
    relay.foreign_claim_s = relay.claim_ttl_s  # the sweep leaves the others' fresh events to them
    siblings.start()


def serve_with_uvicorn(
    uvicorn: Any,
    server: LocalServer,
    listener: socket.socket,
    options: ServeOptions,
    json_logs: bool,
    *,
    on_exit: Siblings | None = None,
    should_exit: threading.Event | None = None,
) -> int:
    """Serve ``server.app`` on ``listener`` with uvicorn until SIGINT/SIGTERM (or ``should_exit``), then close
    ``server`` and ``listener``; shared by every process of ``serve``.

    Args:
        uvicorn: the module (:func:`_uvicorn`).
        server: the composition to serve (its lifespan hooks run inside).
        listener: a bound, listening socket.
        options: the HTTP options (``http``, timeouts, log level).
        json_logs: whether the logs are JSON (uvicorn must not install its own logging configuration).
        on_exit: the other processes, told to stop as soon as the signal arrives (before this one drains).
        should_exit: set from another thread to shut down gracefully, as on SIGTERM (a sibling's control pipe).

    Returns:
        0 after a graceful shutdown; 1 (or ``128 + signal``) when it could not start or was stopped before.
    """
    from fooddelivery.server.protocol import guarded_protocol, resolve_implementation

    protocol = guarded_protocol(options.idle_timeout_s, MAX_HEAD_BYTES, options.http)
    parser = resolve_implementation(options.http)
    loop_name = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    log.info("HTTP/1.1 parser: %s (--http %s); event loop: %s", parser, options.http, loop_name)
    config = uvicorn.Config(
        server.app,
        log_level=options.log_level,
        log_config=None if json_logs else uvicorn.config.LOGGING_CONFIG,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
        http=protocol,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_keep_alive=max(1, int(options.idle_timeout_s)),
    )

    class _Server(uvicorn.Server):  # type: ignore[misc]
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if on_exit is not None:
                on_exit.signal_stop()  # the others start draining at the same time as this one
            super().handle_exit(sig, frame)

    uv_server = _Server(config)

    def after_graceful_shutdown(sig: int, frame: FrameType | None) -> None:
        # uvicorn handles SIGINT/SIGTERM while it serves, then re-raises the signal to the handler it found
        # (this one) once it has shut down gracefully: return, so the database is closed and the exit is clean.
        # A signal before uvicorn took over ends the process the usual way.
        if not uv_server.should_exit:
            raise SystemExit(128 + sig)

    if should_exit is not None:

        def watch() -> None:
            should_exit.wait()
            uv_server.should_exit = True  # uvicorn's main loop looks at it every 0.1 s

        threading.Thread(target=watch, name="fooddelivery-exit", daemon=True).start()
    previous = {sig: signal.signal(sig, after_graceful_shutdown) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        uv_server.run(sockets=[listener])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.close()
        listener.close()
    return 0 if uv_server.started else 1


def _warn_about_development_tokens(host: str) -> None:
    from fooddelivery.http.auth import DEFAULT_DEV_SECRET, dev_secret

    if dev_secret() == DEFAULT_DEV_SECRET:
        log.warning(
            "development tokens are signed with the public default secret; set FOODDELIVERY_DEV_SECRET "
            "(>= 32 bytes) to keep them yours"
        )
    if host not in ("127.0.0.1", "::1", "localhost"):
        log.warning("listening on %s: anyone who knows the development secret can act as anyone", host)
