"""Who acts: an authenticated principal with a role, passed into every use case."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from fooddelivery.domain._frozen import fast_frozen_init
from fooddelivery.domain.errors import ValidationError

__all__ = ["Actor", "Role"]


class Role(StrEnum):
    """The roles the core knows. ``SYSTEM`` is the saga and other internal processes, never a client."""

    CUSTOMER = "customer"
    RESTAURANT = "restaurant"
    DRIVER = "driver"
    ADMIN = "admin"
    SYSTEM = "system"


#: Members every actor's check reads, bound once (on Python 3.11 reading a member through its enum class takes
#: ``EnumType``'s slow attribute hook: see ``fooddelivery.domain.order``).
_RESTAURANT: Final = Role.RESTAURANT
_DRIVER: Final = Role.DRIVER


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Actor:
    """An identity acting on the core.

    Attributes:
        role: the role.
        subject: the opaque user id (a token's ``sub``); for a customer, the customer id.
        restaurant_id: for ``RESTAURANT``, the restaurant this user operates (required).
        driver_id: for ``DRIVER``, the driver this user is (required).

    Raises:
        ValidationError: an empty subject, or a restaurant/driver actor without its binding.
    """

    role: Role
    subject: str
    restaurant_id: str | None = None
    driver_id: str | None = None

    def __post_init__(self) -> None:
        if not self.subject:
            raise ValidationError.single("subject", "must not be empty", "required")
        if self.role is _RESTAURANT and not self.restaurant_id:
            raise ValidationError.single("restaurant_id", "a restaurant actor must name its restaurant", "required")
        if self.role is _DRIVER and not self.driver_id:
            raise ValidationError.single("driver_id", "a driver actor must name its driver id", "required")

    @classmethod
    def customer(cls, customer_id: str) -> Actor:
        """A customer acting for themselves."""
        return cls(Role.CUSTOMER, customer_id)

    @classmethod
    def restaurant(cls, restaurant_id: str, subject: str | None = None) -> Actor:
        """The owner/staff of ``restaurant_id``."""
        return cls(_RESTAURANT, subject or f"owner-{restaurant_id}", restaurant_id=restaurant_id)

    @classmethod
    def driver(cls, driver_id: str, subject: str | None = None) -> Actor:
        """The driver ``driver_id``."""
        return cls(_DRIVER, subject or driver_id, driver_id=driver_id)

    @classmethod
    def admin(cls, subject: str = "admin") -> Actor:
        """An operator with every right."""
        return cls(Role.ADMIN, subject)

    @classmethod
    def system(cls, subject: str = "saga") -> Actor:
        """The core itself (saga steps, timers). The default one is built once (an actor is immutable)."""
        if subject == "saga" and cls is Actor:
            return _SAGA
        return cls(Role.SYSTEM, subject)


#: ``Actor.system()``: the saga's actor, shared.
_SAGA: Final[Actor] = Actor(Role.SYSTEM, "saga")
