"""``bench/run_all.py --update``: the results of the benchmarks that did not run are kept, with their own date and
commit, and the ones that ran replace theirs."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import signal
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]

OLD_FORMAT = """# Benchmark results

Written by `python bench/run_all.py`; every figure below is a benchmark's own output, unedited.

- date: 2026-12-07 19:53 UTC
- commit: 42cbf3f
- hyperfine: not installed

| benchmark | interpreter | status | seconds | load before -> after |
|---|---|---|---:|---|
| [alpha](#alpha) | core | ok | 1.5 | 0.10 0.20 0.30 -> 0.40 0.50 0.60 |
| [beta](#beta) | aws | ok | 2.5 | 1.00 1.00 1.00 -> 2.00 2.00 2.00 |

## alpha

`.venv/bin/python bench/alpha.py`

```text
alpha: 12 things/s
## not a heading: a line of alpha's output
- date: not the header's either
```

## beta

`.venv-aws/bin/python bench/beta.py`

```text
beta: 34 ms
```
"""


@pytest.fixture(scope="module")
def run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run_all", ROOT / "bench" / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_an_older_file_keeps_each_row_and_section_with_the_file_date_and_commit(run_all: ModuleType) -> None:
    kept = run_all.read_kept(OLD_FORMAT)

    assert list(kept) == ["alpha", "beta"]
    assert kept["alpha"].row == (
        "| [alpha](#alpha) | core | ok | 1.5 | 2026-12-07 19:53 | 42cbf3f | 0.10 0.20 0.30 -> 0.40 0.50 0.60 |"
    )
    assert kept["beta"].row == (
        "| [beta](#beta) | aws | ok | 2.5 | 2026-12-07 19:53 | 42cbf3f | 1.00 1.00 1.00 -> 2.00 2.00 2.00 |"
    )
    assert kept["alpha"].section.splitlines() == [
        "## alpha",
        "",
        "`.venv/bin/python bench/alpha.py`",
        "",
        "```text",
        "alpha: 12 things/s",
        "## not a heading: a line of alpha's output",
        "- date: not the header's either",
        "```",
    ]
    assert kept["beta"].section.endswith("beta: 34 ms\n```")


def test_a_rerun_replaces_its_own_row_and_section_and_keeps_the_others(run_all: ModuleType) -> None:
    bench = run_all.Bench(ROOT / "bench" / "beta.py", "aws", ("--fast",), 60, declared=True)
    outcome = run_all.Outcome(
        bench,
        command=[".venv-aws/bin/python", "bench/beta.py", "--fast"],
        status="ok",
        exit_code=0,
        seconds=3.25,
        output="beta: 21 ms",
        load_before="0.50 0.50 0.50",
        load_after="0.70 0.60 0.50",
        started="2026-12-08 09:00",
        commit="abc1234",
    )
    started = dt.datetime(2026, 12, 8, 9, 0, tzinfo=dt.UTC)
    text = run_all.render(
        [outcome], started, ["--only", "beta", "--update"], run_all.read_kept(OLD_FORMAT), ["alpha", "beta"]
    )

    lines = text.splitlines()
    assert "- date: 2026-12-08 09:00 UTC" in lines
    assert "- kept from the previous results (`--update`; each with its own run date and commit): alpha" in lines
    table = [line for line in lines if line.startswith("| [")]
    assert table == [
        "| [alpha](#alpha) | core | ok | 1.5 | 2026-12-07 19:53 | 42cbf3f | 0.10 0.20 0.30 -> 0.40 0.50 0.60 |",
        "| [beta](#beta) | aws | ok | 3.2 | 2026-12-08 09:00 | abc1234 | 0.50 0.50 0.50 -> 0.70 0.60 0.50 |",
    ]
    assert "beta: 34 ms" not in text and "beta: 21 ms" in text
    assert "alpha: 12 things/s" in text
    assert text.index("## alpha") < text.index("## beta")
    # what it wrote reads back the same: an update of an update keeps both rows as they are
    again = run_all.read_kept(text)
    assert again["alpha"].row == table[0] and again["beta"].row == table[1]
    assert again["beta"].section.splitlines()[-2:] == ["beta: 21 ms", "```"]


def test_a_file_without_a_table_keeps_nothing(run_all: ModuleType) -> None:
    assert run_all.read_kept("# Benchmark results\n\nnothing ran yet\n") == {}


def test_a_benchmark_stopped_at_its_timeout_stops_what_it_started_first(
    run_all: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as bench/cold_start.py: servers in sessions of their own, stopped by its SIGTERM handler (its ExitStack)
    pid_file = tmp_path / "server.pid"
    script = tmp_path / "bench" / "slow.py"
    script.parent.mkdir()
    script.write_text(
        "import os, signal, subprocess, sys, time\n"
        "server = subprocess.Popen(['sleep', '60'], start_new_session=True)\n"
        "def stop(*_):\n"
        "    os.killpg(server.pid, signal.SIGTERM)\n"
        "    server.wait()\n"
        "    sys.exit(143)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        f"open({str(pid_file)!r}, 'w').write(str(server.pid))\n"
        "print('serving', flush=True)\n"
        "time.sleep(60)\n",
        encoding="utf-8",
    )
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    monkeypatch.setattr(run_all, "INTERPRETERS", {"core": (python, "")})
    monkeypatch.setattr(run_all, "_commit", lambda: "0000000")

    outcome = run_all.run_bench(run_all.Bench(script, "core", (), timeout=2, declared=True))

    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        os.killpg(pid, signal.SIGKILL)
        pytest.fail(f"the benchmark's server (pid {pid}) was left running: it was killed without its SIGTERM")
    assert outcome.status == "timed out"
    assert outcome.output.split() == ["serving", "[stopped", "after", "2", "s]"]
