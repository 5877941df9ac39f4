"""Neutral metered operations: what the in-memory adapters record, with sizes, for the cloud models to price.

Names are ``<kind>.<what>``; every sized one carries the size in bytes of each item as the matching cloud adapter
would store or send it (the adapters' size estimates are in ``fooddelivery.adapters.sizes``). The cloud models in
``fooddelivery.cost.models`` say, per cloud and saga runtime, what each of these costs (their table is the
documentation of the mapping).

======================================  ========================================================================
name                                    one record is
======================================  ========================================================================
``store.<table>.read``                  a strongly consistent point read that found an item (sized: the item)
``store.<table>.read_miss``             a point read that found nothing
``store.<table>.txn_read``              an item read inside a multi-item snapshot read (a unit of work's load;
                                        sized: the item)
``store.<table>.txn_read_miss``         an item a multi-item snapshot read asked for and did not find
``store.<table>.query``                 one query page on an index (sized: all items returned together)
``store.<table>.query_item``            one item a query page returned (unsized; per-document stores bill these)
``store.<table>.write``                 an item written on its own (sized: the item)
``store.<table>.txn_item``              an item written inside a multi-item atomic write (sized: the item)
``store.<table>.txn``                   one multi-item atomic write
``store.<table>.delete``                an item deleted (sized: the deleted item)
``store.<table>.update``                an in-place update of one item (sized: the item after it)
``bus.event``                           an event published to the bus (sized: its CloudEvents JSON envelope)
``runtime.event``                       an event routed to the order runtime's ordered queue (sized: envelope)
``notify.message``                      a notification sent (sized: its JSON body)
``stream.location``                     a driver position appended to the location stream (sized: the record)
``timer.schedule``                      a saga timer scheduled (sized: the timer message)
``timer.cancel``                        a pending saga timer cancelled
``timer.fire``                          a due saga timer delivered
``payment.call``                        a call to the card processor (not billed by any cloud)
``api.request``                         an HTTP API request (sized: the request body), recorded by its client
``saga.start``                          a saga instance started
``saga.transition``                     a state a state-machine engine enters to run the saga (see
                                        ``fooddelivery.application.saga.runner``: the counting rule)
``saga.task``                           one attempt of a saga task or compensation (an activity invocation)
``saga.wait``                           a wait for an external event entered (a callback)
``saga.signal``                         an external event delivered to a waiting saga
======================================  ========================================================================

Tables: ``orders``, ``outbox``, ``idempotency``, ``restaurants``, ``drivers``, ``sagas``.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "API_REQUEST",
    "BUS_EVENT",
    "LOCATION",
    "NOTIFICATION",
    "PAYMENT_CALL",
    "RUNTIME_EVENT",
    "SAGA_SIGNAL",
    "SAGA_START",
    "SAGA_TASK",
    "SAGA_TRANSITION",
    "SAGA_WAIT",
    "STORE_ACTIONS",
    "TABLES",
    "TIMER_CANCEL",
    "TIMER_FIRE",
    "TIMER_SCHEDULE",
    "store",
]

TABLES: Final[tuple[str, ...]] = ("orders", "outbox", "idempotency", "restaurants", "drivers", "sagas")
STORE_ACTIONS: Final[tuple[str, ...]] = (
    "read",
    "read_miss",
    "txn_read",
    "txn_read_miss",
    "query",
    "query_item",
    "write",
    "txn_item",
    "txn",
    "delete",
    "update",
)

BUS_EVENT: Final = "bus.event"
RUNTIME_EVENT: Final = "runtime.event"
NOTIFICATION: Final = "notify.message"
LOCATION: Final = "stream.location"
TIMER_SCHEDULE: Final = "timer.schedule"
TIMER_CANCEL: Final = "timer.cancel"
TIMER_FIRE: Final = "timer.fire"
PAYMENT_CALL: Final = "payment.call"
API_REQUEST: Final = "api.request"
SAGA_START: Final = "saga.start"
SAGA_TRANSITION: Final = "saga.transition"
SAGA_TASK: Final = "saga.task"
SAGA_WAIT: Final = "saga.wait"
SAGA_SIGNAL: Final = "saga.signal"


def store(table: str, action: str) -> str:
    """The name of a store operation: ``store.<table>.<action>``.

    Raises:
        ValueError: an unknown table or action.
    """
    if table not in TABLES or action not in STORE_ACTIONS:
        raise ValueError(f"unknown store operation {table}.{action}")
    return f"store.{table}.{action}"
