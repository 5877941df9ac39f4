"""``fooddelivery serve``: the HTTP API, the order saga and an in-process event bus on one SQLite file.

:class:`LocalServer` is the composition of one server process:

- every port on SQLite (``fooddelivery.adapters.sqlite.open_sqlite_adapters``: orders + outbox, restaurants,
  drivers, saga state, timers, notifications, locations, the published-event log and the fake card processor's
  ledger), a real-time :class:`~fooddelivery.adapters.system.SystemClock` and uuid ids, through
  :func:`~fooddelivery.bootstrap.bootstrap`;
- :class:`~fooddelivery.http.HttpApi` with a :class:`~fooddelivery.http.DevAuthenticator` (HS256 tokens signed
  with ``FOODDELIVERY_DEV_SECRET``, or the public development default; ``fooddelivery token`` prints them);
- :class:`~fooddelivery.http.asgi.AsgiApp` in front of it, whose lifespan start-up runs :meth:`LocalServer.start`
  (demo catalog, recovery, the background worker) before the server binds its port, and whose shutdown stops
  the worker;
- a :class:`~fooddelivery.server.worker.BackgroundWorker` thread for saga timers and the outbox.

Recovery after a restart (:meth:`LocalServer.recover`), before the first request is accepted:

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

import logging
import os
import signal
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.adapters.memory import OperationCounters
from fooddelivery.adapters.sqlite import SqliteAdapters, open_sqlite_adapters
from fooddelivery.adapters.system import SystemClock
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.ports.auth import Authenticator
from fooddelivery.ports.clock import Clock
from fooddelivery.server.worker import BackgroundWorker, Pass

if TYPE_CHECKING:
    from fooddelivery.http.api import HttpApi
    from fooddelivery.http.asgi import AsgiApp
    from fooddelivery.server.demo import DemoCatalog

__all__ = ["LOG_LEVELS", "LocalServer", "Recovery", "ServeOptions", "ServerUnavailable", "run"]

log = logging.getLogger("fooddelivery.server")

#: The ``--log-level`` choices (uvicorn's names).
LOG_LEVELS: Final[tuple[str, ...]] = ("critical", "error", "warning", "info", "debug")
#: Seconds uvicorn waits for in-flight requests on shutdown.
GRACEFUL_SHUTDOWN_S: Final[int] = 10


class ServerUnavailable(RuntimeError):
    """The ASGI server (uvicorn, the ``serve`` extra) is not installed."""


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
    """

    db: Path
    host: str = "127.0.0.1"
    port: int = 8000
    demo: bool = False
    confirmation_timeout_s: float = 300.0
    log_level: str = "info"


@dataclass(frozen=True, slots=True)
class Recovery:
    """What start-up found and did.

    Attributes:
        events_published: outbox events left by the previous process, published now.
        sagas_resumed: sagas left RUNNING, driven on.
        sagas_failed: sagas that could not be resumed (the worker retries them).
        timers_delivered: timers that fell due while the server was down, delivered now.
        timers_pending: timers still waiting (their due times are kept across the restart).
    """

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
        demo: load the demo catalog on :meth:`start`.
        clock: the clock (real time by default).
        authenticator: the request authenticator (``DevAuthenticator()`` by default: ``FOODDELIVERY_DEV_SECRET``
            or the public development secret).
        poll_s: the worker's longest sleep (seconds).

    Raises:
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
    ) -> None:
        from fooddelivery.http.api import HttpApi
        from fooddelivery.http.asgi import AsgiApp

        self.demo = demo
        self.clock = clock or SystemClock()
        self.counters = OperationCounters()
        self.adapters: SqliteAdapters = open_sqlite_adapters(db, counters=self.counters, clock=self.clock)
        try:
            self.boot: Bootstrapped = bootstrap(
                settings or Settings.from_env(), clock=self.clock, counters=self.counters, **self.adapters.ports()
            )
            if authenticator is None:
                from fooddelivery.http.auth import DevAuthenticator

                authenticator = DevAuthenticator(clock=self.clock)
            self.api: HttpApi = HttpApi(self.boot.service, authenticator)
            self.worker = BackgroundWorker(
                self.boot.service, self.adapters.scheduler, self.adapters.sagas, poll_s=poll_s
            )
            self.app: AsgiApp = AsgiApp(self.api, startup=[self.start], shutdown=[self.stop])
        except BaseException:
            self.adapters.close()
            raise
        self.catalog: DemoCatalog | None = None
        self.recovery: Recovery | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> Recovery:
        """Load the demo catalog (if asked), recover what the previous process left, start the worker.

        Returns:
            What recovery did.

        Raises:
            InfrastructureError: the database failed (the server does not start).
        """
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
        self.recovery = self.recover()
        self.worker.start()
        return self.recovery

    def recover(self) -> Recovery:
        """Resume the work a previous process left in the database (see the module docstring).

        Call before any request is served and before the worker starts.

        Returns:
            What was found and done.

        Raises:
            InfrastructureError: the outbox or the saga store cannot be read.
        """
        published = self.boot.service.pump()
        resumed, failed = self.worker.resume_stuck(timedelta(0))
        first: Pass = self.worker.run_once(sweep=False)
        recovery = Recovery(
            events_published=published + first.events_published,
            sagas_resumed=resumed,
            sagas_failed=failed,
            timers_delivered=first.timers_delivered,
            timers_pending=self.adapters.scheduler.pending_count,
        )
        log.info(
            "recovered: %d outbox events published, %d running sagas resumed (%d failed), %d overdue timers "
            "delivered, %d timers pending",
            recovery.events_published,
            recovery.sagas_resumed,
            recovery.sagas_failed,
            recovery.timers_delivered,
            recovery.timers_pending,
        )
        return recovery

    def stop(self) -> None:
        """Stop the worker (after its current pass). Idempotent."""
        self.worker.stop()

    def close(self) -> None:
        """Stop the worker and close the database. Idempotent."""
        self.stop()
        self.adapters.close()

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


def configure_logging(level: str, uvicorn: Any = None) -> None:
    """Send the ``fooddelivery`` loggers to standard error at ``level``, formatted like uvicorn's own lines.

    Args:
        level: one of :data:`LOG_LEVELS`.
        uvicorn: the uvicorn module, for its formatter (plain ``logging`` formatting without it).
    """
    handler = logging.StreamHandler()
    fmt = "%(levelprefix)s %(name)s: %(message)s"
    formatter = getattr(getattr(uvicorn, "logging", None), "DefaultFormatter", None)
    handler.setFormatter(formatter(fmt) if formatter else logging.Formatter("%(levelname)s: %(name)s: %(message)s"))
    root = logging.getLogger("fooddelivery")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def run(options: ServeOptions) -> int:
    """Serve the API with uvicorn until SIGINT/SIGTERM; returns the exit status.

    On a signal uvicorn stops accepting connections, waits up to :data:`GRACEFUL_SHUTDOWN_S` for requests in
    flight, runs the lifespan shutdown (the worker stops after its current pass), and the database is closed.

    Returns:
        0 after a graceful shutdown; uvicorn's non-zero status when it could not start (3 when the start-up
        failed or the port could not be bound, uvicorn having logged why).

    Raises:
        ServerUnavailable: uvicorn is not installed.
        InfrastructureError: the database cannot be opened.
    """
    uvicorn = _uvicorn()
    configure_logging(options.log_level, uvicorn)
    settings = replace(Settings.from_env(), confirmation_timeout_s=options.confirmation_timeout_s)
    _warn_about_development_tokens(options.host)
    server = LocalServer(options.db, settings=settings, demo=options.demo)
    config = uvicorn.Config(
        server.app,
        host=options.host,
        port=options.port,
        log_level=options.log_level,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
    )
    uv_server = uvicorn.Server(config)

    def after_graceful_shutdown(sig: int, frame: FrameType | None) -> None:
        # uvicorn handles SIGINT/SIGTERM while it serves, then re-raises the signal to the handler it found
        # (this one) once it has shut down gracefully: return, so the database is closed and the exit is clean.
        # A signal before uvicorn took over ends the process the usual way.
        if not uv_server.should_exit:
            raise SystemExit(128 + sig)

    previous = {sig: signal.signal(sig, after_graceful_shutdown) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        uv_server.run()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.close()
    if not uv_server.started:
        return 1
    log.info("stopped; database %s closed", options.db)
    return 0


def _warn_about_development_tokens(host: str) -> None:
    from fooddelivery.http.auth import DEFAULT_DEV_SECRET, dev_secret

    if dev_secret() == DEFAULT_DEV_SECRET:
        log.warning(
            "development tokens are signed with the public default secret; set FOODDELIVERY_DEV_SECRET "
            "(>= 32 bytes) to keep them yours"
        )
    if host not in ("127.0.0.1", "::1", "localhost"):
        log.warning("listening on %s: anyone who knows the development secret can act as anyone", host)
