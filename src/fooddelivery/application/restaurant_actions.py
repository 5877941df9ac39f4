"""What restaurants do and what anyone may read of them: confirm or reject an order, list, search, read."""

from __future__ import annotations

from typing import Final

from fooddelivery.application._base import UseCaseBase, use_case
from fooddelivery.application.order_saga import RESTAURANT_CONFIRMED, RESTAURANT_REJECTED
from fooddelivery.domain.actors import Actor, Role
from fooddelivery.domain.catalog import Restaurant, check_id
from fooddelivery.domain.errors import InvalidTransition, NotAllowed, NotFound
from fooddelivery.ports.orders import Page
from fooddelivery.ports.restaurants import RestaurantQuery
from fooddelivery.ports.saga_engine import SignalOutcome

__all__ = ["RestaurantUseCases"]

#: The roles that may confirm or reject an order, bound once (on Python 3.11 reading a member through its enum class
#: takes ``EnumType``'s slow attribute hook: see ``fooddelivery.domain.order``).
_SIGNALLERS: Final[tuple[Role, Role]] = (Role.RESTAURANT, Role.ADMIN)


class RestaurantUseCases(UseCaseBase):
    """A restaurant's answers to its orders, and the catalog's reads."""

    @use_case
    def confirm_order(self, actor: Actor, order_id: str) -> SignalOutcome:
        """The restaurant confirms: the waiting saga completes and the order becomes CONFIRMED.

        Returns:
            ACCEPTED, or DUPLICATE for a repeated confirmation (nothing changes).

        Raises:
            NotFound: not this restaurant's order.
            NotAllowed: the actor is not the order's restaurant (or admin).
            LateEvent: the confirmation window is over (timed out, rejected, cancelled); nothing changes.
            InvalidTransition: the order is not yet awaiting confirmation (payment still in progress).
        """
        return self._restaurant_signal(actor, order_id, RESTAURANT_CONFIRMED, None)

    @use_case
    def reject_order(self, actor: Actor, order_id: str, reason: str) -> SignalOutcome:
        """The restaurant rejects: alert, refund once, release the driver, order FAILED.

        Raises: as :meth:`confirm_order`.
        """
        return self._restaurant_signal(actor, order_id, RESTAURANT_REJECTED, reason)

    def _restaurant_signal(self, actor: Actor, order_id: str, event: str, reason: str | None) -> SignalOutcome:
        order = self._load_for_saga(actor, order_id)
        if actor.role not in _SIGNALLERS:
            raise NotAllowed(f"a {actor.role.value} may not confirm or reject orders")
        detail = {"by": actor.subject, **({"reason": reason} if reason else {})}
        try:
            outcome = self.runtime.signal(order.order_id, event, detail)
        except NotFound:
            raise InvalidTransition(f"order {order_id} is not yet awaiting confirmation") from None
        self._after_commit()
        return outcome

    # -- restaurants --------------------------------------------------------------------------------------
    @use_case
    def list_restaurants(self, actor: Actor, query: RestaurantQuery) -> Page[Restaurant]:
        """Restaurants matching ``query`` (rating descending); any authenticated actor."""
        return self.restaurants.search(query)

    @use_case
    def search_restaurants(self, actor: Actor, query: RestaurantQuery) -> Page[Restaurant]:
        """Same as :meth:`list_restaurants` (the reference's ``POST /restaurants/search``)."""
        return self.restaurants.search(query)

    @use_case
    def get_restaurant(self, actor: Actor, restaurant_id: str) -> Restaurant:
        """One restaurant with its menu.

        Raises:
            NotFound: no such restaurant.
        """
        check_id(restaurant_id, "restaurant_id")
        return self.restaurants.get(restaurant_id)
