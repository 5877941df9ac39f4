"""A seeded run's whole report, pinned: every figure (outcomes, latencies, port operations, the metered usage the
cost model reads) stays the same for the same seed, apart from the wall-clock figures.

The pinned report (``golden/report-600-seed3.json``) was written by the simulation before the metering and
simulation fast paths; a change that moves a figure fails here with the figure's path. A change that is meant to
change the report rewrites the file (the command is in :func:`_write_golden`'s docstring) and says why in its
commit message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fooddelivery.simulation import SimulationConfig, run_simulation

GOLDEN = Path(__file__).parent / "golden" / "report-600-seed3.json"

#: Failure rates above the defaults, so every failure path (decline, transient retries, exhausted retries, no
#: answer, rejection, compensations and refunds) is metered in a short run.
CONFIG = SimulationConfig(
    orders=600,
    seed=3,
    decline_rate=0.05,
    transient_rate=0.05,
    transient_exhausted_rate=0.02,
    no_answer_rate=0.03,
    reject_rate=0.03,
)


def _report() -> dict[str, Any]:
    report = run_simulation(CONFIG)
    del report["wallClock"]
    # through JSON, as `fooddelivery simulate --format json` writes it (tuples become lists)
    parsed: dict[str, Any] = json.loads(json.dumps(report))
    return parsed


def _write_golden() -> None:  # pragma: no cover - run by hand
    """Rewrite the pinned report, from the repository's root: ``PYTHONPATH=src:tests/simulation .venv/bin/python -c
    "import test_report_golden as t; t._write_golden()"``."""
    GOLDEN.write_text(json.dumps(_report(), indent=1, sort_keys=True))


def _differences(pinned: Any, got: Any, path: str = "") -> list[str]:
    if isinstance(pinned, dict) and isinstance(got, dict):
        out: list[str] = []
        for key in sorted(set(pinned) | set(got)):
            if key not in got or key not in pinned:
                out.append(f"{path}/{key}: {'missing' if key not in got else 'not pinned'}")
            else:
                out += _differences(pinned[key], got[key], f"{path}/{key}")
        return out
    if pinned != got or type(pinned) is not type(got):
        return [f"{path}: pinned {pinned!r}, got {got!r}"]
    return []


def test_a_seeded_run_reports_exactly_the_pinned_figures_apart_from_wall_clock() -> None:
    pinned = json.loads(GOLDEN.read_text())
    got = _report()
    assert _differences(pinned, got) == []
    # a few of them by name, so a rewrite of the file that changes them shows in the diff of this test too
    assert got["ordersPlaced"] == 600
    assert got["ordersDelivered"] == 526
    assert got["failuresByReason"] == {
        "no_driver": 2,
        "payment_declined": 33,
        "payment_unavailable": 13,
        "restaurant_rejected": 17,
        "restaurant_timeout": 9,
    }
    assert (got["metering"]["bus.event"]["quantity"], got["metering"]["bus.event"]["bytes"]) == (6170, 2_309_759)
    assert got["metering"]["store.orders.txn_item"]["bytes"] == 4_194_685
