"""``OrderRepository.list_by_restaurant(..., newest_first=True)``: the restaurant listing read backwards, in the
in-memory and SQLite stores alike (what ``GET /orders`` shows a restaurant).

To be folded into ``fooddelivery.testing.contracts.OrderRepositoryContract`` once every store (DynamoDB:
``ScanIndexForward=False``) implements the direction.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from fooddelivery.adapters.memory import InMemoryOrderRepository
from fooddelivery.adapters.sqlite import SqliteDatabase, SqliteOrderRepository
from fooddelivery.domain.actors import Actor
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.order import OrderStatus
from fooddelivery.ports.orders import OrderRepository
from fooddelivery.testing.builders import T0, make_order, make_restaurant


@pytest.fixture(params=["memory", "sqlite"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderRepository]:
    if request.param == "memory":
        yield InMemoryOrderRepository()
        return
    db = SqliteDatabase(tmp_path / "direction.db")
    try:
        yield SqliteOrderRepository(db)
    finally:
        db.close()


def _pages(
    repo: OrderRepository, restaurant_id: str, status: OrderStatus | None, newest_first: bool
) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = repo.list_by_restaurant(restaurant_id, status, 2, cursor, newest_first=newest_first)
        pages.append([o.order_id for o in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return pages
        assert len(pages) < 50, "pagination never ends"


def test_newest_first_is_the_restaurant_listing_backwards_by_status_too(repo: OrderRepository) -> None:
    restaurant = make_restaurant()
    placed = []
    for i in range(7):
        order = make_order(restaurant, now=T0 + timedelta(minutes=i // 2))  # pairs share a time: the id decides
        if i % 3 == 0:
            order.transition(OrderStatus.CANCELLED, Actor.admin(), order.created_at, f"evt-cancel-{i}", "test")
        repo.add(order)
        placed.append(order)
    repo.add(make_order(make_restaurant()))  # another restaurant's

    for status in (None, OrderStatus.PENDING, OrderStatus.CANCELLED):
        oldest = _pages(repo, restaurant.restaurant_id, status, newest_first=False)
        newest = _pages(repo, restaurant.restaurant_id, status, newest_first=True)
        ids = [i for page in oldest for i in page]
        assert [i for page in newest for i in page] == list(reversed(ids))
        assert all(len(page) <= 2 for page in newest)
        expected = sorted(
            (o for o in placed if status is None or o.status is status), key=lambda o: (o.created_at, o.order_id)
        )
        assert ids == [o.order_id for o in expected]


def test_a_cursor_continues_only_its_own_direction_and_status(repo: OrderRepository) -> None:
    restaurant = make_restaurant()
    for i in range(3):
        repo.add(make_order(restaurant, now=T0 + timedelta(minutes=i)))
    rid = restaurant.restaurant_id
    backwards = repo.list_by_restaurant(rid, None, 1, newest_first=True).next_cursor
    forwards = repo.list_by_restaurant(rid, None, 1).next_cursor
    pending = repo.list_by_restaurant(rid, OrderStatus.PENDING, 1, newest_first=True).next_cursor
    assert backwards and forwards and pending

    for status, cursor, newest_first in (
        (None, backwards, False),
        (None, forwards, True),
        (None, pending, True),
        (OrderStatus.PENDING, backwards, True),
    ):
        with pytest.raises(ValidationError) as caught:
            repo.list_by_restaurant(rid, status, 1, cursor, newest_first=newest_first)
        assert [f.field for f in caught.value.fields] == ["cursor"]
