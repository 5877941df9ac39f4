"""The metered sizes' fast paths (``fooddelivery.adapters.sizes``) equal the slow, reference computation: the
stored document built attribute by attribute and measured by the generic rule, the envelope written by the
CloudEvents SDK. The reference ``value_size`` here is the implementation the fast one replaced, kept verbatim."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fooddelivery.adapters import sizes
from fooddelivery.application.envelope import to_json
from fooddelivery.domain.actors import Actor
from fooddelivery.domain.catalog import DriverStatus
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import Money
from fooddelivery.domain.order import LineRequest, Order, OrderStatus
from fooddelivery.observability.tracing import TRACE_KEY
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery.testing.builders import (
    T0,
    advance,
    make_address,
    make_driver,
    make_order,
    make_promo,
    make_restaurant,
    make_saga_state,
)

_TIME_WIDTH = 27


def _reference_number_size(value: int | Decimal | float) -> int:
    if type(value) is int:
        digits = str(value).lstrip("-").rstrip("0") or "0"
    else:
        text = repr(value) if isinstance(value, float) else str(value)
        mantissa = text.lower().split("e", 1)[0]
        digits = mantissa.lstrip("-").replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def _reference_value_size(value: Any) -> int:
    kind = type(value)
    if kind is str:
        return len(value.encode())
    if value is None or kind is bool:
        return 1
    if kind is int or kind is float or isinstance(value, Decimal):
        return _reference_number_size(value)
    if isinstance(value, Mapping):
        total = 3
        for k, v in value.items():
            total += 1 + len(str(k).encode()) + _reference_value_size(v)
        return total
    if isinstance(value, (list, tuple)):
        total = 3
        for v in value:
            total += 1 + _reference_value_size(v)
        return total
    return _TIME_WIDTH


def _reference_document_size(document: Mapping[str, Any]) -> int:
    return sum(len(name.encode()) + _reference_value_size(v) for name, v in document.items() if v is not None)


_text = st.text(max_size=12)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.integers(min_value=0, max_value=5000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    _text,
    st.datetimes(timezones=st.just(UTC)),
    st.sampled_from(list(OrderStatus)),  # a StrEnum member: neither str nor a mapping, sized as a time
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(_text, st.integers(-5, 5)), inner, max_size=4),
    ),
    max_leaves=12,
)


@given(_values)
def test_value_size_equals_the_reference_rule(value: Any) -> None:
    assert sizes.value_size(value) == _reference_value_size(value)


# -- orders: placed with random lines, then walked along random paths ----------------------------------------
_ids = st.text(alphabet=st.characters(categories=("L", "N"), include_characters="-_é😀"), min_size=1, max_size=10)


@st.composite
def _orders(draw: st.DrawFn) -> Order:
    restaurant = make_restaurant()
    menu = [m for m in restaurant.menu if m.available]
    picks = draw(st.lists(st.sampled_from(menu), min_size=1, max_size=4, unique_by=lambda m: m.item_id))
    lines = [LineRequest(quantity=draw(st.integers(1, 99)), item_id=m.item_id) for m in picks]
    if draw(st.booleans()):
        lines.append(LineRequest(quantity=2, name=menu[0].name.upper(), unit_price=str(menu[0].price)))
    order = make_order(
        restaurant,
        order_id=draw(_ids),
        customer_id=draw(_ids),
        lines=lines,
        address=draw(st.sampled_from([make_address(), make_address(location=None), make_address(text="1 Main St")])),
        payment_method=draw(st.sampled_from(["tok_visa", "card", "tok_ünïcode"])),
        tip=draw(st.sampled_from(["0", "3.50", "12.25"])),
        promo=draw(st.sampled_from([None, make_promo(min_subtotal=Money.of("0.01", "USD"))])),
    )
    path = draw(st.sampled_from(["placed", "confirmed", "picked", "delivered", "failed", "cancelled"]))
    at = T0 + timedelta(minutes=1)
    if path == "failed":
        order.fail(at, "evt-f", draw(st.sampled_from(["payment_declined", "no_driver", "délai"])))
    elif path == "cancelled":
        order.cancel(Actor.customer(order.customer_id), at, "evt-c", reason="changed my mind")
    elif path != "placed":
        target = {
            "confirmed": OrderStatus.CONFIRMED,
            "picked": OrderStatus.PICKED_UP,
            "delivered": OrderStatus.DELIVERED,
        }[path]
        advance(order, target, driver_id=draw(_ids))
    for i in range(draw(st.integers(0, 3))):
        order.notified = (*order.notified, f"ntf-{i}-{draw(_ids)}")
    return order


@settings(max_examples=150, deadline=None)
@given(_orders())
def test_order_size_equals_the_reference_document_size(order: Order) -> None:
    expected = _reference_document_size(sizes.order_document(order))
    assert sizes.order_size(order) == expected
    assert sizes.order_size(order) == expected  # again, from what was kept for the order
    snapshot = order.snapshot()
    snapshot.charge_id = "ch_00000042"
    assert sizes.order_size(snapshot) == _reference_document_size(sizes.order_document(snapshot))
    sizes.forget_order(order.order_id)
    assert sizes.order_size(order) == expected


def test_an_order_whose_fixed_objects_change_is_sized_again() -> None:
    order = make_order(order_id="ord-same", promo=None)
    first = sizes.order_size(order)
    other = make_order(order_id="ord-same", address=make_address(text="a much longer delivery address text"))
    assert sizes.order_size(other) == _reference_document_size(sizes.order_document(other)) != first


class _OrderId(str):
    """A caller's typed id: a ``str`` subclass, which ``check_id`` accepts and the order keeps as given."""


def test_an_order_whose_id_is_a_str_subclass_is_sized_as_its_document() -> None:
    # value_size sizes a value that is not exactly a str as a time (27 bytes): so the "orderId" attribute, while the
    # id's copies in statusCreatedAt and createdAtKey are text (f-strings) of the id's UTF-8 bytes
    typed = make_order(order_id=_OrderId("ord-typed-é"), customer_id="cus-ana", promo=None)
    plain = make_order(order_id="ord-typed-é", customer_id="cus-ana", promo=None)
    assert type(typed.order_id) is _OrderId
    expected = _reference_document_size(sizes.order_document(typed))
    assert sizes.order_size(typed) == expected
    assert expected == _reference_document_size(sizes.order_document(plain)) + _TIME_WIDTH - len("ord-typed-é".encode())
    sizes.forget_order(typed.order_id)


# -- outbox records and envelopes -----------------------------------------------------------------------------
_payloads = st.dictionaries(
    _text,
    st.one_of(_text, st.integers(-(10**9), 10**9), st.booleans(), st.none(), st.lists(_text, max_size=3)),
    max_size=5,
)


@st.composite
def _events(draw: st.DrawFn) -> DomainEvent:
    payload: dict[str, Any] = dict(draw(_payloads))
    if draw(st.booleans()):
        payload[TRACE_KEY] = {
            "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
            **({"tracestate": "k=v"} if draw(st.booleans()) else {}),
        }
    return DomainEvent(
        event_id=draw(_ids),
        type=draw(st.sampled_from(list(EventType))),
        occurred_at=draw(st.datetimes(min_value=datetime(2000, 1, 1), timezones=st.just(UTC))),
        order_id=draw(_ids),
        order_version=draw(st.integers(0, 10**12)),
        payload=payload,
    )


@settings(max_examples=200, deadline=None)
@given(_events())
def test_outbox_and_envelope_sizes_equal_the_reference(event: DomainEvent) -> None:
    assert sizes.outbox_size(event) == _reference_document_size(sizes.outbox_document(event))
    assert sizes.envelope_size(event) == len(to_json(event))


# -- drivers, restaurants, sagas ------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(
    name=_ids,
    status=st.sampled_from(list(DriverStatus)),
    lat=st.floats(-89.9, 89.9),
    lon=st.floats(-179.9, 179.9),
    version=st.integers(0, 10**8),
    current=st.one_of(st.none(), _ids),
)
def test_driver_size_equals_the_reference(
    name: str, status: DriverStatus, lat: float, lon: float, version: int, current: str | None
) -> None:
    assigned = status is DriverStatus.ASSIGNED
    driver = make_driver(
        name=name,
        status=status,
        location=GeoPoint(lat, lon),
        version=version,
        current_order_id=(current or "ord-1") if assigned else None,
    )
    assert sizes.driver_size(driver) == _reference_document_size(sizes.driver_document(driver))


def test_a_driver_is_sized_again_when_it_changes() -> None:
    # sized once per stored object, its id, name and vehicle once while they are the same objects
    driver = make_driver(driver_id="drv-same")
    assert sizes.driver_size(driver) == _reference_document_size(sizes.driver_document(driver))
    steps = [
        driver.evolve(version=7),
        replace(driver, status=DriverStatus.ASSIGNED, current_order_id="ord-ü-1", location=GeoPoint(1.5, -2.25)),
        replace(driver, name="Al"),
        replace(driver, vehicle="a much longer vehicle description"),
        driver,
    ]
    for changed in steps:
        expected = _reference_document_size(sizes.driver_document(changed))
        assert sizes.driver_size(changed) == expected
        assert sizes.driver_size(changed) == expected


def test_restaurant_size_equals_the_reference_and_follows_a_new_version() -> None:
    restaurant = make_restaurant()
    expected = _reference_document_size(sizes.restaurant_document(restaurant))
    assert sizes.restaurant_size(restaurant) == expected
    assert sizes.restaurant_size(restaurant) == expected
    renamed = replace(restaurant, name=restaurant.name + " — now longer", version=restaurant.version + 1)
    assert sizes.restaurant_size(renamed) == _reference_document_size(sizes.restaurant_document(renamed)) != expected


@settings(max_examples=150, deadline=None)
@given(
    data=st.dictionaries(_text, _values, max_size=4),
    status=st.sampled_from(list(SagaStatus)),
    timer=st.one_of(st.none(), _ids),
    outcome=st.one_of(st.none(), _text),
    completed=st.lists(_text, max_size=4),
    attempts=st.dictionaries(_text, st.integers(0, 9), max_size=3),
    version=st.integers(0, 10**6),
)
def test_saga_size_equals_the_reference(
    data: dict[str, Any],
    status: SagaStatus,
    timer: str | None,
    outcome: str | None,
    completed: list[str],
    attempts: dict[str, int],
    version: int,
) -> None:
    state = make_saga_state(
        data=data,
        status=status,
        timer_id=timer,
        outcome=outcome,
        completed=completed,
        attempts=attempts,
        version=version,
    )
    assert sizes.saga_size(state) == _reference_document_size(sizes.saga_document(state))


@given(_values)
def test_json_size_equals_the_length_of_compact_json(value: Any) -> None:
    expected = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    assert sizes.json_size(value) == expected


@settings(max_examples=100, deadline=None)
@given(
    event=_events(),
    at=st.datetimes(
        min_value=datetime(1, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]),
    ),
    whole_second=st.booleans(),
)
def test_the_envelope_size_follows_any_time_width_and_offset(
    event: DomainEvent, at: datetime, whole_second: bool
) -> None:
    # the fast form counts the time's width instead of writing it: years before 1000, whole seconds (no
    # microseconds written) and other offsets than UTC (written as +hh:mm, not Z) change it
    event = replace(event, occurred_at=at.replace(microsecond=0) if whole_second else at)
    assert sizes.envelope_size(event) == len(to_json(event))


@pytest.mark.parametrize("traced", [False, True], ids=["fast form", "encoded form"])
def test_a_naive_event_time_is_refused_by_the_size_as_by_the_envelope(traced: bool) -> None:
    # the envelope's time is RFC 3339, which needs an offset: both refuse a naive time with the same typed error
    payload = {TRACE_KEY: {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}} if traced else {}
    event = DomainEvent("evt-1", EventType.ORDER_PLACED, datetime(2026, 12, 7, 18, 0), "ord-1", 1, payload)
    with pytest.raises(ValidationError) as sized:
        sizes.envelope_size(event)
    with pytest.raises(ValidationError) as enveloped:
        to_json(event)
    assert sized.value.fields[0].field == enveloped.value.fields[0].field == "occurred_at"
    assert sized.value.fields[0].code == enveloped.value.fields[0].code == "naive_time"
    aware = replace(event, occurred_at=event.occurred_at.replace(tzinfo=UTC))
    assert sizes.envelope_size(aware) == len(to_json(aware))


def test_the_memos_give_the_same_sizes_when_they_fill_and_start_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # The memos are bounded (emptied when full) and a driver is kept per id: with room for two entries, every kind
    # of size is taken from a memo that keeps filling and starting again, and from kept drivers replaced in turn.
    for memo in (
        sizes._ENUM_BYTES,
        sizes._WORD_BYTES,
        sizes._FLOAT_SIZES,
        sizes._TYPE_JSON_BYTES,
    ):
        monkeypatch.setattr(memo, "limit", 2)
    monkeypatch.setattr(sizes, "_DRIVERS_MAX", 2)
    words = ["PLACED", "é-ü", "😀", "", "x" * 40]
    kinds, statuses = list(EventType), list(SagaStatus)
    for i in range(60):
        word = words[i % len(words)]
        value = {word: [word, i * 1.5, -0.0, 1e-7, 1e21, -(10**20)], str(i): word, i: None, "d": {word: i}}
        assert sizes.value_size(value) == _reference_value_size(value)
        driver = make_driver(
            driver_id=f"drv-{i % 3}",
            name=f"Dr {word}",
            status=DriverStatus.ASSIGNED if i % 2 else DriverStatus.AVAILABLE,
            current_order_id=f"ord-{word}" if i % 2 else None,
            location=GeoPoint(i * 0.5 - 10, -i * 0.25),
            version=i * 97,
        )
        for _ in range(2):
            assert sizes.driver_size(driver) == _reference_document_size(sizes.driver_document(driver))
        event = DomainEvent(
            event_id=f"evt-{word}-{i}",
            type=kinds[i % len(kinds)],
            occurred_at=T0 + timedelta(seconds=i, microseconds=i % 2),
            order_id=f"ord-{word}-{i % 4}",
            order_version=i * 131,
            payload={"driverId": word, "n": i, "at": word * 2},
        )
        assert sizes.outbox_size(event) == _reference_document_size(sizes.outbox_document(event))
        assert sizes.envelope_size(event) == len(to_json(event))
        state = make_saga_state(
            data={word: i, "x": word},
            status=statuses[i % len(statuses)],
            completed=[word, "Reserve"],
            outcome=word or None,
            version=i * 7,
        )
        assert sizes.saga_size(state) == _reference_document_size(sizes.saga_document(state))


def test_an_order_with_a_manual_assignment_in_flight_is_sized_with_its_claim() -> None:
    order = make_order(order_id="ord-claimed", promo=None)
    order.claim_driver("drv-claimed", T0 + timedelta(minutes=1))
    sizes.forget_order(order.order_id)
    assert sizes.order_size(order) == _reference_document_size(sizes.order_document(order))
