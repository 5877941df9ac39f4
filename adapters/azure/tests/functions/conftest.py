"""A whole deployment per test (see ``azure_world.py``), the cached application reset afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure_world import AzureWorld

from fooddelivery_azure.bootstrap import reset_azure_app


@pytest.fixture
def world(container: Any) -> Iterator[AzureWorld]:
    built = AzureWorld.build(container)
    try:
        yield built
    finally:
        reset_azure_app()
