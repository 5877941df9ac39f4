"""Layering rules that import-linter cannot express directly."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import fooddelivery.domain

DOMAIN = Path(fooddelivery.domain.__file__).parent
CORE = DOMAIN.parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    offenders = {
        f"{path.name}: {module}"
        for path in DOMAIN.glob("*.py")
        for module in _imported_modules(path)
        if module.split(".")[0] not in sys.stdlib_module_names
        and not module.startswith("fooddelivery.domain")
        and module != "__future__"
    }
    assert offenders == set()


def test_the_core_never_imports_a_cloud_sdk_or_a_cloud_package() -> None:
    forbidden = ("boto3", "botocore", "azure", "google", "functions_framework", "fooddelivery_")
    offenders = {
        f"{path.relative_to(CORE)}: {module}"
        for path in CORE.rglob("*.py")
        for module in _imported_modules(path)
        if module.startswith(forbidden)
    }
    assert offenders == set()
