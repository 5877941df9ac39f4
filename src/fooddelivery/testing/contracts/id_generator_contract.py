"""Contract of ``IdGenerator``: subclass :class:`IdGeneratorContract`, provide fixture ``ids``."""

from __future__ import annotations

import threading

import pytest

from fooddelivery.domain.catalog import check_id
from fooddelivery.ports.ids import IdGenerator

__all__ = ["IdGeneratorContract"]


class IdGeneratorContract:
    """Behaviour every ``IdGenerator`` must show (fixture ``ids``)."""

    @pytest.fixture
    def ids(self) -> IdGenerator:
        """The IdGenerator under test, fresh for each test (subclasses override this fixture)."""
        raise NotImplementedError("a subclass provides the generator under test")

    def test_an_id_starts_with_the_prefix_and_a_dash(self, ids: IdGenerator) -> None:
        new = ids.new_id("ord")
        assert new.startswith("ord-")
        assert len(new) > len("ord-")

    def test_ids_are_valid_opaque_identifiers(self, ids: IdGenerator) -> None:
        for prefix in ("ord", "evt", "ntf", "msg"):
            new = ids.new_id(prefix)
            assert check_id(new, "id") == new

    def test_ids_never_repeat_across_prefixes_and_threads(self, ids: IdGenerator) -> None:
        made: list[list[str]] = [[] for _ in range(8)]

        def make(bucket: list[str]) -> None:
            bucket.extend(ids.new_id("evt") for _ in range(2000))

        threads = [threading.Thread(target=make, args=(bucket,)) for bucket in made]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        every = [i for bucket in made for i in bucket] + [ids.new_id("ord") for _ in range(100)]
        assert len(set(every)) == len(every) == 16_100
        suffixes = [i.split("-", 1)[1] for i in every]
        assert len(set(suffixes)) == len(suffixes)
