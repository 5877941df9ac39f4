"""The cost estimate as text (the ``fooddelivery cost`` output) and as Markdown (``--out DIR``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from fooddelivery.cost.catalog import Price
from fooddelivery.cost.estimate import REFERENCE_CLAIMS, CostEstimate, CostLine, RuntimeEstimate
from fooddelivery.metering import AWS
from fooddelivery.metering import operations as ops

__all__ = ["render_markdown", "render_text", "stepfunctions_finding"]

_SUFFIXES: Final = ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k"))


def _qty(value: Decimal) -> str:
    for size, suffix in _SUFFIXES:
        if abs(value) >= size:
            return f"{value / size:,.2f}{suffix}"
    return f"{value:,.2f}" if value != value.to_integral_value() else f"{value:,.0f}"


def _money(value: Decimal | None) -> str:
    return "unknown" if value is None else f"{value:,.2f}"


_BYTES: Final = {1024**3: "GiB", 1024**4: "TiB"}


def _per(price: Price) -> str:
    per = price.per
    if price.unit == "byte" and int(per) in _BYTES:
        return _BYTES[int(per)]
    if per == 1:
        return price.unit
    return f"{_qty(per).replace('.00', '')} {price.unit}"


def _unit_price(price: Price | None) -> str:
    if price is None:
        return "not in catalog"
    first = price.first_price()
    if first is None:
        return "unknown"
    bands = ", tiered" if len(price.tiers) > 1 else ""
    return f"{first:f} / {_per(price)}{bands}"


def _line_qty(line: CostLine, value: Decimal) -> str:
    if line.price is not None and line.price.unit == "byte":
        return f"{value / 1024**3:,.1f} GiB"
    return _qty(value)


def _source(price: Price | None) -> str:
    if price is None or not price.sources:
        return "no source"
    s = price.sources[0]
    return f"{s.url} ({s.kind}, {s.date or 'no date'})"


def stepfunctions_finding(est: CostEstimate) -> str | None:
    """The reference's Step Functions finding, as computed from our saga: transitions per order and their cost."""
    try:
        sfn = est.runtime("aws.stepfunctions")
    except KeyError:
        return None
    line = sfn.line(AWS.STEPFUNCTIONS_TRANSITIONS)
    if line is None or line.cost is None:
        return None
    per_order = est.per_order.get(ops.SAGA_TRANSITION, Decimal(0))
    headline = REFERENCE_CLAIMS[-1][1]
    return (
        f"Step Functions Standard alone: {per_order:.2f} state transitions per order (counted on the simulated "
        f"orders' paths, retries included) x {est.profile.orders:,} orders = {_qty(line.quantity)} transitions = "
        f"${line.cost:,.2f}/month, {line.cost / headline:.1f} x the reference's whole ${headline:,.0f} serverless "
        f"figure (the reference itself: ~12 transitions/order, ~$9,000/month)."
    )


def _table(r: RuntimeEstimate) -> list[list[str]]:
    rows = []
    for line in r.lines:
        rows.append(
            [
                line.service,
                line.item,
                _line_qty(line, line.quantity) if line.counted else "not counted",
                _line_qty(line, line.free) if line.free else "-",
                _unit_price(line.price),
                _money(line.cost),
            ]
        )
    return rows


def _unknowns(r: RuntimeEstimate) -> str:
    return ", ".join(f"{u.service} {u.item} ({_qty(u.quantity) if u.counted else 'not counted'})" for u in r.unknown)


def _header(est: CostEstimate) -> list[str]:
    p, o = est.profile, est.options
    share = f"{est.peak_share:.1%}" if est.peak_share == est.peak_share else "unknown"
    return [
        f"{p.orders_per_day:,} orders/day x {p.days} days = {p.orders:,} orders/month; dinner rush (18:00-21:00 "
        f"local) {share} of the day, busiest 15 minutes {est.peak_orders_per_second:,.1f} orders/s",
        f"scaled from a simulated day of {est.simulated_orders:,} orders (seed {est.seed}) x {est.scale:,.1f}; "
        f"functions at {o.memory_mb} MB, {o.call_ms:g} ms per remote call (assumed), API Gateway {o.api.upper()}",
        f"prices: catalog collected {est.catalog.collected} ({est.catalog.currency}); free tiers that do not expire "
        + ("and 12-month offers applied" if est.expiring_free_tiers else "applied, 12-month offers not")
        + (f"; overridden: {', '.join(sorted(est.catalog.overridden))}" if est.catalog.overridden else ""),
        "costs: exact decimal arithmetic, each line rounded half-up to the cent; totals add the known lines",
    ]


def render_text(est: CostEstimate) -> str:
    """The estimate for a terminal: a table per runtime, the summary, the sources."""
    out = ["fooddelivery cost (monthly, " + est.catalog.currency + ")", *("  " + h for h in _header(est)), ""]
    widths = (24, 34, 12, 10, 36, 12)
    head = ["service", "item", "quantity", "free", "unit price", "cost"]
    for r in est.runtimes:
        out.append(r.runtime.name)
        if not r.runtime.applicable:
            out += [f"  not applicable: {r.runtime.why}", ""]
            continue
        out.append(
            "  "
            + "  ".join(h.ljust(w) if i < 5 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths, strict=True)))
        )
        for row in _table(r):
            out.append(
                "  "
                + "  ".join(
                    (c[:w].ljust(w) if i < 5 else c.rjust(w)) for i, (c, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        out.append(f"  {'total (known prices)':<{sum(widths[:5]) + 8}}  {r.total:>12,.2f}")
        if r.unknown:
            out.append(f"  plus unknown prices: {_unknowns(r)}")
        out.append("")
    out.append("summary (monthly)")
    for r in est.runtimes:
        if not r.runtime.applicable:
            out.append(f"  {r.runtime.name:<70} n/a")
            continue
        extra = " + unknown" if r.unknown else ""
        out.append(f"  {r.runtime.name:<70} {r.total:>12,.2f}{extra}")
    out.append(
        "  the reference's figures (claims, not measured): "
        + ", ".join(f"{name} ${amount:,.0f}" for name, amount in REFERENCE_CLAIMS)
    )
    finding = stepfunctions_finding(est)
    if finding:
        out += ["", finding]
    out += ["", "sources"]
    seen: set[str] = set()
    for r in est.runtimes:
        for line in r.lines:
            if line.meter in seen:
                continue
            seen.add(line.meter)
            status = line.price.status if line.price else "not in catalog"
            out.append(f"  {line.meter} [{status}]: {_source(line.price)}")
    return "\n".join(out) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def render_markdown(est: CostEstimate, charts: dict[str, str] | None = None) -> str:
    """The estimate as a Markdown report, with ``charts`` (title -> PNG file name) embedded."""
    lines = ["# Monthly cost of the order flow", ""]
    lines += [f"- {h}" for h in _header(est)]
    lines.append("")
    finding = stepfunctions_finding(est)
    if finding:
        lines += [f"**{finding}**", ""]
    lines += ["## Summary", "", "| runtime | monthly total | unknown prices |", "|---|---:|---|"]
    for r in est.runtimes:
        if not r.runtime.applicable:
            lines.append(_md_row([r.runtime.name, "n/a", r.runtime.why]))
        else:
            lines.append(_md_row([r.runtime.name, f"{r.total:,.2f}", _unknowns(r) or "none"]))
    lines.append("")
    lines.append(
        "The reference's figures (claims, not measured): "
        + ", ".join(f"{name} ${amount:,.0f}" for name, amount in REFERENCE_CLAIMS)
        + "."
    )
    lines.append("")
    for title, name in (charts or {}).items():
        lines += [f"## {title}", "", f"![{title}]({name})", ""]
    for r in est.runtimes:
        lines += [f"## {r.runtime.name}", ""]
        if not r.runtime.applicable:
            lines += [f"Not applicable: {r.runtime.why}.", ""]
            continue
        lines += [
            "| service | item | monthly quantity | free | unit price | cost | how |",
            "|---|---|---:|---:|---|---:|---|",
        ]
        for line, row in zip(r.lines, _table(r), strict=True):
            lines.append(_md_row([*row, line.basis]))
        lines.append(_md_row(["**total**", "(known prices)", "", "", "", f"**{r.total:,.2f}**", ""]))
        lines.append("")
    lines += [
        "## Prices and sources",
        "",
        "| meter | status | price | region | source | note |",
        "|---|---|---|---|---|---|",
    ]
    seen: set[str] = set()
    for r in est.runtimes:
        for line in r.lines:
            if line.meter in seen:
                continue
            seen.add(line.meter)
            p = line.price
            lines.append(
                _md_row(
                    [
                        line.meter,
                        p.status if p else "not in catalog",
                        _unit_price(p),
                        p.region if p else "",
                        _source(p),
                        p.note if p else "",
                    ]
                )
            )
    lines += ["", "## Per order (simulated)", "", "| metered operation | per order |", "|---|---:|"]
    for name, value in sorted(est.per_order.items()):
        lines.append(_md_row([name, f"{value:.3f}"]))
    return "\n".join(lines) + "\n"


def _fmt(line: CostLine) -> str:  # pragma: no cover - debugging aid
    return f"{line.meter} {line.quantity} {line.cost}"
