"""moto server, with DynamoDB requests handled one at a time: ``python moto_serial_server.py -H HOST -p PORT``.

Why: ``moto_server`` serves requests on many threads, and its DynamoDB backend is not safe under concurrency.
Measured with moto 5.2.5 (12 threads racing a conditional ``TransactWriteItems`` on one item, 20 rounds):
two writers both "won" one round, and several requests failed with HTTP 500, because ``transact_write_items``
deep-copies whole tables for its rollback while other threads mutate them, and because a condition check and its
write are not atomic. Real DynamoDB serialises writes per item, so the stand-in must too, or every race test
(driver reservation, order version conflicts) is flaky for the stand-in's sake.

This launcher runs moto's own WSGI application (the same one ``moto_server`` runs) behind one lock that DynamoDB
and DynamoDB Streams requests (``X-Amz-Target: DynamoDB_*``/``DynamoDBStreams_*``) and ``/moto-api`` calls take.
Every other service keeps moto's concurrency, so SQS long polls and Step Functions executions are unaffected.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

_SERIAL_TARGETS = ("DynamoDB_", "DynamoDBStreams_")


class SerializeDynamoDB:
    """WSGI middleware: DynamoDB requests (and moto-api calls) run one at a time."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        path = environ.get("PATH_INFO", "")
        if target.startswith(_SERIAL_TARGETS) or path.startswith("/moto-api"):
            with self._lock:
                return list(self._app(environ, start_response))
        return self._app(environ, start_response)


def main(argv: list[str] | None = None) -> None:
    """Parse ``-H``/``-p`` like ``moto_server`` and serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        SerializeDynamoDB(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
