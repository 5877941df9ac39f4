"""``fooddelivery serve``: the API, the order saga and an in-process event bus on SQLite, served by uvicorn.

- :mod:`fooddelivery.server.app`: :class:`LocalServer` (one process's composition and its recovery after a
  restart) and :func:`run` (uvicorn, graceful shutdown);
- :mod:`fooddelivery.server.worker`: the background thread that delivers saga timers and flushes the outbox;
- :mod:`fooddelivery.server.demo`: the ``--demo`` catalog (``rest-0``..``rest-99`` and drivers near them).

The CLI imports this package only when ``serve`` runs; uvicorn is imported only by :func:`run`.
"""

from fooddelivery.server.app import LOG_LEVELS, LocalServer, Recovery, ServeOptions, ServerUnavailable, run
from fooddelivery.server.demo import DemoCatalog, load_demo_catalog
from fooddelivery.server.worker import BackgroundWorker, Pass

__all__ = [
    "LOG_LEVELS",
    "BackgroundWorker",
    "DemoCatalog",
    "LocalServer",
    "Pass",
    "Recovery",
    "ServeOptions",
    "ServerUnavailable",
    "load_demo_catalog",
    "run",
]
