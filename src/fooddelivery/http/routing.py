"""A small router: method + path template -> route, with percent-decoded path parameters.

Standard library only. Templates are literal segments and ``{name}`` parameters, one per segment
(``/deliveries/{orderId}/track``). A path names the resource of the most specific template it matches
(a literal segment beats a parameter: ``/restaurants/search`` is never ``/restaurants/{restaurantId}``).
A path that matches no template is a 404; a resource without this method is a 405 with ``Allow``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote

from fooddelivery.http.problems import RequestRejected

__all__ = ["Match", "Router"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Template:
    path: str
    segments: tuple[str, ...]
    params: tuple[int, ...]
    literals: int

    @classmethod
    def parse(cls, path: str) -> _Template:
        if not path.startswith("/"):
            raise ValueError(f"a route template starts with '/': {path!r}")
        segments = tuple(path[1:].split("/"))
        params = tuple(i for i, s in enumerate(segments) if s.startswith("{") and s.endswith("}"))
        return cls(path, segments, params, len(segments) - len(params))

    def match(self, parts: Sequence[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        values: dict[str, str] = {}
        for i, (want, got) in enumerate(zip(self.segments, parts, strict=True)):
            if i in self.params:
                if not got:
                    return None  # an empty parameter ("/orders/") names nothing: no such resource
                values[want[1:-1]] = got
            elif want != got:
                return None
        return values


@dataclass(frozen=True, slots=True)
class Match(Generic[T]):
    """A routed request.

    Attributes:
        route: what was registered for the method and template.
        template: the matched template (``"/orders/{orderId}"``).
        params: decoded path parameters by name.
    """

    route: T
    template: str
    params: dict[str, str]


class Router(Generic[T]):
    """Routes ``(method, raw path)`` to what was registered.

    Example:
        ``router.add("GET", "/orders/{orderId}", handler)`` then ``router.match("GET",
        "/orders/ord%2D1")`` -> ``Match(handler, "/orders/{orderId}", {"orderId": "ord-1"})``.
    """

    def __init__(self) -> None:
        self._routes: list[tuple[_Template, dict[str, T]]] = []

    def add(self, method: str, path: str, route: T) -> None:
        """Register ``route`` for ``method`` on the template ``path``.

        Raises:
            ValueError: the pair is already registered, or the template does not start with ``/``.
        """
        template = _Template.parse(path)
        for existing, methods in self._routes:
            if existing.segments == template.segments:
                if method in methods:
                    raise ValueError(f"{method} {path} is registered twice")
                methods[method] = route
                return
        self._routes.append((template, {method: route}))
        # Most literal segments first: a literal beats a parameter.
        self._routes.sort(key=lambda pair: -pair[0].literals)

    def routes(self) -> list[tuple[str, str, T]]:
        """Every ``(method, template, route)`` in registration order of templates."""
        return [(m, t.path, r) for t, methods in self._routes for m, r in methods.items()]

    def _resource(self, path: str) -> tuple[_Template, dict[str, T], dict[str, str]] | None:
        """The most specific template ``path`` matches (most literal segments), its routes and parameters."""
        parts = _split(path)
        for template, routes in self._routes:  # sorted: most literal segments first
            params = template.match(parts)
            if params is not None:
                return template, routes, params
        return None

    def allowed(self, path: str) -> list[str]:
        """The methods registered for the resource ``path`` names (sorted), ``[]`` when none."""
        found = self._resource(path)
        return sorted(found[1]) if found is not None else []

    def match(self, method: str, path: str) -> Match[T]:
        """The route for ``method`` and the raw ``path``.

        The path names the resource of its most specific template, as OpenAPI matches concrete paths before
        templated ones: ``/restaurants/search`` is that resource (POST only), never the restaurant "search".

        Raises:
            RequestRejected: 404 ``no_route`` when no template matches (including undecodable
                segments), 405 ``method_not_allowed`` with ``Allow`` when the resource exists but not
                with ``method``.
        """
        found = self._resource(path)
        if found is None:
            raise RequestRejected(404, "no_route", "Not found", f"no resource at {_shown(path)}")
        template, routes, params = found
        route = routes.get(method)
        if route is not None:
            return Match(route, template.path, params)
        allow = ", ".join(sorted({*routes, "OPTIONS"}))
        raise RequestRejected(
            405,
            "method_not_allowed",
            "Method not allowed",
            f"{method} is not allowed on {_shown(path)}; allowed: {allow}",
            headers={"Allow": allow},
        )


def _split(path: str) -> list[str]:
    """The path's segments, each percent-decoded once (strict UTF-8); ``[]`` never matches a
    template."""
    if not path.startswith("/"):
        return []
    try:
        return [unquote(s, errors="strict") for s in path[1:].split("/")]
    except UnicodeDecodeError:
        return []


def _shown(path: str) -> str:
    """The path as safe to echo in a message: printable and at most 200 characters."""
    text = path if path.isprintable() else path.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 200 else text[:200] + "..."
