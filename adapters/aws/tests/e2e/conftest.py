"""Fixtures: the deployment's AWS resources on a freshly reset moto server (see ``aws_stack``)."""

from __future__ import annotations

import pytest
from aws_stack import Stack, create_stack


@pytest.fixture
def stack(moto_reset: str) -> Stack:
    """Every resource of the stack, created for this test."""
    return create_stack(moto_reset)
