"""A minimal ASGI 3 application in front of :class:`~fooddelivery.http.api.HttpApi`.

No web framework: ASGI's ``scope``/``receive``/``send`` are translated to an
:class:`~fooddelivery.http.messages.HttpRequest` and back from the
:class:`~fooddelivery.http.messages.HttpResponse`, and the synchronous ``handle`` runs in a worker thread
(``asyncio.to_thread``) so the event loop never blocks on the use cases or the database. Any ASGI 3 server
can run it; ``fooddelivery serve`` uses uvicorn::

    app = AsgiApp(HttpApi(service, DevAuthenticator()), startup=[recover], shutdown=[worker.stop])
    uvicorn.run(app, host="127.0.0.1", port=8000)

What it translates (ASGI 3.0 HTTP and lifespan specifications, https://asgi.readthedocs.io/en/latest/specs/):

- the path as sent on the wire (``scope["raw_path"]``, still percent-encoded; the router decodes each segment
  once), else ``scope["path"]`` encoded back;
- the raw query string; headers (names lower-cased by the server; repeated names folded into one value);
- the body, read from ``http.request`` messages with the API's limit (256 KB by default) enforced *while
  reading*: once the limit is passed it stops reading and hands the API ``limit + 1`` bytes, so the API answers
  413 in its usual order of checks (an unauthenticated oversized request still gets its 401) and memory stays
  bounded whatever the client sends. A request whose ``Content-Length`` already says it is over the limit is
  answered without reading its body at all, with ``Connection: close``: a client waiting on ``Expect:
  100-continue`` gets the final answer instead of a ``100 Continue`` that would make it send a body to be refused
  (RFC 9110 section 10.1.1: a server that answers before reading the content says whether it closes);
- with ``body_timeout_s``, a body that stalls (no chunk for that long) is answered ``408 Request Timeout`` with
  ``Connection: close``, so a client that declares 100 bytes and sends 2 cannot hold its connection;
- the lifespan protocol: ``startup`` and ``shutdown`` hooks (synchronous callables, run in a worker thread);
  a failing startup hook makes the server refuse to start, with the error as the message.

Standard library only (and :mod:`fooddelivery.http.problems`, itself standard library only): importing this
module loads neither pydantic nor a server.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final, Protocol
from urllib.parse import quote

from fooddelivery.http.messages import HttpRequest, HttpResponse
from fooddelivery.http.problems import RequestRejected, problem_response

__all__ = ["AsgiApp", "Receive", "Scope", "Send"]

log = logging.getLogger("fooddelivery.http.asgi")

#: An ASGI connection scope.
Scope = MutableMapping[str, Any]
#: The ASGI ``receive`` callable.
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
#: The ASGI ``send`` callable.
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_DEFAULT_MAX_BODY: Final[int] = 256 * 1024


class _Handler(Protocol):
    """What :class:`AsgiApp` serves: :class:`~fooddelivery.http.api.HttpApi` or anything shaped like it."""

    def handle(self, request: HttpRequest) -> HttpResponse: ...


class _Disconnected(Exception):
    """The client went away before its body was read."""


class _BodyTimeout(Exception):
    """The client stopped sending its body."""


class AsgiApp:
    """An ASGI 3 application answering every HTTP request with ``api.handle`` in a worker thread.

    Args:
        api: the provider-neutral API (:class:`~fooddelivery.http.api.HttpApi`).
        max_body_bytes: the body limit enforced while reading; ``api.max_body_bytes`` when the API has one,
            else 256 KB. Reading stops one byte past it.
        startup: callables run, in order, on ``lifespan.startup`` (in a worker thread); if one raises, the
            server is told ``lifespan.startup.failed`` and does not serve.
        shutdown: callables run, in order, on ``lifespan.shutdown``; every one runs even if an earlier one
            raised (the first error is reported as ``lifespan.shutdown.failed``).
        body_timeout_s: longest wait for the next chunk of a request body, seconds; then ``408`` and the
            connection is closed. None waits as long as the server lets it.

    Raises:
        ValueError: a ``max_body_bytes`` below 1, or a non-positive ``body_timeout_s``.
    """

    def __init__(
        self,
        api: _Handler,
        *,
        max_body_bytes: int | None = None,
        startup: Iterable[Callable[[], object]] = (),
        shutdown: Iterable[Callable[[], object]] = (),
        body_timeout_s: float | None = None,
    ) -> None:
        limit = max_body_bytes if max_body_bytes is not None else getattr(api, "max_body_bytes", _DEFAULT_MAX_BODY)
        if not isinstance(limit, int) or limit < 1:
            raise ValueError(f"max_body_bytes must be a positive integer, got {limit!r}")
        self.api = api
        self.max_body_bytes = limit
        self.startup = list(startup)
        self.shutdown = list(shutdown)
        if body_timeout_s is not None and not body_timeout_s > 0:
            raise ValueError(f"body_timeout_s must be positive, got {body_timeout_s!r}")
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI 3 entry point (``http`` and ``lifespan`` scopes; others are refused).

        Raises:
            RuntimeError: a scope type this application does not speak (``websocket``).
        """
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            raise RuntimeError(f"unsupported ASGI scope type {kind!r}")

    # -- HTTP ----------------------------------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _declared_length(scope)
        unread = declared is not None and declared > self.max_body_bytes
        if unread:
            # over the limit by its own account: not read (no "100 Continue" is sent for it); the API sees one byte
            # more than the limit, as when reading stops there, so its checks and its 413 are the usual ones
            body = bytes(self.max_body_bytes + 1)
        else:
            try:
                body = await self._read_body(receive)
            except _Disconnected:
                return
            except _BodyTimeout:
                await send_response(send, self._body_timeout_response(scope), head=scope.get("method") == "HEAD")
                return
        request = to_request(scope, body)
        response = await asyncio.to_thread(self.api.handle, request)
        if unread:
            # the body is still on the wire: this connection ends here (a copy: the API may answer with a shared one)
            response = HttpResponse(response.status, {**response.headers, "Connection": "close"}, response.body)
        await send_response(send, response, head=scope.get("method") == "HEAD")

    async def _read_body(self, receive: Receive) -> bytes:
        """The body, at most ``max_body_bytes + 1`` bytes of it (reading stops there)."""
        limit = self.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            if self.body_timeout_s is None:
                message = await receive()
            else:
                try:
                    async with asyncio.timeout(self.body_timeout_s):  # no extra task, unlike wait_for
                        message = await receive()
                except TimeoutError:
                    raise _BodyTimeout from None
            kind = message["type"]
            if kind == "http.disconnect":
                raise _Disconnected
            if kind != "http.request":  # pragma: no cover - not sent by a conforming server
                continue
            chunk: bytes = message.get("body", b"")
            if chunk:
                room = limit + 1 - size
                chunks.append(chunk[:room])
                size += min(len(chunk), room)
                if size > limit:
                    return b"".join(chunks)  # over the limit: stop reading, the API answers 413
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _body_timeout_response(self, scope: Scope) -> HttpResponse:
        rejected = RequestRejected(
            408,
            "body_timeout",
            "Request timeout",
            f"the request body stalled: no data for {self.body_timeout_s:g} s",
            headers={"Connection": "close"},
        )
        raw_path = scope.get("raw_path")
        instance = bytes(raw_path).decode("latin-1").split("?", 1)[0] if raw_path else None
        request_id = uuid.uuid4().hex
        log.info("request %s: body stalled for %.1f s; answered 408", request_id, self.body_timeout_s)
        response = problem_response(rejected, request_id, instance)
        response.headers["X-Request-Id"] = request_id
        return response

    # -- lifespan ------------------------------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "lifespan.startup":
                try:
                    for hook in self.startup:
                        await asyncio.to_thread(hook)
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                failure: Exception | None = None
                for hook in self.shutdown:
                    try:
                        await asyncio.to_thread(hook)
                    except Exception as exc:
                        log.exception("shutdown hook failed")
                        failure = failure or exc
                if failure is not None:
                    message_text = f"{type(failure).__name__}: {failure}"
                    await send({"type": "lifespan.shutdown.failed", "message": message_text})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                return


def to_request(scope: Scope, body: bytes) -> HttpRequest:
    """The neutral request of an ASGI ``http`` scope.

    Args:
        scope: the ASGI HTTP connection scope.
        body: the request body already read.

    Returns:
        The request with the raw (percent-encoded) path, the raw query string parsed as a multi-dict,
        case-insensitive headers (decoded as latin-1, as HTTP/1.1 allows) and the body; never any gateway
        claims (a local server has no trusted gateway in front of it).
    """
    raw_path = scope.get("raw_path")
    if raw_path:
        path = bytes(raw_path).decode("latin-1").split("?", 1)[0]
    else:
        path = quote(str(scope.get("path") or "/").encode("utf-8"), safe="/:@!$&'()*+,;=-._~")
    query = bytes(scope.get("query_string") or b"").decode("latin-1")
    headers = [(bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in scope.get("headers") or ()]
    return HttpRequest.build(str(scope.get("method", "GET")), path, query=query, headers=headers, body=body)


def _declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length`` in bytes, or None when it has none (a chunked request without one) or
    one that is not a plain decimal (the parser refuses those before the app sees them). A chunked request that
    also declares a length is taken by that length: httptools refuses it with 400, h11 passes both headers, so one
    declaring more than the limit gets 413 and ``Connection: close`` (RFC 9112 section 6.1 allows refusing such a
    request, and requires closing the connection after it)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = bytes(value).strip()
            return int(text) if text.isdigit() else None
    return None


async def send_response(send: Send, response: HttpResponse, *, head: bool = False) -> None:
    """Send ``response`` as ``http.response.start`` + one ``http.response.body``.

    Args:
        send: the ASGI ``send`` callable.
        response: the neutral response; a ``Content-Length`` is added for its body.
        head: send the headers only (a ``HEAD`` request).
    """
    headers = [
        (name.lower().encode("latin-1", "replace"), value.encode("latin-1", "replace"))
        for name, value in response.headers.items()
        if name.lower() != "content-length"
    ]
    if response.status not in (204, 304):
        headers.append((b"content-length", str(len(response.body)).encode("ascii")))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    body = b"" if head or response.status in (204, 304) else response.body
    await send({"type": "http.response.body", "body": body, "more_body": False})
