"""The simulated world never generates an address outside the delivery area: every customer lives within the
default area (``DEFAULT_MAX_DELIVERY_KM``) of every restaurant of their city, and customers order in their own city."""

from __future__ import annotations

from decimal import Decimal

import pytest
from click.testing import CliRunner

from fooddelivery.cli import main
from fooddelivery.domain.pricing import DEFAULT_MAX_DELIVERY_KM
from fooddelivery.simulation import SimulationConfig
from fooddelivery.simulation.engine import Simulation, run_simulation
from fooddelivery.simulation.world import CUSTOMER_RADIUS_KM, RESTAURANT_RADIUS_KM, load_cities


def test_the_radii_leave_every_customer_inside_the_default_delivery_area_with_room_to_spare() -> None:
    assert Decimal(repr(RESTAURANT_RADIUS_KM + CUSTOMER_RADIUS_KM)) <= DEFAULT_MAX_DELIVERY_KM - Decimal("0.2")


def test_every_customer_is_inside_the_delivery_area_of_every_restaurant_of_their_city() -> None:
    # all 50 cities (the farthest north has the largest flat-earth error), 2,000 customers, 500 restaurants
    sim = Simulation(SimulationConfig(orders=1, seed=3, cities=50, restaurants=500, customers=2000, drivers=50))
    sim.cities = load_cities(50)
    sim._build_world([1] * 50, [1.0] * 50)
    farthest = max(
        sim.restaurants[r].location.distance_km(customer.home)
        for customer in sim.customers
        for r in sim.city_restaurants[customer.city]
    )
    # the bound is 7.2 + 7.5 = 14.7 km; this world's farthest pair is 14.62 km (16.12 km with customers out to 9 km,
    # as before the delivery area existed)
    assert 13.0 < farthest <= float(DEFAULT_MAX_DELIVERY_KM)
    assert all(sim.city_restaurants[c] for c in range(50))


def test_fewer_restaurants_than_cities_is_refused_since_customers_order_in_their_own_city() -> None:
    with pytest.raises(ValueError, match="restaurants must be at least cities"):
        SimulationConfig(cities=10, restaurants=9)
    assert SimulationConfig(cities=10, restaurants=10).restaurants == 10
    result = CliRunner().invoke(main, ["simulate", "--orders", "10", "--restaurants", "3"])
    assert result.exit_code == 2
    assert "restaurants must be at least cities (10)" in result.output


def test_a_city_whose_orders_have_no_customer_of_its_own_gets_one_not_a_stranger_from_another_city() -> None:
    # 50 cities and the default 100 customers spread by demand: some city with arrivals draws no customer. Its
    # orders then went to customer 0, who lives in another city, hundreds of km from every restaurant of this one:
    # refused as out of the delivery area.
    sim = Simulation(SimulationConfig(orders=1, seed=3, cities=50, restaurants=50, customers=10, drivers=50))
    sim.cities = load_cities(50)
    sim._build_world([1] * 50, [1.0] * 50)
    assert all(sim.city_customers[c] for c in range(50))
    assert all(sim.customers[i].city == c for c in range(50) for i in sim.city_customers[c])


def test_a_simulated_day_in_fifty_cities_refuses_no_order_for_its_address() -> None:
    report = run_simulation(SimulationConfig(orders=400, seed=1, cities=50))
    assert report["ordersRefusedAtPlacement"] == {}
