"""``serve --http``: which HTTP/1.1 implementation a choice gives, and what a bad choice says."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner

from fooddelivery.cli import main
from fooddelivery.server.protocol import (
    HTTP_IMPLEMENTATIONS,
    GuardedH11Protocol,
    guarded_protocol,
    resolve_implementation,
)

from .conftest import StartServer


def test_auto_is_httptools_when_installed_and_each_choice_gives_its_guarded_protocol() -> None:
    from fooddelivery.server.httptools_protocol import GuardedHttpToolsProtocol

    assert HTTP_IMPLEMENTATIONS == ("auto", "httptools", "h11")
    assert resolve_implementation("auto") == "httptools"  # the dev and serve extras install it
    fast = guarded_protocol(3.0, 1024, "auto")
    assert issubclass(fast, GuardedHttpToolsProtocol)
    assert (fast.idle_timeout_s, fast.max_head_bytes) == (3.0, 1024)  # type: ignore[attr-defined]
    pure = guarded_protocol(3.0, 1024, "h11")
    assert issubclass(pure, GuardedH11Protocol) and not issubclass(pure, GuardedHttpToolsProtocol)


def test_auto_falls_back_to_h11_and_an_explicit_httptools_is_refused_without_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_httptools(name: str, *args: object, **kwargs: object) -> object:
        if name == "httptools":
            raise ImportError("No module named 'httptools'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_httptools)
    assert resolve_implementation("auto") == "h11"
    assert issubclass(guarded_protocol(implementation="auto"), GuardedH11Protocol)
    with pytest.raises(ValueError, match=r"pip install 'fooddelivery\[serve\]'"):
        resolve_implementation("httptools")


def test_an_unknown_implementation_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown HTTP implementation 'http2'"):
        guarded_protocol(implementation="http2")


def test_the_cli_refuses_httptools_when_it_is_missing_before_touching_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "httptools" else real_find_spec(name, *a)
    )
    db = tmp_path / "serve.db"
    result = CliRunner().invoke(main, ["serve", "--db", str(db), "--port", "0", "--http", "httptools"])
    assert result.exit_code == 1
    assert "the httptools HTTP implementation is not installed: pip install 'fooddelivery[serve]'" in result.output
    assert not db.exists()
    bad = CliRunner().invoke(main, ["serve", "--db", str(db), "--http", "http2"])
    assert bad.exit_code == 2 and "'http2' is not one of 'auto', 'httptools', 'h11'" in bad.output


@pytest.mark.parametrize(("http", "parser"), [("auto", "httptools"), ("h11", "h11")])
def test_the_server_says_which_parser_and_event_loop_it_serves_with(
    start_server: StartServer, http: str, parser: str
) -> None:
    server = start_server("--http", http, "--log-level", "info")
    assert server.request("GET", "/health").status == 200
    assert server.stop() == 0
    assert f"HTTP/1.1 parser: {parser} (--http {http}); event loop: uvloop" in server.log.read_text()
