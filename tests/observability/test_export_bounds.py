"""Export bounded in time: a collector that is down (connection refused) or silent (accepts, never answers)
delays the CLI's exit by a few seconds at most, with one warning line and no traceback; ``flush()`` keeps to its
``timeout_ms``; ``OTEL_EXPORTER_OTLP_TIMEOUT`` is read in milliseconds, as the specification says."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fooddelivery.observability.setup import EXIT_TIMEOUT_S, TelemetryConfigurationError, _timeout_s

#: The child runs the CLI's simulate, then prints the monotonic time at which its work was done (the clock is
#: the system's, the same in both processes).
CHILD = (
    "import sys, time\n"
    "from fooddelivery.cli import main\n"
    "main(['simulate', '--orders', '50', '--no-progress'], standalone_mode=False)\n"
    "print(f'DONE {time.monotonic()}', file=sys.stderr)\n"
)


@pytest.fixture
def refusing_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def _exit_delay(endpoint: str, tmp_path: Path, **extra: str) -> tuple[float, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export batches while the simulation runs, as a server would
        **extra,
    }
    run = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path
    )
    ended = time.monotonic()
    assert run.returncode == 0, run.stderr
    done = [line for line in run.stderr.splitlines() if line.startswith("DONE ")]
    assert len(done) == 1, run.stderr
    return ended - float(done[0].split()[1]), run.stderr


@pytest.mark.parametrize("collector", ["refusing", "silent"])
def test_a_collector_that_is_down_or_silent_delays_the_exit_a_few_seconds_with_one_warning_line(
    collector: str, refusing_port: int, silent_port: int, tmp_path: Path
) -> None:
    port = refusing_port if collector == "refusing" else silent_port
    delay, stderr = _exit_delay(f"http://127.0.0.1:{port}", tmp_path)

    # 3 s of waiting at most, plus the interpreter's own exit (slow on a loaded machine); 35-40 s without the bound
    assert delay < EXIT_TIMEOUT_S + 5, f"exit delayed {delay:.1f} s:\n{stderr}"
    lines = [line for line in stderr.splitlines() if not line.startswith(("DONE ", "INFO "))]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("WARNING fooddelivery.observability.setup: OpenTelemetry export ")
    assert "Traceback" not in stderr


def test_the_export_timeout_is_read_in_milliseconds_per_signal_first() -> None:
    assert _timeout_s({}, "TRACES") == 10.0
    assert _timeout_s({"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}, "TRACES") == 2.5
    both = {"OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "500"}
    assert (_timeout_s(both, "TRACES"), _timeout_s(both, "METRICS")) == (2.5, 0.5)
    for bad in ("soon", "0", "-1", "inf"):
        with pytest.raises(TelemetryConfigurationError) as refused:
            _timeout_s({"OTEL_EXPORTER_OTLP_TIMEOUT": bad}, "TRACES")
        assert refused.value.variable == "OTEL_EXPORTER_OTLP_TIMEOUT"
        assert str(refused.value) == (
            f"OTEL_EXPORTER_OTLP_TIMEOUT={bad!r} is not supported: use a positive number of milliseconds"
        )


def test_a_short_export_timeout_shortens_the_wait_at_exit(silent_port: int, tmp_path: Path) -> None:
    delay, stderr = _exit_delay(f"http://127.0.0.1:{silent_port}", tmp_path, OTEL_EXPORTER_OTLP_TIMEOUT="500")
    # at most 0.5 s of waiting; the rest is the interpreter's own exit, slow on a loaded machine (1.5 s seen) but
    # below the 3 s the exit would wait for without the shorter timeout
    assert delay < EXIT_TIMEOUT_S, f"exit delayed {delay:.1f} s:\n{stderr}"
    assert "Traceback" not in stderr


def test_flush_keeps_to_its_timeout_with_a_silent_collector(silent_port: int, tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from fooddelivery.observability.setup import configure, flush\n"
        "from fooddelivery.observability.tracing import span\n"
        "configure('fooddelivery-test')\n"
        "for i in range(20):\n"
        "    with span(f'work {i}'):\n"
        "        pass\n"
        "started = time.monotonic()\n"
        "flush(500)\n"
        "print(f'FLUSHED {time.monotonic() - started}', file=sys.stderr)\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{silent_port}",
    }
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    (flushed,) = [line for line in run.stderr.splitlines() if line.startswith("FLUSHED ")]
    assert float(flushed.split()[1]) < 3.0, run.stderr  # 0.5 s and a loaded machine's slack; 10 s unbounded
    warnings = [line for line in run.stderr.splitlines() if line.startswith("WARNING ")]
    assert warnings == [
        "WARNING fooddelivery.observability.setup: OpenTelemetry export did not finish within 500 ms; what was not "
        "exported stays buffered"
    ], run.stderr
