"""Contract of ``SagaStateStore``: every saga store must pass it.

Subclass :class:`SagaStateStoreContract` in a ``Test*`` class and provide the ``store`` fixture
(empty).
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from fooddelivery.domain.errors import ConcurrencyConflict, NotFound
from fooddelivery.ports.saga_store import SagaState, SagaStateStore, SagaStatus
from fooddelivery.testing.builders import T0, make_saga_state

__all__ = ["SagaStateStoreContract"]


class SagaStateStoreContract:
    """Behaviour every ``SagaStateStore`` must show (fixture ``store``: an empty store)."""

    @pytest.fixture
    def store(self) -> SagaStateStore:
        """The SagaStateStore under test, fresh for each test (subclasses override this fixture)."""
        raise NotImplementedError("a subclass provides the store under test")

    def test_create_stores_at_version_1_and_every_field_reads_back_equal(self, store: SagaStateStore) -> None:
        state = make_saga_state()
        store.create(state)
        assert state.version == 1
        got = store.get(state.saga_id)
        assert got == state
        assert got.data["driver"] == {
            "id": "drv-ana",
            "name": "Zoë 🛵",
            "history": ["drv-bob", "drv-cy"],
        }
        assert got.attempts == {"ProcessPayment": 2, "AssignDriver": 1}
        assert got.completed == ["ValidateOrder", "ProcessPayment"]
        assert got.status is SagaStatus.WAITING
        assert got.updated_at == T0 + timedelta(seconds=42)

    def test_creating_an_existing_id_raises_concurrency_conflict(self, store: SagaStateStore) -> None:
        first = make_saga_state(saga_id="ord-dup")
        store.create(first)
        with pytest.raises(ConcurrencyConflict):
            store.create(make_saga_state(saga_id="ord-dup", current="SomethingElse"))
        assert store.get("ord-dup").current == first.current

    def test_get_of_an_unknown_saga_raises_not_found(self, store: SagaStateStore) -> None:
        with pytest.raises(NotFound):
            store.get("ord-missing")

    def test_save_replaces_and_bumps_the_version(self, store: SagaStateStore) -> None:
        state = make_saga_state()
        store.create(state)
        state.current = "AssignDriver"
        state.status = SagaStatus.RUNNING
        state.completed.append("WaitForConfirmation")
        state.data["driver"]["history"].append("drv-dee")
        state.timer_id = None
        store.save(state)
        assert state.version == 2
        got = store.get(state.saga_id)
        assert got == state
        assert got.data["driver"]["history"] == ["drv-bob", "drv-cy", "drv-dee"]

    def test_saving_a_stale_version_raises_concurrency_conflict_and_writes_nothing(self, store: SagaStateStore) -> None:
        state = make_saga_state()
        store.create(state)
        winner = store.get(state.saga_id)
        loser = store.get(state.saga_id)
        winner.current = "Winner"
        store.save(winner)
        loser.current = "Loser"
        with pytest.raises(ConcurrencyConflict):
            store.save(loser)
        assert loser.version == 1
        assert store.get(state.saga_id).current == "Winner"

    def test_save_of_a_saga_never_created_raises_not_found(self, store: SagaStateStore) -> None:
        with pytest.raises(NotFound):
            store.save(make_saga_state(version=1))

    def test_the_stored_state_is_independent_of_the_callers_objects(self, store: SagaStateStore) -> None:
        state = make_saga_state()
        store.create(state)
        state.data["driver"]["history"].append("drv-injected")
        state.attempts["ProcessPayment"] = 99
        state.completed.clear()
        read = store.get(state.saga_id)
        read.data["driver"]["name"] = "changed"
        read.branches_done.append("changed")
        again = store.get(state.saga_id)
        assert again.data["driver"] == {
            "id": "drv-ana",
            "name": "Zoë 🛵",
            "history": ["drv-bob", "drv-cy"],
        }
        assert again.attempts == {"ProcessPayment": 2, "AssignDriver": 1}
        assert again.completed == ["ValidateOrder", "ProcessPayment"]
        assert again.branches_done == ["NotifyRestaurant"]

    def test_of_concurrent_saves_of_one_version_exactly_one_wins(self, store: SagaStateStore) -> None:
        state = make_saga_state()
        store.create(state)
        copies = [store.get(state.saga_id) for _ in range(10)]
        wins: list[str] = []
        barrier = threading.Barrier(len(copies))

        def write(copy: SagaState, i: int) -> None:
            copy.current = f"writer-{i}"
            barrier.wait()
            try:
                store.save(copy)
                wins.append(copy.current)
            except ConcurrencyConflict:
                pass

        threads = [threading.Thread(target=write, args=(c, i)) for i, c in enumerate(copies)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1
        stored = store.get(state.saga_id)
        assert stored.current == wins[0]
        assert stored.version == 2
