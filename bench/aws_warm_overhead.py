"""Warm per-request overhead of the Lambda HTTP handler, with in-memory adapters.

::

    .venv-aws/bin/python bench/aws_warm_overhead.py [--requests 5000] [--warmup 500]

The application is the core's ``bootstrap()`` with its defaults (in-memory adapters, nothing to connect to), one
demo restaurant (``rest-0``) added, installed as the execution environment's application
(``fooddelivery_aws.bootstrap.reset_aws_app``); then ``fooddelivery_aws.entrypoints.http.handler`` -- the function
API Gateway invokes -- is called in a loop with API Gateway REST (payload 1.0) events built from
``adapters/aws/tests/events/apigw-rest-v1-get.json`` (the SAM CLI sample kept with the AWS tests):

- ``GET /health`` (no credentials): the floor of event translation, routing and response shaping;
- ``GET /restaurants/rest-0`` with Cognito authorizer claims (a customer): plus claims -> actor, the use case, a
  repository read and the JSON body of a restaurant with its menu.

For each it prints p50 / p90 / p99 / mean in microseconds per call (``time.perf_counter_ns`` around each call),
and the same for the core's ``HttpApi.handle`` on the equivalent ``HttpRequest``: the difference is what the AWS
entrypoint adds. While ``fooddelivery_aws.entrypoints.http`` does not exist, only the core is measured, and it
says so. Every response is checked (200) before timing. Figures are this machine's CPU, not a Lambda's.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

#: How ``bench/run_all.py`` runs this benchmark.
RUN_ALL = {"python": "aws", "args": ["--requests", "3000", "--warmup", "300"], "timeout": 600}

ROOT: Final = Path(__file__).resolve().parents[1]
SAMPLE_EVENT: Final = ROOT / "adapters" / "aws" / "tests" / "events" / "apigw-rest-v1-get.json"
RESTAURANT_ID: Final = "rest-0"
#: What API Gateway's Cognito user-pool authorizer passes for a customer (``requestContext.authorizer.claims``).
CUSTOMER_CLAIMS: Final[Mapping[str, str]] = {
    "sub": "cust-bench",
    "cognito:groups": "customer",
    "email": "bench@example.com",
    "token_use": "id",
}


@dataclass(frozen=True, slots=True)
class Stats:
    """Per-call durations of one scenario.

    Attributes:
        name: the scenario.
        nanoseconds: each call's duration.
    """

    name: str
    nanoseconds: tuple[int, ...]

    def percentile_us(self, q: float) -> float:
        """The ``q``-th percentile (0-100, nearest rank) in microseconds."""
        ordered = sorted(self.nanoseconds)
        rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
        return ordered[rank] / 1000

    def line(self) -> str:
        """p50, p90, p99 and mean in microseconds."""
        mean = statistics.fmean(self.nanoseconds) / 1000
        return (
            f"{self.name:<44} p50 {self.percentile_us(50):8.1f} us   p90 {self.percentile_us(90):8.1f}   "
            f"p99 {self.percentile_us(99):8.1f}   mean {mean:8.1f}   (n={len(self.nanoseconds)})"
        )


def api_gateway_event(
    sample: Mapping[str, Any],
    path: str,
    resource: str,
    params: Mapping[str, str] | None,
    claims: Mapping[str, str] | None,
) -> dict[str, Any]:
    """A REST (payload 1.0) ``GET`` event for ``path``, shaped from the sample: no body, no query string, the route's
    resource and path parameters, and the authorizer's claims when given."""
    event = copy.deepcopy(dict(sample))
    event.update(
        path=path,
        resource=resource,
        httpMethod="GET",
        body=None,
        isBase64Encoded=False,
        queryStringParameters=None,
        multiValueQueryStringParameters=None,
        pathParameters=dict(params) if params else None,
    )
    context = event["requestContext"]
    context.update(path=f"/{context['stage']}{path}", resourcePath=resource, httpMethod="GET")
    if claims is not None:
        context["authorizer"] = {"claims": dict(claims)}
    return event


def _time(name: str, call: Callable[[], Any], requests: int, warmup: int) -> Stats:
    for _ in range(warmup):
        call()
    gc.collect()
    durations = []
    clock = time.perf_counter_ns
    for _ in range(requests):
        start = clock()
        call()
        durations.append(clock() - start)
    return Stats(name, tuple(durations))


def build_app() -> Any:
    """The core with in-memory adapters and the demo restaurant ``rest-0``."""
    from fooddelivery.bootstrap import bootstrap
    from fooddelivery.server.demo import demo_restaurants

    boot = bootstrap()
    boot.adapters["restaurants"].add(next(r for r in demo_restaurants() if r.restaurant_id == RESTAURANT_ID))
    return boot


def _install_entrypoint(boot: Any) -> Callable[[Mapping[str, Any]], dict[str, Any]] | None:
    """Install ``boot`` as the Lambda environment's application; the handler, or None if the module is missing."""
    try:
        from fooddelivery_aws.bootstrap import AwsApp, reset_aws_app
        from fooddelivery_aws.entrypoints.http import handler
        from fooddelivery_aws.settings import AwsSettings
    except ImportError:
        return None
    settings = AwsSettings(  # never used to connect: every adapter in ``boot`` is in memory
        orders_table="orders",
        restaurants_table="restaurants",
        drivers_table="drivers",
        sagas_table="sagas",
        event_bus_name="bus",
        saga_queue_url="saga-queue",
        notifications_topic_arn="notifications",
        alerts_topic_arn="alerts",
        location_stream_name="locations",
        timer_queue_url="timer-queue",
    )
    # the HTTP function uses only ``boot`` and ``settings``; the queue-side parts stay unset
    reset_aws_app(
        AwsApp(settings=settings, boot=boot, runtime=None, timers=None, relay=None, clients=None)  # type: ignore[arg-type]
    )
    return handler


def run(requests: int, warmup: int) -> int:
    """Measure and print (see the module docstring); returns the exit status."""
    from fooddelivery.http import ClaimMapping, GatewayClaimsAuthenticator, HttpApi, HttpRequest

    sample = json.loads(SAMPLE_EVENT.read_text(encoding="utf-8"))
    boot = build_app()
    scenarios = {
        "GET /health": (api_gateway_event(sample, "/health", "/health", None, None), None),
        f"GET /restaurants/{RESTAURANT_ID}": (
            api_gateway_event(
                sample,
                f"/restaurants/{RESTAURANT_ID}",
                "/restaurants/{restaurantId}",
                {"restaurantId": RESTAURANT_ID},
                CUSTOMER_CLAIMS,
            ),
            CUSTOMER_CLAIMS,
        ),
    }
    handler = _install_entrypoint(boot)
    api = HttpApi(boot.service, GatewayClaimsAuthenticator(ClaimMapping.cognito()))
    results: list[Stats] = []
    for name, (event, claims) in scenarios.items():
        if handler is not None:
            first = handler(event, None)
            if first["statusCode"] != 200:
                print(f"{name}: the handler answered {first['statusCode']}: {first.get('body')}", file=sys.stderr)
                return 1
            results.append(_time(f"handler  {name}", lambda e=event: handler(e, None), requests, warmup))
        request = HttpRequest.build("GET", event["path"], headers=event["headers"], claims=claims)
        answer = api.handle(request)
        if answer.status != 200:
            print(f"{name}: the core answered {answer.status}", file=sys.stderr)
            return 1
        results.append(_time(f"core     {name}", lambda r=request: api.handle(r), requests, warmup))
    print(
        f"warm per-request time, in-memory adapters ({requests} calls each after {warmup} warm-up;"
        f" Python {sys.version.split()[0]})"
    )
    if handler is None:
        print("fooddelivery_aws.entrypoints.http not found: measured the core's HttpApi.handle only")
    else:
        print("handler = fooddelivery_aws.entrypoints.http.handler (API Gateway REST event in, proxy result out)")
        print("core    = fooddelivery.http.HttpApi.handle (HttpRequest in, HttpResponse out)")
    for stats in results:
        print("  " + stats.line())
    if handler is not None:
        for name in scenarios:
            outer = next(s for s in results if s.name == f"handler  {name}")
            inner = next(s for s in results if s.name == f"core     {name}")
            added = outer.percentile_us(50) - inner.percentile_us(50)
            print(f"  AWS entrypoint adds {added:6.1f} us at p50 on {name}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (1 when a response is not 200)."""
    parser = argparse.ArgumentParser(prog="python bench/aws_warm_overhead.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="timed calls per scenario (default 5000)")
    parser.add_argument("--warmup", type=int, default=500, help="untimed calls first (default 500)")
    args = parser.parse_args(argv)
    return run(args.requests, args.warmup)


if __name__ == "__main__":
    raise SystemExit(main())
