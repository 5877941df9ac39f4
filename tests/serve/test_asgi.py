"""The ASGI translation in process: ASGI messages in, what ``HttpApi.handle`` sees and what goes back out."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

import pytest

from fooddelivery.http import HttpRequest, HttpResponse
from fooddelivery.http.asgi import AsgiApp
from tests.e2e._world import REFERENCE_PAYLOAD, build_world

Message = MutableMapping[str, Any]


class _Recorder:
    """A handler that records the requests it gets (and the thread it ran on) and answers 200 with their size."""

    max_body_bytes = 1000

    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []
        self.threads: list[threading.Thread] = []

    def handle(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        self.threads.append(threading.current_thread())
        return HttpResponse.from_json(200, {"size": len(request.body)}, headers={"X-Seen": request.path})


def _scope(method: str = "GET", path: str = "/health", **extra: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
    }
    scope.update(extra)
    return scope


def _call(app: AsgiApp, scope: dict[str, Any], chunks: Iterable[bytes] = (b"",)) -> tuple[list[Message], int]:
    """Run ``app`` on ``scope`` with the body in ``chunks``; returns what it sent and how many chunks it read."""
    pending = list(chunks)
    sent: list[Message] = []
    read = 0

    async def receive() -> Message:
        nonlocal read
        if read >= len(pending):
            return {"type": "http.disconnect"}
        read += 1
        return {"type": "http.request", "body": pending[read - 1], "more_body": read < len(pending)}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, read


def _response(sent: list[Message]) -> tuple[int, dict[str, str], bytes]:
    start, body = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, body["body"]


def test_the_raw_path_query_string_and_headers_reach_the_api_untouched() -> None:
    recorder = _Recorder()
    scope = _scope(
        path="/orders/ord 1",
        raw_path=b"/orders/ord%201",
        query_string=b"limit=5&cuisine=pizza&cuisine=thai",
        headers=[(b"authorization", b"Bearer t"), (b"x-many", b"a"), (b"x-many", b"b")],
    )

    sent, _ = _call(AsgiApp(recorder), scope)

    (request,) = recorder.requests
    assert request.path == "/orders/ord%201"
    assert request.query == {"limit": ("5",), "cuisine": ("pizza", "thai")}
    assert request.header("Authorization") == "Bearer t"
    assert request.header("X-Many") == "a, b"
    status, headers, body = _response(sent)
    assert (status, headers["x-seen"], json.loads(body)) == (200, "/orders/ord%201", {"size": 0})
    assert headers["content-length"] == str(len(body))


def test_without_a_raw_path_the_decoded_path_is_encoded_back() -> None:
    recorder = _Recorder()

    _call(AsgiApp(recorder), _scope(path="/orders/ord 1", raw_path=None))

    assert recorder.requests[0].path == "/orders/ord%201"


def test_a_body_sent_in_chunks_arrives_whole() -> None:
    recorder = _Recorder()

    _call(AsgiApp(recorder), _scope("POST", "/orders"), [b'{"a":', b" 1", b"}"])

    assert recorder.requests[0].body == b'{"a": 1}'


def test_reading_stops_one_byte_past_the_limit_and_the_api_gets_no_more() -> None:
    recorder = _Recorder()  # limit 1000 bytes
    chunks = [b"x" * 400] * 10

    _, read = _call(AsgiApp(recorder), _scope("POST", "/orders"), chunks)

    assert read == 3  # 1200 bytes seen: the other 2800 are never read
    assert len(recorder.requests[0].body) == 1001


def test_a_body_declared_over_the_limit_is_not_read_and_the_connection_is_closed_after_the_answer() -> None:
    recorder = _Recorder()  # limit 1000 bytes
    declared = _scope("POST", "/orders", headers=[(b"content-length", b"1001")])
    at_limit = _scope("POST", "/orders", headers=[(b"content-length", b"1000")])

    sent, read = _call(AsgiApp(recorder), declared, [b"x" * 1001])
    kept, read_at_limit = _call(AsgiApp(recorder), at_limit, [b"x" * 1000])

    assert read == 0  # nothing received: a server sends "100 Continue" only when the app first reads
    assert len(recorder.requests[0].body) == 1001  # what the API sees when reading stops past the limit
    assert _response(sent)[1]["connection"] == "close"
    assert (read_at_limit, len(recorder.requests[1].body)) == (1, 1000)
    assert "connection" not in _response(kept)[1]


def test_an_oversized_body_gets_the_apis_413_and_its_order_of_checks() -> None:
    world = build_world()
    app = AsgiApp(world.api)
    big = [REFERENCE_PAYLOAD + b" " * (300 * 1024)]
    auth = [(b"authorization", f"Bearer {world.token('customer')}".encode()), (b"content-type", b"application/json")]

    anonymous, _ = _call(app, _scope("POST", "/orders"), big)
    authenticated, _ = _call(app, _scope("POST", "/orders", headers=auth), big)

    assert _response(anonymous)[0] == 401  # credentials are checked before the body
    status, headers, body = _response(authenticated)
    assert (status, headers["content-type"]) == (413, "application/problem+json")
    assert json.loads(body)["status"] == 413
    assert len(world.boot.orders) == 0


def test_the_reference_payload_is_placed_through_the_asgi_app() -> None:
    world = build_world()
    auth = [(b"authorization", f"Bearer {world.token('customer')}".encode()), (b"content-type", b"application/json")]

    sent, _ = _call(AsgiApp(world.api), _scope("POST", "/orders", headers=auth), [REFERENCE_PAYLOAD])

    status, headers, body = _response(sent)
    order = json.loads(body)
    assert status == 201
    assert headers["location"] == f"/orders/{order['orderId']}"
    assert order["pricing"]["subtotal"] == "21.97"


def test_the_api_runs_in_a_worker_thread_not_on_the_event_loop() -> None:
    recorder = _Recorder()

    _call(AsgiApp(recorder), _scope())

    assert recorder.threads[0] is not threading.main_thread()


def test_a_client_gone_before_its_body_arrived_gets_nothing_and_the_api_is_not_called() -> None:
    recorder = _Recorder()

    sent, _ = _call(AsgiApp(recorder), _scope("POST", "/orders"), [])

    assert (sent, recorder.requests) == ([], [])


def test_head_sends_the_headers_without_the_body() -> None:
    sent, _ = _call(AsgiApp(_Recorder()), _scope("HEAD"))

    status, headers, body = _response(sent)
    assert (status, body) == (200, b"")
    assert int(headers["content-length"]) > 0


def test_a_websocket_is_refused() -> None:
    with pytest.raises(RuntimeError, match="websocket"):
        _call(AsgiApp(_Recorder()), {"type": "websocket"})


def _lifespan(app: AsgiApp) -> list[Message]:
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return inbox.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    return sent


def test_lifespan_runs_the_startup_hooks_then_the_shutdown_hooks() -> None:
    ran: list[str] = []
    app = AsgiApp(
        _Recorder(),
        startup=[lambda: ran.append("recover"), lambda: ran.append("worker")],
        shutdown=[lambda: ran.append("stop")],
    )

    sent = _lifespan(app)

    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert ran == ["recover", "worker", "stop"]


def test_a_failing_startup_hook_keeps_the_server_from_starting_and_says_why() -> None:
    def broken() -> None:
        raise OSError("database is locked")

    sent = _lifespan(AsgiApp(_Recorder(), startup=[broken]))

    assert sent == [{"type": "lifespan.startup.failed", "message": "OSError: database is locked"}]


def test_every_shutdown_hook_runs_even_after_one_failed() -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    sent = _lifespan(AsgiApp(_Recorder(), shutdown=[broken, lambda: ran.append("close")]))

    assert sent[-1] == {"type": "lifespan.shutdown.failed", "message": "RuntimeError: boom"}
    assert ran == ["close"]


def test_a_limit_below_one_byte_is_refused() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        AsgiApp(_Recorder(), max_body_bytes=0)
