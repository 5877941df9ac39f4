"""One of the extra processes of ``fooddelivery serve --processes N`` (see :mod:`fooddelivery.server.processes`).

Started by the first process (:func:`~fooddelivery.server.processes.sibling_command`: :func:`main` with its import
path) with one argument, CONFIG (the JSON of
:func:`~fooddelivery.server.processes.sibling_config`); not a command for people. It serves the inherited listening
socket with a :class:`~fooddelivery.server.app.LocalServer` built with ``sibling=True`` until SIGINT/SIGTERM or until
the first process closes the control pipe (it stopped, or died).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from dataclasses import replace

from fooddelivery.bootstrap import Settings
from fooddelivery.server.app import (
    LocalServer,
    _uvicorn,
    configure_logging,
    serve_with_uvicorn,
)
from fooddelivery.server.processes import read_config

log = logging.getLogger("fooddelivery.server")


def main() -> int:
    """Serve until told to stop; returns the exit status (0 after a graceful shutdown, 2 on a bad configuration,
    3 when the server could not be built)."""
    try:
        options, listener_fd, control_fd, index = read_config(sys.argv[1:])
    except RuntimeError as exc:
        print(f"fooddelivery.server.sibling: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def watch_control() -> None:
        try:
            while os.read(control_fd, 64):  # nothing is ever written: EOF when the first process closes or dies
                pass
        except OSError:
            pass
        stop.set()

    threading.Thread(target=watch_control, name="fooddelivery-control", daemon=True).start()
    listener = socket.socket(fileno=listener_fd)
    try:
        uvicorn = _uvicorn()
        json_logs = configure_logging(options.log_level)
        settings = replace(Settings.from_env(), confirmation_timeout_s=options.confirmation_timeout_s)
        server = LocalServer(
            options.db,
            settings=settings,
            demo=options.demo,
            body_timeout_s=options.body_timeout_s,
            sibling=True,
            shared_writes=True,
        )
    except Exception as exc:  # reported here; the first process logs the exit and starts another
        log.error("serve process %d could not start: %s: %s", index + 1, type(exc).__name__, exc)
        listener.close()
        return 3
    log.info("serve process %d (pid %d) serving %s", index + 1, os.getpid(), options.db)
    return serve_with_uvicorn(uvicorn, server, listener, options, json_logs, should_exit=stop)


if __name__ == "__main__":
    sys.exit(main())
