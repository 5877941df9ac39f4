"""Paired cold-start comparison of two installs of the AWS package (before / after a change), on a loaded machine.

``bench/cold_start.py`` times each command's runs one after another, so on a machine shared with other work a
change in load between two of its runs moves the figures more than a small change of ours. This helper interleaves
instead: for each probe of ``cold_start.py`` (AWS module loaded, first GET /health, first POST /orders against a
moto server it starts), ``--pairs`` pairs of fresh processes, one per interpreter, their order alternating, and
prints each side's median wall and CPU (user + system) time and the median of the paired differences (B - A)::

    git worktree add --detach /tmp/before <commit>     # then a .venv-bench there, as cold_start.py says
    .venv-bench/bin/python bench/_cold_start_ab.py /tmp/before/.venv-bench/bin/python .venv-bench/bin/python

Both interpreters need the packages ``cold_start.py`` lists; the moto server runs in the first one. Not part of
``run_all.py`` (a name starting with ``_``): it compares two installs, it measures none on its own.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cold_start as cs  # this folder is not a package: found through sys.path above


def _run(python: str, argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([python, *argv], env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise cs.BenchError(f"{python} {argv} failed:\n{done.stderr.decode(errors='replace')[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall * 1000, cpu * 1000


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 when the comparison cannot run)."""
    parser = argparse.ArgumentParser(prog="python bench/_cold_start_ab.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="interpreter A (before)")
    parser.add_argument("b", help="interpreter B (after)")
    parser.add_argument("--pairs", type=int, default=20, help="pairs of runs per probe (default 20)")
    args = parser.parse_args(argv)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))} | dict(cs.BASE_ENV)
    moto, endpoint = cs._start_moto(args.a)
    try:
        env = base | {"AWS_ENDPOINT_URL": endpoint} | dict(cs.OUR_ENV)
        setup = subprocess.run(
            [args.a, "-c", cs._SETUP, endpoint], env=env, capture_output=True, text=True, check=False
        )
        if setup.returncode != 0:
            raise cs.BenchError(f"setting up moto failed:\n{setup.stderr[-2000:]}")
        with tempfile.TemporaryDirectory(prefix="cold-start-ab-") as tmp:
            folder = Path(tmp)
            probes = {
                "module loaded": ["-c", cs.answered(f"import {cs.ENTRYPOINTS['AWS']}")],
                "GET /health": [str(cs._write(folder, "health.py", cs.PROBES["ours GET /health"]))],
                "POST /orders": [
                    str(cs._write(folder, "post.py", cs._fill(cs.PROBES["ours POST /orders"], order=cs.OUR_ORDER)))
                ],
            }
            print(f"paired cold starts, {args.pairs} pairs per probe; load average {os.getloadavg()}")
            print(f"A: {args.a}\nB: {args.b}")
            for name, probe in probes.items():
                for python in (args.a, args.b):  # warm-up: bytecode cached, files in the page cache
                    _run(python, probe, env)
                runs: dict[str, list[tuple[float, float]]] = {args.a: [], args.b: []}
                for i in range(args.pairs):
                    for python in (args.a, args.b) if i % 2 == 0 else (args.b, args.a):
                        runs[python].append(_run(python, probe, env))
                a, b = runs[args.a], runs[args.b]
                med = statistics.median
                print(
                    f"  {name:<14} A median {med(w for w, _ in a):7.1f} ms (CPU {med(c for _, c in a):6.1f})   "
                    f"B median {med(w for w, _ in b):7.1f} ms (CPU {med(c for _, c in b):6.1f})   "
                    f"B - A paired median {med(y[0] - x[0] for x, y in zip(a, b, strict=True)):+7.1f} ms "
                    f"(CPU {med(y[1] - x[1] for x, y in zip(a, b, strict=True)):+6.1f})"
                )
            print(f"load average after: {os.getloadavg()}")
    except cs.BenchError as exc:
        print(f"cold_start_ab: {exc}", file=sys.stderr)
        return 2
    finally:
        cs._stop(moto)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
