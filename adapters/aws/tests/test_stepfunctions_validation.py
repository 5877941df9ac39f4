"""The generated state machines pass asl-validator (npm), which also rejects a broken one (so the check bites).

Install once: ``npm install --prefix adapters/aws/node asl-validator``. Without node or the package these tests
fail loudly instead of skipping: the ASL would otherwise reach CloudFormation unvalidated.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fooddelivery_aws.stepfunctions import generate

ROOT = Path(__file__).resolve().parents[3]
VALIDATOR = ROOT / "adapters/aws/node/node_modules/.bin/asl-validator"
MACHINES = [
    ROOT / "deploy/aws/statemachine/order-saga.asl.json",
    ROOT / "deploy/aws/statemachine/order-saga-cancel.asl.json",
]


def validate(path: Path) -> dict[str, Any]:
    """Run asl-validator on ``path``; returns ``{"returncode", "output"}``."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: asl-validator (adapters/aws/node, installed by scripts/test) needs Node.js")
    if not VALIDATOR.exists():
        pytest.fail(f"asl-validator is missing: npm install --prefix {VALIDATOR.parents[2]} asl-validator")
    done = subprocess.run(
        [node, str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    return {"returncode": done.returncode, "output": done.stdout + done.stderr}


@pytest.mark.parametrize("machine", MACHINES, ids=lambda p: p.name)
def test_the_committed_state_machine_is_valid_asl(machine: Path) -> None:
    result = validate(machine)
    assert result["returncode"] == 0, result["output"]
    assert "is valid" in result["output"]


def test_the_machine_with_a_real_function_arn_is_valid_asl(tmp_path: Path) -> None:
    path = tmp_path / "concrete.asl.json"
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:fooddelivery-saga-task"
    path.write_text(generate.render(generate.order_saga_asl(task_resource=arn)), encoding="utf-8")
    result = validate(path)
    assert result["returncode"] == 0, result["output"]


def test_the_validator_rejects_a_machine_with_a_dangling_transition(tmp_path: Path) -> None:
    doc = generate.order_saga_asl()
    doc["States"]["ValidateOrder"]["Next"] = "NoSuchState"
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = validate(path)
    assert result["returncode"] != 0
    assert "NoSuchState" in result["output"]
