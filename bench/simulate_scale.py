"""``fooddelivery simulate`` at scale: wall time, CPU time and peak memory of a whole run, measured by
``/usr/bin/time -v`` (GNU time, Debian's ``time`` package), with the report's own figures next to them.

    .venv/bin/python bench/simulate_scale.py --orders 1000000          # the target: <= 5 min, <= 1 GiB
    .venv/bin/python bench/simulate_scale.py --orders 100000 --no-metering

A benchmark, not a test: it fails only when the run fails or an invariant of its report broke.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: How ``bench/run_all.py`` runs this benchmark (the issue's target: a million orders).
RUN_ALL = {"python": "core", "args": ["--orders", "1000000"], "timeout": 7200}

BIN = Path(sys.executable).parent


def _fooddelivery(*args: str) -> list[str]:
    script = BIN / "fooddelivery"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "fooddelivery.cli", *args]


def _field(text: str, name: str) -> str:
    match = re.search(rf"^\s*{re.escape(name)}: (.*)$", text, flags=re.M)
    return match.group(1).strip() if match else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-metering", action="store_true", help="pass --no-metering to simulate")
    args = parser.parse_args()
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if not Path(gnu_time).exists():
        raise SystemExit("needs GNU time (/usr/bin/time): apt-get install time")
    command = _fooddelivery("simulate", "--orders", str(args.orders), "--seed", str(args.seed), "--format", "json",
                            "--no-progress", *(["--no-metering"] if args.no_metering else []))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        with out.open("wb") as stdout:
            done = subprocess.run([gnu_time, "-v", *command], stdout=stdout, stderr=subprocess.PIPE, check=False)
        timing = done.stderr.decode(errors="replace")
        report = json.loads(out.read_text()) if out.stat().st_size else {}
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    peak_kib = int(_field(timing, "Maximum resident set size (kbytes)") or 0)
    user, system = float(_field(timing, "User time (seconds)")), float(_field(timing, "System time (seconds)"))
    print(f"{' '.join(command[1:])}: exit {done.returncode}")
    print(f"wall {_field(timing, 'Elapsed (wall clock) time (h:mm:ss or m:ss)')}, CPU {user + system:,.1f} s "
          f"(user {user:,.1f} + system {system:,.1f}), peak RSS {peak_kib / 1024:,.0f} MiB "
          f"({peak_kib / 1024 / 1024:.2f} GiB); load average after: {load}")
    if report:
        wall = report["wallClock"]
        print(f"report: placed {report['ordersPlaced']:,}, delivered {report['ordersDelivered']:,}, failed "
              f"{report['ordersFailed']:,} ({report['failuresByReason']}), refunds {report['refunds']['count']:,}; "
              f"loop {wall['loopSeconds']:,.1f} s ({wall['loopCpuSeconds']:,.1f} s CPU), "
              f"{wall['ordersPerSecond']:,.0f} orders/s; world {report['world']['drivers']:,} drivers, "
              f"{report['world']['restaurants']:,} restaurants, {report['world']['customers']:,} customers")
        print(f"invariants: {report['invariants']}")
    print("targets: <= 5 min wall, <= 1 GiB peak RSS")
    if done.returncode != 0:
        raise SystemExit(done.returncode)


if __name__ == "__main__":
    main()
