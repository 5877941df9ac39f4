"""The README's promises: its python example runs, and its set-up commands are the ones CI uses."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_library_example_runs_and_prices_the_reference_payload_exactly() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(blocks) == 1
    scope: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(blocks[0], "README.md", "exec"), scope)
    order = scope["order"]
    assert str(order.pricing.subtotal) == "21.97"  # type: ignore[attr-defined]


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    assert "bash scripts/test" in README
    assert "bash scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_readme_install_and_simulate_command_names_real_options() -> None:
    command = re.search(r"^python3 -m venv .*fooddelivery simulate.*$", README, flags=re.M)
    assert command is not None
    assert "--orders" in command.group(0) and "--seed" in command.group(0)
