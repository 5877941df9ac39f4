"""``bench/cold_start_steps.py``: steps timed in fresh interpreters; a cloud without its packages is left out."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "cold_start_steps.py"
_SPEC = importlib.util.spec_from_file_location("cold_start_steps", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
steps = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(steps)


def test_the_core_steps_are_timed_and_a_cloud_without_its_sdk_is_left_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    core_only = [("pydantic (BaseModel)", "from pydantic import BaseModel"),
                 ("core use cases and domain", "import fooddelivery.application.services")]
    monkeypatch.setitem(steps.STEPS, "AWS", core_only)
    monkeypatch.setitem(steps.STEPS, "Azure", [*core_only, ("azure.cosmos (import)", "import azure.cosmos")])
    me = sys.executable
    assert steps.main(["--runs", "2", "--aws-python", me, "--azure-python", me, "--gcp-python", "/no/such/python"]) == 0

    out = capsys.readouterr().out.splitlines()
    aws = out[out.index(f"AWS ({me}), median CPU ms of 2 fresh interpreters:") + 1 :][:3]
    assert [line.split()[0] for line in aws] == ["pydantic", "core", "sum"]
    figures = [float(line.split()[-1]) for line in aws]
    assert figures[0] > 0 and figures[1] > 0 and figures[2] == pytest.approx(figures[0] + figures[1], abs=0.11)
    azure = out[out.index(f"Azure ({me}), median CPU ms of 2 fresh interpreters:") + 1]
    assert azure.startswith("  left out: ") and "No module named 'azure'" in azure
    assert out[-1] == "  left out: no such interpreter"


def test_runs_below_one_are_refused() -> None:
    with pytest.raises(SystemExit) as exc:
        steps.main(["--runs", "0"])
    assert exc.value.code == 2
