"""The price catalog (data, unknown prices, overrides) and the cost arithmetic, against hand-computed figures."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.cost import CatalogError, TrafficProfile, estimate, load_catalog, load_overrides, parse_price_flag
from fooddelivery.cost.catalog import Price, Tier
from fooddelivery.cost.estimate import busiest_window, round_cents
from fooddelivery.cost.render import render_text
from fooddelivery.metering import AWS, AZURE, GCP, Tally


def test_the_shipped_catalog_has_a_source_and_a_unit_for_every_price() -> None:
    catalog = load_catalog()
    assert catalog.collected == "2026-11-29" and catalog.currency == "USD"
    for price in catalog.prices.values():
        assert price.unit and price.region and price.per > 0, price.meter
        if price.status == "found":
            assert price.sources and all(s.url.startswith("http") for s in price.sources), price.meter
            assert price.known
    sfn = catalog.get(AWS.STEPFUNCTIONS_TRANSITIONS)
    assert sfn is not None and sfn.first_price() == Decimal("0.025") and sfn.per == 1000
    assert sfn.free is not None and sfn.free.quantity == 4000 and not sfn.free.expires


@pytest.mark.parametrize(
    "meter",
    [
        "gcp.workflows.internal_steps",
        "gcp.workflows.external_steps",
        "aws.sns.sms_us",
        "azure.storage.transactions",
    ],
)
def test_prices_that_were_not_found_are_unknown_not_invented(meter: str) -> None:
    price = load_catalog().get(meter)
    assert price is not None
    assert price.status == "unknown" and not price.known
    assert all(t.price is None for t in price.tiers)


def test_tiers_are_applied_band_by_band() -> None:
    rest = load_catalog().get(AWS.APIGW_REST_REQUESTS)
    assert rest is not None
    # 400M requests: 333M at $3.50/M + 67M at $2.80/M = 1,165.50 + 187.60
    assert rest.charge(Decimal(400_000_000)) == Decimal("1353.1")
    assert rest.charge(Decimal(0)) == 0


def test_a_band_without_a_price_makes_the_cost_unknown() -> None:
    price = Price("x", "aws", "S", "I", "r", "unit", Decimal(1), (Tier(Decimal(10), Decimal(1)), Tier(None, None)))
    assert price.charge(Decimal(10)) == Decimal(10)
    assert price.charge(Decimal(11)) is None


def test_rounding_is_half_up_to_the_cent() -> None:
    assert round_cents(Decimal("0.005")) == Decimal("0.01")
    assert round_cents(Decimal("2.675")) == Decimal("2.68")
    assert round_cents(Decimal("1.2349")) == Decimal("1.23")


def _report(per_order: dict[str, int], orders: int = 10) -> dict[str, Any]:
    metering = {}
    for name, n in per_order.items():
        tally = Tally()
        tally.add(n * orders, None)
        metering[name] = tally.as_json()
    return {
        "ordersPlaced": orders,
        "metering": metering,
        "wallClock": {"loopCpuSeconds": 0.0},
        "minutely": {"placed": [orders] + [0] * 1439},
        "hourlyWeights": {"peakShare": 0.5},
    }


def test_ten_transitions_per_order_at_a_million_orders_a_day_cost_7499_90_a_month() -> None:
    est = estimate(_report({"saga.transition": 10}), load_catalog(), TrafficProfile(1_000_000, 30))
    line = est.runtime("aws.stepfunctions").line(AWS.STEPFUNCTIONS_TRANSITIONS)
    assert line is not None
    assert line.quantity == 300_000_000
    assert line.free == 4000
    # (300,000,000 - 4,000) x $0.025 / 1,000
    assert line.cost == Decimal("7499.90")


def test_free_allowances_come_off_first_and_a_shared_pool_is_used_once() -> None:
    # 1 FIFO runtime message per order (3 requests) and 1 bus event (1 standard request) over 100 orders a day:
    # FIFO 3 x 3,000 = 9,000 requests, standard 3,000: the pool's 1M free requests cover both
    report = _report({"runtime.event": 1, "bus.event": 1})
    est = estimate(report, load_catalog(), TrafficProfile(100, 30))
    queue = est.runtime("aws.queue")
    fifo, standard = queue.line(AWS.SQS_FIFO_REQUESTS), queue.line(AWS.SQS_STANDARD_REQUESTS)
    assert fifo is not None and standard is not None
    assert (fifo.quantity, fifo.free, fifo.cost) == (9000, 9000, 0)
    assert (standard.quantity, standard.free, standard.cost) == (3000, 3000, 0)
    # at 1M orders a day the pool is spent on the first line: FIFO 90M - 1M free at $0.50/M = 44.50
    big = estimate(report, load_catalog(), TrafficProfile(1_000_000, 30)).runtime("aws.queue")
    fifo = big.line(AWS.SQS_FIFO_REQUESTS)
    standard = big.line(AWS.SQS_STANDARD_REQUESTS)
    assert fifo is not None and standard is not None
    assert fifo.cost == Decimal("44.50") and standard.free == 0 and standard.cost == Decimal("12.00")


def test_unknown_prices_are_reported_as_unknown_and_left_out_of_the_total() -> None:
    report = _report({"saga.transition": 2})
    est = estimate(report, load_catalog(), TrafficProfile(1000, 30))
    workflows = est.runtime("gcp.workflows")
    steps = workflows.line(GCP.WORKFLOWS_INTERNAL_STEPS)
    # 2 transitions x 30,000 orders; the always-free 5,000 steps come off, the price of the rest is unknown
    assert steps is not None and steps.cost is None and steps.quantity == 60_000 and steps.free == 5000
    assert steps in workflows.unknown
    assert workflows.total == sum((line.cost for line in workflows.lines if line.cost is not None), Decimal(0))
    text = render_text(est)
    assert "plus unknown prices: Workflows Internal steps (60.00k)" in text
    assert "gcp.workflows.internal_steps [unknown]" in text


def test_workflows_bills_the_wait_for_the_restaurant_as_an_external_step_and_the_states_as_internal_ones() -> None:
    # a confirmed order's path: 10 states entered, 1 wait for the restaurant; 1,000 orders a day for 30 days
    report = _report({"saga.transition": 10, "saga.wait": 1})
    est = estimate(report, load_catalog(), TrafficProfile(1000, 30))
    workflows = est.runtime("gcp.workflows")
    internal = workflows.line(GCP.WORKFLOWS_INTERNAL_STEPS)
    external = workflows.line(GCP.WORKFLOWS_EXTERNAL_STEPS)
    # 10 x 30,000 internal steps (the waiting state's own creates the callback endpoint), 1 x 30,000 external
    # (events.await_callback); the always-free 5,000 internal and 2,000 external steps come off, the prices are unknown
    assert internal is not None and (internal.quantity, internal.free, internal.cost) == (300_000, 5000, None)
    assert external is not None and (external.quantity, external.free, external.cost) == (30_000, 2000, None)
    assert internal in workflows.unknown and external in workflows.unknown
    assert "Workflows Internal steps (300.00k), Workflows External HTTP steps (30.00k)" in render_text(est)
    # priced by the user: (300,000 - 5,000) x 0.05 / 1,000 = 14.75; (30,000 - 2,000) x 0.10 / 1,000 = 2.80
    flags = parse_price_flag([f"{GCP.WORKFLOWS_INTERNAL_STEPS}=0.05/1000", f"{GCP.WORKFLOWS_EXTERNAL_STEPS}=0.10/1000"])
    priced = estimate(report, load_catalog().with_overrides(flags), TrafficProfile(1000, 30)).runtime("gcp.workflows")
    internal = priced.line(GCP.WORKFLOWS_INTERNAL_STEPS)
    external = priced.line(GCP.WORKFLOWS_EXTERNAL_STEPS)
    assert internal is not None and internal.cost == Decimal("14.75")
    assert external is not None and external.cost == Decimal("2.80")
    assert not priced.unknown


def test_service_bus_standard_operations_are_priced_band_by_band_after_the_13m_included() -> None:
    price = load_catalog().get(AZURE.SERVICEBUS_OPERATIONS)
    assert price is not None and price.status == "found" and price.per == 1_000_000
    assert price.free is not None and price.free.quantity == 13_000_000
    # Infracost's West Europe example: 3,000M operations = 87M x $0.80 + 2,400M x $0.50 + 500M x $0.20
    assert price.charge(Decimal(3_000_000_000 - 13_000_000)) == Decimal("69.60") + Decimal("1200.00") + 100
    assert price.charge(Decimal(100_000_000 - 13_000_000)) == Decimal("69.60")
    # 5 bus events an order, 3 operations each, at a million orders a day: 450M operations a month
    est = estimate(_report({"bus.event": 5}), load_catalog(), TrafficProfile(1_000_000, 30))
    for runtime in ("azure.queue", "azure.durable"):
        line = est.runtime(runtime).line(AZURE.SERVICEBUS_OPERATIONS)
        assert line is not None and line.quantity == 450_000_000 and line.free == 13_000_000
        # 87M x 0.80 = 69.60, then (437M - 87M) x 0.50 = 175.00
        assert line.cost == Decimal("244.60")


def test_the_service_bus_standard_base_charge_is_hourly() -> None:
    price = load_catalog().get("azure.servicebus.base_hours")
    assert price is not None and price.status == "found" and price.per == 1
    # $0.013441 an hour: a 730-hour month is $9.81, Infracost's West Europe figure
    assert round_cents(price.charge(Decimal(730)) or Decimal(-1)) == Decimal("9.81")


def test_event_hubs_ingress_events_cost_0_028_per_million() -> None:
    price = load_catalog().get("azure.eventhubs.events")
    assert price is not None and price.status == "found" and price.free is None
    assert price.charge(Decimal(100_000_000)) == Decimal("2.8")  # Infracost's eastus example: 100M events $2.80
    est = estimate(_report({"stream.location": 2}), load_catalog(), TrafficProfile(1_000_000, 30))
    events = est.runtime("azure.queue").line("azure.eventhubs.events")
    assert events is not None and events.quantity == 60_000_000 and events.cost == Decimal("1.68")
    assert events not in est.runtime("azure.queue").unknown


def test_sns_deliveries_to_sqs_and_lambda_are_free_but_known() -> None:
    price = load_catalog().get(AWS.SNS_DELIVERIES_AWS)
    assert price is not None and price.status == "found" and price.known
    assert price.charge(Decimal(1_000_000_000)) == 0


def test_cosmos_db_serverless_request_units_are_priced_from_the_billing_example() -> None:
    # Microsoft's "Understand your Azure Cosmos DB bill", serverless example: 500,000 RUs cost $0.125 ($0.25/M)
    price = load_catalog().get(AZURE.COSMOS_REQUEST_UNITS)
    assert price is not None and price.known and price.status == "found"
    assert price.first_price() == Decimal("0.25") and price.per == 1_000_000
    assert price.charge(Decimal(500_000)) == Decimal("0.125")
    est = estimate(_report({"store.orders.read": 2}), load_catalog(), TrafficProfile(1000, 30))
    ru = est.runtime("azure.queue").line(AZURE.COSMOS_REQUEST_UNITS)
    assert ru is not None and ru.quantity == 60_000 and ru.cost == Decimal("0.02")  # 60,000 x 0.25 / 1M = 0.015


def test_an_override_file_prices_what_was_unknown(tmp_path: Path) -> None:
    toml = tmp_path / "prices.toml"
    toml.write_text(
        '[prices."gcp.workflows.internal_steps"]\nprice = "0.05"\nper = 1000\nsource = "our agreement"\n',
        encoding="utf-8",
    )
    catalog = load_catalog().with_overrides(load_overrides(toml))
    price = catalog.get(GCP.WORKFLOWS_INTERNAL_STEPS)
    assert price is not None and price.status == "override" and price.sources[0].url == "our agreement"
    est = estimate(_report({"saga.transition": 2}), catalog, TrafficProfile(1000, 30))
    line = est.runtime("gcp.workflows").line(GCP.WORKFLOWS_INTERNAL_STEPS)
    # the catalog's free 5,000 steps stay: (60,000 - 5,000) x 0.05 / 1,000
    assert line is not None and line.cost == Decimal("2.75")
    assert catalog.overridden == {GCP.WORKFLOWS_INTERNAL_STEPS}


def test_a_json_override_and_the_price_flag_replace_a_known_price(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"prices": {AWS.STEPFUNCTIONS_TRANSITIONS: {"price": "0.02", "per": 1000}}}))
    catalog = load_catalog().with_overrides(load_overrides(path))
    est = estimate(_report({"saga.transition": 10}), catalog, TrafficProfile(1_000_000, 30))
    line = est.runtime("aws.stepfunctions").line(AWS.STEPFUNCTIONS_TRANSITIONS)
    assert line is not None and line.cost == Decimal("5999.92")  # (300M - 4,000) x 0.02 / 1,000
    flags = parse_price_flag([f"{AWS.LAMBDA_REQUESTS}=0.1/1000000"])
    assert flags == {AWS.LAMBDA_REQUESTS: {"price": Decimal("0.1"), "per": Decimal(1_000_000), "source": "--price"}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"prices": {"aws.lambda.requests": {"price": "-1"}}}', "must be a finite number >= 0"),
        ('{"prices": {"aws.lambda.requests": {"price": 0.1}}}', "is not a decimal"),
        ('{"prices": {"aws.lambda.requests": {"colour": "red"}}}', "unknown fields"),
        ('{"prices": []}', "expected"),
        # a misspelt meter (request_unit, not request_units) used to be accepted and to change nothing
        (
            '{"prices": {"azure.cosmos.request_unit": {"price": "0.25"}}}',
            "no such meter; did you mean azure.cosmos.request_units",
        ),
        ('{"prices": {"foo.bar": {"price": "1"}}}', r"override foo\.bar: no such meter \("),
    ],
)
def test_a_bad_override_is_refused_with_its_reason(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "o.json"
    path.write_text(content)
    with pytest.raises(CatalogError, match=message):
        load_catalog().with_overrides(load_overrides(path))


def test_a_bad_price_flag_is_refused() -> None:
    with pytest.raises(CatalogError, match="expected METER=PRICE"):
        parse_price_flag(["aws.lambda.requests"])


def test_the_busiest_window_wraps_past_midnight() -> None:
    minutely = [0] * 1440
    minutely[1439] = 5
    minutely[0] = 7
    assert busiest_window(minutely, 2) == 12
    assert busiest_window(minutely, 1) == 7


def test_a_report_without_metering_is_refused() -> None:
    with pytest.raises(ValueError, match="no metering"):
        estimate({"ordersPlaced": 5, "metering": {}}, load_catalog())


def test_a_unit_the_model_does_not_count_is_reported_unknown_not_zero() -> None:
    est = estimate(_report({"saga.task": 6, "saga.start": 1}), load_catalog(), TrafficProfile(1000, 30))
    durable = est.runtime("azure.durable")
    storage = durable.line(AZURE.STORAGE_TRANSACTIONS)
    assert storage is not None and not storage.counted and storage.cost is None
    assert storage in durable.unknown
    assert "Storage Transactions (Durable Functions task hub) (not counted)" in render_text(est)
