"""Monthly cost per cloud, service and saga runtime, from a simulated day (``simulate`` report) and the catalog.

Arithmetic: quantities and prices are ``Decimal`` throughout (never float). A line's monthly quantity is the
simulated quantity times ``orders per day x days / simulated orders``; the free allowance (per month, or per day x
days) comes off first, shared by the meters of one pool in the order the lines appear; the rest goes through the
price bands; the line's cost is then rounded half-up to the cent. A runtime's total adds the rounded lines whose
price is known; lines whose price is unknown are listed, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from fooddelivery.cost.catalog import Price, PriceCatalog
from fooddelivery.cost.models import RUNTIMES, DeploymentOptions, ModelInputs, Runtime, UnitLine, model_units
from fooddelivery.metering import Tally

__all__ = [
    "CENT",
    "REFERENCE_CLAIMS",
    "CostEstimate",
    "CostLine",
    "RuntimeEstimate",
    "TrafficProfile",
    "busiest_window",
    "estimate",
    "round_cents",
]

CENT: Final[Decimal] = Decimal("0.01")
#: The reference lab's monthly figures (its "Cost Comparison"): claims, not measurements.
REFERENCE_CLAIMS: Final[tuple[tuple[str, Decimal], ...]] = (
    ("Monolithic on EC2", Decimal(30_000)),
    ("Containerized on ECS", Decimal(15_000)),
    ("Serverless Architecture", Decimal(3_000)),
)


def round_cents(amount: Decimal) -> Decimal:
    """``amount`` rounded half-up to the cent."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class TrafficProfile:
    """The traffic to price.

    Attributes:
        orders_per_day: orders placed per day.
        days: days in the priced month.
    """

    orders_per_day: int = 1_000_000
    days: int = 30

    def __post_init__(self) -> None:
        if self.orders_per_day < 1 or not 1 <= self.days <= 31:
            raise ValueError("orders per day must be >= 1 and days 1..31")

    @property
    def orders(self) -> int:
        """Orders in the priced month."""
        return self.orders_per_day * self.days


@dataclass(frozen=True, slots=True)
class CostLine:
    """One priced line.

    Attributes:
        meter: the unit's meter name.
        service, item, unit: from the catalog (the meter name when the catalog has no entry).
        quantity: monthly quantity.
        free: the free allowance taken off.
        cost: monthly cost rounded to the cent, or None when the price is unknown.
        price: the catalog entry, or None.
        basis: how the quantity was derived.
        counted: False when the model does not count this unit (its quantity is 0 and means "not counted").
    """

    meter: str
    service: str
    item: str
    unit: str
    quantity: Decimal
    free: Decimal
    cost: Decimal | None
    price: Price | None
    basis: str
    counted: bool = True


@dataclass(frozen=True, slots=True)
class RuntimeEstimate:
    """A saga runtime's monthly bill.

    Attributes:
        runtime: which.
        lines: the priced lines (empty when not applicable).
    """

    runtime: Runtime
    lines: tuple[CostLine, ...] = ()

    @property
    def total(self) -> Decimal:
        """The sum of the lines with a known price (each already rounded to the cent)."""
        return sum((line.cost for line in self.lines if line.cost is not None), Decimal(0))

    @property
    def unknown(self) -> tuple[CostLine, ...]:
        """Lines with a quantity (or not counted) but no known price."""
        return tuple(line for line in self.lines if line.cost is None and (line.quantity > 0 or not line.counted))

    def line(self, meter: str) -> CostLine | None:
        """The line of ``meter``, or None."""
        return next((line for line in self.lines if line.meter == meter), None)


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """The whole estimate.

    Attributes:
        profile: the priced traffic.
        options: the deployment options.
        simulated_orders: orders in the simulation it is scaled from.
        scale: priced orders / simulated orders.
        peak_share: the share of the day in the dinner rush (from the simulation's profile).
        peak_orders_per_second: the order rate of the busiest 15 minutes at the priced volume.
        per_order: {metered operation: quantity per simulated order} (for the report).
        runtimes: one estimate per runtime.
        catalog: the prices used.
        expiring_free_tiers: whether 12-month free offers were applied.
        seed: the simulation's seed.
    """

    profile: TrafficProfile
    options: DeploymentOptions
    simulated_orders: int
    scale: Decimal
    peak_share: float
    peak_orders_per_second: Decimal
    per_order: Mapping[str, Decimal]
    runtimes: tuple[RuntimeEstimate, ...]
    catalog: PriceCatalog
    expiring_free_tiers: bool = False
    seed: int | None = None
    minutely: Sequence[int] = field(default_factory=tuple)

    def runtime(self, key: str) -> RuntimeEstimate:
        """The estimate of runtime ``key`` (``"aws.stepfunctions"``...).

        Raises:
            KeyError: no such runtime.
        """
        for r in self.runtimes:
            if r.runtime.key == key:
                return r
        raise KeyError(key)


def busiest_window(minutely: Sequence[int], minutes: int) -> int:
    """The most orders placed in ``minutes`` consecutive minutes of the day (wrapping past midnight)."""
    n = len(minutely)
    if not n:
        return 0
    window = min(minutes, n)
    current = sum(minutely[:window])
    best = current
    for start in range(1, n):
        current += minutely[(start + window - 1) % n] - minutely[start - 1]
        best = max(best, current)
    return best


def _tallies(report: Mapping[str, Any]) -> dict[str, Tally]:
    metering = report.get("metering")
    if not isinstance(metering, Mapping) or not metering:
        raise ValueError(
            "the simulation report has no metering (run `fooddelivery simulate` with metering on, the default)"
        )
    return {str(name): Tally.from_json(doc) for name, doc in metering.items()}


def _price_lines(
    lines: Iterable[UnitLine], scale: Decimal, catalog: PriceCatalog, days: int, expiring: bool
) -> tuple[CostLine, ...]:
    pools: dict[str, Decimal] = {}
    out: list[CostLine] = []
    for unit in lines:
        quantity = unit.quantity if unit.fixed else unit.quantity * scale
        price = catalog.get(unit.meter)
        free = Decimal(0)
        cost: Decimal | None = None
        if price is not None and price.free is not None and (expiring or not price.free.expires):
            allowance = price.free.monthly(days)
            if price.free.pool is not None:
                allowance = pools.setdefault(price.free.pool, allowance)
            free = min(quantity, allowance)
            if price.free.pool is not None:
                pools[price.free.pool] = allowance - free
        if price is not None and price.known:
            charged = price.charge(quantity - free)
            cost = round_cents(charged) if charged is not None else None
        out.append(
            CostLine(
                meter=unit.meter,
                service=price.service if price else unit.meter.split(".")[1],
                item=price.item if price else unit.meter,
                unit=price.unit if price else "unit",
                quantity=quantity,
                free=free,
                cost=cost,
                price=price,
                basis=unit.basis,
                counted=unit.counted,
            )
        )
    return tuple(out)


def estimate(
    report: Mapping[str, Any],
    catalog: PriceCatalog,
    profile: TrafficProfile | None = None,
    options: DeploymentOptions | None = None,
    *,
    expiring_free_tiers: bool = False,
    runtimes: Sequence[Runtime] = RUNTIMES,
) -> CostEstimate:
    """Price every runtime for ``profile`` from a ``simulate`` report (its ``metering``, ``ordersPlaced``,
    ``wallClock.loopCpuSeconds`` and ``minutely``).

    Raises:
        ValueError: the report has no metering or placed no order.
    """
    profile = profile or TrafficProfile()
    options = options or DeploymentOptions()
    usage = _tallies(report)
    orders = int(report.get("ordersPlaced", 0))
    if orders < 1:
        raise ValueError("the simulation report placed no order")
    scale = Decimal(profile.orders) / orders
    minutely = list(report.get("minutely", {}).get("placed", [])) or [orders]
    peak_per_s = Decimal(busiest_window(minutely, 15)) / orders * profile.orders_per_day / (15 * 60)
    inputs = ModelInputs(
        usage=usage,
        orders=orders,
        cpu_seconds=float(report.get("wallClock", {}).get("loopCpuSeconds") or 0.0),
        peak_orders_per_second=peak_per_s,
        hours=Decimal(24 * profile.days),
        scale=scale,
        options=options,
    )
    estimates = []
    for runtime in runtimes:
        if not runtime.applicable:
            estimates.append(RuntimeEstimate(runtime))
            continue
        lines = model_units(runtime.key, inputs)
        estimates.append(
            RuntimeEstimate(runtime, _price_lines(lines, scale, catalog, profile.days, expiring_free_tiers))
        )
    per_order = {name: Decimal(t.quantity) / orders for name, t in usage.items()}
    share = report.get("hourlyWeights", {}).get("peakShare")
    return CostEstimate(
        profile=profile,
        options=options,
        simulated_orders=orders,
        scale=scale,
        peak_share=float(share) if share is not None else float("nan"),
        peak_orders_per_second=peak_per_s,
        per_order=per_order,
        runtimes=tuple(estimates),
        catalog=catalog,
        expiring_free_tiers=expiring_free_tiers,
        seed=report.get("seed"),
        minutely=tuple(minutely),
    )
