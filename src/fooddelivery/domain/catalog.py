"""Restaurants, menus, drivers and delivery addresses."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from fooddelivery.domain._frozen import fast_frozen_init, layout_twin
from fooddelivery.domain.errors import ConcurrencyConflict, FieldError, InvalidTransition, ValidationError
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.ids import ID_PATTERN, MAX_ID_LENGTH, check_id
from fooddelivery.domain.money import Money

__all__ = [
    "ID_PATTERN",
    "MAX_ID_LENGTH",
    "MAX_MENU_PRICE",
    "DeliveryAddress",
    "Driver",
    "DriverStatus",
    "MenuItem",
    "Restaurant",
    "check_id",
    "check_utc",
]

def check_utc(value: datetime, field_name: str) -> datetime:
    """Require a timezone-aware datetime at UTC offset zero.

    Raises:
        ValidationError: naive or non-UTC times.
    """
    offset = value.utcoffset()
    if offset is None or offset.total_seconds() != 0:
        raise ValidationError.single(field_name, "must be timezone-aware UTC", "timezone")
    return value


def _decimal_between(value: object, low: Decimal, high: Decimal) -> bool:
    """Whether ``value`` is a finite ``Decimal`` in ``[low, high]`` (comparing NaN would raise)."""
    return isinstance(value, Decimal) and value.is_finite() and low <= value <= high


#: The highest unit price a menu item may have, in major units of its currency (every price is above 0 and at most
#: this): a price a client quotes outside (0, MAX_MENU_PRICE] can never match a menu.
MAX_MENU_PRICE: Final[int] = 10_000


@dataclass(frozen=True, slots=True)
class MenuItem:
    """One dish on a menu.

    Attributes:
        item_id: opaque id, unique within the restaurant.
        name: display name (any unicode, 1..200 characters), unique within the restaurant ignoring case.
        price: unit price, > 0 and at most 10,000 major units.
        available: whether it can be ordered now.
    """

    item_id: str
    name: str
    price: Money
    available: bool = True

    def __post_init__(self) -> None:
        check_id(self.item_id, "item_id")
        if not self.name or len(self.name) > 200:
            raise ValidationError.single("name", "must be 1..200 characters", "length")
        if self.price.minor <= 0:
            raise ValidationError.single("price", "must be positive", "out_of_range")
        if self.price > Money.of(MAX_MENU_PRICE, self.price.currency):
            raise ValidationError.single("price", f"is implausibly high (max {MAX_MENU_PRICE})", "out_of_range")


@dataclass(frozen=True, slots=True)
class Restaurant:
    """A restaurant and its menu.

    Attributes:
        restaurant_id: opaque id.
        name: display name.
        cuisine: cuisine type, lower-case (``"pizza"``), the partition of the cuisine+rating index.
        rating: 0..5 with at most one decimal (``Decimal("4.5")``).
        location: where orders are picked up.
        currency: ISO 4217 currency of every menu price.
        tax_rate: sales-tax rate as a fraction, 0..0.5 (``Decimal("0.0875")``).
        avg_prep_minutes: typical preparation time, 1..240 minutes.
        menu: the dishes.
        accepting_orders: whether new orders are taken.
        version: optimistic-concurrency version (starts at 1 when stored).
        concurrency_token: an opaque token a store sets when it reads the restaurant (an etag, an update time) and
            compares on the next write; None for stores that compare ``version``. Not part of the state.
    """

    restaurant_id: str
    name: str
    cuisine: str
    rating: Decimal
    location: GeoPoint
    currency: str
    tax_rate: Decimal
    avg_prep_minutes: int
    menu: tuple[MenuItem, ...]
    accepting_orders: bool = True
    version: int = 0
    concurrency_token: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        errors: list[FieldError] = []
        check_id(self.restaurant_id, "restaurant_id")
        if not self.name or len(self.name) > 200:
            errors.append(FieldError("name", "must be 1..200 characters", "length"))
        if not self.cuisine or self.cuisine != self.cuisine.lower():
            errors.append(FieldError("cuisine", "must be non-empty lower case", "invalid"))
        if not _decimal_between(self.rating, Decimal(0), Decimal(5)):
            errors.append(FieldError("rating", "must be a Decimal between 0 and 5", "out_of_range"))
        if not _decimal_between(self.tax_rate, Decimal(0), Decimal("0.5")):
            errors.append(FieldError("tax_rate", "must be a Decimal between 0 and 0.5", "out_of_range"))
        if not 1 <= self.avg_prep_minutes <= 240:
            errors.append(FieldError("avg_prep_minutes", "must be 1..240", "out_of_range"))
        ids: set[str] = set()
        names: set[str] = set()
        for i, item in enumerate(self.menu):
            if item.price.currency != self.currency:
                errors.append(FieldError(f"menu.{i}.price", f"must be in {self.currency}", "currency_mismatch"))
            if item.item_id in ids:
                errors.append(FieldError(f"menu.{i}.item_id", "duplicate item id", "duplicate"))
            if item.name.casefold() in names:
                errors.append(FieldError(f"menu.{i}.name", "duplicate item name", "duplicate"))
            ids.add(item.item_id)
            names.add(item.name.casefold())
        if errors:
            raise ValidationError("invalid restaurant", errors)

    def item_by_id(self, item_id: str) -> MenuItem | None:
        """The menu item with this id, or None."""
        for item in self.menu:
            if item.item_id == item_id:
                return item
        return None

    def item_by_name(self, name: str) -> MenuItem | None:
        """The menu item with this name (case-insensitive, exact otherwise), or None."""
        key = name.casefold()
        for item in self.menu:
            if item.name.casefold() == key:
                return item
        return None


class DriverStatus(StrEnum):
    """A driver's availability."""

    AVAILABLE = "AVAILABLE"
    ASSIGNED = "ASSIGNED"
    OFFLINE = "OFFLINE"


#: The statuses a reservation and a release read, bound once (on Python 3.11 reading a member through its enum class
#: takes ``EnumType``'s slow attribute hook: see ``fooddelivery.domain.order``).
_AVAILABLE: Final = DriverStatus.AVAILABLE
_ASSIGNED: Final = DriverStatus.ASSIGNED
_OFFLINE: Final = DriverStatus.OFFLINE


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Driver:
    """A courier.

    Attributes:
        driver_id: opaque id.
        name: display name.
        status: AVAILABLE, ASSIGNED (holding ``current_order_id``) or OFFLINE.
        location: last reported position.
        vehicle: ``"bicycle"``, ``"scooter"``, ``"car"``... (free text, 1..40 characters).
        last_seen: when the location was reported (UTC).
        current_order_id: the order held while ASSIGNED, else None.
        version: optimistic-concurrency version; reservations compare-and-set on it.
        concurrency_token: an opaque token a store sets when it reads the driver (an etag, an update time) and
            compares on the next write (so a reservation is a compare-and-set on it); None for stores that compare
            ``version``. Not part of the state; kept by :meth:`reserve`, :meth:`release` and :meth:`moved`.
    """

    driver_id: str
    name: str
    status: DriverStatus
    location: GeoPoint
    vehicle: str
    last_seen: datetime
    current_order_id: str | None = None
    version: int = 0
    concurrency_token: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_id(self.driver_id, "driver_id")
        check_utc(self.last_seen, "last_seen")
        if not self.vehicle or len(self.vehicle) > 40:
            raise ValidationError.single("vehicle", "must be 1..40 characters", "length")
        if (self.status is DriverStatus.ASSIGNED) != (self.current_order_id is not None):
            raise ValidationError.single("current_order_id", "is set exactly when the driver is ASSIGNED")

    def reserve(self, order_id: str) -> Driver:
        """The driver ASSIGNED to ``order_id``; the store must compare-and-set on ``version``.

        Raises:
            ConcurrencyConflict: the driver is ASSIGNED (someone else got there first).
            InvalidTransition: the driver is OFFLINE.
        """
        status = self.status
        if status is _OFFLINE:
            raise InvalidTransition(f"driver {self.driver_id} is OFFLINE", driver_id=self.driver_id)
        if status is not _AVAILABLE:
            raise ConcurrencyConflict(f"driver {self.driver_id} is {status.value}", driver_id=self.driver_id)
        return self.evolve(status=_ASSIGNED, current_order_id=order_id)

    def release(self, order_id: str) -> Driver:
        """The driver AVAILABLE again after ``order_id`` (delivered or compensated).

        Raises:
            InvalidTransition: the driver does not hold ``order_id``.
        """
        if self.current_order_id != order_id:
            raise InvalidTransition(f"driver {self.driver_id} does not hold order {order_id}")
        return self.evolve(status=_AVAILABLE, current_order_id=None)

    def evolve(self, **changes: Any) -> Driver:
        """A copy with ``changes``, for changes that keep the driver valid by construction (a version, a
        reservation made by :meth:`reserve`): unlike ``dataclasses.replace`` it does not validate every field again.
        (Written out field by field: a reservation and a release take one each.)

        Raises:
            AttributeError: a name in ``changes`` that is not a field.
        """
        values = {
            "driver_id": self.driver_id,
            "name": self.name,
            "status": self.status,
            "location": self.location,
            "vehicle": self.vehicle,
            "last_seen": self.last_seen,
            "current_order_id": self.current_order_id,
            "version": self.version,
            "concurrency_token": self.concurrency_token,
        }
        for name in changes:  # (a loop, not a set comparison: no call on the way through)
            if name not in _DRIVER_FIELD_SET:
                raise AttributeError(f"'Driver' object has no attribute '{name}'")
        values.update(changes)
        # built as the driver's layout twin (plain attribute stores) and made a Driver by one class assignment: a
        # store through each slot's descriptor costs a call with an argument tuple (see layout_twin)
        copy: Any = _new_driver(_DRIVER_TWIN)
        copy.driver_id = values["driver_id"]
        copy.name = values["name"]
        copy.status = values["status"]
        copy.location = values["location"]
        copy.vehicle = values["vehicle"]
        copy.last_seen = values["last_seen"]
        copy.current_order_id = values["current_order_id"]
        copy.version = values["version"]
        copy.concurrency_token = values["concurrency_token"]
        copy.__class__ = Driver
        return copy  # type: ignore[no-any-return]  # (a Driver now; typing.cast would be one more call)

    def moved(self, location: GeoPoint, at: datetime) -> Driver:
        """The driver at ``location`` as seen at ``at``."""
        return replace(self, location=location, last_seen=check_utc(at, "at"))


_new_driver = object.__new__
_twin = layout_twin(Driver)
if _twin is None:  # pragma: no cover - guards evolve(): a Driver's layout has a twin
    raise RuntimeError("Driver needs a layout twin")
_DRIVER_TWIN: Final[type] = _twin
_DRIVER_FIELDS: Final[tuple[str, ...]] = tuple(Driver.__dataclass_fields__)
_DRIVER_FIELD_SET: Final[frozenset[str]] = frozenset(_DRIVER_FIELDS)
if _DRIVER_FIELDS != (
    "driver_id", "name", "status", "location", "vehicle", "last_seen", "current_order_id", "version",
    "concurrency_token",
):  # pragma: no cover - guards evolve() upkeep
    raise RuntimeError("Driver.evolve() must copy every field")


@dataclass(frozen=True, slots=True)
class DeliveryAddress:
    """Where the order goes.

    Attributes:
        text: the address as the customer wrote it (1..500 characters, any unicode).
        location: coordinates when known; without them the delivery fee is flat and no ETA to the door is given.
    """

    text: str
    location: GeoPoint | None = field(default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip() or len(self.text) > 500:
            raise ValidationError.single("delivery_address.text", "must be 1..500 characters", "length")
