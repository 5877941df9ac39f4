"""What the Cosmos DB adapters store and record, beyond the contract suites: explicit conversions (money as exact
text, times as fixed-width UTC text, GeoJSON points, derived document ids), etag tokens, the outbox's partition,
the change-feed decoding, and the request charge of every call."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from fooddelivery.adapters.memory import InMemoryEventPublisher
from fooddelivery.application.relay import ChangeStreamRelay
from fooddelivery.domain.errors import ConcurrencyConflict, ValidationError
from fooddelivery.domain.events import EventType
from fooddelivery.domain.order import OrderStatus, order_id_for_key
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.testing.builders import T0, advance, make_driver, make_order, make_restaurant
from fooddelivery_azure.cosmos import CosmosDriverRepository, CosmosOrderRepository, CosmosRestaurantRepository
from fooddelivery_azure.cosmos._support import doc_id
from fooddelivery_azure.metering import RequestChargeRecorder


def _raw(container: Any, order_id: str) -> dict[str, Any]:
    docs = container.inner.query_items(
        "SELECT * FROM c WHERE c.orderId = @o AND c.type = 'order'",
        parameters=[{"name": "@o", "value": order_id}],
        enable_cross_partition_query=True,
    )
    (doc,) = list(docs)
    return dict(doc)


def test_money_times_and_places_are_stored_as_exact_text_and_geojson(container: Any) -> None:
    orders = container("orders")
    repo = CosmosOrderRepository(orders)
    order = make_order()
    repo.add(order)
    doc = _raw(orders, order.order_id)
    total = order.pricing.total
    assert doc["pricing"]["total"] == {"amount": str(total.amount), "currency": total.currency}
    assert isinstance(doc["lines"][0]["unitPrice"]["amount"], str)
    assert doc["createdAt"] == T0.isoformat(timespec="microseconds")
    location = order.delivery_address.location
    assert location is not None
    assert doc["deliveryAddress"]["location"] == {"type": "Point", "coordinates": [location.lon, location.lat]}
    assert doc["version"] == 1 and doc["type"] == "order"


def test_ids_cosmos_refuses_are_mapped_to_a_digest_and_read_back_unchanged(container: Any) -> None:
    repo = CosmosOrderRepository(container("orders"))
    odd = "ord-#1?a\\b"
    order = make_order(order_id=odd)
    repo.add(order)
    assert repo.get(odd).order_id == odd
    assert doc_id(odd).startswith("h-") and doc_id("ord-plain") == "ord-plain"


def test_get_sets_the_etag_as_concurrency_token_and_save_refreshes_it(container: Any) -> None:
    repo = CosmosOrderRepository(container("orders"))
    order = make_order()
    repo.add(order)
    first_token = order.concurrency_token
    loaded = repo.get(order.order_id)
    assert loaded.concurrency_token == first_token and first_token
    advance(loaded, OrderStatus.CONFIRMED)
    repo.save(loaded)
    assert loaded.concurrency_token not in (None, first_token)
    stale = repo.get(order.order_id)
    stale.concurrency_token = first_token  # an etag from before the save
    advance(stale, OrderStatus.PREPARING)
    with pytest.raises(ConcurrencyConflict):
        repo.save(stale)


def test_a_keyed_placement_writes_order_binding_and_outbox_in_the_orders_partition(container: Any) -> None:
    orders = container("orders")
    repo = CosmosOrderRepository(orders)
    order_id = order_id_for_key("cus-ana", "checkout-7")
    order = make_order(order_id=order_id, customer_id="cus-ana")
    repo.add(order, IdempotencyRecord("cus-ana", "checkout-7", "f" * 64, order_id))
    docs = list(
        orders.inner.query_items(
            "SELECT c.id, c.type FROM c WHERE c.orderId = @o",
            parameters=[{"name": "@o", "value": order_id}],
            partition_key=order_id,
        )
    )
    assert sorted(d["type"] for d in docs) == ["idempotency", "order", "outbox"]
    bound = repo.find_idempotent("cus-ana", "checkout-7")
    assert bound == IdempotencyRecord("cus-ana", "checkout-7", "f" * 64, order_id)
    assert orders.stats["batch_forwarded"] == 1  # one batch, the stand-in's own


def test_event_payloads_that_are_not_json_are_refused_before_anything_is_written(container: Any) -> None:
    repo = CosmosOrderRepository(container("orders"))
    order = make_order()
    order.pending_events[0].payload["bad"] = Decimal("1.5")
    with pytest.raises(ValidationError):
        repo.add(order)


def test_change_feed_documents_become_relay_records_and_are_marked_in_their_partition(container: Any) -> None:
    orders = container("orders")
    writer = CosmosOrderRepository(orders)
    order = make_order(now=T0 + timedelta(minutes=1))
    writer.add(order)
    loaded = writer.get(order.order_id)
    advance(loaded, OrderStatus.CONFIRMED)
    writer.save(loaded)
    # What the Cosmos DB trigger delivers: changed documents (here: every document, as the stand-in's feed gives).
    changed = list(orders.inner.query_items_change_feed(start_time="Beginning"))
    relay_side = CosmosOrderRepository(orders)  # another process: it knows no partitions yet
    records = relay_side.change_records(changed)
    assert [r.event.type for r in records if r.event is not None] == [
        EventType.ORDER_PLACED,
        EventType.ORDER_STATUS_CHANGED,
    ]
    assert sum(1 for r in records if r.event is None) == 1  # the order document itself
    bus = InMemoryEventPublisher()
    result = ChangeStreamRelay(bus, relay_side).relay(records)
    assert result.retry_from is None and len(result.published) == 2
    assert list(writer.pending(100)) == []


def test_every_call_records_its_request_charge_by_operation(container: Any) -> None:
    charges = RequestChargeRecorder()
    orders = CosmosOrderRepository(container("orders"), charges=charges)
    restaurants = CosmosRestaurantRepository(container("restaurants"), charges=charges)
    drivers = CosmosDriverRepository(container("drivers"), charges=charges)
    restaurant = restaurants.add(make_restaurant())
    drivers.add(make_driver())
    order = make_order(restaurant)
    orders.add(order)
    orders.get(order.order_id)
    with pytest.raises(ConcurrencyConflict):
        orders.add(make_order(order_id=order.order_id))
    snapshot = charges.snapshot()
    assert set(snapshot) >= {"restaurants.add", "drivers.add", "orders.add", "orders.get"}
    assert snapshot["orders.add"].calls == 2  # the refused one is billed and recorded too
    assert snapshot["orders.get"].request_units > 0  # the stand-in charges 1 RU per response
    assert charges.total_calls == sum(s.calls for s in snapshot.values())
