"""The meter and the providers' size rules, against hand-computed figures."""

from __future__ import annotations

import threading
import tracemalloc
from decimal import Decimal

import pytest

from fooddelivery.metering import NullMeter, Tally, UsageMeter
from fooddelivery.metering.units import (
    LAMBDA_PLATFORM_LOG_BYTES,
    chunks,
    dynamodb_read_units,
    dynamodb_write_units,
    lambda_gb_seconds,
    log_event_bytes,
    pubsub_billable_bytes,
)


@pytest.mark.parametrize(
    ("size", "transactional", "units"),
    [(0, False, 1), (1, False, 1), (1024, False, 1), (1025, False, 2), (3000, False, 3), (3000, True, 6)],
)
def test_a_write_costs_one_unit_per_started_kilobyte_and_twice_that_in_a_transaction(
    size: int, transactional: bool, units: int
) -> None:
    assert dynamodb_write_units(size, transactional=transactional) == units


def test_a_read_costs_one_unit_per_started_4_kb_and_half_when_eventually_consistent() -> None:
    assert dynamodb_read_units(4096) == 1
    assert dynamodb_read_units(4097) == 2
    assert dynamodb_read_units(100) == 1  # the minimum
    assert dynamodb_read_units(9000, consistent=False) == Decimal("1.5")
    assert dynamodb_read_units(9000, transactional=True) == 6


def test_payload_chunks_round_up() -> None:
    assert chunks(65_536, 64 * 1024) == 1
    assert chunks(65_537, 64 * 1024) == 2
    assert chunks(262_144, 64 * 1024) == 4  # a 256 KB SQS message is 4 requests
    assert chunks(25_601, 25 * 1024) == 2  # Kinesis PUT payload units
    assert chunks(0, 64 * 1024) == 1


def test_lambda_bills_whole_milliseconds_at_the_configured_memory() -> None:
    # 12.3 ms -> 13 ms x 512 MB (0.5 GB) = 0.0065 GB-s
    assert lambda_gb_seconds(12.3, 512) == Decimal("0.0065")
    assert lambda_gb_seconds(0.2, 1024) == Decimal("0.001")  # at least 1 ms
    with pytest.raises(ValueError):
        lambda_gb_seconds(1, 64)


def test_pubsub_bills_at_least_1000_bytes_per_message() -> None:
    assert pubsub_billable_bytes(10) == 1000
    assert pubsub_billable_bytes(1500) == 1500


def test_log_events_carry_26_bytes_of_overhead() -> None:
    assert log_event_bytes("abc") == 29
    assert log_event_bytes("é") == 28  # UTF-8 bytes
    # START 6 + "RequestId: " 11 + id 36 + " Version: $LATEST" 17 + newline 1 = 71;
    # END 4 + 11 + 36 + 1 = 52; REPORT 7 + 11 + 36 + "\tDuration: 12.34 ms" 19 + "\tBilled Duration: 13 ms" 23
    # + "\tMemory Size: 512 MB" 20 + "\tMax Memory Used: 92 MB" 23 + "\t\n" 2 = 141; plus 3 x 26
    assert LAMBDA_PLATFORM_LOG_BYTES == 71 + 52 + 141 + 3 * 26


def test_a_tally_keeps_sizes_by_started_kilobyte() -> None:
    tally = Tally()
    tally.add(1, 100)
    tally.add(2, 1500)
    tally.add(1, 70_000)
    tally.add(3, None)
    assert tally.quantity == 7
    assert tally.sized == 4
    assert tally.bytes == 100 + 3000 + 70_000
    assert tally.kib == {1: 1, 2: 2, 69: 1}
    assert tally.chunks(1024) == 1 + 2 * 2 + 69 + 3  # the unsized count 1 each
    assert tally.chunks(64 * 1024) == 1 + 2 + 2 + 3
    assert tally.billable_bytes(1000) == 1000 + 3000 + 70_000


def test_a_tally_survives_its_json_form() -> None:
    tally = Tally()
    tally.add(2, 900)
    tally.add(Decimal("1.5"), None)
    again = Tally.from_json(tally.as_json())
    assert again == tally
    with pytest.raises(ValueError):
        Tally.from_json({"kib": {}})


def test_the_usage_meter_adds_up_concurrent_records() -> None:
    meter = UsageMeter()

    def work() -> None:
        for _ in range(1000):
            meter.record("bus.event", size=300)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    usage = meter.usage()
    assert usage["bus.event"].quantity == 4000
    assert usage["bus.event"].bytes == 1_200_000
    with pytest.raises(ValueError):
        meter.record("x", -1)
    NullMeter().record("anything", 5, size=10)  # records nothing, raises nothing


def test_the_usage_meter_keeps_the_tallies_of_recording_one_by_one() -> None:
    # The meter sums whole quantities per (name, size) in each thread and builds tallies when read; a fractional
    # quantity goes to a tally as it comes. Either way the tallies are those of adding every record in turn.
    records: list[tuple[str, int | Decimal, int | None]] = [
        ("store.orders.write", 1, 907),
        ("store.orders.write", 1, 1025),
        ("store.orders.write", 3, 907),
        ("store.orders.read_miss", 1, None),
        ("bus.event", 2, 0),
        ("bus.event", 0, 999),
        ("saga.transition", 7, None),
        ("azure.cosmos.request_units", Decimal("5.71"), None),
        ("azure.cosmos.request_units", 2, None),
        ("mixed", Decimal("1.5"), 2000),
        ("mixed", 2, 2000),
        ("mixed", 1, None),
    ]
    meter = UsageMeter()
    expected: dict[str, Tally] = {}
    for name, quantity, size in records:
        meter.record(name, quantity, size=size)
        expected.setdefault(name, Tally()).add(quantity, size)
    done = threading.Thread(target=meter.record, args=("store.orders.write", 1), kwargs={"size": 5000})
    done.start()
    done.join()
    expected["store.orders.write"].add(1, 5000)
    usage = meter.usage()
    assert list(usage) == sorted(expected)
    assert usage == expected
    assert usage["azure.cosmos.request_units"].quantity == Decimal("7.71")
    assert usage["mixed"].kib == {2: 3} and usage["mixed"].quantity == Decimal("4.5")
    assert meter.quantity("store.orders.write") == 6
    assert meter.quantity("never") == 0
    with pytest.raises(ValueError):
        meter.record("x", 1, size=-1)
    meter.reset()
    assert meter.usage() == {}


def test_the_usage_meter_keeps_what_ended_threads_recorded_without_growing_with_them() -> None:
    # A thread-per-request server (http.server's ThreadingHTTPServer, as the GCP test stack's push endpoint; a
    # WSGI dev server) records every request on the process meter from a new thread. What an ended thread
    # recorded must be kept, but not as records of its own per thread ever seen: that grows without bound (about
    # 540 bytes and 13 us of every usage() per ended thread, measured on 95950fb).
    meter = UsageMeter()
    expected: dict[str, Tally] = {}

    def one(i: int) -> None:
        meter.record("api.request")
        meter.record("store.orders.write", size=900 + i % 3)

    def churn(first: int, n: int) -> None:
        for i in range(first, first + n):
            thread = threading.Thread(target=one, args=(i,))
            thread.start()
            thread.join()
            expected.setdefault("api.request", Tally()).add(1, None)
            expected.setdefault("store.orders.write", Tally()).add(1, 900 + i % 3)

    churn(0, 50)  # the threading module's and the allocator's own first allocations
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        churn(50, 1000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        if not tracing:
            tracemalloc.stop()
    assert meter.usage() == expected
    assert grown < 100_000, f"{grown} bytes more after 1,000 short-lived recording threads"
