"""A runtime-queue message that fails "not now" comes back later, through the registered ``runtime_queue`` function:
the order placed during an outage of the runtime's dependencies is paid once the outage is over, nothing is
dead-lettered, and each retry is a delayed copy in the order's session (see ``fooddelivery_azure.servicebus.consumer``).
"""

from __future__ import annotations

from typing import Any

import pytest
from azure_world import REFERENCE_PAYLOAD, AzureWorld

from fooddelivery.domain.errors import InfrastructureError


class _Outage:
    """Stands between the function and the runtime: the first ``failures`` inputs fail as a store outage would."""

    def __init__(self, handle: Any, failures: int) -> None:
        self.handle = handle
        self.failures = failures

    def __call__(self, item: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise InfrastructureError("the sagas container is unavailable", retryable=True)
        return self.handle(item)


def test_an_order_placed_during_an_outage_is_paid_when_it_ends_and_nothing_is_dead_lettered(
    world: AzureWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = world.app.boot.service.runtime
    outage = _Outage(runtime.handle, failures=2)
    monkeypatch.setattr(runtime, "handle", outage)
    customer = world.token("customer", "user-1")
    order_id = world.json(world.call("POST", "/orders", REFERENCE_PAYLOAD, token=customer))["orderId"]

    world.settle()  # OrderPlaced reaches the function and fails: a copy is scheduled 5 s later
    (copy,) = world.bus.active("order-runtime")
    assert copy.session_id == order_id and copy.message_id.endswith("~retry2")
    assert world.app.boot.payments.charges == []
    world.advance(5)  # the copy fails too: the next one 10 s later
    assert world.app.boot.payments.charges == []
    world.advance(10)  # the outage is over
    assert outage.failures == 0 and len(world.app.boot.payments.charges) == 1
    order = world.json(world.call("GET", f"/orders/{order_id}", token=customer))
    assert (order["status"], order["paymentStatus"]) == ("PENDING", "CAPTURED")  # waiting for the restaurant
    assert world.settlements[:3] == ["complete", "complete", "complete"]  # every delivery settled, none abandoned
    assert world.bus.dead_letters("order-runtime") == []
