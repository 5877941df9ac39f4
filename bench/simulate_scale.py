"""``fooddelivery simulate`` at scale: wall time, CPU time and peak memory of a whole run, measured by
``/usr/bin/time -v`` (GNU time, Debian's ``time`` package), with the report's own figures next to them.

    .venv/bin/python bench/simulate_scale.py --orders 1000000          # the target: <= 5 min, <= 1 GiB
    .venv/bin/python bench/simulate_scale.py --orders 1000000 --max-seconds 600   # as bench/run_all.py runs it
    .venv/bin/python bench/simulate_scale.py --orders 100000 --no-metering

With ``--max-seconds``, a run still going after that many seconds of wall time is stopped with SIGTERM (sent to
``simulate`` itself, so GNU time still reports its CPU time and peak memory up to then), and the figures say how
far it got (``simulate``'s own "interrupted after N of M orders placed" line). That keeps ``bench/run_all.py``
bounded while the target is not met: a million orders took most of an hour here.

A benchmark, not a test: it fails only when the run fails or an invariant of its report broke.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: How ``bench/run_all.py`` runs this benchmark (the issue's target: a million orders).
RUN_ALL = {"python": "core", "args": ["--orders", "1000000", "--max-seconds", "600"], "timeout": 900}

#: The issue's targets for a million orders.
TARGET_WALL_S = 300.0
TARGET_RSS_GIB = 1.0

BIN = Path(sys.executable).parent


def _fooddelivery(*args: str) -> list[str]:
    script = BIN / "fooddelivery"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "fooddelivery.cli", *args]


def _field(text: str, name: str) -> str:
    match = re.search(rf"^\s*{re.escape(name)}: (.*)$", text, flags=re.M)
    return match.group(1).strip() if match else "?"


def _children(pid: int) -> list[int]:
    """The process ids of ``pid``'s children (Linux ``/proc``)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _wall_seconds(text: str) -> float | None:
    """Seconds of GNU time's ``h:mm:ss`` / ``m:ss.ss`` elapsed field."""
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        return None
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-metering", action="store_true", help="pass --no-metering to simulate")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="stop a run still going after this many seconds of wall time (default: never)")
    args = parser.parse_args()
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if not Path(gnu_time).exists():
        raise SystemExit("needs GNU time (/usr/bin/time): apt-get install time")
    command = _fooddelivery("simulate", "--orders", str(args.orders), "--seed", str(args.seed), "--format", "json",
                            "--no-progress", *(["--no-metering"] if args.no_metering else []))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    stopped = False
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        with out.open("wb") as stdout:
            run = subprocess.Popen([gnu_time, "-v", *command], stdout=stdout, stderr=subprocess.PIPE)
            started = time.monotonic()
            try:
                _, err = run.communicate(timeout=args.max_seconds)
            except subprocess.TimeoutExpired:
                stopped = True
                for child in _children(run.pid):  # simulate itself: GNU time then reports it as it was
                    os.kill(child, signal.SIGTERM)
                _, err = run.communicate(timeout=120)
        elapsed = time.monotonic() - started
        timing = err.decode(errors="replace")
        report = json.loads(out.read_text()) if out.stat().st_size else {}
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    peak_kib = int(_field(timing, "Maximum resident set size (kbytes)") or 0)
    user, system = float(_field(timing, "User time (seconds)")), float(_field(timing, "System time (seconds)"))
    wall_text = _field(timing, "Elapsed (wall clock) time (h:mm:ss or m:ss)")
    wall = _wall_seconds(wall_text) or elapsed
    peak_gib = peak_kib / 1024 / 1024
    print(f"{' '.join(command[1:])}: exit {run.returncode}")
    print(f"wall {wall_text}, CPU {user + system:,.1f} s "
          f"(user {user:,.1f} + system {system:,.1f}), peak RSS {peak_kib / 1024:,.0f} MiB "
          f"({peak_gib:.2f} GiB); load average after: {load}")
    if stopped:
        reached = re.search(r"interrupted after ([\d,]+) of ([\d,]+) orders placed", timing)
        placed = int(reached.group(1).replace(",", "")) if reached else 0
        print(f"stopped after --max-seconds {args.max_seconds:g}: {placed:,} of {args.orders:,} orders placed "
              f"({100.0 * placed / args.orders:.1f} %)")
        if placed:
            print(f"at that pace all {args.orders:,} would take about {wall * args.orders / placed:,.0f} s of wall "
                  f"time (a linear extrapolation, the world's build included)")
    if report:
        loop = report["wallClock"]
        print(f"report: placed {report['ordersPlaced']:,}, delivered {report['ordersDelivered']:,}, failed "
              f"{report['ordersFailed']:,} ({report['failuresByReason']}), refunds {report['refunds']['count']:,}; "
              f"loop {loop['loopSeconds']:,.1f} s ({loop['loopCpuSeconds']:,.1f} s CPU), "
              f"{loop['ordersPerSecond']:,.0f} orders/s; world {report['world']['drivers']:,} drivers, "
              f"{report['world']['restaurants']:,} restaurants, {report['world']['customers']:,} customers")
        print(f"invariants: {report['invariants']}")
    wall_met = not stopped and wall <= TARGET_WALL_S
    wall_verdict = "met" if wall_met else "NOT met" + (" (stopped before the end)" if stopped else "")
    rss_verdict = ("met" if peak_gib <= TARGET_RSS_GIB else "NOT met") + (" up to the stop" if stopped else "")
    print(f"targets for {args.orders:,} orders: <= 5 min wall {wall_verdict}; <= 1 GiB peak RSS {rss_verdict}")
    if not stopped and run.returncode != 0:
        raise SystemExit(run.returncode)


if __name__ == "__main__":
    main()
