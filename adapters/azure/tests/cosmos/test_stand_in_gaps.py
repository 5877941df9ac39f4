"""The stand-in's known gaps, measured on the raw SDK container (no wrapper), and what the wrapper of the tests does
about them (``azure_stand_ins.StandInContainer``). If the stand-in is fixed, these tests fail and the wrapper can
shrink: the gaps are handled in the open, never inside the adapters."""

from __future__ import annotations

from typing import Any

import pytest
from azure.cosmos import PartitionKey
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosHttpResponseError, CosmosResourceNotFoundError

from azure_stand_ins import StandInContainer
from fooddelivery.domain.order import OrderStatus
from fooddelivery.testing.builders import advance, make_order
from fooddelivery_azure.cosmos import CosmosOrderRepository


@pytest.fixture
def raw(database: Any) -> Any:
    return database.create_container("raw", PartitionKey(path="/orderId"))


def test_reading_a_missing_document_answers_500_not_404(raw: Any) -> None:
    with pytest.raises(CosmosHttpResponseError) as caught:
        raw.read_item("missing", partition_key="ord-1")
    assert caught.value.status_code == 500


def test_the_wrapper_turns_that_500_into_the_404_cosmos_answers_only_when_the_document_is_absent(raw: Any) -> None:
    wrapped = StandInContainer(raw, "/orderId")
    with pytest.raises(CosmosResourceNotFoundError) as caught:
        wrapped.read_item("missing", partition_key="ord-1")
    assert caught.value.status_code == 404
    raw.create_item({"id": "present", "orderId": "ord-1"})
    assert wrapped.read_item("present", partition_key="ord-1")["id"] == "present"
    assert wrapped.stats["read_500_as_404"] == 1


def test_a_batch_runs_creates_but_not_atomically(raw: Any) -> None:
    raw.create_item({"id": "taken", "orderId": "ord-1"})
    with pytest.raises(CosmosBatchOperationError) as caught:
        raw.execute_item_batch(
            [("create", ({"id": "first", "orderId": "ord-1"},)), ("create", ({"id": "taken", "orderId": "ord-1"},))],
            partition_key="ord-1",
        )
    assert caught.value.error_index == 1
    assert [r["statusCode"] for r in caught.value.operation_responses] == [201, 409]
    # Cosmos DB would have rolled "first" back; the stand-in keeps it.
    ids = sorted(d["id"] for d in raw.query_items("SELECT c.id FROM c", enable_cross_partition_query=True))
    assert ids == ["first", "taken"]


def test_a_batch_with_a_replace_is_refused_as_unparseable(raw: Any) -> None:
    doc = raw.create_item({"id": "o", "orderId": "ord-1", "v": 1})
    with pytest.raises(CosmosHttpResponseError) as caught:
        raw.execute_item_batch(
            [("replace", ("o", {"id": "o", "orderId": "ord-1", "v": 2}), {"if_match_etag": doc["_etag"]})],
            partition_key="ord-1",
        )
    assert "partitionkey" in str(caught.value.message).lower()
    assert raw.read_item("o", partition_key="ord-1")["v"] == 1


def test_a_single_partition_query_must_name_the_partition_key_path(raw: Any) -> None:
    raw.create_item({"id": "o", "orderId": "ord-1"})
    with pytest.raises(CosmosHttpResponseError):
        list(raw.query_items("SELECT * FROM c", partition_key="ord-1"))
    named = raw.query_items("SELECT * FROM c WHERE c.orderId = 'ord-1'", partition_key="ord-1")
    assert [d["id"] for d in named] == ["o"]


def test_placements_travel_the_stand_ins_real_batch_path_and_saves_the_wrappers(container: Any) -> None:
    orders = container("orders")
    repo = CosmosOrderRepository(orders)
    order = make_order()
    repo.add(order)
    loaded = repo.get(order.order_id)
    advance(loaded, OrderStatus.CONFIRMED)
    repo.save(loaded)
    assert orders.stats["batch_forwarded"] == 1
    assert orders.stats["batch_op_by_op"] == 1
    assert repo.get(order.order_id).status is OrderStatus.CONFIRMED


def test_the_wrapper_refuses_a_batch_whose_later_precondition_fails_before_writing_any_of_it(raw: Any) -> None:
    wrapped = StandInContainer(raw, "/orderId")
    order = raw.create_item({"id": "o", "orderId": "ord-1", "v": 1})
    raw.create_item({"id": "s", "orderId": "ord-1", "v": 1})
    with pytest.raises(CosmosBatchOperationError) as caught:
        wrapped.execute_item_batch(
            [
                ("replace", ("o", {"id": "o", "orderId": "ord-1", "v": 2}), {"if_match_etag": order["_etag"]}),
                ("create", ({"id": "evt", "orderId": "ord-1"},)),
                ("replace", ("s", {"id": "s", "orderId": "ord-1", "v": 2}), {"if_match_etag": '"stale"'}),
            ],
            partition_key="ord-1",
        )
    assert caught.value.error_index == 2
    assert [r["statusCode"] for r in caught.value.operation_responses] == [424, 424, 412]
    ids = sorted(d["id"] for d in raw.query_items("SELECT c.id FROM c", enable_cross_partition_query=True))
    assert ids == ["o", "s"] and raw.read_item("o", partition_key="ord-1")["v"] == 1
