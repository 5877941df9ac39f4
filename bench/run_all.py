"""Run every benchmark in ``bench/`` and write ``bench/results.md`` (date, machine, versions, every output).

::

    python bench/run_all.py                 # every bench/*.py, the settings each declares
    python bench/run_all.py --only cold_start --only saga_throughput
    python bench/run_all.py --out /tmp/results.md
    python bench/run_all.py --only cold_start --update   # rerun one, keep the others' rows and sections


Every ``bench/*.py`` except this file and ``_*.py`` is a benchmark. A benchmark says how the whole suite runs it
with a module-level ``RUN_ALL`` dict (read with ``ast``, never imported): ``"python"`` -- which interpreter:
``"core"`` (``.venv``, the core with its dev extras), ``"aws"`` (``.venv-aws``) or ``"bench"`` (``.venv-bench``,
Python 3.12 with the reference's packages, see ``bench/cold_start.py``) -- ``"args"`` (a list) and ``"timeout"``
(seconds). A script without ``RUN_ALL`` runs with the core interpreter, no arguments and a 10-minute timeout, and
the results say so. A benchmark whose interpreter is missing is listed as skipped, with the command that makes it.
The figures are this machine's, measured while other work may share its two cores: the results record the load
average before and after each benchmark, and the date and commit of each run.

With ``--update``, the benchmarks that do not run (not named by ``--only``, or skipped) keep their row and
section from the existing results file (their own date and commit with them), so one benchmark can be rerun after
a change without rerunning the twenty minutes of the others; every figure is still a benchmark's own output, dated
and attributed to the commit it measured.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime as dt
import itertools
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
BENCH: Final = ROOT / "bench"
INTERPRETERS: Final[Mapping[str, tuple[Path, str]]] = {
    "core": (ROOT / ".venv" / "bin" / "python", "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'"),
    "aws": (
        ROOT / ".venv-aws" / "bin" / "python",
        "python3 -m venv .venv-aws && .venv-aws/bin/pip install -e . -e 'adapters/aws[test,dev]'",
    ),
    "bench": (
        ROOT / ".venv-bench" / "bin" / "python",
        "python3.12 -m venv .venv-bench && .venv-bench/bin/pip install -e . -e adapters/aws aws-lambda-powertools "
        "aws-xray-sdk 'moto[server]'",
    ),
}
#: Packages whose versions the results record, per interpreter (those installed).
PACKAGES: Final[tuple[str, ...]] = (
    "fooddelivery",
    "fooddelivery-aws",
    "pydantic",
    "boto3",
    "botocore",
    "moto",
    "uvicorn",
    "aws-lambda-powertools",
    "aws-xray-sdk",
    "matplotlib",
)
DEFAULT_TIMEOUT: Final[int] = 600
#: Seconds a benchmark stopped at its timeout (or by Ctrl-C) has, after SIGTERM to its process group, to stop what it
#: started (``cold_start.py``'s servers and emulators, in sessions of their own) before the group is killed.
STOP_GRACE_S: Final[int] = 60


@dataclass(frozen=True, slots=True)
class Bench:
    """A benchmark script and how to run it.

    Attributes:
        path: the script.
        python: interpreter key (``core``, ``aws``, ``bench``).
        args: its arguments.
        timeout: seconds before it is stopped.
        declared: whether the script declared ``RUN_ALL``.
    """

    path: Path
    python: str = "core"
    args: tuple[str, ...] = ()
    timeout: int = DEFAULT_TIMEOUT
    declared: bool = False


@dataclass(slots=True)
class Outcome:
    """What one benchmark did."""

    bench: Bench
    command: list[str] = field(default_factory=list)
    status: str = "skipped"
    exit_code: int | None = None
    seconds: float = 0.0
    output: str = ""
    load_before: str = ""
    load_after: str = ""
    started: str = ""
    commit: str = ""


@dataclass(frozen=True, slots=True)
class Kept:
    """A benchmark's row and section kept from an earlier results file (``--update``).

    Attributes:
        name: the benchmark (``bench/<name>.py``).
        row: its table row, in the current table's columns.
        section: its section, from its ``## <name>`` heading to the line before the next one.
    """

    name: str
    row: str
    section: str


def _run_all_settings(path: Path) -> dict[str, Any] | None:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if isinstance(node, ast.AnnAssign):
            target = node.target
        if isinstance(target, ast.Name) and target.id == "RUN_ALL" and node.value is not None:
            value = ast.literal_eval(node.value)
            if not isinstance(value, dict):
                raise ValueError(f"{path.name}: RUN_ALL must be a dict")
            return value
    return None


def discover(only: Sequence[str] = ()) -> list[Bench]:
    """The benchmarks of ``bench/`` (those named in ``only``, when given), by name.

    Raises:
        ValueError: a malformed ``RUN_ALL``, or a name in ``only`` that is no benchmark.
    """
    found: list[Bench] = []
    for path in sorted(BENCH.glob("*.py")):
        if path.name == Path(__file__).name or path.name.startswith("_"):
            continue
        if only and path.stem not in only:
            continue
        settings = _run_all_settings(path)
        if settings is None:
            found.append(Bench(path))
            continue
        python = str(settings.get("python", "core"))
        if python not in INTERPRETERS:
            raise ValueError(f"{path.name}: RUN_ALL python must be one of {sorted(INTERPRETERS)}")
        found.append(
            Bench(
                path,
                python,
                tuple(str(a) for a in settings.get("args", ())),
                int(settings.get("timeout", DEFAULT_TIMEOUT)),
                declared=True,
            )
        )
    missing = sorted(set(only) - {b.path.stem for b in found})
    if missing:
        raise ValueError(f"no benchmark named {missing}")
    return found


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def run_bench(bench: Bench) -> Outcome:
    """Run one benchmark (see the module docstring)."""
    outcome = Outcome(bench)
    python, how = INTERPRETERS[bench.python]
    if not python.exists():
        outcome.output = f"skipped: {python.relative_to(ROOT)} does not exist; make it with:\n  {how}"
        return outcome
    outcome.command = [str(python.relative_to(ROOT)), str(bench.path.relative_to(ROOT)), *bench.args]
    outcome.started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    outcome.commit = _commit()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    outcome.load_before = _load()
    start = time.perf_counter()
    try:
        done = _run_in_own_group([str(python), str(bench.path), *bench.args], env, bench.timeout)
        outcome.exit_code = done.returncode
        outcome.output = (done.stdout + (("\n[stderr]\n" + done.stderr) if done.stderr.strip() else "")).rstrip()
        outcome.status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        outcome.output = out + f"\n[stopped after {bench.timeout} s]"
        outcome.status = "timed out"
    outcome.seconds = time.perf_counter() - start
    outcome.load_after = _load()
    return outcome


def _run_in_own_group(argv: list[str], env: Mapping[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(argv, timeout=timeout, capture_output=True, text=True)`` in a session of its own, but stopped
    (at the timeout, or when this process is interrupted) by SIGTERM to its process group first -- a benchmark's
    handler then stops the servers it started in sessions of their own, which a SIGKILL would leave running -- and
    by SIGKILL to the group only after :data:`STOP_GRACE_S`.

    Raises:
        subprocess.TimeoutExpired: at the timeout, once stopped (with what it printed).
    """
    with subprocess.Popen(
        argv, cwd=ROOT, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                out, err = proc.communicate(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                out, err = proc.communicate()
            if isinstance(exc, subprocess.TimeoutExpired):  # with what it printed, as subprocess.run's
                raise subprocess.TimeoutExpired(argv, timeout, out, err) from None
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _versions(python: Path) -> str:
    if not python.exists():
        return "not installed"
    code = (
        "import sys, importlib.metadata as m\n"
        f"names = {list(PACKAGES)!r}\n"
        "out = []\n"
        "for n in names:\n"
        "    try: out.append(f'{n} {m.version(n)}')\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(sys.version.split()[0] + '; ' + ', '.join(out))\n"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() or done.stderr.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                kib = int(line.split()[1])
                return f"{kib / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _commit() -> str:
    """HEAD's short hash, marked when the tracked files have uncommitted changes."""
    dirty = "+" if _git("status", "--porcelain", "--untracked-files=no") else ""
    return _git("rev-parse", "--short", "HEAD") + dirty


_TABLE_HEAD: Final = "| benchmark | interpreter | status | seconds | run (UTC) | commit | load before -> after |"


def read_kept(text: str) -> dict[str, Kept]:
    """The rows and sections of an earlier results file, by benchmark name.

    ``text`` is a file :func:`render` wrote, in this table's columns or in the older ones without ``run (UTC)`` and
    ``commit`` (those rows get the file's own ``- date:`` and ``- commit:``). Returns an empty mapping for a text with
    no table.
    """
    lines = text.splitlines()
    top = lines[: next((i for i, line in enumerate(lines) if line.startswith("|")), len(lines))]
    header = {k: v for k, _, v in (line[2:].partition(": ") for line in top if line.startswith("- "))}
    date = header.get("date", "").removesuffix(" UTC")
    commit = header.get("commit", "").split(" ", 1)[0]
    rows: dict[str, str] = {}
    table = itertools.takewhile(lambda line: line.startswith("|"), lines[len(top) :])
    for line in table:
        if not line.startswith("| [") or "](#" not in line:  # the heading and its rule
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = cells[0].partition("](")[0].removeprefix("[")
        if len(cells) == 5:  # the older table: no run date and commit of its own
            cells = [*cells[:4], date, commit, cells[4]]
        rows[name] = "| " + " | ".join(cells) + " |"
    sections: dict[str, str] = {}
    current: str | None = None
    fenced = False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        elif line.startswith("## ") and not fenced:  # a heading, not a line of a benchmark's output
            current = line[3:].strip()
            sections[current] = ""
        if current is not None:
            sections[current] += line + "\n"
    return {
        name: Kept(name, row, sections.get(name, f"## {name}\n\n(no section)\n").rstrip("\n"))
        for name, row in rows.items()
    }


def render(
    outcomes: Sequence[Outcome],
    started: dt.datetime,
    argv: Sequence[str],
    kept: Mapping[str, Kept] | None = None,
    order: Sequence[str] = (),
) -> str:
    """The results as Markdown: ``outcomes``, and the ``kept`` rows and sections of the benchmarks that did not run
    (``--update``), in ``order`` (benchmark names; those not named last)."""
    hyperfine = shutil.which("hyperfine")
    hf_version = (
        subprocess.run([hyperfine, "--version"], capture_output=True, text=True, check=False).stdout.strip()
        if hyperfine
        else "not installed"
    )
    dirty = " (with uncommitted changes)" if _git("status", "--porcelain", "--untracked-files=no") else ""
    kept = {k: v for k, v in (kept or {}).items() if k not in {o.bench.path.stem for o in outcomes}}
    entries: list[Outcome | Kept] = [*outcomes, *kept.values()]
    rank = {name: i for i, name in enumerate(order)}
    entries.sort(key=lambda e: rank.get(e.name if isinstance(e, Kept) else e.bench.path.stem, len(rank)))
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{shlex.join(['python', 'bench/run_all.py', *argv])}`; every figure below is a benchmark's own "
        "output, unedited.",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- commit: {_git('rev-parse', '--short', 'HEAD')}{dirty}",
        f"- machine: {platform.system()} {platform.release()} {platform.machine()}; {_cpu_model()}; "
        f"{os.cpu_count()} cores; {_memory()} memory (shared with other work: see each run's load average)",
        f"- hyperfine: {hf_version}",
    ]
    if kept:
        lines.append(
            f"- kept from the previous results (`--update`; each with its own run date and commit): {', '.join(kept)}"
        )
    for key, (python, _) in INTERPRETERS.items():
        lines.append(f"- `{key}` interpreter ({python.relative_to(ROOT)}): {_versions(python)}")
    lines += ["", _TABLE_HEAD, "|---|---|---|---:|---|---|---|"]
    for o in entries:
        if isinstance(o, Kept):
            lines.append(o.row)
            continue
        lines.append(
            f"| [{o.bench.path.stem}](#{o.bench.path.stem.replace('_', '-')}) | {o.bench.python} | {o.status} | "
            f"{o.seconds:.1f} | {o.started} | {o.commit} | {o.load_before} -> {o.load_after} |"
        )
    for o in entries:
        if isinstance(o, Kept):
            lines += ["", o.section]
            continue
        lines += ["", f"## {o.bench.path.stem}", ""]
        if o.command:
            lines.append(f"`{shlex.join(o.command)}`" + ("" if o.bench.declared else " (no RUN_ALL: default run)"))
            lines.append("")
        lines += ["```text", o.output or "(no output)", "```"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point: 0 when every benchmark that ran succeeded, 1 otherwise, 2 for bad options."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python bench/run_all.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="run only this benchmark (repeatable)")
    parser.add_argument("--out", type=Path, default=BENCH / "results.md", help="where to write (bench/results.md)")
    parser.add_argument(
        "--update",
        action="store_true",
        help="keep the rows and sections of the benchmarks that do not run from the existing --out file",
    )
    args = parser.parse_args(args_list)
    try:
        benches = discover(args.only)
        order = [b.path.stem for b in discover()]
    except ValueError as exc:
        print(f"run_all: {exc}", file=sys.stderr)
        return 2
    started = dt.datetime.now(dt.UTC)
    outcomes = []
    for bench in benches:
        print(f"== {bench.path.stem} ({bench.python})", flush=True)
        outcome = run_bench(bench)
        print(f"   {outcome.status} in {outcome.seconds:.1f} s", flush=True)
        outcomes.append(outcome)
    kept = read_kept(args.out.read_text(encoding="utf-8")) if args.update and args.out.exists() else {}
    kept = {name: k for name, k in kept.items() if name in order}  # a benchmark since removed is not kept
    if kept:  # a benchmark that could not run (its interpreter missing) keeps its earlier figures
        outcomes = [o for o in outcomes if o.status != "skipped" or o.bench.path.stem not in kept]
    args.out.write_text(render(outcomes, started, args_list, kept, order), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0 if all(o.status in ("ok", "skipped") for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
