"""The wheel a user installs carries the shipped test kit (``fooddelivery.testing``) and the type marker, and none
of this repository's own tests."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_fresh_wheel_contains_the_test_kit_and_no_repository_tests(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check", str(ROOT),
         "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("fooddelivery-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in (
        "fooddelivery/py.typed",
        "fooddelivery/testing/__init__.py",
        "fooddelivery/testing/builders.py",
        "fooddelivery/testing/plugin.py",
        "fooddelivery/testing/conformance.py",
        "fooddelivery/testing/http_parity.py",
        "fooddelivery/testing/contracts/__init__.py",
        "fooddelivery/testing/contracts/order_repository_contract.py",
        "fooddelivery/application/runtime.py",
        "fooddelivery/application/messages.py",
    ):
        assert module in names, module
    assert not [n for n in names if n.startswith(("tests/", "adapters/", "deploy/", "bench/"))]
    metadata = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Provides-Extra: testing" in text
