"""A payment gateway the test's function processes share: the core's fake card processor with its ledger in one
SQLite file (``TEST_PAYMENTS_DB``), named by ``FOODDELIVERY_PAYMENT_GATEWAY=gcp_payments:shared_gateway`` -- the
``<module>:<factory>`` form a deployment uses for its real processor. (The in-memory ``fake`` keeps its books per
process, so a refund in the timer function could not find a capture made by the runtime function.)"""

from __future__ import annotations

import os

from fooddelivery.adapters.sqlite.database import SqliteDatabase
from fooddelivery.adapters.sqlite.payments import SqlitePaymentGateway


def shared_gateway(secret: object | None) -> SqlitePaymentGateway:
    """The shared fake processor (``secret`` is unused: the fake needs no key)."""
    return SqlitePaymentGateway(SqliteDatabase(os.environ["TEST_PAYMENTS_DB"]))
