"""fooddelivery_azure imports no other cloud's package or SDK (the import-linter contract in its pyproject.toml says
the same; this test reads every module's imports itself, so a broken contract configuration cannot hide one)."""

from __future__ import annotations

import ast
from pathlib import Path

import fooddelivery_azure

FORBIDDEN = ("fooddelivery_aws", "fooddelivery_gcp", "boto3", "botocore", "aioboto3", "aws_lambda_powertools",
             "google", "functions_framework", "firebase_admin")


def test_no_module_of_the_package_imports_another_clouds_package_or_sdk() -> None:
    root = Path(fooddelivery_azure.__file__).parent
    offenders = []
    modules = sorted(root.rglob("*.py"))
    assert len(modules) > 15
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
