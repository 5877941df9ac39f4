"""Adversarial review of the Firestore unit of work (``FirestoreUnitOfWork``) against the emulator.

A refused commit is diagnosed by one read, and "every document the commit wrote is stored as it wrote it" is taken
to mean "this commit, resent after its answer was lost". For a saga written alone that test is *content equality*,
which another writer's identical write also passes; for an order it is the presence of the first outbox record,
which the sweep may already have published (deleted). These tests pin down what the port
(``fooddelivery.ports.unit_of_work.OrderUnitOfWork.commit``) says instead: a saga written or created by someone
else since it was read is a ``ConcurrencyConflict``, and a commit that did take effect is not reported as one.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from fooddelivery.domain.actors import Actor
from fooddelivery.domain.errors import ConcurrencyConflict
from fooddelivery.domain.order import OrderStatus
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery.testing.builders import T0, make_order, make_saga_state
from fooddelivery_gcp.firestore import FirestoreOrderRepository, FirestoreSagaStateStore
from fooddelivery_gcp.firestore.unit_of_work import FirestoreUnitOfWork
from fooddelivery_gcp.metering import FirestoreMeter


def _unit(client: Any, prefix: str) -> FirestoreUnitOfWork:
    """A unit of work of its own (another process: its own saga store and update-time memory)."""
    meter = FirestoreMeter()
    orders = FirestoreOrderRepository(client, prefix=prefix, meter=meter)
    unit = orders.unit_of_work(FirestoreSagaStateStore(client, prefix=prefix, meter=meter))
    assert isinstance(unit, FirestoreUnitOfWork)
    return unit


def _placed(unit: FirestoreUnitOfWork) -> str:
    order, saga = make_order(), make_saga_state()
    saga.saga_id = order.order_id
    unit.commit(saga, order, create_saga=True)
    return order.order_id


def test_of_two_saga_only_commits_from_one_read_with_the_same_new_state_only_one_wins(
    firestore_client: Any, prefix: str
) -> None:
    """Two instances take the same (redelivered) signal from one read and compute the same next state: the
    second commit's precondition fails on the first one's write, and must be a conflict, not a success."""
    order_id = _placed(_unit(firestore_client, prefix))
    first, second = _unit(firestore_client, prefix), _unit(firestore_client, prefix)
    _, mine = first.load(order_id)
    _, theirs = second.load(order_id)
    assert mine is not None and theirs is not None and mine == theirs
    for saga in (mine, theirs):
        saga.current, saga.status = "ProcessPayment", SagaStatus.RUNNING

    first.commit(mine)
    assert mine.version == 2
    with pytest.raises(ConcurrencyConflict):
        second.commit(theirs)  # written by someone else since it was read
    assert theirs.version == 1


def test_of_two_threads_committing_the_same_saga_step_from_one_read_exactly_one_wins(
    firestore_client: Any, prefix: str
) -> None:
    order_id = _placed(_unit(firestore_client, prefix))
    units = [_unit(firestore_client, prefix) for _ in range(2)]
    reads = [u.load(order_id)[1] for u in units]
    for saga in reads:
        assert saga is not None
        saga.current, saga.status = "ProcessPayment", SagaStatus.RUNNING
    wins: list[int] = []
    conflicts: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def write(i: int) -> None:
        barrier.wait()
        try:
            units[i].commit(reads[i])
            wins.append(i)
        except ConcurrencyConflict:
            conflicts.append(i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert (len(wins), len(conflicts)) == (1, 1), f"wins {wins}, conflicts {conflicts}"


def test_a_saga_start_that_finds_an_identical_saga_created_by_another_instance_is_a_conflict(
    firestore_client: Any, prefix: str
) -> None:
    """``SagaRunner.start`` creates the instance with ``commit(state, create_saga=True)`` and takes a
    ``ConcurrencyConflict`` as "someone else started it: resume theirs". Two instances starting the same saga (an
    at-least-once ``OrderPlaced`` handled twice at once, on one clock reading) build equal states: the second
    create must be refused, or both instances drive the saga (its first step -- the payment -- twice)."""
    order = make_order()
    _unit(firestore_client, prefix).commit(None, order)
    first, second = _unit(firestore_client, prefix), _unit(firestore_client, prefix)
    mine = make_saga_state(saga_id=order.order_id, current="ProcessPayment", status=SagaStatus.RUNNING)
    theirs = mine.copy()

    first.commit(mine, create_saga=True)
    with pytest.raises(ConcurrencyConflict):
        second.commit(theirs, create_saga=True)  # it exists: the port says ConcurrencyConflict
    assert theirs.version == 0


def test_a_saga_created_by_the_saga_store_is_not_taken_for_the_units_own_create(
    firestore_client: Any, prefix: str
) -> None:
    """The same, with the other instance on the saga store's own port (``sagas.create``, e.g. a composed unit or
    an older deployment): its document is equal to what the unit writes, and is still not the unit's."""
    order = make_order()
    unit = _unit(firestore_client, prefix)
    unit.commit(None, order)
    state = make_saga_state(saga_id=order.order_id)
    FirestoreSagaStateStore(firestore_client, prefix=prefix).create(state.copy())

    with pytest.raises(ConcurrencyConflict):
        unit.commit(state, create_saga=True)


def test_a_lost_commit_answer_is_the_commit_even_when_its_outbox_record_was_published_meanwhile(
    firestore_client: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit is applied, its answer lost; before the client library's resend fails its preconditions, the
    outbox record the commit wrote is published and deleted (the sweep, or any relay marking it sent). Every
    document the commit wrote is as it wrote it except that record: still the commit, not a conflict (a conflict
    makes the runner reload, see its own saga version moved on, and leave the instance to "someone else")."""
    from google.api_core.exceptions import ServiceUnavailable

    unit = _unit(firestore_client, prefix)
    order_id = _placed(unit)
    order, saga = unit.load(order_id)
    assert saga is not None
    order.transition(OrderStatus.CONFIRMED, Actor.system(), T0, "evt-published")
    saga.current = "Prepare"
    outbox = firestore_client.collection(f"{prefix}outbox")
    transport = firestore_client._firestore_api._transport
    wrapped = transport._wrapped_methods[transport.commit]
    real = wrapped._target
    state = {"lost": 0}

    def commit(request: Any, *args: Any, **kwargs: Any) -> Any:
        response = real(request, *args, **kwargs)
        names = [w.update.name for w in request.writes if w.update.name]
        if not state["lost"] and any(n.endswith("/evt-published") for n in names):
            state["lost"] += 1
            outbox.document("evt-published").delete()  # published by the relay, marked sent
            raise ServiceUnavailable("connection reset after the commit was applied")
        return response

    monkeypatch.setattr(wrapped, "_target", commit)

    unit.commit(saga, order)  # applied once; must not be reported as a conflict

    assert state["lost"] == 1
    assert (order.persisted_version, saga.version, order.pending_events) == (2, 2, [])
    stored, stored_saga = unit.load(order_id)
    assert stored.status is OrderStatus.CONFIRMED and stored_saga == saga


def test_after_a_lost_answer_the_saga_store_remembers_the_sagas_own_update_time_not_the_orders(
    firestore_client: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit is applied, its answer lost; before the resend, another caller rewrites the order without
    changing it (``orders.save`` of the order read at that version: same version, new update time). The resend is
    recognised as the commit -- and the saga's update time the saga store remembers for the next read-free
    ``sagas.save`` must be the saga's, not the order's: otherwise that save fails on a saga nobody touched (the
    emulator refuses a base time later than the stored one with ``INVALID_ARGUMENT``: an ``InfrastructureError``;
    an earlier one would be a ``ConcurrencyConflict``)."""
    from google.api_core.exceptions import ServiceUnavailable

    unit = _unit(firestore_client, prefix)
    order_id = _placed(unit)
    order, saga = unit.load(order_id)
    assert saga is not None
    order.transition(OrderStatus.CONFIRMED, Actor.system(), T0, "evt-rewritten")
    saga.current = "Prepare"
    bystander = FirestoreOrderRepository(firestore_client, prefix=prefix)
    transport = firestore_client._firestore_api._transport
    wrapped = transport._wrapped_methods[transport.commit]
    real = wrapped._target
    state = {"lost": 0}

    def commit(request: Any, *args: Any, **kwargs: Any) -> Any:
        response = real(request, *args, **kwargs)
        names = [w.update.name for w in request.writes if w.update.name]
        if not state["lost"] and any(n.endswith("/evt-rewritten") for n in names):
            state["lost"] += 1
            bystander.save(bystander.get(order_id))  # an unchanged order written again: same version
            raise ServiceUnavailable("connection reset after the commit was applied")
        return response

    monkeypatch.setattr(wrapped, "_target", commit)
    unit.commit(saga, order)
    assert state["lost"] == 1 and saga.version == 2

    saga.current = "Ready"
    unit.sagas.save(saga)  # nobody wrote the saga since this commit: must succeed
    assert unit.sagas.get(order_id).current == "Ready"


def test_a_lost_commit_answer_is_not_reported_as_a_conflict_that_wrote_nothing_when_the_commit_was_applied(
    firestore_client: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit (order, event, saga) is applied, its answer lost; before the client library's resend, another
    instance moves the saga on. The port: a ``ConcurrencyConflict`` from an atomic commit means it "wrote
    nothing". Here the order, its event and the saga step were all written: either the commit reports success, or
    -- if it reports a conflict -- nothing of it may be stored."""
    from google.api_core.exceptions import ServiceUnavailable

    unit = _unit(firestore_client, prefix)
    order_id = _placed(unit)
    order, saga = unit.load(order_id)
    assert saga is not None
    order.transition(OrderStatus.CONFIRMED, Actor.system(), T0, "evt-applied")
    saga.current = "Prepare"
    rival = _unit(firestore_client, prefix)
    transport = firestore_client._firestore_api._transport
    wrapped = transport._wrapped_methods[transport.commit]
    real = wrapped._target
    state = {"lost": 0}

    def commit(request: Any, *args: Any, **kwargs: Any) -> Any:
        response = real(request, *args, **kwargs)
        names = [w.update.name for w in request.writes if w.update.name]
        if not state["lost"] and any(n.endswith("/evt-applied") for n in names):
            state["lost"] += 1
            _, moved = rival.load(order_id)  # another instance moves the saga on
            assert moved is not None
            moved.current = "Elsewhere"
            rival.commit(moved)
            raise ServiceUnavailable("connection reset after the commit was applied")
        return response

    monkeypatch.setattr(wrapped, "_target", commit)
    try:
        unit.commit(saga, order)
    except ConcurrencyConflict:
        stored, _ = unit.load(order_id)
        assert (stored.status, stored.persisted_version) == (OrderStatus.PENDING, 1), "a conflict that wrote"
        assert "evt-applied" not in [r.event.event_id for r in unit.orders.pending(10)], "a conflict that wrote"
    else:
        assert (order.persisted_version, order.pending_events) == (2, [])
        # the saga was moved on since: this instance's next step from its copy must not pass a precondition
        saga.current = "Next"
        with pytest.raises(ConcurrencyConflict):
            unit.commit(saga)
        stored_saga = unit.load(order_id)[1]
        assert stored_saga is not None and stored_saga.current == "Elsewhere"
    assert state["lost"] == 1


def _lose_first_answer(client: Any, monkeypatch: pytest.MonkeyPatch, doc: str) -> dict[str, int]:
    """The first ``Commit`` writing document ``doc`` is applied, then its answer lost (``UNAVAILABLE``): the client
    library resends it."""
    from google.api_core.exceptions import ServiceUnavailable

    transport = client._firestore_api._transport
    wrapped = transport._wrapped_methods[transport.commit]
    real = wrapped._target
    state = {"lost": 0}

    def commit(request: Any, *args: Any, **kwargs: Any) -> Any:
        response = real(request, *args, **kwargs)
        names = [w.update.name for w in request.writes if w.update.name]
        if not state["lost"] and any(n.endswith(f"/{doc}") for n in names):
            state["lost"] += 1
            raise ServiceUnavailable("connection reset after the commit was applied")
        return response

    monkeypatch.setattr(wrapped, "_target", commit)
    return state


def test_a_gcp_placement_whose_commit_answer_was_lost_is_the_placement_not_a_conflict(
    firestore_client: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On GCP a placement does not go through the unit of work: ``build_gcp_app`` unplugs the in-process consumer
    (``relay.consumer = None``), so ``OrderSession.add`` calls ``FirestoreOrderRepository.add``. Its commit
    applied and its answer lost, the resend finds the order it created (``ALREADY_EXISTS``) and ``add`` raises
    ``ConcurrencyConflict``: the customer is told the placement failed while the order and its ``OrderPlaced``
    event are stored (the sweep publishes it, the saga charges the payment)."""
    orders = FirestoreOrderRepository(firestore_client, prefix=prefix)
    order = make_order()
    placed = order.pending_events[0].event_id
    state = _lose_first_answer(firestore_client, monkeypatch, order.order_id)

    orders.add(order)  # applied once: must not be reported as a conflict

    assert state["lost"] == 1
    assert (order.persisted_version, order.pending_events) == (1, [])
    assert [r.event.event_id for r in orders.pending(10)] == [placed]


def test_an_order_save_whose_commit_answer_was_lost_is_the_save_not_a_conflict(
    firestore_client: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for ``FirestoreOrderRepository.save`` (a restaurant's accept, a customer's cancel on GCP): applied,
    answer lost, the resend fails its ``last_update_time`` precondition on its own write."""
    orders = FirestoreOrderRepository(firestore_client, prefix=prefix)
    orders.add(make_order())
    order = orders.get(orders.pending(10)[0].event.order_id)
    order.cancel(Actor.customer(order.customer_id), T0, "evt-cancel-once", "changed my mind")
    state = _lose_first_answer(firestore_client, monkeypatch, order.order_id)

    orders.save(order)  # applied once: must not be reported as a conflict

    assert state["lost"] == 1
    assert (order.persisted_version, order.pending_events) == (2, [])
    assert orders.get(order.order_id).status is OrderStatus.CANCELLED
