"""Where a cold process's first POST /orders goes before any request: the CPU time of each import and client
construction, in order, in a fresh interpreter per run (the imports and clients of ``bench/cold_start.py``'s POST
probes, without the network calls).

Prints, per cloud, the median over ``--runs`` fresh interpreters of each step's CPU time (``time.process_time``,
milliseconds; a step's figure depends on what the steps before it imported: the order is the probes'), and the
sum. A cloud whose interpreter lacks its packages is left out with a line saying so.

Usage (the interpreters default to this clone's ``.venv-bench``, ``.venv-azure`` and ``.venv-gcp``)::

    python bench/cold_start_steps.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: How ``bench/run_all.py`` runs this benchmark (it starts each cloud's own interpreter itself).
RUN_ALL = {"python": "core", "args": ["--runs", "5"], "timeout": 300}

#: The environment each cloud's probe runs with (what a deployment sets; no account, no network needed here).
_ENV = {
    "AWS": {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true"},
    "Azure": {},
    "Google Cloud": {"FIRESTORE_EMULATOR_HOST": "127.0.0.1:1", "PUBSUB_EMULATOR_HOST": "127.0.0.1:1",
                     "GOOGLE_CLOUD_PROJECT": "bench"},
}

#: (label, statement) per cloud, in the order the POST probe imports and builds them.
STEPS: dict[str, list[tuple[str, str]]] = {
    "AWS": [
        ("pydantic (BaseModel)", "from pydantic import BaseModel"),
        ("core use cases and domain", "import fooddelivery.application.services"),
        ("HTTP models", "import fooddelivery.http.models"),
        ("botocore (import)", "import botocore.session"),
        ("DynamoDB client", "botocore.session.get_session().create_client('dynamodb', region_name='us-east-1')"),
    ],
    "Azure": [
        ("azure.functions (the platform's)", "import azure.functions"),
        ("pydantic (BaseModel)", "from pydantic import BaseModel"),
        ("core use cases and domain", "import fooddelivery.application.services"),
        ("HTTP models", "import fooddelivery.http.models"),
        ("azure.cosmos (import)", "import azure.cosmos"),
    ],
    "Google Cloud": [
        ("functions_framework (the platform's)", "import functions_framework"),
        ("pydantic (BaseModel)", "from pydantic import BaseModel"),
        ("core use cases and domain", "import fooddelivery.application.services"),
        ("HTTP models", "import fooddelivery.http.models"),
        ("google.cloud.firestore (import)", "import google.cloud.firestore"),
        ("google.cloud.pubsub_v1 (import)", "import google.cloud.pubsub_v1"),
    ],
}

_PROGRAM = """
import json, sys, time
out = []
for label, statement in json.loads(sys.argv[1]):
    start = time.process_time()
    exec(statement, globals())
    out.append(1000 * (time.process_time() - start))
print(json.dumps(out))
"""


def measure(python: str, cloud: str, runs: int) -> list[float]:
    """Median CPU milliseconds of each of ``STEPS[cloud]`` over ``runs`` fresh interpreters.

    Raises:
        RuntimeError: the interpreter failed (the last line of its standard error in the message).
    """
    env = {**os.environ, **_ENV[cloud], "PYTHONDONTWRITEBYTECODE": "1"}
    samples: list[list[float]] = []
    for _ in range(runs):
        done = subprocess.run([python, "-c", _PROGRAM, json.dumps(STEPS[cloud])], capture_output=True, text=True,
                              env=env, cwd=ROOT, check=False, timeout=120)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"exit status {done.returncode}")
        samples.append(json.loads(done.stdout))
    return [statistics.median(column) for column in zip(*samples, strict=True)]


def main(argv: list[str] | None = None) -> int:
    """Print each cloud's step table; returns the exit status (0)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per cloud (default 5)")
    defaults = {"AWS": ".venv-bench", "Azure": ".venv-azure", "Google Cloud": ".venv-gcp"}
    for cloud, venv in defaults.items():
        flag = "--" + cloud.lower().replace(" ", "-").replace("google-cloud", "gcp") + "-python"
        parser.add_argument(flag, dest=cloud, default=str(ROOT / venv / "bin" / "python"),
                            help=f"interpreter with the {cloud} package (default {venv} of this clone)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    for cloud, steps in STEPS.items():
        python = getattr(args, cloud)
        print(f"{cloud} ({python}), median CPU ms of {args.runs} fresh interpreters:")
        if not Path(python).exists():
            print("  left out: no such interpreter")
            continue
        try:
            medians = measure(python, cloud, args.runs)
        except RuntimeError as exc:
            print(f"  left out: {exc}")
            continue
        for (label, _), ms in zip(steps, medians, strict=True):
            print(f"  {label:<40} {ms:7.1f}")
        print(f"  {'sum':<40} {sum(medians):7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
