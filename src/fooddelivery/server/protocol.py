"""uvicorn's HTTP/1.1 protocols (httptools, and h11) with the two guards they lack: a deadline for the request head,
and 414 or 431 for a head over the limit.

uvicorn closes a kept-alive connection after ``timeout_keep_alive`` once a response is sent, but a connection
that never sends a request (or sends its head one byte at a time) is held for ever: 10,000 such connections were
held for 30 s, and about 20,000 exhaust the process's descriptors. And a head larger than h11's buffer is
answered ``400 Invalid HTTP request``, where RFC 6585 section 5 has ``431 Request Header Fields Too Large`` and, when
the request line alone is too long, RFC 9110 section 15.5.15 ``414 URI Too Long`` ("the request-target is longer
than the server is willing to interpret").

:func:`guarded_protocol` returns an ``H11Protocol`` subclass (pass it as ``uvicorn.Config(http=...)``) that

- gives every request head ``idle_timeout_s`` to arrive complete, counted from the moment the connection opens or
  the previous response was sent; past it the connection is closed (with ``408 Request Timeout`` when part of a
  head had arrived, silently when nothing had). A request answered before its body all arrived (413, 401 on an
  oversized body) has the same time for the rest of it and the next head, else it is closed: a byte a second kept
  such a connection open for ever;
- answers a head over ``max_head_bytes`` with ``414`` when its request line (with its line end, after any blank
  lines before it) alone is over the limit, else ``431`` (``application/problem+json`` either way), and closes the
  connection;
- closes a connection whose request is answered before its body was read (``Connection: close`` on a body declared
  over the limit: :class:`fooddelivery.http.asgi.AsgiApp`) lingering -- half-closed, the rest read and dropped for
  :data:`LINGER_S` -- so that a client still writing that body reads its answer instead of a reset.

The request *body* has its own deadline in :class:`fooddelivery.http.asgi.AsgiApp` (``body_timeout_s``): a body
that stalls is answered ``408`` there.

Two implementations, the same guards: :class:`GuardedHttpToolsProtocol` on uvicorn's ``httptools`` protocol
(llhttp, in C: ``serve``'s default when the ``httptools`` package is installed, as the ``serve`` extra does) and
:class:`GuardedH11Protocol` on its pure-Python ``h11`` one. Under the reference's 1,000-user spike the h11 parser and
its event-loop work took about half of the server's GIL time (py-spy ``--gil``, 2026-12-07), which is why httptools
(with uvloop, which uvicorn picks when it is installed) is the default; for what each parser holds, see the README's
*Benchmarks* section (``bench/serve_k6.py``). Choose with :func:`guarded_protocol`'s ``implementation``
(``serve --http``).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any, ClassVar, Final, cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from fooddelivery.server.http_choice import HTTP_IMPLEMENTATIONS, resolve_implementation

__all__ = [
    "DEFAULT_IDLE_TIMEOUT_S",
    "DEFAULT_MAX_HEAD_BYTES",
    "HTTP_IMPLEMENTATIONS",
    "GuardedH11Protocol",
    "guarded_protocol",
    "resolve_implementation",
]

#: Seconds a connection may stay without a complete request head (new, or kept alive after a response).
DEFAULT_IDLE_TIMEOUT_S: Final[float] = 10.0
#: Largest request head (request line + headers) accepted, bytes; h11's own default buffer limit.
DEFAULT_MAX_HEAD_BYTES: Final[int] = 16 * 1024
#: How long the rest of a refused request is read and dropped after the 414 or 431 (or after an answer given before the
#: request's body was read: :class:`_LingeringClose`), seconds: closing a socket with unread
#: input resets the connection, and the client could lose the answer (RFC 9112 section 9.6, "lingering close").
LINGER_S: Final[float] = 2.0
#: What the log line of a refused head names, by status.
_PART: Final[dict[int, str]] = {414: "line", 431: "head"}
#: The blank line ending a head (h11 also accepts bare LF line ends).
_HEAD_END: Final[re.Pattern[bytes]] = re.compile(rb"\r?\n\r?\n")


def _raw_response(status: int, reason: str, body: bytes = b"", content_type: str = "") -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", f"content-length: {len(body)}", "connection: close"]
    if content_type:
        head.append(f"content-type: {content_type}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


def _head_too_large(limit: int, status: int) -> bytes:
    """The problem answer to a head over ``limit`` bytes: ``414`` (its request line alone is over it) or ``431``."""
    if status == 414:
        reason, code, title = "URI Too Long", "uri_too_long", "Request-target too long"
        detail, field = f"the request line must fit in {limit} bytes", "target"
    else:
        reason, code, title = "Request Header Fields Too Large", "header_too_large", "Request header fields too large"
        detail, field = f"the request line and headers must fit in {limit} bytes", "headers"
    problem = {
        "type": f"urn:fooddelivery:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "requestId": uuid.uuid4().hex,
        "errors": [{"field": field, "message": f"must be at most {limit} bytes", "code": "too_large"}],
    }
    body = json.dumps(problem, separators=(",", ":")).encode()
    return _raw_response(status, reason, body, "application/problem+json")


def _request_line_over(pending: bytes, limit: int) -> bool:
    """Whether the request line at the start of ``pending`` (the head so far, unparsed), with its line end, is over
    ``limit`` bytes: no LF within its first ``limit`` bytes (blank lines before it skipped, as the parsers do)."""
    return pending.lstrip(b"\r\n").find(b"\n", 0, limit) < 0


def _send_431_and_linger(
    transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, max_head_bytes: int, status: int = 431
) -> None:
    """Write the 431 (or, ``status=414``, the 414) answer, half-close, and close :data:`LINGER_S` later (reading and
    dropping what still comes)."""
    transport.write(_head_too_large(max_head_bytes, status))
    if transport.can_write_eof():
        transport.write_eof()
        loop.call_later(LINGER_S, transport.close)
    else:  # pragma: no cover - TLS transports cannot half-close
        transport.close()


class _LingeringClose:
    """A guarded protocol's transport as uvicorn uses it (pass it to ``connection_made``), with one change: closing
    it while the request being answered still has body to come (answered before the body was read: a 413, or a 401,
    for a body declared over the limit, sent with ``Connection: close``) half-closes instead, drops what still
    comes, and closes :data:`LINGER_S` later, or when the client closes first.

    A plain close there resets the connection (the kernel answers unread input with RST), and a client still
    writing its body -- most send it right behind the head, without waiting for ``100 Continue`` -- fails with
    "connection reset" instead of reading its answer (RFC 9112 section 9.6, "lingering close"). Every other close,
    and a second close while lingering, is a plain close.

    Args:
        transport: the connection's transport.
        protocol: the guarded protocol: ``_body_unread()`` says whether its request's body is still to come (False
            once it discards input); its ``_discarding`` is set while lingering (its ``data_received`` then drops
            what arrives); its ``loop`` runs the final close.
    """

    def __init__(self, transport: asyncio.Transport, protocol: Any) -> None:
        self._transport = transport
        self._protocol = protocol
        self._lingering = False
        self.write = transport.write  # the hot path, without __getattr__

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        """Whether it is closing (or lingering before its close)."""
        return self._lingering or self._transport.is_closing()

    def close(self) -> None:
        """Close; linger first when the request's body is still coming (see the class docstring)."""
        transport = self._transport
        if (
            self._lingering
            or transport.is_closing()
            or not transport.can_write_eof()
            or not self._protocol._body_unread()
        ):
            transport.close()
            return
        self._lingering = True
        self._protocol._discarding = True
        transport.resume_reading()  # uvicorn stops reading a body the application does not read
        transport.write_eof()
        self._protocol.loop.call_later(LINGER_S, transport.close)


class _HeadDeadline:
    """The head-deadline timer of the guarded protocols: :meth:`_arm_head_deadline` (re)starts it for
    ``idle_timeout_s``; the protocol's ``_head_deadline_passed`` decides what its expiry means."""

    loop: asyncio.AbstractEventLoop
    idle_timeout_s: ClassVar[float]
    _head_timer: asyncio.TimerHandle | None

    def _head_deadline_passed(self) -> None:  # pragma: no cover - every guarded protocol defines it
        raise NotImplementedError

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_timer = self.loop.call_later(self.idle_timeout_s, self._head_deadline_passed)

    def _disarm_head_deadline(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None


class GuardedH11Protocol(_HeadDeadline, H11Protocol):
    """``H11Protocol`` with a request-head deadline and a 414 or 431 for oversized heads (see the module docstring).

    Configure a subclass with :func:`guarded_protocol`; the class attributes are its limits.
    """

    idle_timeout_s: ClassVar[float] = DEFAULT_IDLE_TIMEOUT_S
    max_head_bytes: ClassVar[int] = DEFAULT_MAX_HEAD_BYTES

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the connection, and its first head deadline."""
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes_seen = False
        self._discarding = False
        super().connection_made(cast(asyncio.Transport, _LingeringClose(transport, self)))
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        """Feed ``data`` to h11 unless the head it completes (or the head so far) is over the limit (414 or 431);
        the deadline ends once a whole head has arrived."""
        if self._discarding:  # the rest of a refused request: dropped until the lingering close
            return
        idle = self.conn.their_state is h11.IDLE
        if idle and data:
            self._head_bytes_seen = True
            pending = self.conn.trailing_data[0] + data  # the head so far: at most max_head_bytes + one read
            if self._head_over_limit(pending):
                self._refuse_large_head(pending)
                return
        super().data_received(data)
        if idle and self.conn.their_state is not h11.IDLE:  # a head arrived (not: more body of an answered request)
            self._disarm_head_deadline()

    def on_response_complete(self) -> None:
        """After a response: uvicorn's keep-alive timer, and a new head deadline for the next request; a pipelined
        head already buffered behind this request is measured first (h11 limits only incomplete heads, so a whole
        one that arrived in the same read as the request before it would pass unmeasured) and refused if over the
        limit."""
        if (
            not self.transport.is_closing()
            and self.conn.their_state is h11.DONE
            and self._head_over_limit(self.conn.trailing_data[0])
        ):
            self.server_state.total_requests += 1
            self._refuse_large_head(self.conn.trailing_data[0])
            return
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._head_bytes_seen = False
            self._arm_head_deadline()
        elif not self.transport.is_closing() and self.conn.their_state is h11.SEND_BODY and (
            self.conn.our_state is h11.DONE
        ):
            self._arm_head_deadline()  # answered before its body all arrived: the rest, and the next head, in time

    def connection_lost(self, exc: Exception | None) -> None:
        """End the connection and its deadline."""
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """h11 refused the request: ``414`` or ``431`` when the head outgrew the buffer, uvicorn's ``400`` otherwise."""
        pending, _ = self.conn.trailing_data
        if len(pending) > self.max_head_bytes:
            # a head (their state IDLE) may have a request line over the limit; a trailer section is header fields
            self._refuse_large_head(pending if self.conn.their_state is h11.IDLE else None)
            return
        super().send_400_response(msg)

    def _body_unread(self) -> bool:
        """Whether the request's body is still coming (and not being dropped): see :class:`_LingeringClose`."""
        return not self._discarding and self.conn.their_state is h11.SEND_BODY

    def _head_over_limit(self, pending: bytes) -> bool:
        """Whether the request head at the start of ``pending`` (bytes h11 has not parsed yet) is over
        ``max_head_bytes``: measured up to the end of its blank line when one is found near enough the start to
        decide, else all of ``pending`` counts (the head is not complete yet); blank lines before it are not part of
        it (as the parsers skip them). False when nothing is pending."""
        pending = pending.lstrip(b"\r\n")
        end = _HEAD_END.search(pending, 0, self.max_head_bytes + 5)
        return bool(pending) and (end.end() if end is not None else len(pending)) > self.max_head_bytes

    def _refuse_large_head(self, pending: bytes | None) -> None:
        """Answer 414 (the request line at the start of ``pending``, a head, is alone over the limit) or 431 (None:
        a trailer section), stop writing, drop what still comes for :data:`LINGER_S`, then close."""
        self._disarm_head_deadline()
        if self.transport.is_closing() or self._discarding:
            return
        status = 414 if pending is not None and _request_line_over(pending, self.max_head_bytes) else 431
        self.logger.warning("Request %s over %d bytes: %d", _PART[status], self.max_head_bytes, status)
        self._discarding = True
        _send_431_and_linger(self.transport, self.loop, self.max_head_bytes, status)

    # -- the head deadline -----------------------------------------------------------------------------------
    def _head_deadline_passed(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.SEND_BODY and self.conn.our_state is h11.DONE:  # answered; body still coming
            self.transport.close()
            return
        if self.conn.their_state is not h11.IDLE:
            return
        if self._head_bytes_seen:
            self.transport.write(_raw_response(408, "Request Timeout"))
        self.transport.close()


def guarded_protocol(
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
    implementation: str = "h11",
) -> type[asyncio.Protocol]:
    """A guarded protocol class with these limits, for ``uvicorn.Config(http=...)``.

    Args:
        idle_timeout_s: seconds a connection may stay without a complete request head (> 0).
        max_head_bytes: largest request head accepted, bytes (>= 1).
        implementation: one of :data:`HTTP_IMPLEMENTATIONS` (see :func:`resolve_implementation`; both are defined
            in :mod:`fooddelivery.server.http_choice`, which imports no uvicorn, and re-exported here).

    With ``h11``, pair it with ``uvicorn.Config(h11_max_incomplete_event_size=max_head_bytes,
    timeout_keep_alive=...)``: h11 then stops buffering at the limit and the protocol answers 414 or 431.

    Raises:
        ValueError: a non-positive limit, or an implementation that is unknown or not installed.
    """
    if not idle_timeout_s > 0 or max_head_bytes < 1:
        raise ValueError("idle_timeout_s and max_head_bytes must be positive")
    attributes: dict[str, Any] = {"idle_timeout_s": float(idle_timeout_s), "max_head_bytes": int(max_head_bytes)}
    if resolve_implementation(implementation) == "httptools":
        from fooddelivery.server.httptools_protocol import GuardedHttpToolsProtocol

        return type("ConfiguredGuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), attributes)
    return type("ConfiguredGuardedH11Protocol", (GuardedH11Protocol,), attributes)
