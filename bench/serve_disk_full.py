"""What ``fooddelivery serve`` writes to its log while its disk is full, and how long it takes to recover.

Starts ``fooddelivery serve --demo`` (log level info, as a user runs it) with its database on a small tmpfs mounted
in a private mount namespace (``unshare -rm``: root, or unprivileged user namespaces), places ``--orders`` orders
with a short confirmation timeout, fills the tmpfs, checks that a new order is refused (503), then keeps the disk
full for ``--seconds`` while the confirmation timeouts fall due (the background worker meets the full disk), with
``--rps`` requests per second from a client if asked. Prints the log bytes and lines written meanwhile, then frees
the disk and prints how long until every order has failed with its refund and ``/health`` is ``ok`` again.

    .venv/bin/python bench/serve_disk_full.py --seconds 60
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _serve import HOST, clean_env, fooddelivery, free_port, stop, wait_until

PAYLOAD = {
    "userId": "user-1",
    "restaurantId": "rest-0",
    "items": [{"name": "Pizza", "price": 15.99, "quantity": 1}, {"name": "Soda", "price": 2.99, "quantity": 2}],
    "deliveryAddress": "123 Main St",
    "paymentMethod": "card",
}


def _call(port: int, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()


def _healthy(port: int) -> bool:
    try:
        return _call(port, "GET", "/health")[0] == 200
    except OSError:
        return False


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the disk stays full")
    parser.add_argument("--orders", type=int, default=10, help="orders waiting for their restaurant when it fills")
    parser.add_argument("--rps", type=float, default=0.0, help="client requests (POST /orders) per second meanwhile")
    parser.add_argument("--tmpfs", default="8m", help="size of the tmpfs")
    args = parser.parse_args()
    if shutil.which("unshare") is None:
        sys.exit("needs unshare (util-linux) to mount a private tmpfs")
    env = clean_env()
    token = subprocess.run(
        fooddelivery("token", "--role", "customer", "--sub", "user-1"),
        capture_output=True, text=True, check=True, env=env,
    ).stdout.strip()  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        disk = Path(tmp) / "disk"
        disk.mkdir()
        log_path = Path(tmp) / "serve.log"
        port = free_port()
        serve = fooddelivery("serve", "--db", str(disk / "bench.db"), "--port", str(port), "--demo")
        serve += ["--confirmation-timeout", "2"]
        script = f'mount -t tmpfs -o size={args.tmpfs} tmpfs "$0" && exec "$@"'
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                ["unshare", "-rm", "sh", "-c", script, str(disk), *serve], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        inside = Path(f"/proc/{server.pid}/root") / str(disk).lstrip("/")
        try:
            wait_until(lambda: _healthy(port), server, 30, log_path)
            placed = []
            for _ in range(args.orders):
                status, order = _call(port, "POST", "/orders", token, PAYLOAD)
                assert status == 201, order
                placed.append(order["orderId"])
            with (inside / "filler").open("wb") as filler, contextlib.suppress(OSError):
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            refused = 0
            for _ in range(200):
                status, _body = _call(port, "POST", "/orders", token, PAYLOAD)
                if status == 503:
                    refused += 1
                    break
                placed.append(_body["orderId"])
            assert refused, "the disk never filled"

            before = log_path.stat().st_size
            lines_before = log_path.read_bytes().count(b"\n")
            started = time.monotonic()
            sent = answered_503 = 0
            while (elapsed := time.monotonic() - started) < args.seconds:
                if args.rps > 0 and sent < elapsed * args.rps:
                    sent += 1
                    answered_503 += _call(port, "POST", "/orders", token, PAYLOAD)[0] == 503
                time.sleep(0.01 if args.rps > 0 else 0.5)
            written = log_path.stat().st_size - before
            lines = log_path.read_bytes().count(b"\n") - lines_before
            health = _call(port, "GET", "/health")
            print(
                f"disk full for {args.seconds:.0f} s with {len(placed)} orders waiting (timeouts falling due), "
                f"{sent} client requests ({answered_503} answered 503):"
            )
            print(f"  log written: {written} bytes, {lines} lines")
            print(f"  /health: {health[0]} {json.dumps(health[1])}")

            (inside / "filler").unlink()
            freed = time.monotonic()

            def recovered() -> bool:
                orders = [_call(port, "GET", f"/orders/{o}", token)[1] for o in placed]
                failed = all((o["status"], o["paymentStatus"]) == ("FAILED", "REFUNDED") for o in orders)
                return failed and _call(port, "GET", "/health")[0] == 200

            while not recovered():
                if time.monotonic() - freed > 60:
                    sys.exit("not recovered within 60 s:\n" + log_path.read_text()[-3000:])
                time.sleep(0.1)
            print(
                f"  after freeing the disk: every order FAILED (restaurant_timeout, refunded) and /health ok in "
                f"{time.monotonic() - freed:.1f} s"
            )
        finally:
            print(f"server exit status {stop(server)}")


if __name__ == "__main__":
    main()
