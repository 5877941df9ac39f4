"""The main job: `fooddelivery simulate` through the real core."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fooddelivery.cli import EXIT_CANNOT_WRITE, EXIT_INTERRUPTED, EXIT_INVARIANT_BROKEN, main
from fooddelivery.simulation import SimulationConfig, run_simulation
from fooddelivery.simulation.report import nearest_rank


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return run_simulation(SimulationConfig(orders=3000, seed=11))


def _without_wall_clock(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k != "wallClock"}


def test_every_placed_order_ends_delivered_failed_or_cancelled(report: dict[str, Any]) -> None:
    assert report["ordersPlaced"] == 3000
    assert report["ordersRefusedAtPlacement"] == {}
    assert report["ordersDelivered"] + report["ordersFailed"] + report["ordersCancelled"] == 3000
    assert report["invariants"]["everyOrderEnded"] is True
    assert report["invariants"]["storedOrdersEnded"] is True


def test_money_invariants_hold_every_captured_failure_refunded_once_and_net_equals_delivered(
    report: dict[str, Any],
) -> None:
    inv = report["invariants"]
    assert inv["refundedOncePerCapturedFailure"] is True
    assert inv["netEqualsDelivered"] is True
    assert report["revenue"]["net"] == report["revenue"]["delivered"]
    assert report["refunds"]["count"] > 0  # timeouts and rejections after capture happened and were refunded


def test_no_driver_is_ever_held_by_two_orders(report: dict[str, Any]) -> None:
    assert report["invariants"]["driverDoubleBookings"] == 0


def test_the_configured_failure_modes_all_occur(report: dict[str, Any]) -> None:
    reasons = report["failuresByReason"]
    for reason in ("payment_declined", "restaurant_timeout"):
        assert reasons.get(reason, 0) > 0, reasons
    assert sum(reasons.values()) == report["ordersFailed"]


def test_timings_are_plausible_minutes(report: dict[str, Any]) -> None:
    confirm, deliver = report["minutesToConfirm"], report["minutesToDeliver"]
    assert 0 < confirm["p50"] <= confirm["p95"] <= 10
    assert 10 < deliver["p50"] <= deliver["p95"] < 180
    assert 0 < report["driverUtilization"] < 1


def test_the_dinner_peak_carries_the_most_orders(report: dict[str, Any]) -> None:
    placed = report["hourly"]["placed"]
    assert sum(placed) == 3000
    busiest = sorted(range(24), key=lambda h: -placed[h])[:3]
    # US cities' 18:00-21:00 local is 22:00-05:00 UTC depending on the zone
    assert all(h >= 22 or h <= 4 for h in busiest), busiest


def test_port_operations_are_counted_per_kind(report: dict[str, Any]) -> None:
    ops = report["portOperations"]
    assert ops["events.published"] >= 3000 * 3
    assert ops["orders.writes"] > 3000
    assert ops["payments.calls"] >= 2 * report["invariants"]["capturedCharges"]
    assert ops["scheduler.scheduled"] > 0 and ops["units.writes"] > 0


def test_the_same_seed_gives_the_same_report_and_another_seed_does_not(report: dict[str, Any]) -> None:
    again = run_simulation(SimulationConfig(orders=3000, seed=11))
    other = run_simulation(SimulationConfig(orders=3000, seed=12))
    assert _without_wall_clock(again) == _without_wall_clock(report)
    assert _without_wall_clock(other) != _without_wall_clock(report)


def test_nearest_rank_percentiles() -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert nearest_rank([float(i) for i in range(1, 101)], 95) == 95.0


def test_the_cli_prints_json_and_writes_the_report_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["simulate", "--orders", "400", "--seed", "3", "--format", "json", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["ordersPlaced"] == 400
    stored = json.loads((tmp_path / "report.json").read_text())
    assert _without_wall_clock(stored) == _without_wall_clock(printed)
    assert (tmp_path / "report.txt").read_text().startswith("fooddelivery simulate: seed 3")
    rows = (tmp_path / "hourly.csv").read_text().splitlines()
    assert rows[0] == "hour_utc,placed,delivered,failed" and len(rows) == 25


def test_the_cli_refuses_impossible_rates_with_a_usage_error() -> None:
    result = CliRunner().invoke(
        main, ["simulate", "--orders", "10", "--decline-rate", "0.9", "--transient-rate", "0.5"]
    )
    assert result.exit_code == 2
    assert "add up to more than 1" in result.output
    result = CliRunner().invoke(main, ["simulate", "--orders", "0"])
    assert result.exit_code == 2


# -- exit statuses: invariant broken 1, bad arguments 2, cannot write 3, interrupted 130 ---------------------------
def _simulate_process(*args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "fooddelivery.cli", "simulate", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_an_out_directory_that_cannot_be_written_ends_the_run_before_it_starts(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    started = time.monotonic()

    result = CliRunner().invoke(main, ["simulate", "--orders", "10000000", "--out", str(blocker / "reports")])

    assert result.exit_code == EXIT_CANNOT_WRITE == 3, result.output
    assert f"cannot write the reports to {blocker / 'reports'}" in result.output
    assert time.monotonic() - started < 5  # checked first: ten million orders were never simulated
    assert "Traceback" not in result.output


def test_a_broken_invariant_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    from fooddelivery import simulation

    real = simulation.run_simulation

    def broken(config: Any, progress: Any = None) -> dict[str, Any]:
        report: dict[str, Any] = real(config)
        report["invariants"]["driverDoubleBookings"] = 1
        return report

    monkeypatch.setattr(simulation, "run_simulation", broken)
    result = CliRunner().invoke(main, ["simulate", "--orders", "50"])

    assert result.exit_code == EXIT_INVARIANT_BROKEN == 1
    assert "invariant violated" in result.output


def test_progress_asked_for_off_a_terminal_is_a_line_per_five_percent_of_the_orders() -> None:
    result = CliRunner().invoke(main, ["simulate", "--orders", "400", "--progress", "--format", "json"])

    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 20, lines
    placed = [int(re.match(r"simulate: ([\d,]+) of 400 orders placed", line).group(1)) for line in lines]  # type: ignore[union-attr]
    assert placed == list(range(20, 401, 20))
    assert lines[-1].startswith("simulate: 400 of 400 orders placed (100.0 %) in ")
    assert json.loads(result.stdout)["ordersPlaced"] == 400  # the report alone on standard output


def test_no_progress_lines_unless_asked_for_off_a_terminal() -> None:
    result = CliRunner().invoke(main, ["simulate", "--orders", "100", "--format", "json"])

    assert result.exit_code == 0 and result.stderr == ""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_exits_130_at_once_without_a_report(tmp_path: Path, sig: signal.Signals) -> None:
    run = _simulate_process("--orders", "10000000", "--no-progress", "--out", str(tmp_path / "out"))
    try:
        time.sleep(2.0)  # well into the run
        assert run.poll() is None, run.communicate()
        run.send_signal(sig)
        out, err = run.communicate(timeout=20)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()

    assert run.returncode == EXIT_INTERRUPTED == 130, err
    assert "Traceback" not in err
    # how far it got, for a benchmark that stops a long run (bench/simulate_scale.py --max-seconds)
    assert re.search(r"simulate: interrupted after [\d,]+ of 10,000,000 orders placed \([\d.]+ %\) in [\d.]+ s; "
                     r"no report", err), err
    assert out == ""
    assert list((tmp_path / "out").iterdir()) == []  # checked writable, nothing written


_SIGTERM_WHILE_AN_EVENT_IS_HANDLED = """
import os, signal
from fooddelivery.application.runtime import OrderRuntime
from fooddelivery.cli import main

real = OrderRuntime.on_event

def on_event(self, event):
    os.kill(os.getpid(), signal.SIGTERM)  # the signal lands while the runtime handles an event
    return real(self, event)

OrderRuntime.on_event = on_event
main(["simulate", "--orders", "50", "--no-progress"])
"""


def test_a_sigterm_landing_while_an_event_is_handled_still_ends_the_run() -> None:
    # The runtime keeps an event whose handling raised an Exception as a dead letter and goes on; a SIGTERM that
    # landed there was swallowed that way, and the run finished with a report (exit 0) or a broken invariant (1).
    run = subprocess.run(
        [sys.executable, "-c", _SIGTERM_WHILE_AN_EVENT_IS_HANDLED],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert run.returncode == EXIT_INTERRUPTED == 130, run.stderr[-2000:]
    assert re.search(r"interrupted after [\d,]+ of 50 orders placed .*; no report", run.stderr), run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""


def test_the_collector_is_frozen_during_the_run_and_left_as_found_after_it_even_when_the_run_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    from fooddelivery.simulation import engine

    monkeypatch.setattr(engine, "_REFREEZE_EVERY", 300)
    before = (gc.get_threshold(), gc.get_freeze_count())
    seen: list[tuple[int, tuple[int, ...], int]] = []

    def watch(placed: int, _total: int) -> None:
        seen.append((placed, gc.get_threshold(), gc.get_freeze_count()))

    report = engine.Simulation(SimulationConfig(orders=1000, seed=3), watch).run()
    assert report["ordersPlaced"] == 1000
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
    # during the loop: the loop's thresholds, and the world (then what survived each 300 orders) frozen
    assert {threshold for _, threshold, _ in seen} == {engine._GC_THRESHOLDS}
    assert all(frozen > before[1] for _, _, frozen in seen)

    class Stop(Exception):
        pass

    def stop(placed: int, _total: int) -> None:
        if placed >= 600:
            raise Stop

    with pytest.raises(Stop):
        engine.Simulation(SimulationConfig(orders=1000, seed=3), stop).run()
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_what_the_caller_froze_before_a_run_is_still_frozen_after_it() -> None:
    """A process that froze its own objects (say after imports, before forking workers) finds them still frozen
    after a run: ``gc.unfreeze`` cannot tell the run's objects from the caller's, so the run must not unfreeze them."""
    import gc

    marker: list[list[int]] = [[1]]  # tracked by the collector, so frozen with everything else
    gc.collect()
    gc.freeze()
    try:
        assert not any(o is marker for o in gc.get_objects())  # in the permanent generation
        report = run_simulation(SimulationConfig(orders=300, seed=3))
        assert report["ordersPlaced"] == 300
        assert gc.get_freeze_count() > 0
        assert not any(o is marker for o in gc.get_objects())
    finally:
        gc.unfreeze()


def test_two_runs_overlapping_in_threads_leave_the_collector_as_found() -> None:
    """Run A starts, run B starts while A is in its loop, A ends, then B ends: the collector's thresholds and freeze
    state are those from before A (each run saving and restoring them on its own, B restored A's loop thresholds)."""
    import gc
    import threading

    from fooddelivery.simulation import engine

    before = (gc.get_threshold(), gc.get_freeze_count())
    a_in_loop, b_in_loop, a_done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def a_progress(placed: int, _total: int) -> None:
        a_in_loop.set()
        if not b_in_loop.wait(60):
            raise TimeoutError("run B never reached its loop")

    def b_progress(placed: int, _total: int) -> None:
        b_in_loop.set()
        if not a_done.wait(60):
            raise TimeoutError("run A never ended")

    def run_a() -> None:
        try:
            engine.Simulation(SimulationConfig(orders=200, seed=3), a_progress).run()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            a_done.set()

    def run_b() -> None:
        try:
            if not a_in_loop.wait(60):
                raise TimeoutError("run A never reached its loop")
            engine.Simulation(SimulationConfig(orders=200, seed=4), b_progress).run()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run_a), threading.Thread(target=run_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = (gc.get_threshold(), gc.get_freeze_count())
    gc.set_threshold(*before[0])  # (the rest of the session runs with the usual collector, even if this fails)

    assert errors == []
    assert after == before
