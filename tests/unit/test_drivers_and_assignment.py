"""Drivers reserve and release orders; assignment ranks AVAILABLE drivers nearest first."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from fooddelivery.domain import (
    ConcurrencyConflict,
    DriverStatus,
    InvalidTransition,
    ValidationError,
    rank_candidates,
)
from fooddelivery.domain.assignment import AssignmentPolicy

from ._factories import NOW, PARIS, driver, field_codes, field_names, meridian_km, north_of


# -- Driver
def test_reserving_an_available_driver_assigns_the_order_without_touching_the_original() -> None:
    free = driver()
    taken = free.reserve("ord-1")
    assert (taken.status, taken.current_order_id) == (DriverStatus.ASSIGNED, "ord-1")
    assert (free.status, free.current_order_id) == (DriverStatus.AVAILABLE, None)
    assert taken.version == free.version  # the store compare-and-sets on the version it read


def test_reserving_a_driver_another_order_holds_is_a_concurrency_conflict() -> None:
    busy = driver(status=DriverStatus.ASSIGNED, current_order_id="ord-9")
    with pytest.raises(ConcurrencyConflict) as info:
        busy.reserve("ord-1")
    assert info.value.context == {"driver_id": busy.driver_id}


def test_reserving_an_offline_driver_is_an_invalid_transition_not_a_race() -> None:
    offline = driver(status=DriverStatus.OFFLINE, current_order_id=None)
    with pytest.raises(InvalidTransition) as info:
        offline.reserve("ord-1")
    assert not isinstance(info.value, ConcurrencyConflict)
    assert info.value.context == {"driver_id": offline.driver_id}


def test_releasing_the_held_order_makes_the_driver_available() -> None:
    released = driver().reserve("ord-1").release("ord-1")
    assert (released.status, released.current_order_id) == (DriverStatus.AVAILABLE, None)


def test_evolve_keeps_every_field_it_is_not_given_and_refuses_unknown_ones() -> None:
    original = replace(driver(), version=7, concurrency_token="etag-1")
    evolved = original.evolve(version=8)
    assert evolved == replace(original, version=8)
    assert evolved.concurrency_token == "etag-1"  # not compared by ==, kept all the same
    assert original.version == 7
    with pytest.raises(AttributeError):
        original.evolve(colour="red")


def test_releasing_another_order_is_an_invalid_transition() -> None:
    taken = driver().reserve("ord-1")
    with pytest.raises(InvalidTransition):
        taken.release("ord-2")
    with pytest.raises(InvalidTransition):
        driver().release("ord-1")


def test_a_move_updates_position_and_time() -> None:
    later = NOW + timedelta(minutes=3)
    moved = driver().moved(north_of(PARIS, 1), later)
    assert moved.location == north_of(PARIS, 1)
    assert moved.last_seen == later
    assert moved.status is DriverStatus.AVAILABLE


@pytest.mark.parametrize(
    "at", [datetime(2025, 1, 1), datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=2)))]
)
def test_a_move_must_be_timed_in_utc(at: datetime) -> None:
    with pytest.raises(ValidationError) as info:
        driver().moved(PARIS, at)
    assert field_codes(info.value) == {"at": "timezone"}


@pytest.mark.parametrize(
    ("status", "order_id"),
    [
        (DriverStatus.ASSIGNED, None),
        (DriverStatus.AVAILABLE, "ord-1"),
        (DriverStatus.OFFLINE, "ord-1"),
    ],
)
def test_a_driver_holds_an_order_exactly_when_assigned(
    status: DriverStatus, order_id: str | None
) -> None:
    with pytest.raises(ValidationError) as info:
        driver(status=status, current_order_id=order_id)
    assert field_names(info.value) == {"current_order_id"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"vehicle": ""}, "vehicle"),
        ({"vehicle": "x" * 41}, "vehicle"),
        ({"last_seen": datetime(2025, 1, 1)}, "last_seen"),
        ({"driver_id": "d/1"}, "driver_id"),
        ({"driver_id": "d" * 129}, "driver_id"),
        ({"driver_id": "d\x7f"}, "driver_id"),
    ],
)
def test_driver_invariants(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        replace(driver(), **changes)
    assert field_names(info.value) == {field}


# -- rank_candidates
def test_candidates_are_ranked_nearest_first_with_their_distances() -> None:
    far, near, middle = (
        driver("d-far", location=north_of(PARIS, 6)),
        driver("d-near", location=north_of(PARIS, 0.5)),
        driver("d-mid", location=north_of(PARIS, -2)),
    )
    ranked = rank_candidates([far, near, middle], PARIS, radius_km=8)
    assert [d.driver_id for _, d in ranked] == ["d-near", "d-mid", "d-far"]
    for distance, d in ranked:
        assert distance == pytest.approx(meridian_km(PARIS, d.location), rel=1e-9)


def test_ties_on_distance_break_on_driver_id_whatever_the_input_order() -> None:
    spot = north_of(PARIS, 1)
    drivers = [driver(i, location=spot) for i in ("d-c", "d-a", "d-b")]
    expected = ["d-a", "d-b", "d-c"]
    assert [d.driver_id for _, d in rank_candidates(drivers, PARIS, 8)] == expected
    assert [d.driver_id for _, d in rank_candidates(reversed(drivers), PARIS, 8)] == expected


def test_drivers_beyond_the_radius_are_excluded() -> None:
    inside, outside = (
        driver("d-in", location=north_of(PARIS, 7.9)),
        driver("d-out", location=north_of(PARIS, 8.1)),
    )
    assert [d.driver_id for _, d in rank_candidates([outside, inside], PARIS, 8)] == ["d-in"]
    assert rank_candidates([outside, inside], PARIS, 1) == []


def test_the_radius_is_inclusive() -> None:
    here = driver("d-here", location=PARIS)
    assert [d.driver_id for _, d in rank_candidates([here], PARIS, 0)] == ["d-here"]


def test_only_available_drivers_are_candidates() -> None:
    drivers = [
        driver("d-busy", status=DriverStatus.ASSIGNED, current_order_id="ord-9"),
        driver("d-off", status=DriverStatus.OFFLINE, location=north_of(PARIS, 0.1)),
        driver("d-free", location=north_of(PARIS, 5)),
    ]
    assert [d.driver_id for _, d in rank_candidates(drivers, PARIS, 8)] == ["d-free"]
    assert rank_candidates([], PARIS, 8) == []


def test_the_default_assignment_policy() -> None:
    assert AssignmentPolicy() == AssignmentPolicy(radius_km=8.0, max_candidates=5, searches=3)
