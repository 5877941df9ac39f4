"""``fooddelivery serve``: the API, the order saga and an in-process event bus on SQLite, served by uvicorn.

- :mod:`fooddelivery.server.app`: :class:`LocalServer` (one process's composition and its recovery after a
  restart) and :func:`run` (uvicorn, graceful shutdown);
- :mod:`fooddelivery.server.worker`: the background thread that delivers saga timers, flushes the outbox and
  checkpoints the WAL, backing off while the store fails;
- :mod:`fooddelivery.server.lock`: one ``serve`` per database file;
- :mod:`fooddelivery.server.processes` and :mod:`fooddelivery.server.sibling`: ``serve --processes N``, one server
  in N processes on one port and one file;
- :mod:`fooddelivery.server.protocol`: uvicorn's HTTP/1.1 protocol with a request-head deadline and 414 / 431;
- :mod:`fooddelivery.server.http_choice`: what a ``--http`` choice resolves to (imports no uvicorn);
- :mod:`fooddelivery.server.demo`: the ``--demo`` catalog (``rest-0``..``rest-99`` and drivers near them).

The CLI imports this package only when ``serve`` runs; uvicorn is imported only by :func:`run`.
"""

from fooddelivery.server.app import (
    LOG_LEVELS,
    LocalServer,
    PortUnavailable,
    Recovery,
    ServeOptions,
    ServerUnavailable,
    bind_socket,
    run,
)
from fooddelivery.server.demo import DemoCatalog, load_demo_catalog
from fooddelivery.server.lock import DatabaseInUse, DatabaseLock
from fooddelivery.server.worker import BackgroundWorker, Outage, Pass

__all__ = [
    "LOG_LEVELS",
    "BackgroundWorker",
    "DatabaseInUse",
    "DatabaseLock",
    "DemoCatalog",
    "LocalServer",
    "Outage",
    "Pass",
    "PortUnavailable",
    "Recovery",
    "ServeOptions",
    "ServerUnavailable",
    "bind_socket",
    "load_demo_catalog",
    "run",
]
