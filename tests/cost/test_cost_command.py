"""``fooddelivery cost`` end to end: the Step Functions figure comes out of the simulated orders' saga paths."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fooddelivery import cli
from fooddelivery.cli import EXIT_CANNOT_WRITE, main
from fooddelivery.simulation import SimulationConfig, run_simulation


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    report = run_simulation(SimulationConfig(orders=400, seed=7))
    path = tmp_path_factory.mktemp("cost") / "simulation.json"
    path.write_text(json.dumps(report))
    return path, report


def _cost_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["cost", "--format", "json", "--no-progress", *args])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_the_step_functions_bill_is_the_simulated_transitions_priced(day: tuple[Path, dict[str, Any]]) -> None:
    path, report = day
    out = _cost_json("--report", str(path), "--orders-per-day", "1000000")
    transitions = report["metering"]["saga.transition"]["quantity"]
    placed = report["ordersPlaced"]
    per_order = Decimal(transitions) / placed
    # the reference's finding: a Standard workflow of about 10-12 transitions per order
    assert Decimal(10) <= per_order <= Decimal(12)
    sfn = next(r for r in out["runtimes"] if r["key"] == "aws.stepfunctions")
    line = next(x for x in sfn["lines"] if x["meter"] == "aws.stepfunctions.standard_transitions")
    monthly = per_order * 30_000_000
    assert Decimal(line["quantity"]) == monthly
    expected = ((monthly - 4000) * Decimal("0.025") / 1000).quantize(Decimal("0.01"))
    assert Decimal(line["cost"]) == expected
    # ... which alone is more than twice the reference's $3,000 serverless headline
    assert Decimal(line["cost"]) > 2 * 3000
    assert out["perOrder"]["saga.transition"] == str(per_order)


def test_workflows_bills_each_wait_for_the_restaurant_as_one_external_step(day: tuple[Path, dict[str, Any]]) -> None:
    path, report = day
    out = _cost_json("--report", str(path), "--orders-per-day", "1000000")
    workflows = next(r for r in out["runtimes"] if r["key"] == "gcp.workflows")
    lines = {x["meter"]: x for x in workflows["lines"]}
    placed = report["ordersPlaced"]
    waits = report["metering"]["saga.wait"]["quantity"]
    transitions = report["metering"]["saga.transition"]["quantity"]
    assert 0 < waits <= placed  # one wait per order that got as far as the restaurant
    # events.await_callback is an external step; every state entered (a wait's creates the callback) an internal one
    assert Decimal(lines["gcp.workflows.external_steps"]["quantity"]) == Decimal(waits) / placed * 30_000_000
    assert Decimal(lines["gcp.workflows.internal_steps"]["quantity"]) == Decimal(transitions) / placed * 30_000_000
    assert {"gcp.workflows.internal_steps", "gcp.workflows.external_steps"} <= set(workflows["unknown"])


def test_the_text_report_states_the_finding_with_sources_and_unknowns(day: tuple[Path, dict[str, Any]]) -> None:
    path, _ = day
    result = CliRunner().invoke(main, ["cost", "--report", str(path), "--orders-per-day", "1000000"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "1,000,000 orders/day x 30 days = 30,000,000 orders/month" in text
    assert "Step Functions Standard alone:" in text
    assert "AWS, Step Functions Express\n  not applicable: no .waitForTaskToken" in text
    assert "plus unknown prices: Workflows Internal steps" in text
    assert "azure.servicebus.operations [found]: https://github.com/" in text
    assert "aws.stepfunctions.standard_transitions [found]: https://aws.amazon.com/step-functions/pricing/" in text
    assert "Monolithic on EC2 $30,000, Containerized on ECS $15,000, Serverless Architecture $3,000" in text


def test_memory_and_days_change_what_they_should(day: tuple[Path, dict[str, Any]]) -> None:
    path, _ = day

    def line(out: dict[str, Any], runtime: str, meter: str) -> dict[str, Any]:
        r = next(x for x in out["runtimes"] if x["key"] == runtime)
        found: dict[str, Any] = next(x for x in r["lines"] if x["meter"] == meter)
        return found

    small = _cost_json("--report", str(path), "--memory-mb", "512")
    big = _cost_json("--report", str(path), "--memory-mb", "2048")
    gbs = "aws.lambda.gb_seconds"
    assert Decimal(line(big, "aws.queue", gbs)["quantity"]) > Decimal(line(small, "aws.queue", gbs)["quantity"])
    short = _cost_json("--report", str(path), "--days", "15")
    assert Decimal(line(short, "aws.queue", "aws.dynamodb.write_request_units")["quantity"]) * 2 == Decimal(
        line(small, "aws.queue", "aws.dynamodb.write_request_units")["quantity"]
    )


def test_out_writes_the_markdown_report_and_the_charts(day: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the charts need the report extra")
    path, _ = day
    result = CliRunner().invoke(main, ["cost", "--report", str(path), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("orders_per_minute.png", "cost_by_service.png", "time_to_confirm.png", "time_to_deliver.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name
    markdown = (tmp_path / "report.md").read_text()
    assert "![Orders per minute over the day](orders_per_minute.png)" in markdown
    assert "| AWS, Step Functions Standard |" in markdown
    assert json.loads((tmp_path / "cost.json").read_text())["ordersPerMonth"] == 30_000_000


def test_a_price_override_on_the_command_line_is_used_and_reported(day: tuple[Path, dict[str, Any]]) -> None:
    path, _ = day
    out = _cost_json("--report", str(path), "--price", "gcp.workflows.internal_steps=0.05/1000")
    workflows = next(r for r in out["runtimes"] if r["key"] == "gcp.workflows")
    steps = next(x for x in workflows["lines"] if x["meter"] == "gcp.workflows.internal_steps")
    assert steps["status"] == "override" and steps["cost"] is not None
    assert "gcp.workflows.internal_steps" not in workflows["unknown"]
    assert out["overridden"] == ["gcp.workflows.internal_steps"]


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"ordersPlaced": 3}')
    result = CliRunner().invoke(main, ["cost", "--report", str(bad)])
    assert result.exit_code == 2 and "no metering" in result.output
    result = CliRunner().invoke(main, ["cost", "--price", "nonsense"])
    assert result.exit_code == 2 and "expected METER=PRICE" in result.output


def test_cost_simulates_a_day_itself_when_no_report_is_given() -> None:
    out = _cost_json("--sample-orders", "150", "--orders-per-day", "20000", "--peak-share", "0.6")
    assert out["simulatedOrders"] == 150 and out["ordersPerMonth"] == 600_000
    assert abs(out["peakShare"] - 0.6) < 1e-6


def test_an_out_directory_that_cannot_be_written_is_refused_before_the_day_is_simulated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    out = blocker / "reports"
    simulated: list[int] = []

    def simulate(orders: int, *_: object) -> dict[str, Any]:
        simulated.append(orders)
        return {}

    monkeypatch.setattr(cli, "_simulate_for_cost", simulate)
    result = CliRunner().invoke(main, ["cost", "--sample-orders", "100000", "--no-progress", "--out", str(out)])
    assert simulated == []  # refused before the simulated day, with simulate's exit status and message
    assert result.exit_code == EXIT_CANNOT_WRITE == 3, result.output
    assert f"cannot write the reports to {out}: Not a directory" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_reports_that_fail_to_be_written_after_the_estimate_end_with_exit_3(
    day: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = day
    written: list[str] = []
    real_write_text = Path.write_text

    def full_disk_after_one(self: Path, *args: Any, **kwargs: Any) -> int:
        if self.name != ".probe" and written:
            raise OSError(28, "No space left on device")
        written.append(self.name)
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk_after_one)
    result = CliRunner().invoke(main, ["cost", "--report", str(path), "--out", str(tmp_path / "r")])
    assert result.exit_code == 3, result.output
    assert f"cannot write the reports to {tmp_path / 'r'}: No space left on device" in result.output
    assert written == ["simulation.json"]


def test_a_report_that_cannot_be_read_leaves_no_out_directory_behind(tmp_path: Path) -> None:
    # the --out check creates the directory: it comes after --report is read (still before any simulated day)
    out, report = tmp_path / "reports", tmp_path / "report.json"
    report.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(main, ["cost", "--report", str(report), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert f"cannot read {report}" in result.output
    assert not out.exists()
