"""The provider-neutral request and response every cloud entrypoint translates to and from.

Standard library only: building a request costs nothing at import time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

__all__ = ["Headers", "HttpRequest", "HttpResponse"]


class Headers(Mapping[str, str]):
    """Case-insensitive, immutable HTTP headers.

    Names are compared case-insensitively and iterated in lower case. A name given more than once
    (as pairs) is folded into one value joined with ``", "``, as RFC 9110 section 5.3 allows.

    Args:
        source: a mapping or an iterable of ``(name, value)`` pairs; None for no headers.
    """

    __slots__ = ("_items",)

    def __init__(self, source: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        items: dict[str, str] = {}
        pairs = source.items() if isinstance(source, Mapping) else (source or ())
        for name, value in pairs:
            key = str(name).lower()
            items[key] = f"{items[key]}, {value}" if key in items else str(value)
        self._items = items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        shown = {k: ("<redacted>" if k in ("authorization", "cookie") else v) for k, v in self._items.items()}
        return f"Headers({shown!r})"


def _query(source: str | Mapping[str, str | Iterable[str]] | None) -> dict[str, tuple[str, ...]]:
    if source is None:
        return {}
    if isinstance(source, str):
        parsed = parse_qs(source.lstrip("?"), keep_blank_values=True)
        return {k: tuple(v) for k, v in parsed.items()}
    return {k: (v,) if isinstance(v, str) else tuple(v) for k, v in source.items()}


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request, as every cloud entrypoint hands it to
    :class:`~fooddelivery.http.api.HttpApi`.

    Attributes:
        method: the method in upper case (``"POST"``).
        path: the path as sent on the wire, percent-encoded, without query string
            (``"/orders/ord-1"``); each segment is decoded once by the router.
        query: the query string as a multi-dict: name -> every value in order.
        headers: case-insensitive headers.
        body: the raw body bytes (``b""`` for none).
        claims: claims a trusted gateway already verified (API Gateway authorizer context, and its
            Azure and Google equivalents), or None. Cloud adapters fill it only from the platform's
            verified context, never from client headers.
    """

    method: str
    path: str
    query: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    claims: Mapping[str, Any] | None = None

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        *,
        query: str | Mapping[str, str | Iterable[str]] | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: bytes | str | None = None,
        json_body: Any = None,
        claims: Mapping[str, Any] | None = None,
    ) -> HttpRequest:
        """A request from loose parts (what cloud adapters and tests usually have).

        Args:
            method: any case; stored upper-cased.
            path: the raw path; a ``?query`` suffix is split off into ``query`` when ``query`` is
                None.
            query: a raw query string (``"limit=5&cuisine=pizza"``) or a mapping of name ->
                value(s).
            headers: header mapping or pairs.
            body: raw body; ``str`` is encoded as UTF-8.
            json_body: a value to send as JSON instead of ``body`` (sets ``Content-Type:
                application/json`` unless given).
            claims: gateway-verified claims.
        """
        if query is None and "?" in path:
            path, _, raw_query = path.partition("?")
            query = raw_query
        header_obj = Headers(headers)
        if json_body is not None:
            body = json.dumps(json_body, default=str).encode()
            if "content-type" not in header_obj:
                header_obj = Headers([*header_obj.items(), ("content-type", "application/json")])
        raw = body.encode() if isinstance(body, str) else (body or b"")
        return cls(method.upper(), path, _query(query), header_obj, raw, claims)

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None."""
        return self.headers.get(name)


@dataclass(slots=True)
class HttpResponse:
    """One HTTP response, which each cloud entrypoint translates into its platform's shape.

    Attributes:
        status: the status code.
        headers: response headers (names as written, e.g. ``"Content-Type"``).
        body: the body bytes (UTF-8 JSON for every route of this API).
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def from_json(
        cls,
        status: int,
        data: Any,
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> HttpResponse:
        """A JSON response with ``data`` serialized compactly as UTF-8.

        Text UTF-8 cannot encode (a lone surrogate a client sent, echoed in a problem) is written as a JSON
        ``\\uXXXX`` escape instead of failing.

        Args:
            status: the status code.
            data: a JSON-ready value (``dict``/``list``/``str``/numbers/None).
            headers: extra headers.
            content_type: the media type (``application/problem+json`` for problems).
        """
        try:
            body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        except UnicodeEncodeError:
            body = json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode()
        return cls.from_json_bytes(status, body, headers=headers, content_type=content_type)

    @classmethod
    def from_json_bytes(
        cls,
        status: int,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> HttpResponse:
        """A response whose body is already-serialized JSON bytes."""
        return cls(status, {"Content-Type": content_type, **(headers or {})}, body)

    def header(self, name: str) -> str | None:
        """The value of response header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def json(self) -> Any:
        """The body parsed as JSON (money is always a decimal string, so floats here are coordinates), or
        None when empty.
        """
        if not self.body:
            return None
        return json.loads(self.body)
