"""Cold start on AWS Lambda, as far as it can be measured here: process start to the HTTP entrypoint loaded.

Side by side, in one run and one interpreter:

- **ours**: ``python -c "import fooddelivery_aws.entrypoints.http"`` (falls back to the core's HTTP layer,
  ``fooddelivery.http.api``, and says so, while the entrypoint module does not exist);
- **reference**: the reference design's order service (``functions/order-service/app.py`` in
  ``../shared/reference/``), extracted at run time into a temporary folder, with only its compile error patched
  (``MetricUnit.None`` -> ``MetricUnit.NoUnit``; ``None`` is a keyword). It builds its boto3 resources, Powertools
  Logger/Tracer/Metrics and resolver at import, so importing it is its cold start. Its code is never written
  anywhere else.
- **interpreter**: ``python -c pass``, the floor both sit on.

Each is a fresh process, run ``--runs`` times after ``--warmup`` runs (so both have their bytecode cached, as a
deployment that ships ``.pyc`` files would): with ``hyperfine`` when installed (``apt-get install -y hyperfine``),
else interleaved ``subprocess`` runs timed with ``time.perf_counter``. It prints each median and the ratio
ours / reference (target <= 0.5). A second line for ours, ``ours + first request``, adds what our cold start
defers to the first invocation (building the application from the AWS settings and answering ``GET /health``
through the real handler; no AWS call is made, so boto3 is not even imported).

This script installs nothing. The reference needs boto3, Powertools and the X-Ray SDK next to our packages::

    python3.12 -m venv .venv-bench        # the Lambda runtime's version (3.11 works too)
    .venv-bench/bin/pip install -e . -e adapters/aws aws-lambda-powertools aws-xray-sdk
    .venv-bench/bin/python bench/aws_cold_start.py --runs 20

Environment given to every run: the variables the reference reads (``ORDERS_TABLE``, ``RESTAURANTS_TABLE``,
``EVENT_BUS``), a region, Powertools' service name and namespace, and no credentials (nothing here calls AWS).
Outside Lambda, Powertools' Tracer disables itself, which flatters the reference a little.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
REFERENCE: Final = ROOT.parent / "shared" / "reference" / "000_d5207dfdec717999.txt"
ENTRYPOINT: Final = "fooddelivery_aws.entrypoints.http"
FALLBACK: Final = "fooddelivery.http.api"
TARGET_RATIO: Final = 0.5
_BLOCK: Final = re.compile(r"Create `functions/order-service/app\.py`:\s*```python\n(.*?)\n```", re.DOTALL)
#: The environment of every measured process (the reference reads its three variables at import).
BENCH_ENV: Final[Mapping[str, str]] = {
    "ORDERS_TABLE": "food-delivery-orders-bench",
    "RESTAURANTS_TABLE": "food-delivery-restaurants-bench",
    "EVENT_BUS": "food-delivery-events-bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "order-service",
    "POWERTOOLS_METRICS_NAMESPACE": "FoodDelivery",
}
#: What our first invocation needs: the settings ``fooddelivery_aws.settings`` reads (dummy names: no AWS call).
FIRST_REQUEST_ENV: Final[Mapping[str, str]] = {
    "ORDERS_TABLE": "orders",
    "RESTAURANTS_TABLE": "restaurants",
    "DRIVERS_TABLE": "drivers",
    "SAGAS_TABLE": "sagas",
    "EVENT_BUS_NAME": "bus",
    "SAGA_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/saga.fifo",
    "TIMER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/timers",
    "NOTIFICATIONS_TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:notifications",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:alerts",
    "LOCATION_STREAM_NAME": "locations",
}
_FIRST_REQUEST: Final = (
    "from fooddelivery_aws.entrypoints.http import handler; "
    "r = handler({'httpMethod': 'GET', 'path': '/health', 'headers': {}, 'requestContext': {'stage': 'prod'}}); "
    "assert r['statusCode'] == 200, r"
)


class BenchError(Exception):
    """The benchmark cannot run as asked (a missing package, no reference code)."""


@dataclass(frozen=True, slots=True)
class Timing:
    """Wall-clock times of one command's runs.

    Attributes:
        name: what was run.
        seconds: each run's duration.
    """

    name: str
    seconds: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        """The median, in milliseconds."""
        return statistics.median(self.seconds) * 1000

    def line(self) -> str:
        """Median, mean, min and standard deviation in ms."""
        ms = [s * 1000 for s in self.seconds]
        spread = statistics.stdev(ms) if len(ms) > 1 else 0.0
        return (
            f"{self.name:<22} median {self.median_ms:8.1f} ms   mean {statistics.fmean(ms):8.1f}   "
            f"min {min(ms):8.1f}   sd {spread:6.1f}   (n={len(ms)})"
        )


def extract_reference(text: str) -> str:
    """The reference's ``functions/order-service/app.py``, with ``MetricUnit.None`` patched to ``MetricUnit.NoUnit``.

    Raises:
        BenchError: the code block is not there, or the patch does not apply exactly once.
    """
    match = _BLOCK.search(text)
    if match is None:
        raise BenchError("no `functions/order-service/app.py` code block in the reference")
    code = match.group(1)
    patched, count = re.subn(r"\bMetricUnit\.None\b", "MetricUnit.NoUnit", code)
    if count != 1:
        raise BenchError(f"expected one MetricUnit.None to patch, found {count}")
    compile(patched, "app.py", "exec")  # the patch is the only change, and it suffices
    return patched


def _has_module(python: str, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    return subprocess.run([python, "-c", code], capture_output=True, check=False).returncode == 0


def _commands(python: str, reference_dir: Path, ours: str) -> dict[str, list[str]]:
    reference_code = f"import sys; sys.path.insert(0, {str(reference_dir)!r}); import app"
    return {
        "interpreter": [python, "-c", "pass"],
        "ours": [python, "-c", f"import {ours}"],
        "reference": [python, "-c", reference_code],
    }


def _hyperfine(commands: Mapping[str, list[str]], env: Mapping[str, str], runs: int, warmup: int) -> list[Timing]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hyperfine.json"
        argv = ["hyperfine", "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs)]
        argv += ["--export-json", str(out)]
        for name, command in commands.items():
            argv += ["--command-name", name, shlex.join(command)]
        done = subprocess.run(argv, env=dict(env), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BenchError(f"hyperfine failed:\n{done.stderr or done.stdout}")
        results = json.loads(out.read_text(encoding="utf-8"))["results"]
    return [Timing(r["command"], tuple(r["times"])) for r in results]


def _interleaved(commands: Mapping[str, list[str]], env: Mapping[str, str], runs: int, warmup: int) -> list[Timing]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(warmup + runs):
        for name, command in commands.items():
            start = time.perf_counter()
            done = subprocess.run(command, env=dict(env), capture_output=True, check=False)
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                raise BenchError(f"{name} failed:\n{done.stderr.decode(errors='replace')}")
            if i >= warmup:
                times[name].append(elapsed)
    return [Timing(name, tuple(values)) for name, values in times.items()]


def _check_runs(commands: Mapping[str, list[str]], env: Mapping[str, str]) -> None:
    for name, command in commands.items():
        done = subprocess.run(command, env=dict(env), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BenchError(f"{name} does not run ({shlex.join(command)}):\n{done.stderr.strip()}")


def run(python: str, runs: int, warmup: int, use_hyperfine: bool) -> int:
    """Measure and print (see the module docstring); returns the exit status.

    Raises:
        BenchError: a package is missing from ``python``'s environment, or the reference cannot be extracted.
    """
    ours = ENTRYPOINT if _has_module(python, ENTRYPOINT) else FALLBACK
    missing = [m for m in (ours, "boto3", "aws_lambda_powertools", "aws_xray_sdk") if not _has_module(python, m)]
    if missing:
        raise BenchError(
            f"{python} lacks {', '.join(missing)}; install into a bench venv:\n"
            "  .venv-bench/bin/pip install -e . -e adapters/aws aws-lambda-powertools aws-xray-sdk"
        )
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env = {**base_env, **BENCH_ENV}
    version = subprocess.run([python, "-VV"], capture_output=True, text=True, check=False).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="reference-order-service-") as tmp:
        reference_dir = Path(tmp)
        (reference_dir / "app.py").write_text(extract_reference(REFERENCE.read_text(encoding="utf-8")))
        commands = _commands(python, reference_dir, ours)
        first_request = {"ours + first request": [python, "-c", _FIRST_REQUEST]} if ours == ENTRYPOINT else {}
        first_env = {**env, **FIRST_REQUEST_ENV}
        _check_runs(commands, env)
        _check_runs(first_request, first_env)
        tool = "hyperfine" if use_hyperfine and shutil.which("hyperfine") else "perf_counter"
        measure = _hyperfine if tool == "hyperfine" else _interleaved
        timings = {t.name: t for t in measure(commands, env, runs, warmup)}
        extra = {t.name: t for t in measure(first_request, first_env, runs, warmup)} if first_request else {}
    print(f"cold start: process start -> module loaded ({tool}, {runs} runs after {warmup} warm-up runs)")
    print(f"python: {python} ({version})")
    print(f"ours: {ours}" + ("" if ours == ENTRYPOINT else f"  ({ENTRYPOINT} not found: measured the core HTTP layer)"))
    print("reference: functions/order-service/app.py of the reference design (MetricUnit.None patched)")
    for timing in (*timings.values(), *extra.values()):
        print("  " + timing.line())
    floor = timings["interpreter"].median_ms
    ours_ms, reference_ms = timings["ours"].median_ms, timings["reference"].median_ms
    ratio = ours_ms / reference_ms
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"ratio ours/reference (medians): {ratio:.3f}  -> {verdict} the target <= {TARGET_RATIO}")
    print(f"above the bare interpreter: ours {ours_ms - floor:.1f} ms, reference {reference_ms - floor:.1f} ms")
    if extra:
        first_ms = extra["ours + first request"].median_ms
        print(
            f"ours including the first request: {first_ms:.1f} ms"
            f" = {first_ms / reference_ms:.3f} x the reference import"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 when the benchmark cannot run)."""
    parser = argparse.ArgumentParser(prog="python bench/aws_cold_start.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="measured runs per command (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured runs first (default 3)")
    parser.add_argument("--python", default=sys.executable, help="interpreter to measure (default: this one)")
    parser.add_argument("--no-hyperfine", action="store_true", help="time with perf_counter even if hyperfine exists")
    args = parser.parse_args(argv)
    try:
        return run(args.python, args.runs, args.warmup, not args.no_hyperfine)
    except BenchError as exc:
        print(f"aws_cold_start: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
