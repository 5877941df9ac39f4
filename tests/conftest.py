"""Shared pytest set-up for every suite under ``tests``: the shipped kit's plugin (assertion rewriting of the
contract suites, builders and conformance scenarios; the per-adapter-set conformance summary)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

pytest_plugins = ["fooddelivery.testing.plugin"]


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Make the interpreter switch threads every microsecond, so races get a real chance to happen (at the default
    5 ms a thread runs a whole test loop of a few thousand rounds alone, and a racy implementation passes)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
