"""``scripts/trace_tree.py`` (the README's way to see one order's trace) runs and prints the order's trace as a tree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "trace_tree.py"


def test_the_trace_tree_script_prints_one_orders_trace_from_post_orders_to_its_confirmation() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, check=False)

    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert lines[0].startswith("order ord-") and ": trace " in lines[0]
    assert lines[1].startswith("POST /orders [server] ")  # the root, not indented
    tree = {line.strip().split(" [")[0]: len(line) - len(line.lstrip()) for line in lines[1:]}
    assert tree["use_case place_order"] == 2
    assert tree["process OrderPlaced"] == 4
    for step in ("ValidateOrder", "ProcessPayment", "NotifyRestaurant", "AssignDriver", "NotifyCustomer"):
        assert tree[f"saga {step}"] == 6, step
    assert tree["payments.capture"] == 8 and tree["drivers.save"] == 8
    confirm = next(line for line in lines if line.strip().startswith("saga ConfirmOrder"))
    assert "(links: use_case confirm_order)" in confirm


def _shape(lines: list[str]) -> list[tuple[int, str]]:
    """Each span line as (indent, name and kind), without the ids and durations that change from run to run."""
    return [(len(line) - len(line.lstrip()), re.sub(r" [0-9.]+ ms", "", line.strip())) for line in lines]


def test_the_readmes_sample_has_the_tree_the_script_prints() -> None:
    readme = (SCRIPT.parents[1] / "README.md").read_text(encoding="utf-8")
    start = readme.index("```text\norder ord-") + len("```text\n")
    sample = readme[start : readme.index("```", start)].splitlines()
    run = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    printed = run.stdout.splitlines()

    assert sample[0].split(", ")[-1] == printed[0].split(", ")[-1]  # "21 spans"
    assert _shape(sample[1:]) == _shape(printed[1:])
