"""Fixtures of the end-to-end tests: a fresh in-memory deployment of the HTTP API per test (see ``_world.py``)."""

from __future__ import annotations

import pytest

from ._world import World, build_world


@pytest.fixture
def world() -> World:
    """The default world: ``drv-near`` available next to ``rest-1``."""
    return build_world()


@pytest.fixture
def waiting_order(world: World) -> str:
    """An order (the reference payload) whose saga waits for the restaurant: paid, ``drv-near`` assigned."""
    return world.place()


@pytest.fixture
def driverless_world() -> World:
    """A world where no driver is near ``rest-1`` when orders are placed (``drv-near`` is OFFLINE)."""
    return build_world(drivers_near=False)
