"""The cost estimate as JSON (``fooddelivery cost --format json``, ``cost.json``): money and quantities as
decimal strings."""

from __future__ import annotations

from typing import Any

from fooddelivery.cost.estimate import REFERENCE_CLAIMS, CostEstimate

__all__ = ["estimate_json"]


def estimate_json(est: CostEstimate) -> dict[str, Any]:
    """A JSON-ready dict of ``est`` (decimals as strings; an unknown cost is null)."""
    return {
        "currency": est.catalog.currency,
        "catalogCollected": est.catalog.collected,
        "ordersPerDay": est.profile.orders_per_day,
        "days": est.profile.days,
        "ordersPerMonth": est.profile.orders,
        "simulatedOrders": est.simulated_orders,
        "scale": str(est.scale),
        "peakShare": est.peak_share,
        "peakOrdersPerSecond": str(est.peak_orders_per_second),
        "memoryMb": est.options.memory_mb,
        "callMs": est.options.call_ms,
        "api": est.options.api,
        "expiringFreeTiers": est.expiring_free_tiers,
        "overridden": sorted(est.catalog.overridden),
        "perOrder": {k: str(v) for k, v in sorted(est.per_order.items())},
        "referenceClaims": {name: str(amount) for name, amount in REFERENCE_CLAIMS},
        "runtimes": [
            {
                "key": r.runtime.key,
                "name": r.runtime.name,
                "applicable": r.runtime.applicable,
                "why": r.runtime.why or None,
                "total": str(r.total),
                "unknown": [u.meter for u in r.unknown],
                "lines": [
                    {
                        "meter": line.meter,
                        "service": line.service,
                        "item": line.item,
                        "unit": line.unit,
                        "quantity": str(line.quantity),
                        "free": str(line.free),
                        "cost": None if line.cost is None else str(line.cost),
                        "status": line.price.status if line.price else "not in catalog",
                        "source": line.price.sources[0].url if line.price and line.price.sources else None,
                        "basis": line.basis,
                    }
                    for line in r.lines
                ],
            }
            for r in est.runtimes
        ],
    }
