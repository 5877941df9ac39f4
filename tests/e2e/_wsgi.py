"""A minimal WSGI adapter of :class:`HttpApi`, so WSGI-based tools (schemathesis) can call the API in process.

Test scaffolding only: ``fooddelivery serve`` and the cloud entrypoints have their own translations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fooddelivery.http import HttpApi, HttpRequest

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def wsgi_app(api: HttpApi) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI application answering every request with ``api.handle``."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = [(key[5:].replace("_", "-"), value) for key, value in environ.items() if key.startswith("HTTP_")]
        for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
            if environ.get(key):
                headers.append((name, environ[key]))
        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        # PATH_INFO is decoded (as latin-1): prefer the raw URI, else encode PATH_INFO back.
        path = raw_uri.split("?", 1)[0] if raw_uri else quote(environ.get("PATH_INFO", "/").encode("latin-1"), safe="/")
        request = HttpRequest.build(
            environ["REQUEST_METHOD"], path, query=environ.get("QUERY_STRING", ""), headers=headers, body=body
        )
        response = api.handle(request)
        phrase = HTTPStatus(response.status).phrase
        start_response(f"{response.status} {phrase}", list(response.headers.items()))
        return [response.body]

    return app
