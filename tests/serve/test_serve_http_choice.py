"""``serve --http``: which HTTP/1.1 implementation a choice gives, and what a bad choice says."""

from __future__ import annotations

import subprocess
import sys
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

from ._live import server_env
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
    monkeypatch.setitem(sys.modules, "httptools", None)  # makes `import httptools` raise ImportError
    db = tmp_path / "serve.db"
    result = CliRunner().invoke(main, ["serve", "--db", str(db), "--port", "0", "--http", "httptools"])
    assert result.exit_code == 1
    assert (
        "Error: cannot serve: the httptools HTTP implementation is not installed: pip install 'fooddelivery[serve]'"
        in result.output
    )
    assert not db.exists()
    bad = CliRunner().invoke(main, ["serve", "--db", str(db), "--http", "http2"])
    assert bad.exit_code == 2 and "'http2' is not one of 'auto', 'httptools', 'h11'" in bad.output


def test_without_the_serve_extra_the_cli_names_httptools_for_it_and_imports_no_uvicorn(tmp_path: Path) -> None:
    db = tmp_path / "serve.db"
    code = (
        "import sys; sys.modules['uvicorn'] = sys.modules['httptools'] = None\n"  # neither imports
        "from fooddelivery.cli import main\n"
        f"main(['serve', '--db', {str(db)!r}, '--port', '0', '--http', 'httptools'])"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], env=server_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 1, run.stderr
    assert run.stderr == (
        "Error: cannot serve: the httptools HTTP implementation is not installed: pip install 'fooddelivery[serve]'\n"
    )
    assert not db.exists()


def test_the_http_choice_module_imports_no_uvicorn_and_protocol_re_exports_it() -> None:
    from fooddelivery.server import http_choice, protocol

    assert protocol.HTTP_IMPLEMENTATIONS is http_choice.HTTP_IMPLEMENTATIONS
    assert protocol.resolve_implementation is http_choice.resolve_implementation
    code = "import sys, fooddelivery.server.http_choice; print(sorted(m for m in sys.modules if 'uvicorn' in m))"
    run = subprocess.run([sys.executable, "-c", code], env=server_env(), capture_output=True, text=True, check=True)
    assert run.stdout == "[]\n"


@pytest.mark.parametrize(("http", "parser"), [("auto", "httptools"), ("h11", "h11")])
def test_the_server_says_which_parser_and_event_loop_it_serves_with(
    start_server: StartServer, http: str, parser: str
) -> None:
    server = start_server("--http", http, "--log-level", "info")
    assert server.request("GET", "/health").status == 200
    assert server.stop() == 0
    assert f"HTTP/1.1 parser: {parser} (--http {http}); event loop: uvloop" in server.log.read_text()
