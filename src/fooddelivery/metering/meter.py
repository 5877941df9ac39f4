"""The meter: one port every adapter records its billable operations on, and the in-memory recorder behind it.

Two kinds of names are recorded (see :mod:`fooddelivery.metering.operations` and :mod:`fooddelivery.metering.units`):

- **neutral operations** (``store.orders.write``, ``bus.event``...), recorded by the in-memory adapters with the
  size in bytes of what moved; a cloud model (``fooddelivery.cost.models``) turns them into each cloud's billable
  units;
- **cloud units** (``aws.dynamodb.write_request_units``, ``azure.cosmos.request_units``...), recorded by a cloud
  package's adapters for what they really did (the item sizes they wrote, the request charge the server reported).

A :class:`Tally` keeps, per name, the total quantity and, for sized records, the byte total and a histogram by
size in whole KiB (rounded up). Every size-based billing rule in use rounds up to a whole number of KiB (DynamoDB's
1 KB write units and 4 KB read units, the 64 KB chunks of SQS, SNS and EventBridge, Kinesis's 25 KB payload units,
Cloud Tasks' 32 KB chunks), so the histogram gives them exactly; Pub/Sub's 1,000-byte minimum is exact from the
``under1000`` count and bytes.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Protocol, runtime_checkable

__all__ = ["KIB", "Meter", "NullMeter", "Quantity", "Tally", "UsageMeter", "kib_ceil"]

#: One KiB (1,024 bytes): the "KB" of DynamoDB, SQS, SNS, EventBridge and Kinesis billing.
KIB: Final[int] = 1024
#: Pub/Sub bills at least this many bytes per publish, push or pull (https://cloud.google.com/pubsub/pricing).
_PUBSUB_MINIMUM: Final[int] = 1000

Quantity = int | Decimal


def kib_ceil(size: int) -> int:
    """``size`` bytes in whole KiB, rounded up (0 bytes -> 0)."""
    return -(-size // KIB)


@runtime_checkable
class Meter(Protocol):
    """Where adapters record billable operations.

    ``record(name)`` counts one operation; ``quantity`` counts several (or a fractional unit such as a Cosmos DB
    request charge, as a ``Decimal``); ``size`` is the size in bytes of **each** of the ``quantity`` items (an item
    written, a message sent, an event published).
    """

    def record(self, name: str, quantity: Quantity = 1, *, size: int | None = None) -> None:
        """Record ``quantity`` of ``name`` (each ``size`` bytes, when given)."""
        ...


class NullMeter:
    """A meter that records nothing (the default where no meter was given)."""

    __slots__ = ()

    def record(self, name: str, quantity: Quantity = 1, *, size: int | None = None) -> None:
        """Record nothing."""


@dataclass(slots=True)
class Tally:
    """What was recorded under one name.

    Attributes:
        quantity: the sum of the recorded quantities (an int unless a Decimal was recorded).
        sized: how many of them carried a size.
        bytes: the sum of their sizes.
        kib: {size in whole KiB, rounded up: how many}.
        under1000: how many were smaller than 1,000 bytes.
        under1000_bytes: the sum of the sizes of those.
    """

    quantity: Quantity = 0
    sized: int = 0
    bytes: int = 0
    kib: dict[int, int] = field(default_factory=dict)
    under1000: int = 0
    under1000_bytes: int = 0

    def add(self, quantity: Quantity, size: int | None) -> None:
        """Add ``quantity`` items of ``size`` bytes each (or unsized)."""
        self.quantity += quantity
        if size is None:
            return
        n = int(quantity)
        self.sized += n
        self.bytes += n * size
        k = -(-size // KIB)
        self.kib[k] = self.kib.get(k, 0) + n
        if size < _PUBSUB_MINIMUM:
            self.under1000 += n
            self.under1000_bytes += n * size

    def merge(self, other: Tally) -> None:
        """Add ``other`` into this tally."""
        self.quantity += other.quantity
        self.sized += other.sized
        self.bytes += other.bytes
        for k, n in other.kib.items():
            self.kib[k] = self.kib.get(k, 0) + n
        self.under1000 += other.under1000
        self.under1000_bytes += other.under1000_bytes

    def chunks(self, chunk_bytes: int, *, minimum: int = 1) -> int:
        """How many ``chunk_bytes`` chunks the sized items take, each rounded up and at least ``minimum``.

        ``chunk_bytes`` must be a whole number of KiB (every chunk rule in use is: 1, 4, 25, 32, 64 KB). Unsized
        items count ``minimum`` each.

        Raises:
            ValueError: ``chunk_bytes`` is not a positive multiple of 1,024.
        """
        if chunk_bytes <= 0 or chunk_bytes % KIB:
            raise ValueError("chunk_bytes must be a positive multiple of 1024")
        per = chunk_bytes // KIB
        total = sum(max(minimum, -(-k // per)) * n for k, n in self.kib.items())
        unsized = int(self.quantity) - self.sized if isinstance(self.quantity, int) else 0
        return total + max(0, unsized) * minimum

    def billable_bytes(self, minimum: int) -> int:
        """The sum of the sizes with each item counted as at least ``minimum`` bytes (``minimum`` <= 1,000)."""
        if minimum > _PUBSUB_MINIMUM:
            raise ValueError("the tally keeps exact figures for a minimum of at most 1000 bytes")
        # items under `minimum` are a subset of those under 1000; their exact sizes are not kept separately, so
        # only the 1000-byte minimum (the only one in use) is exact; a smaller minimum is a bound.
        if minimum == _PUBSUB_MINIMUM:
            return self.bytes - self.under1000_bytes + _PUBSUB_MINIMUM * self.under1000
        return max(self.bytes, minimum * self.sized)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``quantity`` as a number, or a decimal string when fractional; KiB keys as strings)."""
        out: dict[str, Any] = {"quantity": self.quantity if isinstance(self.quantity, int) else str(self.quantity)}
        if self.sized:
            out["sized"] = self.sized
            out["bytes"] = self.bytes
            out["kib"] = {str(k): self.kib[k] for k in sorted(self.kib)}
            out["under1000"] = self.under1000
            out["under1000Bytes"] = self.under1000_bytes
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Tally:
        """The tally of :meth:`as_json` output.

        Raises:
            ValueError: a malformed document.
        """
        try:
            raw = doc["quantity"]
            quantity: Quantity = raw if isinstance(raw, int) else Decimal(str(raw))
            kib = {int(k): int(v) for k, v in dict(doc.get("kib", {})).items()}
            return cls(
                quantity=quantity,
                sized=int(doc.get("sized", 0)),
                bytes=int(doc.get("bytes", 0)),
                kib=kib,
                under1000=int(doc.get("under1000", 0)),
                under1000_bytes=int(doc.get("under1000Bytes", 0)),
            )
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise ValueError(f"not a metering tally: {doc!r}") from exc


def _tally_of(tallies: dict[str, Tally], name: str) -> Tally:
    """The tally of ``name`` in ``tallies``, added empty if missing."""
    tally = tallies.get(name)
    if tally is None:
        tally = tallies[name] = Tally()
    return tally


#: One thread's records: the thread, its sums by name ({name: quantity}) and by name and size ({(name, size): how
#: many}).
_Records = tuple[threading.Thread, defaultdict[str, int], defaultdict[tuple[str, int], int]]


class _ThreadRecords(threading.local):
    """One thread's records of a :class:`UsageMeter`: ``unsized`` ({name: quantity}) and ``sized`` ({(name, size):
    how many}), made and registered with their meter the first time the thread records (``threading.local`` runs
    ``__init__`` once per thread, with the arguments it was built with). Registering first folds the records of
    the threads that ended into the meter's tallies, so a meter recorded on by short-lived threads (a thread per
    request) keeps what they recorded without keeping a pair of dicts per thread it ever saw."""

    def __init__(self, threads: list[_Records], tallies: dict[str, Tally], lock: threading.Lock) -> None:
        self.unsized: defaultdict[str, int] = defaultdict(int)
        self.sized: defaultdict[tuple[str, int], int] = defaultdict(int)
        with lock:
            _fold_ended(threads, tallies)
            threads.append((threading.current_thread(), self.unsized, self.sized))


def _fold_ended(threads: list[_Records], tallies: dict[str, Tally]) -> None:
    """Add the records of the threads that ended to ``tallies`` and drop them from ``threads`` (under the meter's
    lock: an ended thread records no more)."""
    live: list[_Records] = []
    for records in threads:
        thread, unsized, sized = records
        if thread.is_alive():
            live.append(records)
            continue
        for name, quantity in unsized.items():
            _tally_of(tallies, name).add(quantity, None)
        for (name, size), n in sized.items():
            _tally_of(tallies, name).add(n, size)
    threads[:] = live


class UsageMeter:
    """The in-memory recorder: a :class:`Tally` per name, safe to record on from many threads (implements
    :class:`Meter`).

    One instance is shared by every adapter of a process (or a simulation); :meth:`usage` reads it. Recording is
    the hot path of a metered simulation (about a hundred records per order), so a record of a whole quantity
    (an ``int``) takes no lock and builds no tally: each thread adds it to its own dicts, by name, or by name and
    size for a sized one (one dict update); :meth:`usage` builds the tallies from those sums, which hold everything
    a tally keeps (``n`` items of ``size`` bytes are ``Tally.add(n, size)``), so they are the same tallies as
    recording them one by one. A fractional quantity (a ``Decimal``) goes to a tally under a lock.

    The in-memory adapters record on :attr:`local` themselves, as they count on ``OperationCounters.local``:
    ``meter.local.sized[name, size] += n`` is ``meter.record(name, n, size=size)`` and ``meter.local.unsized[name]
    += n`` is ``meter.record(name, n)``, for ``n`` and ``size`` ints >= 0 (the sizes they compute are), without the
    call and its checks (a metered simulation makes about a hundred records per order).
    """

    __slots__ = ("_lock", "_tallies", "_threads", "local")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tallies: dict[str, Tally] = {}
        self._threads: list[_Records] = []
        #: this thread's records: ``sized`` ({(name, size): how many}) and ``unsized`` ({name: quantity})
        self.local = _ThreadRecords(self._threads, self._tallies, self._lock)

    def record(self, name: str, quantity: Quantity = 1, *, size: int | None = None) -> None:
        """Record ``quantity`` of ``name``, each ``size`` bytes when given.

        Raises:
            ValueError: a negative quantity or size.
        """
        if type(quantity) is int and quantity >= 0:
            if size is None:
                self.local.unsized[name] += quantity
                return
            if type(size) is int and size >= 0:
                self.local.sized[name, size] += quantity
                return
        if quantity < 0 or (size is not None and size < 0):
            raise ValueError("quantity and size must be >= 0")
        with self._lock:
            _tally_of(self._tallies, name).add(quantity, size)

    def usage(self) -> dict[str, Tally]:
        """An independent copy of every tally, by name (sorted)."""
        with self._lock:
            out: dict[str, Tally] = {}
            for name, tally in self._tallies.items():
                copy = out[name] = Tally()
                copy.merge(tally)
            parts = [(unsized.copy(), sized.copy()) for _, unsized, sized in self._threads]  # each one step (GIL)
        for unsized, sized in parts:
            for name, quantity in unsized.items():
                _tally_of(out, name).add(quantity, None)
            for (name, size), n in sized.items():
                _tally_of(out, name).add(n, size)
        return {name: out[name] for name in sorted(out)}

    def quantity(self, name: str) -> Quantity:
        """The recorded quantity of ``name`` (0 if never recorded)."""
        tally = self.usage().get(name)
        return tally.quantity if tally is not None else 0

    def reset(self) -> None:
        """Forget everything recorded (call it while no other thread records)."""
        with self._lock:
            self._tallies.clear()
            for _, unsized, sized in self._threads:
                unsized.clear()
                sized.clear()

    def usage_json(self) -> dict[str, dict[str, Any]]:
        """:meth:`usage` as JSON-ready dicts (see :meth:`Tally.as_json`)."""
        return {name: tally.as_json() for name, tally in self.usage().items()}
