"""``fooddelivery simulate``: a seeded, deterministic dinner rush through the real core."""

from fooddelivery.simulation.engine import HOURLY_WEIGHTS, SimulationConfig, run_simulation
from fooddelivery.simulation.report import SCHEMA_VERSION, render_text

__all__ = ["HOURLY_WEIGHTS", "SCHEMA_VERSION", "SimulationConfig", "render_text", "run_simulation"]
