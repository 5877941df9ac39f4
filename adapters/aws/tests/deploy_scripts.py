"""Load the ``deploy/aws`` scripts (plain files, not an installed package) as modules for the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[3]
DEPLOY: Final = ROOT / "deploy" / "aws"


def load(name: str) -> ModuleType:
    """Import ``deploy/aws/<name>.py`` once (cached in ``sys.modules`` under its own name, as the scripts
    import each other that way)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DEPLOY / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def handler_source(handler: str) -> Path | None:
    """The source file of a Lambda ``Handler`` (``package.module.attribute``) in this repository, or None."""
    module = handler.rsplit(".", 1)[0]
    for base in (ROOT / "src", ROOT / "adapters" / "aws" / "src"):
        path = base.joinpath(*module.split("."))
        for candidate in (path.with_suffix(".py"), path / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None
