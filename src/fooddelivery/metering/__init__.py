"""Metering: one interface every adapter records its billable operations on.

- :class:`Meter` is the port (``record(name, quantity=1, *, size=None)``); :class:`UsageMeter` the in-memory
  recorder; :class:`NullMeter` records nothing.
- :mod:`fooddelivery.metering.operations`: the neutral operations the in-memory adapters record, with sizes.
- :mod:`fooddelivery.metering.units`: the cloud units cloud packages record (:class:`AWS`, :class:`AZURE`,
  :class:`GCP`) and the providers' size rules.

How a cloud package plugs in: its adapters take a ``meter`` (any :class:`Meter`; default :class:`NullMeter`) and
record, in one place per client (an SDK hook or the one wrapper every call goes through), what each call really
cost, under the unit names of :mod:`~fooddelivery.metering.units` -- a Cosmos DB adapter the request charge the
server returned (``AZURE.COSMOS_REQUEST_UNITS``), a Firestore adapter one ``GCP.FIRESTORE_WRITES`` per document
written, a Pub/Sub publisher :func:`~fooddelivery.metering.units.pubsub_billable_bytes` of each message, its
function entrypoints the invocations and measured time. Its tests run a scenario with a :class:`UsageMeter` and
compare the units with what the in-memory cloud model of ``fooddelivery.cost.models`` predicts for the same
scenario, so the model that prices a million orders stays true to the package.

Everything here is standard library only and cheap to import (cloud entrypoints import it on their cold path).
"""

from fooddelivery.metering.meter import KIB, Meter, NullMeter, Quantity, Tally, UsageMeter, kib_ceil
from fooddelivery.metering.units import AWS, AZURE, GCP

__all__ = ["AWS", "AZURE", "GCP", "KIB", "Meter", "NullMeter", "Quantity", "Tally", "UsageMeter", "kib_ceil"]
