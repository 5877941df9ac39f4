"""Record mappers, attribute codecs, geohash cells and table specs, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.order import OrderStatus
from fooddelivery.testing.builders import T0, advance, make_driver, make_order, make_restaurant, make_saga_state
from fooddelivery_aws.dynamodb.attributes import RecordError, attr_to_json, epoch_text, iso_utc, json_to_attr
from fooddelivery_aws.dynamodb.geohash import GeoGrid
from fooddelivery_aws.dynamodb.records import (
    driver_from_item,
    driver_to_item,
    order_from_item,
    order_to_item,
    rating_bound,
    rating_rank,
    restaurant_from_item,
    restaurant_to_item,
    saga_from_item,
    saga_to_item,
)
from fooddelivery_aws.dynamodb.tables import ALL_TABLES, DRIVERS, ORDERS, OUTBOX, RESTAURANTS

ratings = st.decimals(min_value=0, max_value=5, places=3, allow_nan=False, allow_infinity=False)
ids = st.text(min_size=1, max_size=12).filter(lambda s: s.isprintable() and "/" not in s)


class TestRatingRank:
    @given(ratings, ids, ratings, ids)
    def test_text_order_of_ranks_is_rating_descending_then_id_ascending(
        self, r1: Decimal, id1: str, r2: Decimal, id2: str
    ) -> None:
        k1, k2 = rating_rank(r1, id1), rating_rank(r2, id2)
        # DynamoDB compares strings as UTF-8 bytes, which is code-point order.
        assert (k1.encode() < k2.encode()) == ((-r1, id1) < (-r2, id2))

    @given(ratings, ratings, ids)
    def test_the_minimum_rating_bound_keeps_exactly_the_ratings_at_or_above_it(
        self, minimum: Decimal, rating: Decimal, restaurant_id: str
    ) -> None:
        inside = rating_rank(rating, restaurant_id).encode() < rating_bound(minimum).encode()
        assert inside == (rating >= minimum)

    def test_ranks_read_naturally(self) -> None:
        assert rating_rank(Decimal("4.5"), "rst-a") == "0.5#rst-a"
        assert rating_rank(Decimal("5.0"), "rst-a") == "0#rst-a"
        assert rating_rank(Decimal("0"), "rst-a") == "5#rst-a"
        assert rating_bound(Decimal("4")) == "1$"


class TestAttributes:
    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**30), max_value=10**30)
        | st.text()
        | st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**20), max_value=10**20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=20,
    )

    @given(json_values)
    def test_json_ready_values_round_trip_equal_and_numbers_travel_as_text(self, value: Any) -> None:
        attr = json_to_attr(value)
        assert attr_to_json(attr) == value

    def test_a_float_anywhere_is_refused_naming_its_path(self) -> None:
        with pytest.raises(ValidationError) as caught:
            json_to_attr({"a": [1, {"b": 0.5}]}, "data")
        assert [f.field for f in caught.value.fields] == ["data.a.1.b"]

    def test_non_finite_decimals_and_foreign_types_are_refused(self) -> None:
        for bad in (Decimal("NaN"), Decimal("Infinity"), {1: "x"}, object(), datetime(2025, 1, 1, tzinfo=UTC)):
            with pytest.raises(ValidationError):
                json_to_attr(bad)

    def test_types_this_package_never_writes_are_reported(self) -> None:
        with pytest.raises(RecordError):
            attr_to_json({"SS": ["a"]})

    def test_times_are_fixed_width_utc_text_and_exact_epoch_text(self) -> None:
        paris = timezone(timedelta(hours=1))
        at = datetime(2025, 3, 14, 13, 0, 0, 1, tzinfo=paris)
        assert iso_utc(at) == "2025-03-14T12:00:00.000001Z"
        assert epoch_text(at) == "1741953600.000001"
        with pytest.raises(ValidationError):
            iso_utc(datetime(2025, 3, 14))


class TestGeohash:
    def test_cells_are_named_by_their_standard_geohash(self) -> None:
        assert GeoGrid(11).encode(GeoPoint(57.64911, 10.40744)) == "u4pruydqqvj"
        assert GeoGrid(5).encode(GeoPoint(40.7128, -74.0060)) == "dr5re"

    def test_longitude_180_is_the_meridian_of_minus_180(self) -> None:
        grid = GeoGrid(5)
        assert grid.encode(GeoPoint(0.0, 180.0)) == grid.encode(GeoPoint(0.0, -180.0))

    def test_a_precision_outside_1_to_12_is_refused(self) -> None:
        with pytest.raises(ValueError):
            GeoGrid(0)


class TestRoundTrips:
    def test_a_fully_populated_order_round_trips(self) -> None:
        order = make_order()
        advance(order, OrderStatus.PICKED_UP, driver_id="drv-zoë")
        order.record_payment_captured("ch_1", T0, "evt-pay")
        back = order_from_item(order_to_item(order))
        assert back.same_state(order)
        assert back.persisted_version == order.version

    def test_an_order_without_coordinates_or_promo_round_trips(self) -> None:
        from fooddelivery.testing.builders import make_address

        order = make_order(address=make_address(location=None), promo=None, tip=None)
        assert order_from_item(order_to_item(order)).same_state(order)

    def test_restaurants_drivers_and_sagas_round_trip(self) -> None:
        restaurant = make_restaurant(rating=Decimal("4.75"), tax_rate=Decimal("0.08875"), version=3)
        assert restaurant_from_item(restaurant_to_item(restaurant)) == restaurant
        driver = make_driver(version=4)
        assert driver_from_item(driver_to_item(driver, GeoGrid(5))) == driver
        state = make_saga_state(outcome="payment_declined", timer_id=None, version=5)
        assert saga_from_item(saga_to_item(state)) == state

    def test_a_foreign_item_is_a_record_error(self) -> None:
        with pytest.raises(RecordError):
            order_from_item({"orderId": {"S": "x"}, "itemType": {"S": "order"}})
        with pytest.raises(RecordError):
            restaurant_from_item({"restaurantId": {"S": "x"}})


class TestTableSpecs:
    def test_the_reference_tables_and_indexes_are_there(self) -> None:
        assert [t.logical_id for t in ALL_TABLES] == ["OrdersTable", "RestaurantsTable", "DriversTable", "SagasTable"]
        assert [i.name for i in ORDERS.indexes] == [
            "UserOrdersIndex",
            "RestaurantOrdersIndex",
            "RestaurantTimeIndex",
            "OutboxPendingIndex",
        ]
        assert ORDERS.index("UserOrdersIndex").key_schema() == [
            {"AttributeName": "userId", "KeyType": "HASH"},
            {"AttributeName": "createdAt", "KeyType": "RANGE"},
        ]
        assert RESTAURANTS.index("CuisineRatingIndex").hash_key.name == "cuisineType"
        assert DRIVERS.index("AvailableDriversIndex").hash_key.name == "availableCell"

    def test_cloudformation_properties_enable_recovery_encryption_streams_and_ttl(self) -> None:
        props = ORDERS.cloudformation_properties({"Fn::Sub": "food-delivery-orders-${Environment}"})
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == {"SSEEnabled": True}
        assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
        names = [d["AttributeName"] for d in props["AttributeDefinitions"]]
        assert len(names) == len(set(names))
        assert {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}["createdAt"] == "N"

    def test_the_outbox_table_shares_the_pending_index(self) -> None:
        assert OUTBOX.index("OutboxPendingIndex") == ORDERS.index("OutboxPendingIndex")

    def test_tables_created_on_the_stand_in_have_every_index(self, moto_tables: Any, moto_dynamodb: Any) -> None:
        for spec, name in moto_tables.items():
            table = moto_dynamodb.describe_table(TableName=name)["Table"]
            assert sorted(i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])) == sorted(
                i.name for i in spec.indexes
            )
