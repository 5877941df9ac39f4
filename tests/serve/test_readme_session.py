"""The README's "Run the API locally" session, run as written against a live server, so the README stays true.

The test works in a fresh directory holding only a ``.venv`` link to this environment, as a clone's directory
would after *Set up*: it starts the README's ``serve`` command (plus ``--port`` for a free port), then runs the
session block with bash (the base URL pointed at that port; every other character as written) and checks every
``# -> NNN`` the README promises against the HTTP statuses the session printed, in order.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from ._live import ROOT, LiveServer, free_port, server_env

README: Final[str] = (ROOT / "README.md").read_text(encoding="utf-8")
DEFAULT_BASE: Final[str] = "http://127.0.0.1:8000"


def _section() -> str:
    match = re.search(r"^## Run the API locally\n(.*?)(?=^## )", README, flags=re.M | re.S)
    assert match is not None, "README.md has no 'Run the API locally' section"
    return match.group(1)


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", _section(), flags=re.S)


def _commands(block: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def test_the_readme_installs_the_serve_extra_and_serves_the_demo() -> None:
    setup, _session = _bash_blocks()

    assert _commands(setup) == [
        ".venv/bin/pip install -e '.[serve]'",
        ".venv/bin/fooddelivery serve --demo",
    ]
    assert "fooddelivery[serve]" in (ROOT / "src" / "fooddelivery" / "server" / "app.py").read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("python3") is None, reason="needs curl and python3")
def test_the_readme_curl_session_runs_as_written_against_a_live_server(tmp_path: Path) -> None:
    setup, session = _bash_blocks()
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent, target_is_directory=True)
    port = free_port()
    serve = next(c for c in _commands(setup) if " serve" in c)
    server = LiveServer(
        db=tmp_path / "fooddelivery.db",
        port=port,
        log=tmp_path / "serve.log",
        command=(*shlex.split(serve), "--port", str(port)),
    )
    assert DEFAULT_BASE in session
    promised = [int(s) for s in re.findall(r"# -> (\d{3})\b", session)]
    try:
        server.start()
        run = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", session.replace(DEFAULT_BASE, server.url)],
            cwd=tmp_path,
            env=server_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        stopped = server.stop()

    out = run.stdout
    assert run.returncode == 0, f"{run.stderr}\n{out}\n{server.output()}"
    assert [int(s) for s in re.findall(r"^HTTP/1\.1 (\d{3})", out, flags=re.M)] == promised
    assert len(promised) == 8
    assert re.search(r"^location: /orders/ord-", out, flags=re.M | re.I)
    assert '"subtotal":"21.97"' in out
    assert '"status":"CONFIRMED"' in out
    assert "already has a driver" in out
    assert '"driverLocation":{"lat":40.713,"lon":-74.005}' in out
    assert (tmp_path / "fooddelivery.db").exists()  # the README's default --db, in the clone's directory
    assert stopped == 0, server.output()
