"""Latency and throughput of ``fooddelivery serve`` over real HTTP on loopback.

Starts ``fooddelivery serve --demo --log-level warning`` on a temporary database and a free port (a subprocess,
stopped by its pid at the end), then:

1. ``--sequential`` POST /orders one after another on one keep-alive connection: the reference k6 payload, each to
   a random ``rest-0``..``rest-99`` as the k6 script does (every order runs its saga up to the wait for the
   restaurant inside the request: validate, authorize + capture, notify, reserve a driver); p50/p95/p99/max
   latency and requests/s;
2. the same count of sequential GET /orders/{id};
3. ``--concurrent`` POST /orders from ``--clients`` threads, each on its own keep-alive connection: requests/s.

The demo has 500 drivers (50 per city); orders beyond that wait for a driver (still 201). A benchmark, not a test:
it asserts only that every POST answered 201 and every GET 200.

    .venv/bin/python bench/serve_http.py --sequential 200 --concurrent 400 --clients 8
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from _serve import HOST, clean_env, fooddelivery, free_port, listening, stop, wait_until

#: How ``bench/run_all.py`` runs this benchmark.
RUN_ALL = {"python": "core", "args": ["--sequential", "200", "--concurrent", "400", "--clients", "8"], "timeout": 600}


def _payload(rng: random.Random) -> bytes:
    return json.dumps(
        {
            "userId": "user-1",
            "restaurantId": f"rest-{rng.randrange(100)}",
            "items": [{"name": "Pizza", "price": 15.99, "quantity": 1}, {"name": "Soda", "price": 2.99, "quantity": 2}],
            "deliveryAddress": "123 Main St",
            "paymentMethod": "card",
        }
    ).encode()


class _Client:
    """One keep-alive connection."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)
        self.auth = {"Authorization": f"Bearer {token}"}

    def post_order(self, body: bytes) -> tuple[int, str]:
        self.conn.request("POST", "/orders", body=body, headers={**self.auth, "Content-Type": "application/json"})
        response = self.conn.getresponse()
        data = response.read()
        return response.status, json.loads(data).get("orderId", "")

    def get_order(self, order_id: str) -> int:
        self.conn.request("GET", f"/orders/{order_id}", headers=self.auth)
        response = self.conn.getresponse()
        response.read()
        return response.status


def _percentiles(latencies_s: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, max {ms[-1]:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequential", type=int, default=200, help="sequential POST /orders (and GETs)")
    parser.add_argument("--concurrent", type=int, default=400, help="POST /orders spread over --clients threads")
    parser.add_argument("--clients", type=int, default=8, help="client threads of the concurrent phase")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    env = clean_env()

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        db = Path(tmp) / "bench.db"
        log_path = Path(tmp) / "serve.log"
        cmd = fooddelivery("serve", "--db", str(db), "--port", str(port), "--demo", "--log-level", "warning")
        with log_path.open("wb") as log:
            server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_until(listening(port), server, 30, log_path)
            token = subprocess.run(
                fooddelivery("token", "--role", "customer", "--sub", "user-1"),
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout.strip()

            client = _Client(port, token)
            client.post_order(_payload(rng))  # warm-up: first request loads the use cases' lazy imports
            posts: list[float] = []
            ids: list[str] = []
            started = time.perf_counter()
            for _ in range(args.sequential):
                body = _payload(rng)
                t = time.perf_counter()
                status, order_id = client.post_order(body)
                posts.append(time.perf_counter() - t)
                assert status == 201, status
                ids.append(order_id)
            post_wall = time.perf_counter() - started
            gets: list[float] = []
            started = time.perf_counter()
            for order_id in ids:
                t = time.perf_counter()
                assert client.get_order(order_id) == 200
                gets.append(time.perf_counter() - t)
            get_wall = time.perf_counter() - started
            print(
                f"sequential POST /orders x{args.sequential}: {_percentiles(posts)}; "
                f"{args.sequential / post_wall:.0f} req/s"
            )
            print(
                f"sequential GET /orders/{{id}} x{args.sequential}: {_percentiles(gets)}; "
                f"{args.sequential / get_wall:.0f} req/s"
            )

            per_client = args.concurrent // args.clients
            bodies = [[_payload(rng) for _ in range(per_client)] for _ in range(args.clients)]
            latencies: list[float] = []
            lock = threading.Lock()

            def work(mine: list[bytes]) -> None:
                own = _Client(port, token)
                local = []
                for body in mine:
                    t = time.perf_counter()
                    status, _ = own.post_order(body)
                    local.append(time.perf_counter() - t)
                    assert status == 201, status
                with lock:
                    latencies.extend(local)

            threads = [threading.Thread(target=work, args=(b,)) for b in bodies]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
            total = per_client * args.clients
            print(
                f"concurrent POST /orders x{total} from {args.clients} clients: {_percentiles(latencies)}; "
                f"{total / wall:.0f} req/s"
            )
        finally:
            stop(server, 30)
        print(f"server exit status {server.returncode}; database {db.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
