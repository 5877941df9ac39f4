"""The conformance scenarios (``fooddelivery.testing.conformance``) on the Firestore adapter set, against the
official Firestore emulator: the whole business driven like a queue (each message 1x/2x/3x), a crash before and
after every saga-state write, fifty orders racing for five drivers through the emulator's conditional writes, and the
bad-input list."""

from __future__ import annotations

from typing import Any

import pytest

from fooddelivery.testing.conformance import AdapterSet, ConformanceSuite
from fooddelivery_gcp.firestore import (
    FirestoreDriverRepository,
    FirestoreOrderRepository,
    FirestoreRestaurantRepository,
    FirestoreSagaStateStore,
)


class TestFirestoreConformance(ConformanceSuite):
    adapter_set_name = "firestore"

    @pytest.fixture
    def adapter_set(self, firestore_client: Any, prefix: str) -> AdapterSet:
        return AdapterSet(
            orders=FirestoreOrderRepository(firestore_client, prefix=prefix),
            restaurants=FirestoreRestaurantRepository(firestore_client, prefix=prefix),
            drivers=FirestoreDriverRepository(firestore_client, prefix=prefix),
            sagas=FirestoreSagaStateStore(firestore_client, prefix=prefix),
        )
