"""The ``fooddelivery`` command line.

Commands:
    simulate   a seeded, deterministic day of orders through the real core (in memory, virtual time).
    token      print a development bearer token for a role.
    serve      the HTTP API, the saga and the event bus on a SQLite file, served by uvicorn.
    cost       monthly cost per cloud, service and saga runtime, from a simulated day and the price catalog.
    settings   every FOODDELIVERY_* environment variable, as the README's table (generated from the models).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

import click

if TYPE_CHECKING:
    from fooddelivery.cost.estimate import CostEstimate

__all__ = [
    "EXIT_BAD_ARGUMENTS",
    "EXIT_CANNOT_WRITE",
    "EXIT_INTERRUPTED",
    "EXIT_INVARIANT_BROKEN",
    "main",
    "payment_tokens_markdown",
    "settings_markdown",
]

#: ``simulate`` exit statuses (0: every invariant held).
EXIT_INVARIANT_BROKEN: Final[int] = 1
#: Bad arguments (click's usage errors).
EXIT_BAD_ARGUMENTS: Final[int] = 2
#: ``--out`` cannot be written (checked before the run starts, and again when the reports are written).
EXIT_CANNOT_WRITE: Final[int] = 3
#: Interrupted by SIGINT (Ctrl-C) or SIGTERM (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED: Final[int] = 130


class _Interrupted(BaseException):
    """SIGTERM arrived (a ``BaseException``, like ``KeyboardInterrupt``: the runtime keeps a failing event's
    ``Exception`` as a dead letter and goes on, which would swallow the signal and finish the run)."""


class _CannotWrite(click.ClickException):
    """``--out`` cannot be written."""

    exit_code = EXIT_CANNOT_WRITE


def _check_writable(out: Path) -> None:
    """Create ``out`` if missing and prove a file can be written in it (then removed).

    Raises:
        click.ClickException: exit :data:`EXIT_CANNOT_WRITE`, naming the directory and the reason.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".fooddelivery-probe-"):
            pass
    except OSError as exc:
        raise _CannotWrite(f"cannot write the reports to {out}: {exc.strerror or exc}") from None



@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="fooddelivery")
def main() -> None:
    """FoodDelivery core: orders, pricing, restaurants, drivers and the order saga, for any cloud."""
    # the one set-up of every entrypoint: log lines (FOODDELIVERY_LOG_FORMAT), OpenTelemetry export (OTEL_*)
    from fooddelivery.domain.errors import ValidationError
    from fooddelivery.observability.setup import configure

    # service.name (unless OTEL_SERVICE_NAME is set): the SDK is set up once per process, here, before the
    # command runs, so name it after the command ("fooddelivery-serve" for the server)
    command = click.get_current_context().invoked_subcommand
    try:
        configure("fooddelivery-serve" if command == "serve" else "fooddelivery-cli")
    except ValidationError as exc:
        raise click.UsageError(exc.detail) from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _rate(name: str) -> Any:
    return click.FloatRange(0.0, 1.0)


@main.command()
@click.option("--orders", "orders", type=click.IntRange(1, 10_000_000), default=10_000, show_default=True,
              help="Orders placed over the simulated day.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed (same seed, same report).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Report format on standard output.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write report.json, report.txt and hourly.csv into this directory.")
@click.option("--cities", type=click.IntRange(1, 50), default=10, show_default=True,
              help="How many of the largest US cities (GeoNames data).")
@click.option("--decline-rate", type=click.FloatRange(0, 1), default=0.02, show_default=True,
              help="Share of orders whose card is declined.")
@click.option("--transient-rate", type=click.FloatRange(0, 1), default=0.03, show_default=True,
              help="Share of orders whose payment fails transiently, then succeeds on retry.")
@click.option("--transient-exhausted-rate", type=click.FloatRange(0, 1), default=0.002, show_default=True,
              help="Share of orders whose payment keeps failing transiently.")
@click.option("--no-answer-rate", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="Share of orders whose restaurant never confirms (timeout).")
@click.option("--reject-rate", type=click.FloatRange(0, 1), default=0.005, show_default=True,
              help="Share of orders the restaurant rejects.")
@click.option("--drivers", type=click.IntRange(1, 5_000_000), default=None,
              help="Driver count (default: sized for the peak hour).")
@click.option("--restaurants", type=click.IntRange(1, 1_000_000), default=None,
              help="Restaurant count (default: orders / 50, 100..50,000).")
@click.option("--peak-share", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Share of the day's orders in the 18:00-21:00 local dinner rush (default: the built-in daily "
                   "profile's, about 0.52).")
@click.option("--metering/--no-metering", default=True, show_default=True,
              help="Record billable operations (the report's `metering`, read by `fooddelivery cost`); a run "
                   "takes about 40 % less CPU without.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on standard error (default: when it is a terminal); asked for on a "
                   "non-terminal, a line per 5 % of the orders placed.")
def simulate(
    orders: int,
    seed: int,
    fmt: str,
    out: Path | None,
    cities: int,
    decline_rate: float,
    transient_rate: float,
    transient_exhausted_rate: float,
    no_answer_rate: float,
    reject_rate: float,
    drivers: int | None,
    restaurants: int | None,
    peak_share: float | None,
    metering: bool,
    progress: bool | None,
) -> None:
    """Run a seeded dinner rush through the real core (in-memory adapters, virtual clock).

    Exit status: 0 when every invariant held (every order ended, captured failures refunded exactly once, no
    driver double-booked); 1 when one broke; 2 for bad arguments; 3 when --out cannot be written (checked before
    the run starts); 130 when interrupted (Ctrl-C or SIGTERM).
    """
    from fooddelivery.simulation import HOURLY_WEIGHTS, SimulationConfig, render_text, run_simulation, with_peak_share

    try:
        weights = HOURLY_WEIGHTS if peak_share is None else with_peak_share(peak_share)
        config = SimulationConfig(
            orders=orders,
            seed=seed,
            cities=cities,
            decline_rate=decline_rate,
            transient_rate=transient_rate,
            transient_exhausted_rate=transient_exhausted_rate,
            no_answer_rate=no_answer_rate,
            reject_rate=reject_rate,
            drivers=drivers,
            restaurants=restaurants,
            metering=metering,
            hourly_weights=weights,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if out is not None:
        _check_writable(out)  # before an hour of simulation, not after it

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise _Interrupted

    tracker = _Progress(orders, sys.stderr.isatty() if progress is None else progress)
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        report = tracker.run(config, run_simulation)
    except (KeyboardInterrupt, _Interrupted):
        click.echo(f"simulate: interrupted after {tracker.line()}; no report", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        # At once: tearing down a large run's world object by object can take minutes, and nothing is left to
        # save (no report was written, no file is open but the standard streams, flushed above).
        os._exit(EXIT_INTERRUPTED)
    finally:
        signal.signal(signal.SIGTERM, previous)
    text = render_text(report)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(text, nl=False)
    if out is not None:
        rows = ["hour_utc,placed,delivered,failed"]
        hourly = report["hourly"]
        for h in range(24):
            rows.append(f"{h},{hourly['placed'][h]},{hourly['delivered'][h]},{hourly['failed'][h]}")
        try:
            (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            (out / "report.txt").write_text(text, encoding="utf-8")
            (out / "hourly.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        except OSError as exc:  # the disk filled up meanwhile, the directory went away...
            click.echo(f"simulate: cannot write the reports to {out}: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_CANNOT_WRITE)
    inv = report["invariants"]
    ok = (
        inv["everyOrderEnded"]
        and inv["storedOrdersEnded"]
        and inv["refundedOncePerCapturedFailure"]
        and inv["driverDoubleBookings"] == 0
        and inv["netEqualsDelivered"]
    )
    if not ok:
        click.echo("invariant violated: " + json.dumps(inv), err=True)
        sys.exit(EXIT_INVARIANT_BROKEN)


class _Progress:
    """How far a simulation got: the orders placed so far, for the progress display and the interrupted message.

    On a terminal (or with ``--progress``) a rich progress bar; with ``--progress`` on a standard error that is not
    a terminal (a log file, a pipe), a plain line each time another 5 % of the orders is placed, since a live bar
    draws nothing there.
    """

    def __init__(self, orders: int, show: bool) -> None:
        self.orders = orders
        self.placed = 0
        self.started = time.monotonic()
        self._show = show
        self._lines = show and not sys.stderr.isatty()
        self._last_step = 0

    def __call__(self, done: int, total: int) -> None:
        self.placed = done
        if self._lines:
            step = done * 20 // max(total, 1)
            if step > self._last_step:
                self._last_step = step
                click.echo(f"simulate: {self.line()}", err=True)

    def line(self) -> str:
        """``"<placed> of <orders> orders placed (<percent> %) in <seconds> s"``."""
        percent = 100.0 * self.placed / max(self.orders, 1)
        return (
            f"{self.placed:,} of {self.orders:,} orders placed ({percent:.1f} %) "
            f"in {time.monotonic() - self.started:,.1f} s"
        )

    def run(self, config: Any, run_simulation: Any) -> Any:
        """The simulation, with a progress bar when shown on a terminal."""
        if not self._show or self._lines:
            return run_simulation(config, self)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("simulating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("orders", total=self.orders)

            def update(done: int, total: int) -> None:
                self(done, total)
                bar.update(task, completed=done)

            return run_simulation(config, update)


@main.command()
@click.option("--role", type=click.Choice(["customer", "restaurant", "driver", "admin"]), required=True,
              help="The role the token grants.")
@click.option("--sub", required=True, help="The subject (user id; for a customer, the customer id).")
@click.option("--restaurant-id", default=None, help="For --role restaurant: the restaurant operated.")
@click.option("--driver-id", default=None, help="For --role driver: the driver's id.")
@click.option("--ttl", "ttl_s", type=click.IntRange(1, 7 * 24 * 3600), default=3600, show_default=True,
              help="Lifetime in seconds.")
def token(role: str, sub: str, restaurant_id: str | None, driver_id: str | None, ttl_s: int) -> None:
    """Print a development bearer token (HS256, signed with FOODDELIVERY_DEV_SECRET or the public development
    default), for `fooddelivery serve` and local testing. Never use development tokens in production.
    """
    from fooddelivery.domain.errors import ValidationError
    from fooddelivery.http.auth import issue_dev_token

    try:
        click.echo(issue_dev_token(role, sub, restaurant_id, driver_id, ttl_s=ttl_s))
    except ValidationError as exc:
        # name the flag, not the actor's field: "--restaurant-id: a restaurant actor must name its restaurant"
        detail = exc.detail
        for field_name, flag in (("restaurant_id", "--restaurant-id"), ("driver_id", "--driver-id")):
            if detail.startswith(f"{field_name}:"):
                detail = flag + detail[len(field_name) :]
        raise click.UsageError(detail) from None
    except ValueError as exc:  # FOODDELIVERY_DEV_SECRET too short
        raise click.ClickException(f"FOODDELIVERY_DEV_SECRET: {exc}") from None


@main.command()
@click.option("--db", "db", type=click.Path(dir_okay=False, path_type=Path), default=Path("fooddelivery.db"),
              show_default=True, help="SQLite database file (created if missing; WAL mode).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port.")
@click.option("--demo", is_flag=True, default=False,
              help="Load the demo catalog (restaurants rest-0..rest-99 with the reference payload's Pizza and "
                   "Soda, drivers nearby) if it is not there yet.")
@click.option("--confirmation-timeout", "confirmation_timeout", type=click.FloatRange(0, min_open=True),
              default=300.0, show_default=True, envvar="FOODDELIVERY_CONFIRMATION_TIMEOUT_S", show_envvar=True,
              help="Seconds a restaurant has to confirm an order before it fails with a refund.")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"], case_sensitive=False),
              default="info", show_default=True, envvar="FOODDELIVERY_LOG_LEVEL", show_envvar=True,
              help="Log level of the server and the core.")
@click.option("--idle-timeout", "idle_timeout", type=click.FloatRange(0, 3600, min_open=True), default=10.0,
              show_default=True, envvar="FOODDELIVERY_IDLE_TIMEOUT_S", show_envvar=True,
              help="Seconds a connection may stay without a complete request head (new or kept alive); then it "
                   "is closed.")
@click.option("--body-timeout", "body_timeout", type=click.FloatRange(0, 3600, min_open=True), default=10.0,
              show_default=True, envvar="FOODDELIVERY_BODY_TIMEOUT_S", show_envvar=True,
              help="Longest wait for the next chunk of a request body, seconds; then 408 and the connection is "
                   "closed.")
@click.option("--http", "http", type=click.Choice(["auto", "httptools", "h11"]), default="auto", show_default=True,
              envvar="FOODDELIVERY_HTTP", show_envvar=True,
              help="HTTP/1.1 parser: httptools (C, llhttp; installed by the serve extra), h11 (pure Python), or auto "
                   "(httptools when installed). Both have the same guards and behaviour; httptools is faster.")
@click.option("--processes", "processes", type=click.IntRange(1, 64), default=1, show_default=True,
              envvar="FOODDELIVERY_PROCESSES", show_envvar=True,
              help="Processes serving the port and the file (POSIX). One process runs Python on one core; with N "
                   "the first does recovery, timers and the outbox sweep, and all N serve requests.")
def serve(
    db: Path,
    host: str,
    port: int,
    demo: bool,
    confirmation_timeout: float,
    log_level: str,
    idle_timeout: float,
    body_timeout: float,
    http: str,
    processes: int,
) -> None:
    """Serve the HTTP API on a SQLite file with uvicorn, until Ctrl-C (SIGINT) or SIGTERM.

    Every port runs on the --db file (orders and their outbox, restaurants, drivers, saga state and timers,
    notifications, locations, payments), so a restart resumes where the last process stopped: unpublished
    events go out, interrupted sagas continue, and a saga waiting for its restaurant still times out on time.
    Requests are authenticated with development tokens (`fooddelivery token`), signed with
    FOODDELIVERY_DEV_SECRET or the public development default. One server per database file: a second one is
    refused at once, naming the first; --processes N runs that one server in N processes (POSIX). Needs the
    `serve` extra: pip install 'fooddelivery[serve]'.
    """
    from fooddelivery.domain.errors import InfrastructureError, ValidationError
    from fooddelivery.server import DatabaseInUse, PortUnavailable, ServeOptions, ServerUnavailable, run
    from fooddelivery.server.http_choice import resolve_implementation

    try:  # say so before anything starts (the module imports no uvicorn)
        resolve_implementation(http)
    except ValueError as exc:  # --http httptools without the package
        raise click.ClickException(f"cannot serve: {exc}") from None
    if processes > 1 and os.name != "posix":
        raise click.UsageError("--processes above 1 needs POSIX (flock and inherited sockets)")
    options = ServeOptions(
        db, host, port, demo, confirmation_timeout, log_level, idle_timeout, body_timeout, http, processes
    )
    try:
        status = run(options)
    except ServerUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    except PortUnavailable as exc:
        raise click.ClickException(f"cannot serve {db}: {exc}") from None
    except DatabaseInUse as exc:
        raise click.ClickException(f"cannot serve: {exc}") from None
    except OSError as exc:  # the lock file cannot be created next to the database
        raise click.ClickException(f"cannot serve {db}: {exc}") from None
    except ValidationError as exc:  # a FOODDELIVERY_* setting that is not valid
        raise click.UsageError(exc.detail) from None
    except InfrastructureError as exc:
        raise click.ClickException(f"cannot serve {db}: {exc.detail}") from None
    except ValueError as exc:  # FOODDELIVERY_DEV_SECRET too short
        raise click.ClickException(f"FOODDELIVERY_DEV_SECRET: {exc}") from None
    sys.exit(status)


@main.command()
@click.option("--orders-per-day", type=click.IntRange(1, 100_000_000), default=1_000_000, show_default=True,
              help="Orders per day to price.")
@click.option("--days", type=click.IntRange(1, 31), default=30, show_default=True, help="Days in the month.")
@click.option("--peak-share", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Share of the day in the 18:00-21:00 dinner rush (default: the simulation's profile, ~0.52).")
@click.option("--memory-mb", type=click.IntRange(128, 10_240), default=512, show_default=True,
              help="Function memory size (the SAM template's 512 MB).")
@click.option("--call-ms", type=click.FloatRange(0, 10_000), default=5.0, show_default=True,
              help="Assumed latency of one remote call from a function, ms (adds to billed duration).")
@click.option("--api", type=click.Choice(["rest", "http"]), default="rest", show_default=True,
              help="API Gateway type on AWS (the SAM template: rest).")
@click.option("--sample-orders", type=click.IntRange(100, 10_000_000), default=5_000, show_default=True,
              help="Orders in the simulated day the month is scaled from.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the simulated day.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Use a saved `fooddelivery simulate --format json` report instead of simulating.")
@click.option("--prices", "prices_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Price overrides: a JSON or TOML file {\"prices\": {METER: {\"price\": ..., ...}}}.")
@click.option("--price", "price_flags", multiple=True, metavar="METER=PRICE[/PER]",
              help="Override one price, e.g. azure.cosmos.request_units=0.25/1000000 (repeatable).")
@click.option("--free-tier-12-months", is_flag=True, default=False,
              help="Also apply free offers limited to a new account's first 12 months.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write report.md, cost.json, the simulation report and PNG charts (needs the `report` "
                   "extra: pip install 'fooddelivery[report]') into this directory.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on standard error while simulating (default: when it is a terminal); asked "
                   "for on a non-terminal, a line per 5 % of the orders placed.")
def cost(
    orders_per_day: int,
    days: int,
    peak_share: float | None,
    memory_mb: int,
    call_ms: float,
    api: str,
    sample_orders: int,
    seed: int,
    report_path: Path | None,
    prices_path: Path | None,
    price_flags: tuple[str, ...],
    free_tier_12_months: bool,
    fmt: str,
    out: Path | None,
    progress: bool | None,
) -> None:
    """Monthly cost per cloud, service and saga runtime for a traffic profile.

    Simulates a day of --sample-orders orders through the real core with metering on (or reads --report),
    scales it to --orders-per-day x --days, models what each cloud bills for it (fooddelivery.cost.models) and
    prices that with the catalog shipped in the package (every price with its source and date; prices that
    were not found are reported as unknown, never guessed; override them with --prices or --price).
    """
    from fooddelivery.cost import (
        CatalogError,
        DeploymentOptions,
        TrafficProfile,
        estimate,
        load_catalog,
        load_overrides,
        parse_price_flag,
    )
    from fooddelivery.cost.render import render_text

    try:
        catalog = load_catalog()
        overrides = load_overrides(prices_path) if prices_path is not None else {}
        overrides.update(parse_price_flag(price_flags))
        if overrides:
            catalog = catalog.with_overrides(overrides)
    except CatalogError as exc:
        raise click.UsageError(str(exc)) from None
    if report_path is not None:
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.UsageError(f"cannot read {report_path}: {exc}") from None
        if peak_share is not None:
            click.echo("note: --peak-share is ignored with --report (the report's day has its own profile)", err=True)
    if out is not None:  # (it creates the directory: not for a --report that cannot be read)
        _check_writable(out)  # before the simulated day, as simulate does: exit 3 with the reason
    if report_path is None:
        report = _simulate_for_cost(sample_orders, seed, peak_share, progress)
    try:
        est = estimate(
            report,
            catalog,
            TrafficProfile(orders_per_day, days),
            DeploymentOptions(memory_mb=memory_mb, call_ms=call_ms, api=api),
            expiring_free_tiers=free_tier_12_months,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if fmt == "json":
        from fooddelivery.cost.export import estimate_json

        click.echo(json.dumps(estimate_json(est), indent=2))
    else:
        click.echo(render_text(est), nl=False)
    if out is not None:
        try:
            _write_cost_reports(out, report, est)
        except OSError as exc:  # the disk filled up meanwhile, the directory went away...
            raise _CannotWrite(f"cannot write the reports to {out}: {exc.strerror or exc}") from None


def _write_cost_reports(out: Path, report: dict[str, Any], est: CostEstimate) -> None:
    """Write ``cost``'s files into ``out`` (created if missing): simulation.json, cost.json, cost.txt, the charts
    when matplotlib is installed, report.md.

    Raises:
        OSError: a file could not be written.
    """
    from fooddelivery.cost.export import estimate_json
    from fooddelivery.cost.render import render_markdown, render_text

    out.mkdir(parents=True, exist_ok=True)
    (out / "simulation.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "cost.json").write_text(json.dumps(estimate_json(est), indent=2) + "\n", encoding="utf-8")
    (out / "cost.txt").write_text(render_text(est), encoding="utf-8")
    try:
        from fooddelivery.cost.charts import write_charts

        charts = write_charts(est, report, out)
    except ImportError:
        click.echo("charts skipped: matplotlib is not installed (pip install 'fooddelivery[report]')", err=True)
        charts = {}
    (out / "report.md").write_text(render_markdown(est, charts), encoding="utf-8")
    click.echo(f"wrote {out}/report.md" + (f" and {len(charts)} charts" if charts else ""), err=True)


def _simulate_for_cost(orders: int, seed: int, peak_share: float | None, progress: bool | None) -> dict[str, Any]:
    from fooddelivery.simulation import HOURLY_WEIGHTS, SimulationConfig, run_simulation, with_peak_share

    try:
        weights = HOURLY_WEIGHTS if peak_share is None else with_peak_share(peak_share)
        config = SimulationConfig(orders=orders, seed=seed, hourly_weights=weights, metering=True)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    result: dict[str, Any] = _Progress(orders, sys.stderr.isatty() if progress is None else progress).run(
        config, run_simulation
    )
    return result


# -- reference tables (the README holds them; tests/test_readme.py keeps them equal) -------------------------------
def settings_markdown() -> str:
    """The Markdown table of every ``FOODDELIVERY_*`` variable: the core's :class:`~fooddelivery.bootstrap.Settings`
    (from their field metadata), the cloud deployments' payment gateway, the development-token secret, and
    ``serve``'s options that read one."""
    from fooddelivery.adapters.payments import FAKE_GATEWAY, PAYMENT_GATEWAY_ENV
    from fooddelivery.bootstrap import Settings
    from fooddelivery.http.auth import DEV_SECRET_ENV
    from fooddelivery.observability.logs import LogSettings

    rows = ["| variable | read by | default | what it sets |", "|---|---|---|---|"]
    core = {doc.variable for doc in Settings.documented()} | {row[0] for row in LogSettings.documented()}
    for doc in Settings.documented():
        rows.append(f"| `{doc.variable}` | every deployment | {doc.default} | {doc.doc} |")
    rows.append(
        f"| `{PAYMENT_GATEWAY_ENV}` | every cloud deployment (AWS, Azure, GCP) | none: required | The card "
        f"processor a deployment charges: `{FAKE_GATEWAY}` (the fake processor below; each process keeps its own "
        "books: demos and tests only) or `<module>:<factory>`, a callable of an installed module returning a "
        "`PaymentGateway`. No silent default: a deployment that fell back to a fake would take orders and never "
        "charge them. (`serve` and `simulate` use the fake processor.) |"
    )
    for variable, default, text in LogSettings.documented():
        rows.append(f"| `{variable}` | every deployment, `serve` and the CLI | {default} | {text} |")
    from fooddelivery.observability.setup import DEFAULT_FLUSH_TIMEOUT_MS, FLUSH_TIMEOUT_DOC, FLUSH_TIMEOUT_ENV

    rows.append(
        f"| `{FLUSH_TIMEOUT_ENV}` | every cloud deployment (AWS, Azure, GCP) | {DEFAULT_FLUSH_TIMEOUT_MS} "
        f"| {FLUSH_TIMEOUT_DOC} |"
    )
    rows.append(
        f"| `{DEV_SECRET_ENV}` | `fooddelivery serve`, `fooddelivery token` | a public development secret | "
        "The HS256 secret of development bearer tokens, at least 32 bytes (RFC 7518 section 3.2). Unset, tokens "
        "are signed with a published default and prove nothing: set it whenever the server is reachable by "
        "anyone else. |"
    )
    for param in serve.params:
        envvar = getattr(param, "envvar", None)
        if isinstance(param, click.Option) and isinstance(envvar, str) and envvar not in core:
            flag = param.opts[0]
            default = f"{param.default:g}" if isinstance(param.default, float) else f"`{param.default}`"
            rows.append(f"| `{envvar}` | `fooddelivery serve` ({flag}) | {default} | {param.help} |")
    return "\n".join(rows) + "\n"


def payment_tokens_markdown() -> str:
    """The Markdown table of the fake card processor's test tokens (``fooddelivery.adapters.fake_processor``): what
    ``paymentMethod`` does in ``serve``, the simulation and the in-memory adapters."""
    from fooddelivery.adapters.fake_processor import ALWAYS_TRANSIENT_TOKEN, DECLINE_TOKENS, SUCCESS_TOKENS

    rows = ["| `paymentMethod` | what the fake processor does |", "|---|---|"]
    rows += [f"| `{t}` | authorized and captured |" for t in sorted(SUCCESS_TOKENS)]
    rows += [f"| `{t}` | declined (`{code}`): the order fails, nothing charged |" for t, code in DECLINE_TOKENS.items()]
    rows.append(
        f"| `{ALWAYS_TRANSIENT_TOKEN}_N` (N = 1..999999) | the first N authorizations fail transiently: the saga "
        "retries (5 s, then x2, 3 retries), so N <= 3 is paid in the end and more fails the order "
        "(`payment_unavailable`) |"
    )
    rows.append(
        f"| `{ALWAYS_TRANSIENT_TOKEN}` | every authorization fails transiently: the order fails "
        "(`payment_unavailable`) after the retries |"
    )
    rows.append("| anything else | declined (`unknown_payment_method`) |")
    return "\n".join(rows) + "\n"


@main.command()
def settings() -> None:
    """Print every FOODDELIVERY_* environment variable (name, who reads it, default, what it sets) as the Markdown
    table the README holds."""
    click.echo(settings_markdown(), nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
