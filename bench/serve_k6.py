"""The reference's k6 load profile replayed against ``fooddelivery serve``, its durations scaled down.

The reference's ``scripts/load-test.js`` (k6): ramp to 100 virtual users over 2 min, hold 5 min, spike to 1,000
over 2 min, hold 5 min, ramp down over 2 min; each user in a loop: ``POST /orders`` (the reference payload, a
random ``rest-0..99``), then ``GET /orders/{id}`` when it got 201, then ``sleep(1)``; thresholds: p95 of every
request under 500 ms and errors (a POST not answered 201) under 1 %. Here every duration is multiplied by
``--scale`` (default 1/8: 15 s, 37.5 s, 15 s, 37.5 s, 15 s), and each user has its own customer (its own
development token, ``userId`` = its subject, as the API requires).

The load generator is this process: one asyncio event loop, one keep-alive HTTP/1.1 connection per virtual user
written and parsed by hand on asyncio streams (the standard library only: no client library's overhead), so it
stays far from the bottleneck on a 2-core machine; it prints its own CPU time next to the server's (from
``/proc``), and the load average. The server is ``fooddelivery serve --demo --log-level warning`` on a temporary
database (a subprocess, stopped by its pid). Per stage it prints the requests, their p50/p95/p99 latency, the
error rate and the throughput, then the k6 thresholds over the whole run and over the 100-user hold.

    .venv/bin/python bench/serve_k6.py                 # the scaled profile (about 2 minutes)
    .venv/bin/python bench/serve_k6.py --scale 1       # the reference's 16 minutes
    .venv/bin/python bench/serve_k6.py --processes 1 2 # one process, then two (serve --processes), back to back
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _serve import HOST, clean_env, fooddelivery, free_port, listening, stop, wait_until

#: How ``bench/run_all.py`` runs this benchmark.
RUN_ALL = {"python": "core", "args": ["--scale", "0.125", "--processes", "1", "2"], "timeout": 900}

#: The reference profile: (name, seconds, target users at its end).
STAGES: tuple[tuple[str, float, int], ...] = (
    ("ramp to 100", 120, 100),
    ("hold 100", 300, 100),
    ("spike to 1000", 120, 1000),
    ("hold 1000", 300, 1000),
    ("ramp down", 120, 0),
)


@dataclass
class Sample:
    """One request: when it started (s since the run began), how long it took (s), whether it failed."""

    at: float
    seconds: float
    error: bool
    method: str


@dataclass
class Run:
    """What the virtual users did."""

    samples: list[Sample] = field(default_factory=list)
    iterations: int = 0


class _Connection:
    """One keep-alive HTTP/1.1 connection (Content-Length bodies: what uvicorn sends)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n".encode() + self.auth
        if body:
            head += b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n"
        self.writer.write(head + b"\r\n" + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
        length = 0
        close = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"connection" and value.strip().lower() == b"close":
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _target(t: float, stages: list[tuple[str, float, int]]) -> int:
    """The k6 ramping-vus target at ``t`` seconds: linear within each stage."""
    start, users = 0.0, 0
    for _, seconds, target in stages:
        if t < start + seconds:
            return round(users + (target - users) * (t - start) / seconds)
        start, users = start + seconds, target
    return 0


async def _user(n: int, port: int, token: str, run: Run, t0: float, stop: asyncio.Event, rng: random.Random) -> None:
    conn = _Connection(port, token)
    try:
        while not stop.is_set():
            body = json.dumps(
                {
                    "userId": f"user-{n}",
                    "restaurantId": f"rest-{rng.randrange(100)}",
                    "items": [
                        {"name": "Pizza", "price": 15.99, "quantity": 1},
                        {"name": "Soda", "price": 2.99, "quantity": 2},
                    ],
                    "deliveryAddress": "123 Main St",
                    "paymentMethod": "card",
                }
            ).encode()
            started = time.perf_counter()
            try:
                status, data = await conn.request("POST", "/orders", body)
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
                conn.close()
                status, data = 0, b""
            run.samples.append(Sample(started - t0, time.perf_counter() - started, status != 201, "POST"))
            if status == 201:
                order_id = json.loads(data)["orderId"]
                started = time.perf_counter()
                try:
                    got, _ = await conn.request("GET", f"/orders/{order_id}")
                except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
                    conn.close()
                    got = 0
                run.samples.append(Sample(started - t0, time.perf_counter() - started, got != 200, "GET"))
            run.iterations += 1
            await asyncio.sleep(1)
    finally:
        conn.close()


async def _drive(port: int, tokens: list[str], stages: list[tuple[str, float, int]], seed: int) -> Run:
    run = Run()
    total = sum(s for _, s, _ in stages)
    t0 = time.perf_counter()
    users: list[tuple[asyncio.Task[None], asyncio.Event]] = []
    rng = random.Random(seed)
    while True:
        t = time.perf_counter() - t0
        if t >= total:
            break
        want = _target(t, stages)
        while len(users) < want:
            stop = asyncio.Event()
            n = len(users)
            task = asyncio.create_task(_user(n, port, tokens[n], run, t0, stop, random.Random(rng.random())))
            users.append((task, stop))
        while len(users) > want:  # a user finishes its iteration, then stops (k6's graceful ramp-down)
            _, stop = users.pop()
            stop.set()
        await asyncio.sleep(0.05)
    for _, stop in users:
        stop.set()
    await asyncio.gather(*(task for task, _ in users), return_exceptions=True)
    return run


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (``serve --processes N``'s others), from /proc (Linux)."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
    return kids


def _tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds so far of ``pid`` and of each of its children, by pid."""
    cpu = {pid: _cpu_of(pid)}
    for kid in _children(pid):
        try:
            cpu[kid] = _cpu_of(kid)
        except OSError:
            continue
    return cpu


def _pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] * 1000 if values else float("nan")
    return statistics.quantiles([v * 1000 for v in values], n=100, method="inclusive")[q - 1]


def _summary(name: str, samples: list[Sample], seconds: float) -> str:
    durations = [s.seconds for s in samples]
    posts = [s for s in samples if s.method == "POST"]
    errors = sum(1 for s in posts if s.error) + sum(1 for s in samples if s.method == "GET" and s.error)
    rate = errors / len(posts) if posts else 0.0
    return (
        f"{name:<15} {len(samples):>7,} req {len(samples) / seconds:>7.0f} req/s  p50 {_pct(durations, 50):7.1f} ms"
        f"  p95 {_pct(durations, 95):7.1f} ms  p99 {_pct(durations, 99):7.1f} ms  errors {rate:6.2%}"
    )


def _run_once(args: argparse.Namespace, processes: int, stages: list[tuple[str, float, int]],
              tokens: list[str]) -> None:
    """Start ``serve --demo --processes <processes>`` on a fresh database, replay the profile, stop it, print."""
    env = clean_env()
    peak = max(target for _, _, target in stages)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        db = Path(tmp) / "bench.db"
        log_path = Path(tmp) / "serve.log"
        cmd = fooddelivery("serve", "--db", str(db), "--port", str(port), "--demo", "--log-level", "warning",
                           "--http", args.http, "--processes", str(processes))
        with log_path.open("wb") as log:
            server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_until(listening(port), server, 60, log_path)
            cpu0 = _tree_cpu(server.pid)
            own0 = resource.getrusage(resource.RUSAGE_SELF)
            wall0 = time.perf_counter()
            run = asyncio.run(_drive(port, tokens, stages, args.seed))
            wall = time.perf_counter() - wall0
            own1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu1 = _tree_cpu(server.pid)
            by_process = [cpu1[pid] - cpu0.get(pid, 0.0) for pid in cpu1]
            server_cpu = sum(by_process)
        finally:
            stop(server, 60)
    print(
        f"k6 profile x{args.scale:g} ({wall:.0f} s, peak {peak} users), fooddelivery serve --demo --http {args.http} "
        f"--processes {processes} on SQLite, "
        f"{run.iterations:,} iterations"
    )
    start = 0.0
    for name, seconds, _ in stages:
        in_stage = [s for s in run.samples if start <= s.at < start + seconds]
        print(_summary(name, in_stage, seconds))
        start += seconds
    print(_summary("whole run", run.samples, wall))
    durations = [s.seconds for s in run.samples]
    posts = [s for s in run.samples if s.method == "POST"]
    errors = sum(1 for s in run.samples if s.error) / max(1, len(posts))
    hold = stages[0][1], stages[0][1] + stages[1][1]
    at_100 = [s.seconds for s in run.samples if hold[0] <= s.at < hold[1]]
    print(
        f"k6 thresholds: p95 < 500 ms {'met' if _pct(durations, 95) < 500 else 'NOT met'}; "
        f"errors < 1 % {'met' if errors < 0.01 else 'NOT met'}; "
        f"target p95 < 50 ms at 100 users {'met' if _pct(at_100, 95) < 50 else 'NOT met'} "
        f"({_pct(at_100, 95):.1f} ms)"
    )
    own_cpu = own1.ru_utime + own1.ru_stime - own0.ru_utime - own0.ru_stime
    print(
        f"CPU: server {server_cpu:.1f} s ({server_cpu / wall:.0%} of one core"
        + (f"; by process: {', '.join(f'{c:.1f}' for c in by_process)} s" if len(by_process) > 1 else "")
        + f"), load generator {own_cpu:.1f} s "
        f"({own_cpu / wall:.0%} of one core); load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.125, help="multiplies every stage's duration")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--http", choices=["auto", "httptools", "h11"], default="auto",
                        help="the server's HTTP/1.1 parser (serve --http)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1], metavar="N",
                        help="processes serving (serve --processes); several values run the profile once for each, "
                             "one after the other, each on a fresh database")
    args = parser.parse_args()
    if any(n < 1 for n in args.processes):
        parser.error("--processes: every value must be >= 1")
    stages = [(name, seconds * args.scale, target) for name, seconds, target in STAGES]
    from fooddelivery.http.auth import issue_dev_token

    peak = max(target for _, _, target in stages)
    tokens = [issue_dev_token("customer", f"user-{n}", ttl_s=7200) for n in range(peak)]
    for i, processes in enumerate(args.processes):
        if i:
            print()
        _run_once(args, processes, stages, tokens)


if __name__ == "__main__":
    main()
