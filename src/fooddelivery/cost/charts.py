"""PNG charts of a cost estimate and its simulated day (matplotlib, the ``report`` extra:
``pip install 'fooddelivery[report]'``).

Charts: orders per minute over the day at the priced volume, the monthly cost per runtime stacked by service,
and the distributions of minutes to confirm and to deliver. matplotlib is imported when a chart is drawn, with the
non-interactive Agg backend, so nothing opens a window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from fooddelivery.cost.estimate import REFERENCE_CLAIMS, CostEstimate

__all__ = ["write_charts"]

#: One colour per service, stable across charts.
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _orders_per_minute(est: CostEstimate, path: Path) -> None:
    plt = _pyplot()
    minutely = list(est.minutely)
    factor = est.profile.orders_per_day / est.simulated_orders
    # a 15-minute moving average: the simulated day has far fewer orders than the priced one
    window = 15
    smooth = [
        sum(minutely[(i + k - window // 2) % len(minutely)] for k in range(window)) / window * factor
        for i in range(len(minutely))
    ]
    hours = [i / 60 for i in range(len(minutely))]
    fig, ax = plt.subplots(figsize=(10, 4.2), dpi=110)
    ax.plot(hours, smooth, color="#4e79a7", linewidth=1.6)
    ax.fill_between(hours, smooth, color="#4e79a7", alpha=0.15)
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 2))
    ax.set_xlabel("time of day (UTC); the cities' 18:00-21:00 dinner rush falls at 22:00-05:00 UTC")
    ax.set_ylabel("orders per minute")
    share = f"{est.peak_share:.0%}" if est.peak_share == est.peak_share else "?"
    ax.set_title(
        f"Orders per minute at {est.profile.orders_per_day:,} orders/day (dinner rush {share} of the day; "
        f"15-minute average of a {est.simulated_orders:,}-order simulated day)",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _cost_by_service(est: CostEstimate, path: Path) -> None:
    plt = _pyplot()
    runtimes = [r for r in est.runtimes if r.runtime.applicable]
    services: list[str] = []
    for r in runtimes:
        for line in r.lines:
            if line.cost and line.service not in services:
                services.append(line.service)
    colours = {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(services)}
    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=110)
    labels = []
    for y, r in enumerate(runtimes):
        left = 0.0
        by_service: dict[str, Decimal] = {}
        for line in r.lines:
            if line.cost:
                by_service[line.service] = by_service.get(line.service, Decimal(0)) + line.cost
        for service in services:
            amount = float(by_service.get(service, 0))
            if amount:
                ax.barh(y, amount, left=left, color=colours[service], edgecolor="white", linewidth=0.5)
                left += amount
        unknown = " + unknown" if r.unknown else ""
        ax.text(left, y, f"  ${float(r.total):,.0f}{unknown}", va="center", fontsize=9)
        labels.append(r.runtime.name.replace(" (", "\n("))
    for name, claim in REFERENCE_CLAIMS:
        ax.axvline(float(claim), color="#999999", linestyle="--", linewidth=1)
        ax.text(float(claim), -0.55, f" {name}: ${claim:,.0f}", fontsize=8, color="#555555", va="bottom", rotation=0)
    ax.set_ylim(len(runtimes) - 0.5, -1.0)
    ax.xaxis.set_major_formatter(lambda x, _pos: f"{x:,.0f}")
    ax.set_yticks(range(len(runtimes)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel(f"{est.catalog.currency} per month (known prices; dashed: the reference's claims)")
    ax.set_title(
        f"Monthly cost per saga runtime and service, {est.profile.orders_per_day:,} orders/day"
        f" x {est.profile.days} days",
        fontsize=10,
    )
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[s]) for s in services]
    ax.legend(handles, services, fontsize=7, loc="lower right", ncol=2)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _distribution(counts: Sequence[int], width: float, title: str, colour: str, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4), dpi=110)
    total = sum(counts) or 1
    edges = [i * width for i in range(len(counts))]
    ax.bar(edges, [c / total * 100 for c in counts], width=width, align="edge", color=colour)
    ax.set_xlabel("minutes after the order was placed")
    ax.set_ylabel(f"% of orders per {width:g}-minute bin")
    ax.set_title(f"{title} ({total:,} simulated orders)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_charts(est: CostEstimate, report: Mapping[str, Any], out: Path) -> dict[str, str]:
    """Draw the charts into ``out``; returns {title: file name}.

    Raises:
        ImportError: matplotlib is not installed.
    """
    _pyplot()
    charts: dict[str, str] = {}
    _orders_per_minute(est, out / "orders_per_minute.png")
    charts["Orders per minute over the day"] = "orders_per_minute.png"
    _cost_by_service(est, out / "cost_by_service.png")
    charts["Monthly cost per runtime and service"] = "cost_by_service.png"
    dist = report.get("distributions", {})
    for key, title, colour, name, chart in (
        (
            "minutesToConfirm",
            "Minutes from placement to confirmation",
            "#59a14f",
            "time_to_confirm.png",
            "Time to confirm",
        ),
        ("minutesToDeliver", "Minutes from placement to delivery", "#f28e2b", "time_to_deliver.png", "Time to deliver"),
    ):
        hist = dist.get(key) or {}
        counts = list(hist.get("counts", [])) if isinstance(hist, Mapping) else []
        if counts:
            _distribution(counts, float(hist.get("binMinutes", 1)), title, colour, out / name)
            charts[chart] = name
    return charts
