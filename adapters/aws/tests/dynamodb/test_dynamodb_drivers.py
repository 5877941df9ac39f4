"""The DynamoDB driver repository: reservations racing with real conditional writes (on moto and on dynalite),
the cell index, and its edges.
"""

from __future__ import annotations

from typing import Any

import pytest

from fooddelivery.domain.assignment import rank_candidates
from fooddelivery.domain.catalog import Driver
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.testing.builders import DOWNTOWN, make_driver, point_at
from fooddelivery.testing.contracts.driver_repository_contract import race_for_drivers
from fooddelivery_aws.dynamodb import DynamoDBDriverRepository
from fooddelivery_aws.dynamodb.tables import DRIVERS, TableSpec

Tables = dict[TableSpec, str]


@pytest.fixture(params=["moto", "dynalite"])
def drivers(request: pytest.FixtureRequest) -> DynamoDBDriverRepository:
    """The repository on moto server and on dynalite (both serialise conditional writes per item)."""
    tables: Tables = request.getfixturevalue(f"{request.param}_tables")
    client = request.getfixturevalue(f"{request.param}_dynamodb")
    return DynamoDBDriverRepository(tables[DRIVERS], client=client)


@pytest.fixture
def moto_drivers(moto_tables: Tables, moto_dynamodb: Any) -> DynamoDBDriverRepository:
    return DynamoDBDriverRepository(moto_tables[DRIVERS], client=moto_dynamodb)


def test_fifty_orders_racing_for_five_drivers_book_each_driver_once(drivers: DynamoDBDriverRepository) -> None:
    race_for_drivers(drivers, orders=50, drivers=5, spacing_km=0.3, radius_km=8.0)


def test_only_available_drivers_carry_the_cell_key_and_a_reservation_removes_it(
    moto_drivers: DynamoDBDriverRepository, moto_dynamodb: Any, moto_tables: Tables
) -> None:
    stored = moto_drivers.add(make_driver(driver_id="drv-cell", location=DOWNTOWN))

    def raw() -> dict[str, Any]:
        key = {"driverId": {"S": "drv-cell"}}
        return dict(moto_dynamodb.get_item(TableName=moto_tables[DRIVERS], Key=key)["Item"])

    item = raw()
    assert item["availableCell"] == {"S": "AVAILABLE#dr5re"}
    assert item["locationKey"]["S"].startswith("dr5re") and len(item["locationKey"]["S"]) == 9
    assert float(item["lat"]["N"]) == DOWNTOWN.lat and float(item["lon"]["N"]) == DOWNTOWN.lon
    moto_drivers.save(stored.reserve("ord-1"))
    assert "availableCell" not in raw()


def test_a_search_reads_only_the_cells_around_the_point(moto_drivers: DynamoDBDriverRepository) -> None:
    everyone: list[Driver] = []
    for i in range(21):
        for j in range(21):
            spot = point_at(DOWNTOWN, km_north=5 * (i - 10), km_east=5 * (j - 10))
            everyone.append(moto_drivers.add(make_driver(driver_id=f"drv-{i:02d}-{j:02d}", location=spot)))
    found = moto_drivers.available_near(DOWNTOWN, 8.0, 5)
    expected = [d.driver_id for _, d in rank_candidates(everyone, DOWNTOWN, 8.0)][:5]
    assert [d.driver_id for d in found] == expected
    assert found[0].driver_id == "drv-10-10"
    assert moto_drivers.last_query_cells <= 30  # the 100 x 100 km fleet spans about 600 cells


def test_drivers_across_the_antimeridian_are_found(moto_drivers: DynamoDBDriverRepository) -> None:
    moto_drivers.add(make_driver(driver_id="drv-east", location=GeoPoint(0.0, 179.99)))
    moto_drivers.add(make_driver(driver_id="drv-west", location=GeoPoint(0.0, -179.98)))
    moto_drivers.add(make_driver(driver_id="drv-on", location=GeoPoint(0.0, 180.0)))
    found = moto_drivers.available_near(GeoPoint(0.0, -180.0), 5.0, 10)
    assert [d.driver_id for d in found] == ["drv-on", "drv-east", "drv-west"]


def test_a_search_that_would_read_too_many_cells_is_refused_not_scanned(moto_drivers: DynamoDBDriverRepository) -> None:
    moto_drivers.add(make_driver(driver_id="drv-polar", location=GeoPoint(89.99, 0.0)))
    with pytest.raises(ValidationError) as caught:
        moto_drivers.available_near(GeoPoint(90.0, 0.0), 5.0, 10)
    assert [f.field for f in caught.value.fields] == ["radius_km"]


def test_a_negative_radius_or_a_limit_below_one_is_refused(moto_drivers: DynamoDBDriverRepository) -> None:
    with pytest.raises(ValidationError):
        moto_drivers.available_near(DOWNTOWN, -1.0, 5)
    with pytest.raises(ValidationError):
        moto_drivers.available_near(DOWNTOWN, 5.0, 0)


def test_a_cell_precision_outside_3_to_7_is_refused() -> None:
    with pytest.raises(ValueError):
        DynamoDBDriverRepository("drivers", cell_precision=2)
    with pytest.raises(ValueError):
        DynamoDBDriverRepository("drivers", max_cells=0)
