"""The simulation report: stable, documented JSON field names (the cost report is built on them).

Schema (``schemaVersion`` 1). Money is a decimal string in ``currency``; durations in simulated minutes;
percentiles are nearest-rank over all orders that reached the milestone.

=================================  ==============================================================================
field                              meaning
=================================  ==============================================================================
``schemaVersion``                  1
``seed``, ``ordersRequested``      the run's inputs
``world``                          ``cities`` (names), ``restaurants``, ``drivers``, ``customers`` (counts)
``ordersPlaced``                   orders accepted by ``place_order``
``ordersRefusedAtPlacement``       {error code: count} of placements refused (0 in a healthy run)
``ordersDelivered``                orders that reached DELIVERED
``ordersFailed``                   orders that reached FAILED
``ordersCancelled``                orders that reached CANCELLED
``failuresByReason``               {reason: count}: payment_declined, payment_unavailable, no_driver,
                                   restaurant_timeout, restaurant_rejected, ...
``refunds``                        ``count`` and ``amount`` of refunds
``revenue``                        ``currency``, ``captured`` (all captures), ``refunded``, ``net``
                                   (captured - refunded), ``delivered`` (sum of delivered orders' totals)
``minutesToConfirm``               ``p50``, ``p95``: placement -> CONFIRMED
``minutesToDeliver``               ``p50``, ``p95``: placement -> DELIVERED
``driverUtilization``              share of driver-time spent holding an order, over the active span (first
                                   arrival -> last event) times the number of drivers
``lateConfirmations``              restaurant confirmations refused as late (after timeout)
``earlyConfirmations``             confirmations retried because the saga was not yet waiting
``hourly``                         ``placed``, ``delivered``, ``failed``: 24 counts by UTC hour of placement
                                   (the cities' 18:00-21:00 local peak falls at 22:00-05:00 UTC)
``invariants``                     ``everyOrderEnded`` (delivered + failed + cancelled = placed),
                                   ``storedOrdersEnded`` (every stored order is in a final status),
                                   ``capturedCharges`` (stored orders with a captured payment),
                                   ``refundedOncePerCapturedFailure``, ``driverDoubleBookings`` (must be 0),
                                   ``netEqualsDelivered`` (net captured = delivered totals)
``portOperations``                 {operation: count} from the in-memory adapters' counters (reads, writes,
                                   events, messages, timers...; names in ``fooddelivery.adapters.memory``)
``metering``                       {metered operation: tally} of the billable operations the adapters, the
                                   saga runner and the simulated clients recorded (names in
                                   ``fooddelivery.metering.operations``; a tally is ``quantity`` and, when
                                   sized, ``sized``, ``bytes``, ``kib`` {size in KiB rounded up: count},
                                   ``under1000``, ``under1000Bytes``); ``{}`` when run without metering
``minutely``                       ``placed``: 1,440 counts by UTC minute of the day of placement
``distributions``                  ``minutesToConfirm`` (bins of 0.1 minute), ``minutesToDeliver`` (bins of 1
                                   minute): ``binMinutes`` and ``counts`` (index i = [i, i+1) bins)
``hourlyWeights``                  the 24 local-hour weights the arrivals were drawn from, and ``peakShare``
                                   (the share of the 18:00-21:00 hours)
``simulatedSpanHours``             first arrival -> last event, in hours
``wallClock``                      ``seconds`` (whole run), ``worldBuildSeconds``, ``loopSeconds``,
                                   ``loopCpuSeconds`` (process CPU time of the loop), ``ordersPerSecond``
                                   (placed / loop seconds), ``peakMemoryMiB`` (peak RSS)
=================================  ==============================================================================

Everything except ``wallClock`` is identical for the same seed and options.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fooddelivery.domain.money import Money
from fooddelivery.simulation.engine import peak_share

if TYPE_CHECKING:
    from fooddelivery.simulation.engine import Simulation

__all__ = ["SCHEMA_VERSION", "build_report", "histogram", "nearest_rank", "render_text"]

SCHEMA_VERSION = 1


def nearest_rank(values: Sequence[float], pct: float) -> float | None:
    """The ``pct`` percentile (0 < pct <= 100) by the nearest-rank method, rounded to 0.01; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1], 2)


def histogram(values: Sequence[float], width: float = 1.0) -> list[int]:
    """Counts of ``values`` per bin of ``width``: index ``i`` counts values in ``[i * width, (i + 1) * width)``
    (negatives in bin 0)."""
    if not values:
        return []
    counts = [0] * (int(max(values) / width) + 1)
    for v in values:
        counts[max(0, int(v / width))] += 1
    return counts


def build_report(sim: Simulation, build_s: float, loop_s: float, peak_mib: float) -> dict[str, Any]:
    """Assemble the report of a finished run (see the module docstring for the fields)."""
    st = sim.stats
    failed_total = sum(st.failed.values())
    ended = st.delivered + failed_total + st.cancelled
    audit = audit_orders(sim)
    net = Money(st.captured_minor - st.refunded_minor, "USD")
    counts = sim.counters.snapshot()
    span_s = max(0.0, sim.now_s - sim.first_arrival_s)
    span_h = span_s / 3600
    delivered_total = audit["deliveredTotalMinor"]
    return {
        "schemaVersion": SCHEMA_VERSION,
        "seed": sim.config.seed,
        "ordersRequested": sim.config.orders,
        "world": {
            "cities": [c.name for c in sim.cities],
            "restaurants": len(sim.restaurants),
            "drivers": sim.driver_count,
            "customers": len(sim.customers),
        },
        "ordersPlaced": st.placed,
        "ordersRefusedAtPlacement": dict(sorted(st.refused_at_placement.items())),
        "ordersDelivered": st.delivered,
        "ordersFailed": failed_total,
        "ordersCancelled": st.cancelled,
        "failuresByReason": dict(sorted(st.failed.items())),
        "refunds": {"count": st.refunds, "amount": str(Money(st.refunded_minor, "USD"))},
        "revenue": {
            "currency": "USD",
            "captured": str(Money(st.captured_minor, "USD")),
            "refunded": str(Money(st.refunded_minor, "USD")),
            "net": str(net),
            "delivered": str(Money(delivered_total, "USD")),
        },
        "minutesToConfirm": {"p50": nearest_rank(st.to_confirm_min, 50), "p95": nearest_rank(st.to_confirm_min, 95)},
        "minutesToDeliver": {"p50": nearest_rank(st.to_deliver_min, 50), "p95": nearest_rank(st.to_deliver_min, 95)},
        "driverUtilization": round(st.driver_busy_s / (sim.driver_count * span_s), 4)
        if sim.driver_count and span_s
        else 0.0,
        "lateConfirmations": st.late_confirmations,
        "earlyConfirmations": st.early_confirmations,
        "hourly": {"placed": st.hourly_placed, "delivered": st.hourly_delivered, "failed": st.hourly_failed},
        "invariants": {
            "everyOrderEnded": ended == st.placed and not sim.pending,
            "refundedOncePerCapturedFailure": audit["refundedOncePerCapturedFailure"],
            "storedOrdersEnded": audit["storedOrdersEnded"],
            "driverDoubleBookings": st.double_bookings,
            "netEqualsDelivered": net.minor == delivered_total,
            "capturedCharges": audit["capturedCharges"],
        },
        "portOperations": dict(sorted(counts.items())),
        "metering": sim.counters.usage_json(),
        "minutely": {"placed": st.minutely_placed},
        "distributions": {
            "minutesToConfirm": {"binMinutes": 0.1, "counts": histogram(st.to_confirm_min, 0.1)},
            "minutesToDeliver": {"binMinutes": 1, "counts": histogram(st.to_deliver_min, 1.0)},
        },
        "hourlyWeights": {
            "weights": list(sim.config.hourly_weights),
            "peakShare": round(peak_share(sim.config.hourly_weights), 6),
        },
        "simulatedSpanHours": round(span_h, 2),
        "wallClock": {
            "seconds": round(build_s + loop_s, 2),
            "worldBuildSeconds": round(build_s, 2),
            "loopSeconds": round(loop_s, 2),
            "loopCpuSeconds": round(sim.loop_cpu_s, 3),
            "ordersPerSecond": round(st.placed / loop_s, 1) if loop_s > 0 else None,
            "peakMemoryMiB": peak_mib,
        },
    }


def audit_orders(sim: Simulation) -> dict[str, Any]:
    """Check every order against the payment gateway's books: those released during the run were folded into
    ``sim.audit`` as they finished; the rest are read from the store now.

    Returns ``storedOrdersEnded`` (every order is DELIVERED, FAILED or CANCELLED),
    ``refundedOncePerCapturedFailure`` (each captured order that failed or was cancelled has exactly one refund
    of its full total; no delivered order has any; no refund came after its order was released),
    ``capturedCharges`` and ``deliveredTotalMinor``.
    """
    from fooddelivery.adapters.memory import InMemoryOrderRepository

    repo = sim.app.adapters["orders"]
    assert isinstance(repo, InMemoryOrderRepository)
    audit = replace(sim.audit)
    charges: set[str] = set()
    for order in repo.iter_orders():
        refunds = sim.payments.refunds_of(order.charge_id) if order.charge_id is not None else []
        audit.fold(order, [r.amount.minor for r in refunds])
        if order.charge_id is not None:
            charges.add(order.charge_id)
    if sim.payments.refunded_charges() - charges:
        audit.refunded_ok = False  # a refund on a charge whose order had been folded and released
    return {
        "storedOrdersEnded": audit.ended,
        "refundedOncePerCapturedFailure": audit.refunded_ok,
        "capturedCharges": audit.captured,
        "deliveredTotalMinor": audit.delivered_minor,
    }


def render_text(report: dict[str, Any]) -> str:
    """A human summary of ``report``."""
    r = report
    lines = [
        f"fooddelivery simulate: seed {r['seed']}, {r['ordersRequested']:,} orders requested",
        f"world: {len(r['world']['cities'])} cities ({', '.join(r['world']['cities'][:5])}...), "
        f"{r['world']['restaurants']:,} restaurants, {r['world']['drivers']:,} drivers, "
        f"{r['world']['customers']:,} customers",
        f"placed {r['ordersPlaced']:,}  delivered {r['ordersDelivered']:,}  failed {r['ordersFailed']:,}  "
        f"cancelled {r['ordersCancelled']:,}",
        "failures: " + (", ".join(f"{k} {v:,}" for k, v in r["failuresByReason"].items()) or "none"),
        f"refunds: {r['refunds']['count']:,} totalling {r['refunds']['amount']} USD",
        f"revenue: captured {r['revenue']['captured']}  refunded {r['revenue']['refunded']}  "
        f"net {r['revenue']['net']} USD",
        f"minutes to confirm p50 {r['minutesToConfirm']['p50']} p95 {r['minutesToConfirm']['p95']}; "
        f"to deliver p50 {r['minutesToDeliver']['p50']} p95 {r['minutesToDeliver']['p95']}",
        f"driver utilization {r['driverUtilization']:.1%}",
        "invariants: " + ", ".join(f"{k}={v}" for k, v in r["invariants"].items()),
        "port operations: " + ", ".join(f"{k} {v:,}" for k, v in r["portOperations"].items()),
        f"wall clock: {r['wallClock']['seconds']} s, {r['wallClock']['ordersPerSecond']} orders/s, "
        f"peak memory {r['wallClock']['peakMemoryMiB']} MiB",
    ]
    return "\n".join(lines) + "\n"
