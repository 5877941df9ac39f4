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


def _block(name: str) -> str:
    match = re.search(rf"<!-- {name}:begin -->\n(.*?)<!-- {name}:end -->", README, flags=re.S)
    assert match is not None, f"README.md has no {name} block"
    return match.group(1)


def test_the_readme_settings_table_is_the_one_generated_from_the_settings_model() -> None:
    from fooddelivery.cli import settings_markdown

    assert _block("settings") == settings_markdown()


def test_every_fooddelivery_variable_the_code_reads_is_in_the_settings_table() -> None:
    table = _block("settings")
    read = set()
    for path in (ROOT / "src" / "fooddelivery").rglob("*.py"):
        read |= set(re.findall(r"FOODDELIVERY_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8")))
    documented = set(re.findall(r"`(FOODDELIVERY_[A-Z0-9_]+)`", table))

    assert read, "no FOODDELIVERY_ variable found in the code"
    assert read <= documented, read - documented
    assert documented <= read, documented - read


def test_the_readme_payment_tokens_are_the_fake_processors() -> None:
    from fooddelivery.adapters.fake_processor import ALWAYS_TRANSIENT_TOKEN, DECLINE_TOKENS, SUCCESS_TOKENS
    from fooddelivery.cli import payment_tokens_markdown

    block = _block("payment-tokens")
    assert block == payment_tokens_markdown()
    for token in [*SUCCESS_TOKENS, *DECLINE_TOKENS, ALWAYS_TRANSIENT_TOKEN]:
        assert f"`{token}`" in block
