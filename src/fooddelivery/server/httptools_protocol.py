"""uvicorn's ``httptools`` HTTP/1.1 protocol with ``serve``'s two guards: a deadline for the request head, and 414
or 431 for a head over the limit (the same behaviour as
:class:`fooddelivery.server.protocol.GuardedH11Protocol`; see that module's docstring for why).

Imported only when ``serve`` uses httptools (:func:`fooddelivery.server.protocol.guarded_protocol`), since it needs
the ``httptools`` package.

How the head is measured: llhttp (httptools' parser) has no limit of its own and buffers a header until it ends, so the
bytes of a head are counted as they arrive, before the parser sees them: a head over ``max_head_bytes`` (request line,
headers and the blank line that ends them) is answered as soon as its bytes pass the limit, however it is split into
reads: 414 when the request line's end (its LF) had not come within the limit, else 431. A pipelined request whose head
begins in the same read as the end of the request before it is measured again from its parsed parts once they are
complete: method, target and version with the request line's two spaces and CRLF, each header as ``name: value`` and
CRLF, and the blank line (the bytes of a head written that way; extra spaces before a header value are not counted, and
llhttp does not keep them). Every other head is measured that way too, without the spaces after the colons, as a safety
net under the count (which skips blank lines before a request line, as llhttp does); there the request line is method,
target and version with its two spaces and CRLF.

The trailer section of a chunked body is buffered like a head (httptools joins a field's pieces until it ends), so
it has the same limit: counted from the read after the last chunk's size line, one over ``max_head_bytes`` is
answered 431 in place of its request's answer (as h11 does), or closes the connection if that answer has begun.
Unguarded, one client streaming a trailer field grew the process by 75 MiB in 6 s and held every other request
for seconds while the field was joined (h11 stops at 16 KiB).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fooddelivery.server.protocol import (
    _HEAD_END,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_MAX_HEAD_BYTES,
    _HeadDeadline,
    _LingeringClose,
    _raw_response,
    _send_431_and_linger,
)

__all__ = ["GuardedHttpToolsProtocol"]


class GuardedHttpToolsProtocol(_HeadDeadline, HttpToolsProtocol):
    """``HttpToolsProtocol`` with a request-head deadline and a 414 or 431 for oversized heads.

    Configure a subclass with :func:`fooddelivery.server.protocol.guarded_protocol`; the class attributes are its
    limits.
    """

    idle_timeout_s: ClassVar[float] = DEFAULT_IDLE_TIMEOUT_S
    max_head_bytes: ClassVar[int] = DEFAULT_MAX_HEAD_BYTES

    _in_head: bool
    _head_bytes: int
    _line_bytes: int | None
    _line_before: int
    _refusal_status: int
    _head_tail: bytes
    _head_bytes_seen: bool
    _parsed_head: int
    _parsed_headers: int
    _read_counted: bool
    _head_counted: bool
    _discarding: bool
    _refusal_waits: bool
    _invalid: str | None
    _trailer_bytes: int | None
    _chunks: int

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the connection, and its first head deadline."""
        self._head_timer: asyncio.TimerHandle | None = None
        self._discarding = False
        self._refusal_waits = False
        self._refusal_status = 431
        self._invalid = None
        self._trailer_bytes = None
        self._chunks = 0
        self._begin_head()
        super().connection_made(cast(asyncio.Transport, _LingeringClose(transport, self)))
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        """Count the bytes of a head in progress (414 or 431 past the limit), then hand ``data`` to the parser."""
        if self._discarding:  # the rest of a refused request: dropped until the lingering close
            return
        if self._in_head and data:
            self._head_bytes_seen = True
            # a head that began uncounted, in the read that ended the request before it: its request line so far
            begun = not self._head_counted and self._head_bytes == 0
            if begun:
                self._line_before = len(self.parser.get_method()) + 1 + len(self.url) if self.url else 0
            # llhttp skips blank lines first (not within a head begun)
            counted = data.lstrip(b"\r\n") if self._head_bytes == 0 and self._head_counted else data
            pending = self._head_tail + counted
            end = _HEAD_END.search(pending)
            size = self._head_bytes + (end.end() - len(self._head_tail) if end is not None else len(counted))
            if self._line_bytes is None and (line_end := counted.find(b"\n")) >= 0:
                # the request line with its line end (of a head begun, the version's bytes before this read are
                # not known: a few bytes short at most)
                self._line_bytes = self._line_before + self._head_bytes + line_end + 1
            if size > self.max_head_bytes:
                line = self._line_bytes
                self._refuse_large_head(status=414 if line is None or line > self.max_head_bytes else 431)
                return
            self._head_bytes = size
            self._head_tail = pending[-3:]
        self._read_counted = self._in_head  # until a request ends in this read: what follows it is not counted
        trailer, chunks = self._trailer_bytes, self._chunks
        super().data_received(data)
        if trailer is not None and self._trailer_bytes is not None and self._chunks == chunks:  # all trailer section
            self._trailer_bytes = trailer + len(data)
            if self._trailer_bytes > self.max_head_bytes:
                self._refuse_large_trailers()

    # -- parser callbacks ------------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        """A request begins: its parsed head is measured from here (and checked once complete, unless its bytes
        were all counted as they arrived)."""
        self._parsed_head = 0
        self._parsed_headers = 0
        self._head_counted = self._read_counted
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count a header (``name:value`` and its line end, and the usual space apart)."""
        self._parsed_head += len(name) + len(value) + 3
        self._parsed_headers += 1
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """The head is complete: its deadline ends; a head measured over the limit is answered 414 (its request line
        alone is over it) or 431."""
        self._in_head = False
        self._disarm_head_deadline()
        if self._discarding:
            return
        line = len(self.parser.get_method()) + len(self.url) + len(b"HTTP/1.1") + 4
        least = line + self._parsed_head + 2
        # a head counted as it arrived is checked again with the fewest bytes it can have been (a safety net); one
        # that began uncounted, with a space after each header's colon, as clients write them
        if (least if self._head_counted else least + self._parsed_headers) > self.max_head_bytes:
            self._refuse_large_head(status=414 if line > self.max_head_bytes else 431)
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Pass the body on, unless the request was refused."""
        self._trailer_bytes = None
        if self._discarding:
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        """The request is complete: what follows on the connection is the next head."""
        self._trailer_bytes = None
        if self._discarding:
            return
        super().on_message_complete()
        self._begin_head()
        self._read_counted = False

    def on_chunk_header(self) -> None:
        """A chunk of a chunked body begins: until its data (none for the last chunk), what arrives is a trailer
        section, which llhttp buffers like a header: its bytes are counted (431 past ``max_head_bytes``)."""
        self._chunks += 1
        self._trailer_bytes = 0

    def on_chunk_complete(self) -> None:
        """A chunk (and the trailer section, after the last) ended."""
        self._trailer_bytes = None

    def on_response_complete(self) -> None:
        """After a response: uvicorn's keep-alive timer, and a new head deadline for the next request (or the 431
        of a refused head, or the 400 of an invalid request, that waited for this answer)."""
        super().on_response_complete()
        if self._refusal_waits:
            if not self.pipeline and (self.cycle is None or self.cycle.response_complete or self.cycle.disconnected):
                self._write_refusal()
            return
        if not self.transport.is_closing() and self._in_head and not self.pipeline:
            self._head_bytes_seen = self._head_bytes > 0
            self._arm_head_deadline()
        elif not self.transport.is_closing() and self.cycle is not None and self.cycle.response_complete and (
            self.cycle.more_body and not self.pipeline
        ):
            self._arm_head_deadline()  # answered before its body all arrived: the rest, and the next head, in time

    def send_400_response(self, msg: str) -> None:
        """llhttp refused the request: uvicorn's 400, after the answers of the complete requests before it (uvicorn
        writes it at once, closing the connection before they are answered)."""
        cycle = self.cycle
        if cycle is not None and cycle.more_body and self.pipeline and self.pipeline[0][0] is cycle:
            cycle.disconnected = True  # the broken one is queued behind others: its application answers nothing
        if self.pipeline or (cycle is not None and not cycle.more_body and not cycle.response_complete):
            self._disarm_head_deadline()
            self._discarding = True  # the parser stopped at the error: what follows is dropped
            self._invalid = msg
            self._refusal_waits = True  # written by on_response_complete once the earlier requests are answered
            return
        super().send_400_response(msg)

    def connection_lost(self, exc: Exception | None) -> None:
        """End the connection and its deadline."""
        self._disarm_head_deadline()
        super().connection_lost(exc)

    # -- the guards ------------------------------------------------------------------------------------------
    def _body_unread(self) -> bool:
        """Whether the request's body is still coming (and not being dropped): see
        :class:`fooddelivery.server.protocol._LingeringClose`."""
        return not self._discarding and self.cycle is not None and self.cycle.more_body

    def _begin_head(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._line_bytes = None
        self._line_before = 0
        self._head_tail = b""
        self._head_bytes_seen = False
        self._parsed_head = 0
        self._parsed_headers = 0
        self._head_counted = True

    def _refuse_large_head(self, part: str = "head", status: int = 431) -> None:
        """Answer ``status`` (431, or 414 for a request line alone over the limit; after the answers of the
        requests before it, which pipelining keeps in order), stop reading, drop what still comes for
        :data:`fooddelivery.server.protocol.LINGER_S`, then close."""
        self._disarm_head_deadline()
        if self.transport.is_closing() or self._discarding:
            return
        if status == 414:
            part = "line"
        self.logger.warning("Request %s over %d bytes: %d", part, self.max_head_bytes, status)
        self._discarding = True
        self._refusal_status = status
        cycle = self.cycle
        if self.pipeline or (cycle is not None and not (cycle.response_complete or cycle.disconnected)):
            self._refusal_waits = True  # written by on_response_complete once the earlier requests are answered
            return
        self._write_refusal()

    def _refuse_large_trailers(self) -> None:
        """A trailer section over ``max_head_bytes``: 431 in place of the request's answer (its application sees
        the client gone), or, when the answer has begun, the connection is closed."""
        cycle = self.cycle
        if cycle.response_started:
            self.logger.warning("Request trailer section over %d bytes: connection closed", self.max_head_bytes)
            self._discarding = True
            self.transport.close()
            return
        cycle.disconnected = True
        cycle.message_event.set()
        self._refuse_large_head("trailer section")

    def _write_refusal(self) -> None:
        self._refusal_waits = False
        if self.transport.is_closing():
            return
        if self._invalid is not None:
            super().send_400_response(self._invalid)
            return
        _send_431_and_linger(self.transport, self.loop, self.max_head_bytes, self._refusal_status)

    def _head_deadline_passed(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if not self._in_head:  # still the body of a request answered before it all arrived: closed
            if self.cycle is not None and self.cycle.response_complete:
                self.transport.close()
            return
        if self._head_bytes_seen:
            self.transport.write(_raw_response(408, "Request Timeout"))
        self.transport.close()
