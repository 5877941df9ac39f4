"""``fooddelivery cost``: monthly cost per cloud, service and saga runtime, from what the code actually does.

- :mod:`~fooddelivery.cost.catalog`: the price catalog (``prices.json``, data with sources; unknown stays unknown;
  overrides);
- :mod:`~fooddelivery.cost.models`: the cloud models (neutral metered operations -> each cloud's units, per saga
  runtime; the documented table);
- :mod:`~fooddelivery.cost.estimate`: scaling a simulated day to a month and pricing it (exact decimals);
- :mod:`~fooddelivery.cost.render`: text and Markdown; :mod:`~fooddelivery.cost.charts`: PNG charts (matplotlib,
  the ``report`` extra).
"""

from fooddelivery.cost.catalog import CatalogError, PriceCatalog, load_catalog, load_overrides, parse_price_flag
from fooddelivery.cost.estimate import REFERENCE_CLAIMS, CostEstimate, TrafficProfile, estimate, round_cents
from fooddelivery.cost.models import RUNTIMES, DeploymentOptions

__all__ = [
    "REFERENCE_CLAIMS",
    "RUNTIMES",
    "CatalogError",
    "CostEstimate",
    "DeploymentOptions",
    "PriceCatalog",
    "TrafficProfile",
    "estimate",
    "load_catalog",
    "load_overrides",
    "parse_price_flag",
    "round_cents",
]
