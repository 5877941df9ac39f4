"""Contract of ``RestaurantRepository``: every restaurant store must pass it.

Subclass :class:`RestaurantRepositoryContract` in a ``Test*`` class and provide the ``repo`` fixture
(an empty store).
"""

from __future__ import annotations

import base64
from dataclasses import replace
from decimal import Decimal

import pytest

from fooddelivery.domain.catalog import Restaurant
from fooddelivery.domain.errors import ConcurrencyConflict, NotFound, ValidationError
from fooddelivery.ports.restaurants import RestaurantQuery, RestaurantRepository
from fooddelivery.testing.builders import DOWNTOWN, UNICODE_NAMES, make_restaurant, point_at

__all__ = ["RestaurantRepositoryContract"]


def _walk(repo: RestaurantRepository, query: RestaurantQuery) -> list[list[str]]:
    pages: list[list[str]] = []
    while True:
        page = repo.search(query)
        pages.append([r.restaurant_id for r in page.items])
        if page.next_cursor is None:
            return pages
        query = replace(query, cursor=page.next_cursor)
        assert len(pages) < 100, "pagination never ends"


class RestaurantRepositoryContract:
    """Behaviour every ``RestaurantRepository`` must show (fixture ``repo``: an empty store)."""

    @pytest.fixture
    def repo(self) -> RestaurantRepository:
        """The RestaurantRepository under test, fresh for each test (subclasses override this fixture)."""
        raise NotImplementedError("a subclass provides the store under test")

    def _seed(self, repo: RestaurantRepository) -> list[Restaurant]:
        """Seven restaurants of two cuisines and several ratings, some far from downtown."""
        specs = [
            ("rst-a", "pizza", "4.5", 0.0),
            ("rst-b", "pizza", "4.5", 2.0),
            ("rst-c", "sushi", "4.9", 1.0),
            ("rst-d", "pizza", "3.0", 0.5),
            ("rst-e", "sushi", "4.5", 30.0),
            ("rst-f", "pizza", "5.0", 12.0),
            ("rst-g", "pizza", "0.0", 3.0),
        ]
        return [
            repo.add(
                make_restaurant(
                    restaurant_id=rid,
                    cuisine=cuisine,
                    rating=Decimal(rating),
                    location=point_at(DOWNTOWN, km_north=km),
                )
            )
            for rid, cuisine, rating, km in specs
        ]

    # -- add / get / save --------------------------------------------------------------------------
    def test_an_added_restaurant_is_stored_at_version_1_with_every_field_equal(
        self, repo: RestaurantRepository
    ) -> None:
        restaurant = make_restaurant(version=0)
        stored = repo.add(restaurant)
        assert stored == replace(restaurant, version=1)
        assert repo.get(restaurant.restaurant_id) == stored

    def test_unicode_names_of_the_restaurant_and_its_menu_round_trip_unchanged(
        self, repo: RestaurantRepository
    ) -> None:
        restaurant = repo.add(make_restaurant(name="Ресторан «Зоя» — 東京 🍣"))
        got = repo.get(restaurant.restaurant_id)
        assert got.name == "Ресторан «Зоя» — 東京 🍣"
        assert tuple(item.name for item in got.menu) == UNICODE_NAMES
        assert [str(item.price) for item in got.menu] == [
            "12.50",
            "18.00",
            "14.25",
            "9.99",
            "4.50",
            "16.75",
        ]
        assert [item.available for item in got.menu] == [True, True, True, True, False, True]

    def test_adding_an_existing_id_raises_concurrency_conflict(self, repo: RestaurantRepository) -> None:
        first = repo.add(make_restaurant(restaurant_id="rst-dup", name="First"))
        with pytest.raises(ConcurrencyConflict):
            repo.add(make_restaurant(restaurant_id="rst-dup", name="Second"))
        assert repo.get("rst-dup") == first

    def test_get_of_an_unknown_restaurant_raises_not_found(self, repo: RestaurantRepository) -> None:
        with pytest.raises(NotFound):
            repo.get("rst-missing")

    def test_save_replaces_and_bumps_the_version(self, repo: RestaurantRepository) -> None:
        stored = repo.add(make_restaurant())
        saved = repo.save(replace(stored, accepting_orders=False, name="Café Zoë (closed)"))
        assert saved.version == 2
        assert repo.get(stored.restaurant_id) == saved
        assert saved.accepting_orders is False

    def test_saving_a_stale_version_raises_concurrency_conflict_and_writes_nothing(
        self, repo: RestaurantRepository
    ) -> None:
        stored = repo.add(make_restaurant())
        winner = repo.save(replace(stored, name="Winner"))
        with pytest.raises(ConcurrencyConflict):
            repo.save(replace(stored, name="Loser"))
        assert repo.get(stored.restaurant_id) == winner

    def test_save_of_an_unknown_restaurant_raises_not_found(self, repo: RestaurantRepository) -> None:
        with pytest.raises(NotFound):
            repo.save(make_restaurant(version=1))

    # -- search ------------------------------------------------------------------------------------
    def test_search_sorts_by_rating_descending_then_id(self, repo: RestaurantRepository) -> None:
        self._seed(repo)
        page = repo.search(RestaurantQuery(limit=100))
        assert [r.restaurant_id for r in page.items] == [
            "rst-f",
            "rst-c",
            "rst-a",
            "rst-b",
            "rst-e",
            "rst-d",
            "rst-g",
        ]
        assert page.next_cursor is None

    def test_search_filters_by_cuisine(self, repo: RestaurantRepository) -> None:
        self._seed(repo)
        page = repo.search(RestaurantQuery(cuisine="sushi"))
        assert [r.restaurant_id for r in page.items] == ["rst-c", "rst-e"]

    def test_search_filters_by_minimum_rating_inclusive(self, repo: RestaurantRepository) -> None:
        self._seed(repo)
        page = repo.search(RestaurantQuery(min_rating=Decimal("4.5")))
        assert [r.restaurant_id for r in page.items] == [
            "rst-f",
            "rst-c",
            "rst-a",
            "rst-b",
            "rst-e",
        ]

    def test_search_filters_by_distance_from_a_point(self, repo: RestaurantRepository) -> None:
        self._seed(repo)
        page = repo.search(RestaurantQuery(near=DOWNTOWN, radius_km=2.5))
        assert [r.restaurant_id for r in page.items] == ["rst-c", "rst-a", "rst-b", "rst-d"]

    def test_search_combines_every_filter(self, repo: RestaurantRepository) -> None:
        self._seed(repo)
        query = RestaurantQuery(cuisine="pizza", min_rating=Decimal("4"), near=DOWNTOWN, radius_km=15)
        assert [r.restaurant_id for r in repo.search(query).items] == ["rst-f", "rst-a", "rst-b"]

    def test_search_pages_cover_every_match_exactly_once_in_order(self, repo: RestaurantRepository) -> None:
        self._seed(repo)
        pages = _walk(repo, RestaurantQuery(limit=2))
        assert [len(p) for p in pages] == [2, 2, 2, 1]
        assert [rid for page in pages for rid in page] == [
            "rst-f",
            "rst-c",
            "rst-a",
            "rst-b",
            "rst-e",
            "rst-d",
            "rst-g",
        ]

    def test_filtered_search_pages_cover_every_match_exactly_once(self, repo: RestaurantRepository) -> None:
        self._seed(repo)
        pages = _walk(repo, RestaurantQuery(cuisine="pizza", near=DOWNTOWN, radius_km=5, limit=1))
        assert [rid for page in pages for rid in page] == ["rst-a", "rst-b", "rst-d", "rst-g"]

    def test_a_rating_change_moves_the_restaurant_in_the_listing(self, repo: RestaurantRepository) -> None:
        seeded = {r.restaurant_id: r for r in self._seed(repo)}
        repo.save(replace(seeded["rst-g"], rating=Decimal("4.7")))
        ids = [r.restaurant_id for r in repo.search(RestaurantQuery(cuisine="pizza")).items]
        assert ids == ["rst-f", "rst-g", "rst-a", "rst-b", "rst-d"]

    def test_a_search_with_no_match_is_an_empty_last_page(self, repo: RestaurantRepository) -> None:
        self._seed(repo)
        page = repo.search(RestaurantQuery(cuisine="ethiopian"))
        assert list(page.items) == []
        assert page.next_cursor is None

    @pytest.mark.parametrize(
        "cursor",
        [
            "%%%",
            base64.urlsafe_b64encode(b"plain text").decode(),
            base64.urlsafe_b64encode(b'{"unexpected": 1}').decode(),
        ],
    )
    def test_a_malformed_cursor_raises_validation_error_on_the_cursor_field(
        self, repo: RestaurantRepository, cursor: str
    ) -> None:
        self._seed(repo)
        with pytest.raises(ValidationError) as caught:
            repo.search(RestaurantQuery(cursor=cursor))
        assert [f.field for f in caught.value.fields] == ["cursor"]
