"""The price catalog: every price as data (``prices.json``, shipped with the package), with its unit, region, source
and date; unknown prices stay unknown; users override any of them.

``prices.json`` (``schema`` 1) holds ``collected`` (the date the prices were gathered), ``currency``, ``scope`` and
``prices``: one entry per meter name (:mod:`fooddelivery.metering.units`) with

- ``cloud``, ``service``, ``item``, ``region``, ``unit``: what is priced;
- ``per``: how many units one price is for (``1000000`` for "per 1M requests");
- ``tiers``: ``[{"upTo": <cumulative monthly quantity or null>, "price": "<decimal>" or null}]``, cheapest last;
  a ``null`` price is a tier that was not found (a quantity reaching it makes the cost unknown);
- ``free`` (optional): ``quantity`` per ``period`` (``month`` or ``day``), ``expires`` (a 12-month offer for new
  customers, not applied unless asked), ``pool`` (meters sharing one free quantity, e.g. SQS standard and FIFO);
- ``status``: ``found`` or ``unknown``; ``sources``: ``[{"url", "type" (official / secondary), "date"}]``;
  ``note``.

Overrides (:func:`load_overrides`): a JSON or TOML file ``{"prices": {<meter>: {<fields to replace>}}}``, e.g.::

    [prices."azure.cosmos.request_units"]
    price = "0.25"            # shorthand for tiers = [{upTo = nan, price = "0.25"}]
    per = 1000000
    source = "our enterprise agreement"
    date = "2026-12-01"

or ``--price METER=PRICE[/PER]`` on the command line. An overridden price is marked ``override`` in reports.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any, Final

__all__ = [
    "CatalogError",
    "FreeTier",
    "Price",
    "PriceCatalog",
    "Source",
    "Tier",
    "load_catalog",
    "load_overrides",
    "parse_price_flag",
]

_SCHEMA: Final[int] = 1


class CatalogError(ValueError):
    """A catalog or an override that cannot be read (names the entry and the field)."""


@dataclass(frozen=True, slots=True)
class Tier:
    """One price band.

    Attributes:
        up_to: the cumulative monthly quantity where the band ends, or None (no end).
        price: the price per ``Price.per`` units in this band, or None when it was not found.
    """

    up_to: Decimal | None
    price: Decimal | None


@dataclass(frozen=True, slots=True)
class FreeTier:
    """A free allowance.

    Attributes:
        quantity: units free per ``period``.
        period: ``"month"`` or ``"day"``.
        expires: True for an offer limited in time (12 months, new customers): not applied unless asked.
        pool: meters with the same pool share one allowance, or None.
        note: conditions.
    """

    quantity: Decimal
    period: str
    expires: bool = False
    pool: str | None = None
    note: str = ""

    def monthly(self, days: int) -> Decimal:
        """The allowance over a month of ``days`` days."""
        return self.quantity * days if self.period == "day" else self.quantity


@dataclass(frozen=True, slots=True)
class Source:
    """Where a price was read: ``url``, ``kind`` (official / secondary / override) and the page's ``date``."""

    url: str
    kind: str
    date: str


@dataclass(frozen=True, slots=True)
class Price:
    """The price of one meter.

    Attributes:
        meter: the meter name it prices.
        cloud, service, item, region, unit: what it is.
        per: the number of units each tier price is for.
        tiers: the bands, in order.
        free: the free allowance, or None.
        status: ``found``, ``unknown`` or ``override``.
        sources: where it comes from.
        note: conditions and related figures.
    """

    meter: str
    cloud: str
    service: str
    item: str
    region: str
    unit: str
    per: Decimal
    tiers: tuple[Tier, ...]
    free: FreeTier | None = None
    status: str = "found"
    sources: tuple[Source, ...] = ()
    note: str = ""

    @property
    def known(self) -> bool:
        """Whether at least the first band has a price."""
        return bool(self.tiers) and self.tiers[0].price is not None

    def first_price(self) -> Decimal | None:
        """The first band's price (per :attr:`per` units), or None."""
        return self.tiers[0].price if self.tiers else None

    def charge(self, billable: Decimal) -> Decimal | None:
        """The exact cost of ``billable`` units (after any free allowance) through the bands, or None when a band
        it reaches has no known price. Not rounded."""
        if billable <= 0:
            return Decimal(0)
        total = Decimal(0)
        start = Decimal(0)
        for tier in self.tiers:
            end = tier.up_to
            if end is not None and end <= start:
                continue
            portion = billable - start if end is None or billable <= end else end - start
            if portion <= 0:
                break
            if tier.price is None:
                return None
            total += portion * tier.price / self.per
            if end is None or billable <= end:
                return total
            start = end
        return total


@dataclass(frozen=True, slots=True)
class PriceCatalog:
    """Prices by meter name, with the catalog's metadata.

    Attributes:
        prices: meter name -> price.
        collected: when the prices were gathered (ISO date).
        currency: ISO 4217 code of every price.
        scope: what the prices cover.
        overridden: the meter names an override changed.
    """

    prices: Mapping[str, Price]
    collected: str
    currency: str
    scope: str
    overridden: frozenset[str] = field(default_factory=frozenset)

    def get(self, meter: str) -> Price | None:
        """The price of ``meter``, or None when the catalog has no entry (reported as unknown)."""
        return self.prices.get(meter)

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> PriceCatalog:
        """A catalog with ``overrides`` (meter -> fields) applied. A meter the catalog has no entry for yet is
        added, provided it is one the metering records (:mod:`fooddelivery.metering.units`).

        Raises:
            CatalogError: an override that cannot be read, or of a meter nothing records (a misspelt name would
                otherwise be accepted and change nothing); the message names the closest known meters.
        """
        prices = dict(self.prices)
        known = set(prices) | _recorded_meters()
        for meter in overrides:
            if meter not in known:
                close = difflib.get_close_matches(meter, sorted(known), n=3, cutoff=0.6)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise CatalogError(f"override {meter}: no such meter{hint} (every meter is listed in `cost` output)")
        for meter, fields in overrides.items():
            prices[meter] = _override(meter, prices.get(meter), fields)
        return replace(self, prices=prices, overridden=self.overridden | frozenset(overrides))


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise CatalogError(f"{where}: {value!r} is not a decimal (write it as a string or an integer)")
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise CatalogError(f"{where}: {value!r} is not a decimal") from None
    if not out.is_finite() or out < 0:
        raise CatalogError(f"{where}: must be a finite number >= 0")
    return out


def _tiers(raw: Any, where: str) -> tuple[Tier, ...]:
    if not isinstance(raw, list) or not raw:
        raise CatalogError(f"{where}.tiers: must be a non-empty list")
    out: list[Tier] = []
    previous = Decimal(0)
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise CatalogError(f"{where}.tiers[{i}]: must be an object")
        up = item.get("upTo")
        up_to = None if up is None else _decimal(up, f"{where}.tiers[{i}].upTo")
        price = item.get("price")
        out.append(Tier(up_to, None if price is None else _decimal(price, f"{where}.tiers[{i}].price")))
        if up_to is not None:
            if up_to <= previous:
                raise CatalogError(f"{where}.tiers: upTo must increase")
            previous = up_to
        elif i != len(raw) - 1:
            raise CatalogError(f"{where}.tiers: only the last tier may have no upTo")
    return tuple(out)


def _free(raw: Any, where: str) -> FreeTier | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}.free: must be an object")
    period = raw.get("period", "month")
    if period not in ("month", "day"):
        raise CatalogError(f"{where}.free.period: must be 'month' or 'day'")
    return FreeTier(
        quantity=_decimal(raw.get("quantity"), f"{where}.free.quantity"),
        period=period,
        expires=bool(raw.get("expires", False)),
        pool=raw.get("pool"),
        note=str(raw.get("note", "")),
    )


def _sources(raw: Any) -> tuple[Source, ...]:
    return tuple(
        Source(str(s.get("url", "")), str(s.get("type", "")), str(s.get("date", "")))
        for s in raw or ()
        if isinstance(s, Mapping)
    )


def _price(entry: Mapping[str, Any]) -> Price:
    meter = entry.get("meter")
    if not isinstance(meter, str) or not meter:
        raise CatalogError(f"a price without a meter name: {entry!r}")
    status = entry.get("status", "found")
    tiers = _tiers(entry.get("tiers"), meter)
    if status == "unknown" and any(t.price is not None for t in tiers):
        raise CatalogError(f"{meter}: an unknown price must have no tier price")
    if status == "found" and tiers[0].price is None:
        raise CatalogError(f"{meter}: status 'found' needs a first tier price")
    return Price(
        meter=meter,
        cloud=str(entry.get("cloud", "")),
        service=str(entry.get("service", "")),
        item=str(entry.get("item", "")),
        region=str(entry.get("region", "")),
        unit=str(entry.get("unit", "")),
        per=_decimal(entry.get("per", 1), f"{meter}.per"),
        tiers=tiers,
        free=_free(entry.get("free"), meter),
        status=status,
        sources=_sources(entry.get("sources")),
        note=str(entry.get("note", "")),
    )


def _recorded_meters() -> set[str]:
    """Every meter name the metering records (the upper-case constants of ``units.AWS``/``AZURE``/``GCP``)."""
    from fooddelivery.metering.units import AWS, AZURE, GCP

    return {value for cls in (AWS, AZURE, GCP) for name, value in vars(cls).items() if name.isupper()}


def _override(meter: str, base: Price | None, fields: Mapping[str, Any]) -> Price:
    if not isinstance(fields, Mapping):
        raise CatalogError(f"override {meter}: must be a table of fields")
    known = {"price", "tiers", "per", "free", "source", "date", "unit", "service", "item", "region", "cloud", "note"}
    extra = sorted(set(fields) - known)
    if extra:
        raise CatalogError(f"override {meter}: unknown fields {extra} (known: {sorted(known)})")
    if "price" in fields and "tiers" in fields:
        raise CatalogError(f"override {meter}: give either price or tiers")
    if base is None:
        cloud = meter.split(".", 1)[0]
        base = Price(
            meter,
            cloud,
            str(fields.get("service", meter)),
            str(fields.get("item", meter)),
            "",
            "unit",
            Decimal(1),
            (Tier(None, None),),
            status="unknown",
        )
    tiers = base.tiers
    if "price" in fields:
        tiers = (Tier(None, _decimal(fields["price"], f"override {meter}.price")),)
    elif "tiers" in fields:
        tiers = _tiers(fields["tiers"], f"override {meter}")
    if tiers[0].price is None:
        raise CatalogError(f"override {meter}: gives no price")
    free = _free(fields["free"], f"override {meter}") if "free" in fields else base.free
    source = Source(str(fields.get("source", "user override")), "override", str(fields.get("date", "")))
    return replace(
        base,
        per=_decimal(fields["per"], f"override {meter}.per") if "per" in fields else base.per,
        tiers=tiers,
        free=free,
        status="override",
        sources=(source,),
        unit=str(fields.get("unit", base.unit)),
        service=str(fields.get("service", base.service)),
        item=str(fields.get("item", base.item)),
        region=str(fields.get("region", base.region)),
        note=str(fields.get("note", base.note)),
    )


def _parse(doc: Any, where: str) -> PriceCatalog:
    if not isinstance(doc, Mapping) or doc.get("schema") != _SCHEMA:
        raise CatalogError(f"{where}: not a price catalog of schema {_SCHEMA}")
    prices: dict[str, Price] = {}
    for entry in doc.get("prices", ()):
        price = _price(entry)
        if price.meter in prices:
            raise CatalogError(f"{where}: two prices for {price.meter}")
        prices[price.meter] = price
    return PriceCatalog(
        prices, str(doc.get("collected", "")), str(doc.get("currency", "USD")), str(doc.get("scope", ""))
    )


def load_catalog(path: Path | None = None) -> PriceCatalog:
    """The shipped catalog (``fooddelivery/cost/prices.json``), or the catalog file at ``path``.

    Raises:
        CatalogError: the file is not a readable catalog.
    """
    if path is None:
        text = resources.files("fooddelivery.cost").joinpath("prices.json").read_text(encoding="utf-8")
        where = "prices.json"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"cannot read {path}: {exc.strerror}") from None
        where = str(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{where}: not JSON ({exc})") from None
    return _parse(doc, where)


def load_overrides(path: Path) -> dict[str, dict[str, Any]]:
    """Read an override file (``.toml``, else JSON): ``{"prices": {meter: {fields}}}``.

    Raises:
        CatalogError: unreadable, or not of that shape.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"cannot read {path}: {exc.strerror}") from None
    try:
        doc = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: {exc}") from None
    prices = doc.get("prices") if isinstance(doc, Mapping) else None
    if not isinstance(prices, Mapping) or not all(isinstance(v, Mapping) for v in prices.values()):
        raise CatalogError(f'{path}: expected {{"prices": {{"<meter>": {{"price": "...", ...}}}}}}')
    return {str(k): dict(v) for k, v in prices.items()}


def parse_price_flag(values: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``["METER=PRICE[/PER]", ...]`` (the ``--price`` option) as overrides.

    Raises:
        CatalogError: a value not of that form.
    """
    out: dict[str, dict[str, Any]] = {}
    for value in values:
        meter, sep, rest = value.partition("=")
        if not sep or not meter or not rest:
            raise CatalogError(f"--price {value!r}: expected METER=PRICE or METER=PRICE/PER")
        price, _, per = rest.partition("/")
        fields: dict[str, Any] = {"price": _decimal(price, f"--price {meter}"), "source": "--price"}
        if per:
            fields["per"] = _decimal(per, f"--price {meter} per")
        out[meter.strip()] = fields
    return out
