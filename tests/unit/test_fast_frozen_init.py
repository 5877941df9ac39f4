"""fast_frozen_init: the hot frozen dataclasses' cheaper ``__init__`` builds exactly what the generated one does."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import InitVar, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from fooddelivery.domain import Actor, Role, ValidationError
from fooddelivery.domain._frozen import fast_frozen_init
from fooddelivery.domain.catalog import Driver, DriverStatus
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.money import Money
from fooddelivery.ports.notifications import Notification
from fooddelivery.ports.payments import Charge
from fooddelivery.ports.scheduler import ScheduledMessage


@dataclass(frozen=True, slots=True)
class _Generated:
    a: str
    b: int = 7
    c: dict[str, int] = field(default_factory=dict)


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class _Fast:
    a: str
    b: int = 7
    c: dict[str, int] = field(default_factory=dict)


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class _Checked:
    a: int

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("a must be >= 0")


def test_the_fast_init_takes_the_same_arguments_and_defaults_as_the_generated_one() -> None:
    assert str(inspect.signature(_Fast)) == str(inspect.signature(_Generated))
    for args, kwargs in [(("x",), {}), (("x", 3), {}), (("x",), {"c": {"k": 1}}), ((), {"a": "y", "b": 0})]:
        fast, generated = _Fast(*args, **kwargs), _Generated(*args, **kwargs)
        assert dataclasses.astuple(fast) == dataclasses.astuple(generated)
        assert repr(fast).replace("_Fast", "_Generated") == repr(generated)
    with pytest.raises(TypeError):
        _Fast()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Fast("x", 1, {}, 4)  # type: ignore[call-arg]


def test_each_instance_gets_its_own_default_factory_value_and_stays_frozen() -> None:
    one, two = _Fast("x"), _Fast("x")
    assert one.c == {} and one.c is not two.c
    assert one == two and one != _Fast("x", 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.a = "y"  # type: ignore[misc]


def test_post_init_still_runs_and_can_refuse() -> None:
    assert _Checked(3).a == 3
    with pytest.raises(ValueError, match="a must be >= 0"):
        _Checked(-1)
    with pytest.raises(ValidationError):
        Actor(Role.RESTAURANT, "owner")  # a restaurant actor names its restaurant


def test_the_decorator_refuses_what_it_cannot_build() -> None:
    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True, slots=True)
    class KeywordOnly:
        a: int = field(kw_only=True)

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class WithInitVar:  # dataclasses.fields() leaves an InitVar out: the generated __init__ takes it
        a: int
        scale: InitVar[int] = 1

        def __post_init__(self, scale: int) -> None:
            pass

    for cls in (Mutable, KeywordOnly, NoSlots, WithInitVar):
        with pytest.raises(TypeError):
            fast_frozen_init(cls)


def test_the_hot_records_build_as_before() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    event = DomainEvent("evt-1", EventType.ORDER_PLACED, now, "ord-1", 1)
    assert (event.event_id, event.type, event.occurred_at, event.order_id, event.order_version, event.payload) == (
        "evt-1", EventType.ORDER_PLACED, now, "ord-1", 1, {}
    )
    assert event.payload is not DomainEvent("evt-2", EventType.ORDER_PLACED, now, "ord-1", 1).payload
    message = ScheduledMessage("m-1", now, "saga.timeout")
    assert message.body == {} and message == ScheduledMessage("m-1", now, "saga.timeout")
    assert Charge("ch-1", None, True).captured is True  # type: ignore[arg-type]
    assert Notification("n-1", "customer", "u-1", "ord-1", "t").data == {}  # type: ignore[arg-type]
    assert Actor.customer("u-1") == Actor(Role.CUSTOMER, "u-1", None, None)


def test_the_init_annotations_resolve_in_the_class_module_as_the_generated_ones_do() -> None:
    # typing.get_type_hints(cls.__init__) and inspect.signature(cls, eval_str=True) evaluate the (string)
    # annotations in the __init__'s globals: the generated __init__'s are its module's, so names such as EventType
    # or Money resolve there (a NameError when the __init__ was built in a namespace of its own)
    assert typing.get_type_hints(DomainEvent.__init__) == {
        "event_id": str,
        "type": EventType,
        "occurred_at": datetime,
        "order_id": str,
        "order_version": int,
        "payload": dict[str, Any],
        "return": type(None),
    }
    assert inspect.signature(Charge, eval_str=True).parameters["amount"].annotation is Money
    assert inspect.signature(Driver, eval_str=True).parameters["status"].annotation is DriverStatus
    assert typing.get_type_hints(_Fast.__init__) == typing.get_type_hints(_Generated.__init__)


@dataclass(frozen=True, slots=True)
class _WideGenerated:
    a: str
    b: int
    c: float
    d: int = 4
    e: list[int] = field(default_factory=list)


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class _Wide:
    a: str
    b: int
    c: float
    d: int = 4
    e: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if type(self) is not _Wide and type(self) is not _WideChild:
            raise AssertionError(f"__post_init__ saw a {type(self).__name__}")  # never the layout twin
        if self.b < 0:
            raise ValueError("b must be >= 0")


@dataclass(frozen=True, slots=True)
class _WideChild(_Wide):
    f: str = "child"


def test_a_wide_class_is_filled_as_its_layout_twin_and_ends_as_itself_frozen() -> None:
    fast, generated = _Wide("x", 1, 2.5), _WideGenerated("x", 1, 2.5)
    assert type(fast) is _Wide
    assert dataclasses.astuple(fast) == dataclasses.astuple(generated) == ("x", 1, 2.5, 4, [])
    assert _Wide("x", 1, 2.5, 9, [3]) == _Wide(a="x", b=1, c=2.5, d=9, e=[3])
    assert fast.e is not _Wide("x", 1, 2.5).e
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.a = "y"  # type: ignore[misc]
    with pytest.raises(ValueError, match="b must be >= 0"):
        _Wide("x", -1, 2.5)


def test_a_subclass_instance_is_built_through_the_slot_setters_and_keeps_its_class() -> None:
    child = _WideChild("x", 1, 2.5)  # the subclass's own (generated) __init__ calls no parent __init__...
    assert type(child) is _WideChild and child.f == "child"
    built: Any = object.__new__(_WideChild)
    _Wide.__init__(built, "y", 2, 3.5)  # ...so call the parent's on an instance of the subclass: another layout
    assert type(built) is _WideChild and (built.a, built.b, built.c, built.d, built.e) == ("y", 2, 3.5, 4, [])


@pytest.mark.parametrize("free_threaded", [False, True])
def test_a_free_threaded_interpreter_builds_no_instance_as_its_twin(
    free_threaded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a free-threaded build an assignment to __class__ may stop every thread (CPython gh-120198): the
    # descriptor stores are taken there instead, with the same fields, defaults and frozenness.
    monkeypatch.setattr("fooddelivery.domain._frozen._FREE_THREADED", free_threaded)

    @fast_frozen_init
    @dataclass(frozen=True, slots=True)
    class Wide:
        a: str
        b: int
        c: float
        d: int = 4

    assert ("__class__" in Wide.__init__.__code__.co_names) is not free_threaded  # self.__class__ = cls
    built = Wide("x", 1, 2.5)
    assert type(built) is Wide and dataclasses.astuple(built) == ("x", 1, 2.5, 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.a = "y"  # type: ignore[misc]
