"""Fixtures of the service tests: a bootstrapped world with a virtual clock and sequential ids.

``app`` is the default world (see ``_world.py``): restaurant ``rest-1`` in Paris with a unicode menu, a second
restaurant ``rest-2``, drivers 0.5 / 1.5 / 4 km north of it (plus one 20 km away and one offline) and the
customers ``cust-ana`` and ``cust-bo``. ``app.place()`` places the default cart.
"""

from __future__ import annotations

import pytest

from ._world import NO_DRIVER_LAYOUT, World, build_world


@pytest.fixture
def app() -> World:
    """The default world."""
    return build_world()


@pytest.fixture
def app_without_drivers() -> World:
    """The default world, except that the only driver is 20 km away (outside the 8 km radius)."""
    return build_world(drivers=NO_DRIVER_LAYOUT)


@pytest.fixture
def waiting_order(app: World) -> str:
    """An order whose saga waits for the restaurant: paid, driver ``drv-near`` assigned, everyone told."""
    return app.place_id()


@pytest.fixture
def confirmed_order(app: World, waiting_order: str) -> str:
    """An order the restaurant confirmed one minute after it was placed."""
    app.advance(60)
    app.confirm(waiting_order)
    return waiting_order
