"""What a saga run leaves in its call's scope when a step fails with an error that is not a lost race: nothing it
changed and did not commit (``SagaRunner._drive`` forgets the instance; a later read in the same scope -- the next
event of a batch that ``handle_events`` hands on after a failure -- goes to the store)."""

from __future__ import annotations

from typing import Any

import pytest

from fooddelivery.ports.notifications import NotificationKind
from fooddelivery.ports.saga_store import SagaStatus

from ._world import build_world


class _Bug(Exception):
    """Not a FoodDeliveryError: the runner does not route it, it escapes the drive."""


def test_a_step_failing_with_a_bug_leaves_nothing_uncommitted_in_the_calls_scope() -> None:
    world = build_world()
    notifier = world.notifier
    send = notifier.send
    broken = [True]

    def send_or_fail(notification: Any) -> None:
        if broken[0] and notification.kind is NotificationKind.CUSTOMER:
            raise _Bug("customer notifications are broken")
        send(notification)

    notifier.send = send_or_fail
    order_id = world.place_id()  # NotifyCustomer, the parallel block's last branch, fails: a dead letter
    assert [type(error) for _, error in world.service.dead_letters] == [_Bug]
    stuck = world.sagas.get(order_id)
    assert stuck.status is SagaStatus.RUNNING and stuck.current == "ParallelProcessing"

    session = world.service.orders
    with session.call():
        with pytest.raises(_Bug):
            world.runner.resume(order_id)  # the first two branches pass again, changing the instance in memory
        order, saga = session.load(order_id)  # in the same scope
        stored = world.sagas.get(order_id)
        assert saga is not None
        assert (saga.version, saga.branches_done, saga.data) == (stored.version, stored.branches_done, stored.data)
        assert order.version == world.orders.get(order_id).version

    broken[0] = False
    assert world.service.resume_sagas() >= 1
    assert world.sagas.get(order_id).status is SagaStatus.WAITING
