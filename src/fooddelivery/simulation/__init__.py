"""``fooddelivery simulate``: a seeded, deterministic dinner rush through the real core."""

from fooddelivery.simulation.engine import (
    HOURLY_WEIGHTS,
    PEAK_HOURS,
    SimulationConfig,
    peak_share,
    run_simulation,
    with_peak_share,
)
from fooddelivery.simulation.report import SCHEMA_VERSION, render_text

__all__ = [
    "HOURLY_WEIGHTS",
    "PEAK_HOURS",
    "SCHEMA_VERSION",
    "SimulationConfig",
    "peak_share",
    "render_text",
    "run_simulation",
    "with_peak_share",
]
